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
