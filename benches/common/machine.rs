//! What machine a bench ran on, printed with its results: figures from different CPUs or
//! loads are not comparable.

/// The CPU model (`model name` of /proc/cpuinfo, family and model from `lscpu`), the logical
/// CPUs and the load average, on one line.
pub fn description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model_name = field(&cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".into());
    let lscpu = std::process::Command::new("lscpu")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let family = field(&lscpu, "CPU family").unwrap_or_else(|| "?".into());
    let model = field(&lscpu, "Model").unwrap_or_else(|| "?".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "CPU: {model_name} (family {family}, model {model}), {cpus} logical CPUs; load average \
         {}",
        load.join(" ")
    )
}

/// The value of the first `key: value` line whose key is exactly `key`.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The measured peak of fused multiply-adds in f32 over all logical CPUs (GFLOP/s, 2 FLOP per
/// lane per FMA): each thread runs independent FMA chains in the widest vectors the CPU has
/// (AVX-512 or AVX2), for about `seconds`; the best of three runs. `None` on a CPU without
/// FMA. Why measured: a kernel's share of the peak is what says how much is left, and clocks,
/// boost and the vector units' width differ from machine to machine.
#[allow(dead_code)]
pub fn fma_peak_gflops(seconds: f64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        let lanes = if std::arch::is_x86_feature_detected!("avx512f") {
            16
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            8
        } else {
            return None;
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let run = || {
            let start = std::time::Instant::now();
            let fmas: u64 = std::thread::scope(|s| {
                let workers: Vec<_> = (0..threads)
                    .map(|_| s.spawn(|| fma_chains(lanes, seconds)))
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
            });
            (fmas * lanes as u64 * 2) as f64 / start.elapsed().as_secs_f64() / 1e9
        };
        (0..3).map(|_| run()).reduce(f64::max)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = seconds;
        None
    }
}

/// FMAs done by one thread in about `seconds` (12 independent chains per vector width, more
/// than FMA latency x FMA ports on current x86 cores, so the units never wait).
#[cfg(target_arch = "x86_64")]
fn fma_chains(lanes: usize, seconds: f64) -> u64 {
    const CHAINS: u64 = 12;
    const STEPS: u64 = 1 << 16;
    let start = std::time::Instant::now();
    let mut done = 0u64;
    let mut sink = 0f32;
    while start.elapsed().as_secs_f64() < seconds {
        // SAFETY: `fma_peak_gflops` only asks for the width the CPU was found to support.
        sink += unsafe {
            if lanes == 16 {
                avx512_chains(STEPS)
            } else {
                avx2_chains(STEPS)
            }
        };
        done += STEPS * CHAINS;
    }
    std::hint::black_box(sink);
    done
}

/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_chains(steps: u64) -> f32 {
    use std::arch::x86_64::*;
    // Through black_box: constants would let the compiler fold the chains away.
    let a = _mm512_set1_ps(std::hint::black_box(0.999_999));
    let b = _mm512_set1_ps(std::hint::black_box(1e-7));
    let mut acc = [_mm512_set1_ps(std::hint::black_box(1.0)); 12];
    for _ in 0..std::hint::black_box(steps) {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
}

/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_chains(steps: u64) -> f32 {
    use std::arch::x86_64::*;
    // Through black_box: constants would let the compiler fold the chains away.
    let a = _mm256_set1_ps(std::hint::black_box(0.999_999));
    let b = _mm256_set1_ps(std::hint::black_box(1e-7));
    let mut acc = [_mm256_set1_ps(std::hint::black_box(1.0)); 12];
    for _ in 0..std::hint::black_box(steps) {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut lanes = [0f32; 8];
    let mut total = 0.0;
    for v in acc {
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        total += lanes.iter().sum::<f32>();
    }
    total
}
