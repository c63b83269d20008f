//! Opening a 24 h 2-lead Holter file (issue #17's goal: under 2 s, bounded memory, overview at
//! once). `tlc synth --holter`'s writer puts a 24 h record of leads II and V5 at 200 Hz (the
//! usual ISHNE rate) as ISHNE and as EDF in a temporary folder; the rows time
//! - the lazy open: the header, then the overview strip's min/max buckets in one pass over the
//!   file a few MB at a time (`WindowedFile::open` + `overview`), and one 10 s window as the
//!   paper view asks for it;
//! - what the app does when a record is selected: the whole record read into memory
//!   (`Dataset::load`) and its overview computed from it (`AnalysedRecord::plain`).
//!
//! Before the timed rows, each path runs once alone and its peak memory growth is printed (the
//! process's VmHWM from /proc/self/status, read before and after; Linux only).
//!
//! `cargo bench --bench holter`

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use tlc_explorer::dsp::overview::{MinMaxOverview, OVERVIEW_BUCKETS};
use tlc_explorer::io::formats::WindowedFile;
use tlc_explorer::io::open_dataset;
use tlc_explorer::record::LeadName;
use tlc_explorer::synth::SynthParams;
use tlc_explorer::synth::long::{HolterFormat, LongSynthetic};

#[path = "common/machine.rs"]
mod machine;

const FS_HZ: f64 = 200.0;
const DURATION_S: f64 = 24.0 * 3600.0;

/// A process memory figure from /proc/self/status in MB (`VmHWM`, `VmRSS`), if readable.
fn status_mb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Run `f` once; print its time and how far the peak resident memory rose above the memory
/// resident before it.
fn once_with_memory(what: &str, f: impl FnOnce()) {
    let before = status_mb("VmRSS:");
    let start = std::time::Instant::now();
    f();
    let elapsed = start.elapsed();
    let peak = status_mb("VmHWM:");
    match (before, peak) {
        (Some(b), Some(p)) => println!(
            "{what}: {:.3} s, peak resident memory {p:.0} MB ({:+.0} MB over the {b:.0} MB before)",
            elapsed.as_secs_f64(),
            p - b
        ),
        _ => println!(
            "{what}: {:.3} s (memory not readable here)",
            elapsed.as_secs_f64()
        ),
    }
}

fn lazy_open(path: &Path) -> MinMaxOverview {
    let file = match WindowedFile::open(path) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let overview = match file.overview(OVERVIEW_BUCKETS) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    let middle = file.n_samples() / 2;
    if let Err(e) = file.read_window(middle..middle + (10.0 * FS_HZ) as usize) {
        panic!("{e}");
    }
    overview
}

fn whole_load(path: &Path) -> MinMaxOverview {
    let ecg = match open_dataset(path).and_then(|ds| ds.load(0)) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    };
    MinMaxOverview::of_rows(ecg.samples_mv.view(), OVERVIEW_BUCKETS)
}

fn bench_holter(c: &mut Criterion) {
    println!("{}", machine::description());
    let params = SynthParams {
        n_records: 1,
        fs_hz: FS_HZ,
        duration_s: 60.0,
        ..Default::default()
    };
    let long = match LongSynthetic::with_leads(&params, &[LeadName::II, LeadName::V5], DURATION_S) {
        Ok(l) => l,
        Err(e) => panic!("long synthetic record: {e}"),
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temporary folder: {e}"),
    };
    let files: Vec<(&str, PathBuf)> = vec![
        ("ISHNE", dir.path().join("holter.ecg")),
        ("EDF", dir.path().join("holter.edf")),
    ];
    for ((name, path), format) in files.iter().zip([HolterFormat::Ishne, HolterFormat::Edf]) {
        let start = std::time::Instant::now();
        if let Err(e) = long.write(path, format, false) {
            panic!("writing {name}: {e}");
        }
        let mb = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        println!(
            "wrote 24 h x 2 leads at {FS_HZ} Hz as {name} ({mb:.0} MB) in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    // memory first, each path alone: the lazy one before the whole load raises the peak
    for (name, path) in &files {
        once_with_memory(&format!("{name} lazy open + overview + one window"), || {
            std::hint::black_box(lazy_open(path));
        });
    }
    for (name, path) in &files {
        once_with_memory(&format!("{name} whole record in memory + overview"), || {
            std::hint::black_box(whole_load(path));
        });
    }
    let mut group = c.benchmark_group("24 h 2-lead Holter at 200 Hz");
    group.sample_size(10);
    for (name, path) in &files {
        group.bench_function(format!("{name} lazy open + overview + one window"), |b| {
            b.iter(|| lazy_open(path))
        });
        group.bench_function(format!("{name} whole record in memory + overview"), |b| {
            b.iter(|| whole_load(path))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_holter);
criterion_main!(benches);
