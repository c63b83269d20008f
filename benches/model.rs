//! Speed of Ribeiro's ResNet1d (12 x 4096, 64..320 filters) on the CPU, candle and PyTorch side
//! by side in one run: the forward (eval mode, batch 1 and 32), and for batch 32 the training
//! forward + backward and the whole training step (forward with batch statistics and dropout,
//! BCE-with-logits loss, backward, AdamW: the project's `train_step`, config
//! `assets/models/arch/ribeiro.json`).
//!
//! Throughput is reported in "elements" = floating-point operations (2 per multiply-accumulate;
//! the backward counted as twice the forward), so criterion's `Gelem/s` reads as GFLOP/s.
//!
//! The PyTorch rows come from `benches/pytorch_resnet1d.py` (the same architecture), run by the
//! interpreter in `TLC_BENCH_PYTHON` (default `python3`) as a child process with 2 intra-op
//! threads that times the requested number of passes itself (criterion's `iter_custom`), so the
//! two libraries are measured by the same harness, on the same machine, minutes apart. Without
//! an interpreter that imports torch the PyTorch rows are skipped with the reason printed.

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Duration;

use candle_core::{DType, Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tlc_explorer::model::resnet::init_parameters;
use tlc_explorer::model::train::{TrainParams, loss, train_step, trainable};
use tlc_explorer::model::{ModelConfig, ResNet1d, Task};

#[path = "common/machine.rs"]
mod machine;
#[path = "common/reference.rs"]
mod reference;

/// Intra-op threads of the PyTorch process: the cores of this project's machine.
const TORCH_THREADS: usize = 2;

const CLASS_NAMES: [&str; 5] = ["NORM", "MI", "STTC", "CD", "HYP"];

/// The training configuration: `assets/models/arch/ribeiro.json` with PTB-XL's 5 outputs.
fn training_config() -> ModelConfig {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/models/arch/ribeiro.json"
    );
    let mut config = match ModelConfig::from_json_file(std::path::Path::new(path)) {
        Ok(c) => c,
        Err(e) => panic!("{path}: {e}"),
    };
    config.class_names = CLASS_NAMES.map(String::from).to_vec();
    config.n_outputs = CLASS_NAMES.len();
    if let Err(e) = config.validate() {
        panic!("{path}: {e}");
    }
    config
}

fn model() -> (ModelConfig, ResNet1d) {
    let names = CLASS_NAMES.map(String::from).to_vec();
    let config = ModelConfig::ribeiro(5, Task::Multilabel, names);
    let tensors = init_parameters(&config, 0, &Device::Cpu)
        .expect("init")
        .into_iter()
        .collect();
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let net = ResNet1d::new(&config, vb).expect("build");
    (config, net)
}

fn input(batch: usize) -> Tensor {
    Tensor::randn(0f32, 0.5, (batch, 12, 4096), &Device::Cpu).expect("input")
}

fn bench(c: &mut Criterion) {
    println!("{}", machine::description());
    println!(
        "candle: {} threads (rayon)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (config, net) = model();
    let flops = 2 * config.macs_per_input();
    match machine::fma_peak_gflops(0.5) {
        Some(peak) => println!(
            "measured FMA peak: {peak:.0} GFLOP/s over all threads; one forward ({:.2} GFLOP) \
             at that peak: {:.1} ms, at 65 % of it: {:.1} ms",
            flops as f64 / 1e9,
            flops as f64 / peak / 1e6,
            flops as f64 / (0.65 * peak) / 1e6
        ),
        None => println!("no FMA peak: the CPU has neither AVX-512 nor AVX2 + FMA"),
    }
    let train_config = training_config();
    let torch_args = [
        TORCH_THREADS.to_string(),
        train_config.dropout_rate.to_string(),
    ];
    let mut torch =
        match reference::Reference::spawn("pytorch_resnet1d.py", &torch_args, TORCH_THREADS) {
            Ok(t) => {
                println!(
                    "PyTorch reference: torch {} (version, intra-op threads)",
                    t.hello
                );
                Some(t)
            }
            Err(reason) => {
                println!(
                    "PyTorch rows skipped: {reason} (set TLC_BENCH_PYTHON to a python with torch)"
                );
                None
            }
        };
    let mut group = c.benchmark_group("resnet1d_12x4096");
    // Flat: every sample the same number of passes (one for batch 32), not 1 + 2 + ... + 10.
    group
        .sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(10));

    let x1 = input(1);
    group.throughput(Throughput::Elements(flops));
    group.bench_function("candle/forward_1", |b| {
        b.iter(|| net.forward_t(&x1, false).expect("forward"))
    });
    if let Some(t) = torch.as_mut() {
        group.bench_function("pytorch/forward_1", |b| {
            b.iter_custom(|iters| t.seconds(&format!("1 {iters}")))
        });
    }
    group.bench_function("candle/forward_explain_1_blocks234_grad4", |b| {
        b.iter(|| {
            net.forward_explain(&x1, &[2, 3, 4], Some((4, 0)))
                .expect("explain")
        })
    });

    let x32 = input(32);
    group.throughput(Throughput::Elements(32 * flops));
    group.bench_function("candle/forward_32", |b| {
        b.iter(|| net.forward_t(&x32, false).expect("forward"))
    });
    if let Some(t) = torch.as_mut() {
        group.bench_function("pytorch/forward_32", |b| {
            b.iter_custom(|iters| t.seconds(&format!("32 {iters}")))
        });
    }
    group.finish();
    drop(net);

    // Training, batch 32: forward with batch statistics and dropout, loss, backward (+ AdamW).
    let mut trainer = trainable(&train_config, &TrainParams::default(), None, &Device::Cpu)
        .expect("a trainable network");
    let targets = Tensor::rand(0f32, 1.0, (32, CLASS_NAMES.len()), &Device::Cpu)
        .and_then(|t| t.lt(0.3))
        .and_then(|t| t.to_dtype(DType::F32))
        .expect("targets");
    let mut group = c.benchmark_group("resnet1d_12x4096_train");
    // Seconds per step: ten samples of one step each, not criterion's 1 + 2 + ... + 10.
    group
        .sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(3 * 32 * flops));
    group.bench_function("candle/forward_backward_32", |b| {
        b.iter(|| {
            let logits = trainer.net.forward_t(&x32, true).expect("forward");
            loss(train_config.task, &logits, &targets)
                .and_then(|l| l.backward())
                .expect("backward")
        })
    });
    if let Some(t) = torch.as_mut() {
        group.bench_function("pytorch/forward_backward_32", |b| {
            b.iter_custom(|iters| t.seconds(&format!("fwdbwd 32 {iters}")))
        });
    }
    group.bench_function("candle/train_step_32", |b| {
        b.iter(|| train_step(&mut trainer, &x32, &targets).expect("train step"))
    });
    if let Some(t) = torch.as_mut() {
        group.bench_function("pytorch/train_step_32", |b| {
            b.iter_custom(|iters| t.seconds(&format!("train 32 {iters}")))
        });
    }
    group.finish();
    println!("end of run: {}", machine::description());
}

criterion_group!(benches, bench);
criterion_main!(benches);
