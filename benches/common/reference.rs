//! A reference implementation (PyTorch, scikit-learn) timed in a child Python process that
//! speaks a line protocol on stdin / stdout (each script's docstring), so that both sides of a
//! comparison run in one bench, on the same machine, minutes apart.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A running reference script; told to quit when dropped.
pub struct Reference {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What followed "ready " in its first line (versions, threads).
    pub hello: String,
}

impl Reference {
    /// Starts `benches/<script>` with `args` under the interpreter in `TLC_BENCH_PYTHON`
    /// (default `python3`), `threads` OpenMP threads, and waits for its "ready" line; the
    /// error says why it cannot run (no interpreter, a missing library).
    pub fn spawn(script: &str, args: &[String], threads: usize) -> Result<Reference, String> {
        let python = std::env::var("TLC_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = format!("{}/benches/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(&python)
            .arg(&script)
            .args(args)
            .env("OMP_NUM_THREADS", threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(format!("no pipes to {script}"));
        };
        let mut reference = Reference {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            hello: String::new(),
        };
        let hello = reference.ask(None)?;
        match hello.strip_prefix("ready ") {
            Some(v) => reference.hello = v.to_string(),
            None => return Err(format!("{python} {script}: {hello}")),
        }
        Ok(reference)
    }

    /// Sends `request` (if any) and returns the reply line; a reply "error ..." is an error.
    pub fn ask(&mut self, request: Option<&str>) -> Result<String, String> {
        if let Some(r) = request {
            writeln!(self.stdin, "{r}").map_err(|e| format!("write to the reference: {e}"))?;
        }
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the reference process ended".into()),
            Ok(_) if line.starts_with("error") => Err(line.trim().to_string()),
            Ok(_) => Ok(line.trim().to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The reply to `request` read as a number of seconds (the script's own timing).
    pub fn seconds(&mut self, request: &str) -> std::time::Duration {
        let reply = match self.ask(Some(request)) {
            Ok(r) => r,
            Err(e) => panic!("{request}: {e}"),
        };
        match reply.parse::<f64>() {
            Ok(s) => std::time::Duration::from_secs_f64(s),
            Err(_) => panic!("{request}: the reply '{reply}' is not a number of seconds"),
        }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}
