//! Figure rendering speed: one SVG figure (target < 100 ms) and one 300-DPI PNG (< 1 s) of a
//! 12-lead, 10 s, 500 Hz record with clusters, entropy, Grad-CAM and landmarks.

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use tlc_explorer::figure::{FigureInput, FigureSpec, Layout, render_pdf, render_png, render_svg};

#[path = "../tests/common/figure_fixture.rs"]
mod figure_fixture;
use figure_fixture::*;

fn bench_figures(c: &mut Criterion) {
    let ecg = beats_ecg("bench");
    let ex = explanation("bench");
    let d = delineation();
    let input = FigureInput {
        ecg: &ecg,
        explanation: Some(&ex),
        delineation: Some(&d),
        cluster_names: Some(names()),
        calipers: &[],
        reference: &[],
        qtc_formula: Default::default(),
    };
    let stacked = FigureSpec::default();
    let clinical = FigureSpec {
        layout: Layout::clinical(),
        ..Default::default()
    };
    // Warm the font database once (it is built on first use and shared).
    let _ = render_png(
        &input,
        &FigureSpec {
            dpi: 10.0,
            ..Default::default()
        },
    );
    let mut group = c.benchmark_group("figure");
    group.sample_size(10);
    group.bench_function("svg_stacked_12_leads", |b| {
        b.iter(|| render_svg(&input, &stacked).unwrap())
    });
    group.bench_function("svg_clinical", |b| {
        b.iter(|| render_svg(&input, &clinical).unwrap())
    });
    group.bench_function("png_300dpi_clinical", |b| {
        b.iter(|| render_png(&input, &clinical).unwrap())
    });
    group.bench_function("png_300dpi_stacked_12_leads", |b| {
        b.iter(|| render_png(&input, &stacked).unwrap())
    });
    group.bench_function("pdf_clinical", |b| {
        b.iter(|| render_pdf(&input, &clinical).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_figures);
criterion_main!(benches);
