//! `cargo xtask bench`: whole-process benchmarks of the release binary, then the in-process
//! engine benchmarks (`cargo bench -p weir-steps --bench engine`). Each figure is a median; the
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
        name: "`weir run examples/hello.yaml`, whole process",
        args: &["run", "examples/hello.yaml"],
        runs: 100,
        target: Duration::from_millis(15),
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
    eprintln!("building the release binary…");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "-p", "weir"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("the release build failed");
    }
    let binary = target_dir(root).join("release/weir");
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
    let engine = Command::new(&cargo)
        .args(["bench", "--quiet", "-p", "weir-steps", "--bench", "engine"])
        .current_dir(root)
        .status()?;
    if missed > 0 || !engine.success() {
        bail!("a benchmark missed its target");
    }
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
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

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}
