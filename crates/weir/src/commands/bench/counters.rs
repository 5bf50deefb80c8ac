//! Deterministic counters: what a run costs that a busy machine does not change, so `weir bench
//! ci` can gate on it exactly. Allocations and write calls are counted in this process, over
//! runs of their own after the timed ones (counting would slow what is timed); instructions and
//! system calls by running weir again under valgrind or strace, twice with different run
//! counts, so that what the process does once (start, load, validate) cancels out.

use super::pipeline::Target;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};
use weir_api::bench::Counter;
use weir_bench::alloc::Counting;

/// Runs counted in this process.
const COUNTED_RUNS: u64 = 20;
/// Extra runs in the second of the two processes under valgrind or strace.
const TRACED_RUNS: u64 = 10;

fn counter(name: &str, value: f64, per: &str) -> Counter {
    Counter { name: name.into(), value, per: per.into() }
}

/// Allocations per run (when this binary counts them) and write calls and bytes per step (where
/// the kernel tells: Linux `/proc/self/io`).
pub fn in_process(target: &Target, runtime: &tokio::runtime::Runtime) -> Result<Vec<Counter>> {
    let steps = target.steps_per_run(runtime)? as f64;
    let io_before = io();
    let counting = Counting::start();
    target.warm_up(runtime, COUNTED_RUNS)?;
    let allocations = counting.stop();
    let io_after = io();
    let runs = COUNTED_RUNS as f64;
    let mut counters = Vec::new();
    if weir_bench::alloc::installed() {
        counters.push(counter("allocations", allocations.count as f64 / runs, "run"));
        counters.push(counter("allocated_bytes", allocations.bytes as f64 / runs, "run"));
    }
    if let (Some(before), Some(after)) = (io_before, io_after) {
        let per_step = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / runs / steps;
        counters.push(counter("io.write_calls", per_step(before.0, after.0), "step"));
        counters.push(counter("io.write_bytes", per_step(before.1, after.1), "step"));
    }
    Ok(counters)
}

/// This process's write system calls and the bytes they wrote (`syscw`, `wchar`).
fn io() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok());
    Some((field("syscw:")?, field("wchar:")?))
}

/// How to run `weir bench run` again for `runs` runs, in a child process.
pub struct Rerun<'a> {
    pub file: &'a Path,
    /// The run's input, as JSON, passed in a file.
    pub input: &'a serde_json::Value,
    pub store: &'a str,
}

impl Rerun<'_> {
    fn command(&self, prefix: &[&str], runs: u64, input: &Path) -> Result<Command> {
        let exe = std::env::current_exe().context("cannot find the weir binary to run it again")?;
        let (tool, rest) = prefix.split_first().context("no tool")?;
        let mut command = Command::new(tool);
        command
            .args(rest)
            .arg(exe)
            .args(["--quiet", "bench", "run"])
            .arg(self.file)
            .arg("-i")
            .arg(format!("@{}", input.display()))
            .args(["--store", self.store, "--warmup", "0", "--profile", "cpu", "--format", "json"])
            .args(["--iterations", &runs.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Ok(command)
    }

    /// What `parse` reads off the tool's stderr, per extra run: (with TRACED_RUNS + 1 runs −
    /// with 1 run) / TRACED_RUNS.
    fn difference(&self, prefix: &[&str], parse: fn(&str) -> Option<Vec<f64>>) -> Result<Vec<f64>> {
        let dir = super::pipeline::TempDir::new()?;
        let input = dir.0.join("input.json");
        std::fs::write(&input, self.input.to_string())?;
        let mut readings = Vec::new();
        for runs in [1, TRACED_RUNS + 1] {
            let out = self
                .command(prefix, runs, &input)?
                .output()
                .with_context(|| format!("cannot run {}", prefix[0]))?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            match parse(&stderr) {
                Some(values) if out.status.success() => readings.push(values),
                _ => bail!("{} ended without its summary ({}): {}", prefix[0], out.status, tail(&stderr)),
            }
        }
        let per_run =
            readings[1].iter().zip(&readings[0]).map(|(b, a)| (b - a).max(0.0) / TRACED_RUNS as f64);
        Ok(per_run.collect())
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Instructions per run, counted by valgrind's cachegrind with its cache simulation off.
pub fn instructions(rerun: &Rerun) -> Result<Vec<Counter>> {
    let tool = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"];
    let per_run = rerun.difference(&tool, |stderr| Some(vec![valgrind_instructions(stderr)?]))?;
    Ok(vec![counter("instructions", per_run[0], "run")])
}

/// Instructions of one process of `argv` under valgrind.
pub fn command_instructions(argv: &[String]) -> Result<Counter> {
    let out = Command::new("valgrind")
        .args(["--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .context("cannot run valgrind (--profile instructions needs it installed)")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refs = valgrind_instructions(&stderr).with_context(|| format!("valgrind said: {}", tail(&stderr)))?;
    Ok(counter("instructions", refs, "run"))
}

/// fsync and write calls per step, counted by strace.
pub fn syscalls(rerun: &Rerun, steps: u64) -> Result<Vec<Counter>> {
    let tool = ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync,write,pwrite64,writev,pwritev"];
    let per_run = rerun.difference(&tool, |stderr| {
        let calls = strace_calls(stderr);
        let sum = |names: &[&str]| names.iter().map(|n| calls.get(*n).copied().unwrap_or(0.0)).sum::<f64>();
        (!calls.is_empty())
            .then(|| vec![sum(&["fsync", "fdatasync"]), sum(&["write", "pwrite64", "writev", "pwritev"])])
    })?;
    let steps = steps.max(1) as f64;
    Ok(vec![
        counter("syscalls.fsync", per_run[0] / steps, "step"),
        counter("syscalls.write", per_run[1] / steps, "step"),
    ])
}

/// `I refs: 1,234,567` (cachegrind's summary), as a number.
fn valgrind_instructions(stderr: &str) -> Option<f64> {
    let line = stderr.lines().find(|l| l.contains("I refs:") || l.contains("I   refs:"))?;
    let number: String = line.rsplit(':').next()?.chars().filter(char::is_ascii_digit).collect();
    number.parse().ok()
}

/// The `calls` column of strace's `-c` table, by system call.
fn strace_calls(stderr: &str) -> std::collections::HashMap<String, f64> {
    let mut calls = std::collections::HashMap::new();
    for line in stderr.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors,] syscall
        if fields.len() >= 5 && fields[0].parse::<f64>().is_ok() {
            let name = fields[fields.len() - 1];
            if let Ok(n) = fields[3].parse::<f64>() {
                calls.insert(name.to_owned(), n);
            }
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cachegrind_s_summary_gives_the_instruction_count() {
        let stderr = "==12== Cachegrind, a cache and branch-prediction profiler\n==12== \n==12== I   refs:      1,234,567\n";
        assert_eq!(valgrind_instructions(stderr), Some(1_234_567.0));
        assert_eq!(valgrind_instructions("==1== I refs: 42\n"), Some(42.0));
        assert_eq!(valgrind_instructions("no summary"), None);
    }

    #[test]
    fn strace_s_table_gives_calls_by_name() {
        let stderr = "% time     seconds  usecs/call     calls    errors syscall\n------ ----------- ----------- --------- --------- ----------------\n 80.00    0.000400          20        20           fsync\n 20.00    0.000100           1       100           write\n------ ----------- ----------- --------- --------- ----------------\n100.00    0.000500           4       120           total\n";
        let calls = strace_calls(stderr);
        assert_eq!(calls.get("fsync"), Some(&20.0));
        assert_eq!(calls.get("write"), Some(&100.0));
    }
}
