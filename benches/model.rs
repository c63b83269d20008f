//! Forward speed of Ribeiro's ResNet1d (12 x 4096, 64..320 filters) on the CPU, candle and
//! PyTorch side by side in one run.
//!
//! Throughput is reported in "elements" = floating-point operations (2 per multiply-accumulate),
//! so criterion's `Gelem/s` reads as GFLOP/s.
//!
//! The PyTorch rows come from `benches/pytorch_resnet1d.py` (the same architecture in eval
//! mode), run by the interpreter in `TLC_BENCH_PYTHON` (default `python3`) as a child process
//! that times the requested number of forward passes itself (criterion's `iter_custom`), so the
//! two libraries are measured by the same harness, on the same machine, minutes apart. Without
//! an interpreter that imports torch the PyTorch rows are skipped with the reason printed.

// The allocator of the `tlc` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use candle_core::{DType, Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tlc_explorer::model::resnet::init_parameters;
use tlc_explorer::model::{ModelConfig, ResNet1d, Task};

fn model() -> (ModelConfig, ResNet1d) {
    let names = ["NORM", "MI", "STTC", "CD", "HYP"]
        .map(String::from)
        .to_vec();
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

/// The PyTorch reference process (see the module comment).
struct PyTorch {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    version: String,
}

impl PyTorch {
    fn spawn() -> Result<PyTorch, String> {
        let python = std::env::var("TLC_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/pytorch_resnet1d.py");
        let mut child = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("no pipes to the PyTorch process".into());
        };
        let mut torch = PyTorch {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            version: String::new(),
        };
        let hello = torch.read_line()?;
        match hello.strip_prefix("ready ") {
            Some(v) => torch.version = v.to_string(),
            None => return Err(format!("{python}: {hello}")),
        }
        Ok(torch)
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the PyTorch process ended".into()),
            Ok(_) => Ok(line.trim().to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Wall time of `iters` forward passes of a batch, measured inside the Python process.
    fn time(&mut self, batch: usize, iters: u64) -> Duration {
        writeln!(self.stdin, "{batch} {iters}").expect("write to the PyTorch process");
        let reply = self.read_line().expect("read from the PyTorch process");
        let seconds: f64 = reply.parse().expect("PyTorch reply is a number of seconds");
        Duration::from_secs_f64(seconds)
    }
}

impl Drop for PyTorch {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

fn bench(c: &mut Criterion) {
    let (config, net) = model();
    let flops = 2 * config.macs_per_input();
    let mut torch = match PyTorch::spawn() {
        Ok(t) => {
            println!(
                "PyTorch reference: torch {} (version, intra-op threads)",
                t.version
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
    group.sample_size(10);

    let x1 = input(1);
    group.throughput(Throughput::Elements(flops));
    group.bench_function("candle/forward_1", |b| {
        b.iter(|| net.forward_t(&x1, false).expect("forward"))
    });
    if let Some(t) = torch.as_mut() {
        group.bench_function("pytorch/forward_1", |b| {
            b.iter_custom(|iters| t.time(1, iters))
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
            b.iter_custom(|iters| t.time(32, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
