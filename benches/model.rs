//! Forward speed of Ribeiro's ResNet1d (12 x 4096, 64..320 filters) on the CPU.
//!
//! Throughput is reported in "elements" = floating-point operations (2 per multiply-accumulate),
//! so criterion's `Gelem/s` reads as GFLOP/s.
//! Reference on the 2-core development machine (PyTorch): 29.6 ms per ECG (170 GFLOP/s).

use candle_core::{DType, Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tlc_explorer::model::resnet::init_parameters;
use tlc_explorer::model::{ModelConfig, ResNet1d, Task};

fn model() -> (ModelConfig, ResNet1d) {
    let names = ["NORM", "MI", "STTC", "CD", "HYP"].map(String::from).to_vec();
    let config = ModelConfig::ribeiro(5, Task::Multilabel, names);
    let tensors = init_parameters(&config, 0, &Device::Cpu).expect("init").into_iter().collect();
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let net = ResNet1d::new(&config, vb).expect("build");
    (config, net)
}

fn input(batch: usize) -> Tensor {
    Tensor::randn(0f32, 0.5, (batch, 12, 4096), &Device::Cpu).expect("input")
}

fn bench(c: &mut Criterion) {
    let (config, net) = model();
    let flops = 2 * config.macs_per_input();
    let mut group = c.benchmark_group("resnet1d_12x4096");
    group.sample_size(10);

    let x1 = input(1);
    group.throughput(Throughput::Elements(flops));
    group.bench_function("forward_1", |b| b.iter(|| net.forward_t(&x1, false).expect("forward")));

    group.bench_function("forward_explain_1_blocks234_grad4", |b| {
        b.iter(|| net.forward_explain(&x1, &[2, 3, 4], Some((4, 0))).expect("explain"))
    });

    let x32 = input(32);
    group.throughput(Throughput::Elements(32 * flops));
    group.bench_function("forward_32", |b| b.iter(|| net.forward_t(&x32, false).expect("forward")));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
