//! Delineate a long synthetic 2-lead record streamed window by window (for the memory and
//! time figures of src/delineate/README.md):
//! `/usr/bin/time -v cargo run --release --example long_record -- --hours 24 --fs 360`.

use tlc_explorer::delineate::DelineatorParams;
use tlc_explorer::delineate::long::delineate_streamed;
use tlc_explorer::progress::NoProgress;
use tlc_explorer::synth::SynthParams;
use tlc_explorer::synth::long::LongSynthetic;

fn arg(name: &str, default: f64) -> anyhow::Result<f64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let hours = arg("--hours", 24.0)?;
    let fs_hz = arg("--fs", 360.0)?;
    let params = SynthParams {
        n_records: 1,
        fs_hz,
        duration_s: 60.0,
        ..Default::default()
    };
    let long = LongSynthetic::new(&params, 2, hours * 3600.0)?;
    let started = std::time::Instant::now();
    let d = delineate_streamed(
        "long",
        long.n_samples,
        long.fs_hz,
        2,
        |range| Ok(long.window(range)),
        &DelineatorParams::default(),
        &NoProgress,
    )?;
    let with_p = d.beats.iter().filter(|b| b.p.is_some()).count();
    let with_t = d.beats.iter().filter(|b| b.t.is_some()).count();
    println!(
        "{hours} h, 2 leads at {fs_hz} Hz: {} beats (P {with_p}, T {with_t}), {} AF episodes, {:.1} s",
        d.beats.len(),
        d.af_episodes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
