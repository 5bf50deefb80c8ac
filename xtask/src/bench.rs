//! `cargo xtask bench`: whole-process benchmarks of the release binary, then the in-process
//! engine benchmarks (`cargo bench -p weir-steps --bench engine`) and the overhead of `weir bench`'s
//! harness (`cargo bench -p weir-bench --bench harness`). Each figure is a median; the
//! command fails when a target is missed. Figures are recorded in docs/performance.md.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Case {
    name: &'static str,
    args: &'static [&'static str],
    runs: usize,
    target: Duration,
}

const CASES: &[Case] = &[
    Case {
        name: "`weir run examples/hello.yaml`, whole process, stored",
        args: &["run", "examples/hello.yaml"],
        runs: 100,
        target: Duration::from_millis(8),
    },
    Case {
        name: "`weir validate` of a 1,000-step file, whole process",
        args: &["validate", "tests/data/regression-1000-step-chain/pipeline.yaml"],
        runs: 30,
        target: Duration::from_millis(100),
    },
    Case {
        name: "`weir run` of a 10,000-step chain, whole process",
        args: &["run", "tests/data/regression-10000-step-chain/pipeline.yaml"],
        runs: 5,
        target: Duration::from_millis(2000),
    },
];

pub fn run(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let binary = release_binary(root)?;
    let mut missed = 0;
    println!("{:<58} {:>12} {:>10}", "benchmark (median)", "measured", "target");
    for case in CASES {
        let median = time(&binary, root, case)?;
        let ok = median <= case.target;
        missed += usize::from(!ok);
        println!(
            "{:<58} {:>12} {:>10} {}",
            case.name,
            format!("{median:.2?}"),
            format!("{:?}", case.target),
            verdict(ok)
        );
    }
    store_io(&binary)?;
    let engine = Command::new(&cargo)
        .args(["bench", "--quiet", "-p", "weir-steps", "--bench", "engine"])
        .current_dir(root)
        .status()?;
    let harness = Command::new(&cargo)
        .args(["bench", "--quiet", "-p", "weir-bench", "--bench", "harness"])
        .current_dir(root)
        .status()?;
    if missed > 0 || !engine.success() || !harness.success() {
        bail!("a benchmark missed its target");
    }
    Ok(())
}

/// Builds the release binary and says where it is.
pub fn release_binary(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the release binary…");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "-p", "weir"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("the release build failed");
    }
    Ok(target_dir(root).join("release/weir"))
}

pub fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn time(binary: &Path, root: &Path, case: &Case) -> Result<Duration> {
    let mut samples = Vec::with_capacity(case.runs);
    for _ in 0..case.runs {
        let start = Instant::now();
        let status = Command::new(binary)
            .args(case.args)
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        samples.push(start.elapsed());
        if !status.success() {
            bail!("{} failed", case.name);
        }
    }
    samples.sort();
    Ok(samples[samples.len() / 2])
}

/// Steps of the chain `store_io` runs.
const IO_STEPS: usize = 200;

/// What storing a run writes per step — write calls, bytes written and fsyncs — counted by
/// strace (skipped, saying so, where it is not installed) on `weir run` of a chain of `pass`
/// steps into an existing store, less the same run with `--no-store`, for each durability level.
/// Counters, not times: noise on a shared machine does not move them.
fn store_io(binary: &Path) -> Result<()> {
    if Command::new("strace").arg("-V").stdout(Stdio::null()).status().is_err() {
        println!("store I/O per step: skipped (strace is not installed)");
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("weir-store-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut text = String::from("name: chain\nsteps:\n  - { id: s0, uses: pass }\n");
    for i in 1..IO_STEPS {
        text.push_str(&format!("  - {{ id: s{i}, uses: pass, needs: [s{}] }}\n", i - 1));
    }
    let pipeline = dir.join("chain.yaml");
    std::fs::write(&pipeline, text)?;
    let count = |label: &str, flags: &[&str]| -> Result<Io> {
        let home = dir.join(label);
        let run = |trace: Option<&Path>| -> Result<()> {
            let mut command = match trace {
                Some(out) => {
                    let mut c = Command::new("strace");
                    c.args(["-f", "-qq", "-e", "trace=write,pwrite64,writev,pwritev,fsync,fdatasync", "-o"])
                        .arg(out)
                        .arg(binary);
                    c
                }
                None => Command::new(binary),
            };
            let status = command
                .arg("run")
                .arg(&pipeline)
                .args(flags)
                .env("WEIR_HOME", &home)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            if !status.success() {
                bail!("weir run {} failed", flags.join(" "));
            }
            Ok(())
        };
        // The store is created first, so the count is of a run, not of a migration.
        run(None)?;
        let out = dir.join(format!("{label}.strace"));
        run(Some(&out))?;
        Ok(Io::parse(&std::fs::read_to_string(&out)?))
    };
    let bare = count("bare", &["--no-store"])?;
    println!("store I/O added per step (strace, {IO_STEPS}-step chain of pass):");
    println!("{:<30} {:>12} {:>12} {:>12}", "durability", "write calls", "bytes", "fsyncs");
    for (label, flags) in [("normal", &["--durability", "normal"]), ("full", &["--durability", "full"])] {
        let io = count(label, flags)?;
        let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / IO_STEPS as f64;
        println!(
            "{label:<30} {:>12.2} {:>12.0} {:>12.2}",
            per(io.writes, bare.writes),
            per(io.bytes, bare.bytes),
            per(io.fsyncs, bare.fsyncs)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Write calls, bytes written and fsyncs in an strace log.
#[derive(Debug, Default, PartialEq, Eq)]
struct Io {
    writes: u64,
    bytes: u64,
    fsyncs: u64,
}

impl Io {
    fn parse(log: &str) -> Io {
        let mut io = Io::default();
        for line in log.lines() {
            // `4242  pwrite64(5, "…"..., 4096, 8192) = 4096`, after the pid that -f puts first.
            let call = line.split_whitespace().nth(1).unwrap_or("");
            let name = call.split('(').next().unwrap_or("");
            let result =
                line.rsplit_once(" = ").and_then(|(_, r)| r.split_whitespace().next()?.parse::<u64>().ok());
            match name {
                "write" | "pwrite64" | "writev" | "pwritev" => {
                    io.writes += 1;
                    io.bytes += result.unwrap_or(0);
                }
                "fsync" | "fdatasync" => io.fsyncs += 1,
                _ => {}
            }
        }
        io
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::Io;

    #[test]
    fn strace_logs_are_counted_by_call() {
        let log = "12  pwrite64(5, \"abc\"..., 4096, 0) = 4096\n12  fdatasync(5) = 0\n13  write(2, \"x\", 1) = 1\n13  +++ exited with 0 +++\n";
        assert_eq!(Io::parse(log), Io { writes: 2, bytes: 4097, fsyncs: 1 });
    }
}
