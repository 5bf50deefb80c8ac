//! `cargo xtask bench-quality`: a benchmark of `weir bench` itself. A benchmark tool is only
//! as good as its verdicts: comparing a pipeline with itself (A/A) must rarely call a change,
//! and a pipeline made 5% slower must be caught. Both run through the release binary's
//! `weir bench ab`, 20 trials each, every trial within a 20-second budget; the slowdown is an
//! extra step with a busy loop, calibrated on this machine (interleaved, as the trials measure)
//! to 5% of the pipeline's median. Targets: A/A
//! false positives ≤ 5% (at most 1 of 20), the 5% slowdown found in ≥ 90% (18 of 20).
//! Figures are recorded in docs/bench.md.

use super::bench::verdict;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: usize = 20;
const BUDGET: Duration = Duration::from_secs(20);
const SLOWDOWN: f64 = 0.05;

/// A chain of steps doing a little jq work each: about a millisecond a run.
fn pipeline(extra_loop: u64) -> String {
    let mut text = String::from("name: quality\nsteps:\n");
    for i in 0..5 {
        let needs = if i == 0 { String::new() } else { format!(", needs: [s{}]", i - 1) };
        text.push_str(&format!(
            "  - {{ id: s{i}, uses: transform{needs}, with: {{ expr: 'reduce range(400) as $i (0; . + $i)' }} }}\n"
        ));
    }
    if extra_loop > 0 {
        text.push_str(&format!(
            "  - {{ id: extra, uses: transform, needs: [s4], with: {{ expr: 'reduce range({extra_loop}) as $i (0; . + $i)' }} }}\n"
        ));
    }
    text
}

pub fn run(root: &Path) -> Result<()> {
    let binary = super::bench::release_binary(root)?;
    let dir = std::env::temp_dir().join(format!("weir-bench-quality-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = trials(&binary, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn trials(binary: &Path, dir: &Path) -> Result<()> {
    let base = write(dir, "base.yaml", &pipeline(0))?;
    let base_ms = median_ms(binary, &base)?;
    let (slow, injected) = calibrate(binary, dir, &base)?;
    // Each trial runs both sides; a run's median with a margin for the slower side and overhead.
    let per_side = ((BUDGET.as_secs_f64() * 0.6) / (2.0 * base_ms / 1e3 * (1.0 + SLOWDOWN))) as u64;
    let iterations = per_side.clamp(50, 20_000);
    println!(
        "base run: {base_ms:.3} ms; injected slowdown measured at {:+.1}%; {iterations} runs a side per trial",
        injected * 100.0
    );
    let aa = verdicts(binary, &base, &base, iterations)?;
    let ab = verdicts(binary, &base, &slow, iterations)?;
    let false_positives = aa.iter().filter(|t| t.verdict != "unchanged").count();
    let detected = ab.iter().filter(|t| t.verdict == "regressed").count();
    let slowest = aa.iter().chain(&ab).map(|t| t.took).max().unwrap_or_default();
    let fp_ok = false_positives * 20 <= TRIALS;
    let detect_ok = detected * 10 >= TRIALS * 9;
    let budget_ok = slowest <= BUDGET;
    println!("{:<52} {:>10} {:>10}", "quality of weir bench ab (20 trials each)", "measured", "target");
    println!(
        "{:<52} {:>10} {:>10} {}",
        "A/A: trials that called a change",
        format!("{false_positives}/{TRIALS}"),
        "≤ 1/20",
        verdict(fp_ok)
    );
    println!(
        "{:<52} {:>10} {:>10} {}",
        "5% slowdown: trials that found a regression",
        format!("{detected}/{TRIALS}"),
        "≥ 18/20",
        verdict(detect_ok)
    );
    println!(
        "{:<52} {:>10} {:>10} {}",
        "slowest trial",
        format!("{:.1} s", slowest.as_secs_f64()),
        "≤ 20 s",
        verdict(budget_ok)
    );
    let ratios: Vec<String> = ab.iter().map(|t| format!("{:.3}", t.ratio)).collect();
    println!("5% slowdown, ratios found: {}", ratios.join(" "));
    if !(fp_ok && detect_ok && budget_ok) {
        bail!("weir bench missed a quality target");
    }
    Ok(())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The pipeline with an extra step that makes it 5% slower here, and the slowdown measured.
/// The slowdown is calibrated the way the trials measure it, interleaved by `weir bench ab`, by
/// the secant method on the number of turns of the extra step's loop: a few measurements until
/// one lands within half a percent of 5%.
fn calibrate(binary: &Path, dir: &Path, base: &Path) -> Result<(PathBuf, f64)> {
    let measure = |turns: u64| -> Result<(PathBuf, f64)> {
        let probe = write(dir, &format!("slow-{turns}.yaml"), &pipeline(turns))?;
        let slowdown = ab_ratio(binary, base, &probe)? - 1.0;
        eprintln!("calibrating: {turns} turns slow the pipeline by {:+.2}%", slowdown * 100.0);
        Ok((probe, slowdown))
    };
    let (mut previous, mut turns) = ((0u64, 0.0), 20_000u64);
    let mut best = measure(turns)?;
    for _ in 0..5 {
        if (best.1 - SLOWDOWN).abs() < 0.005 {
            break;
        }
        let (t0, s0) = previous;
        let slope = (best.1 - s0) / (turns as f64 - t0 as f64);
        let next = (turns as f64 + (SLOWDOWN - best.1) / slope.max(1e-12)).round();
        previous = (turns, best.1);
        turns = next.clamp(1.0, 10_000_000.0) as u64;
        best = measure(turns)?;
    }
    Ok(best)
}

/// The ratio of medians of `b` to `a`, interleaved, with plenty of runs.
fn ab_ratio(binary: &Path, a: &Path, b: &Path) -> Result<f64> {
    let report = weir_json(binary, &["bench", "ab"], &[a, b], &["-n", "6000", "--blocks", "20"])?;
    report["comparisons"][0]["metrics"][0]["ratio"].as_f64().context("the report has no ratio")
}

fn median_ms(binary: &Path, file: &Path) -> Result<f64> {
    let report = weir_json(binary, &["bench", "run"], &[file], &["-n", "500", "--warmup", "20"])?;
    report["benchmarks"][0]["metrics"][0]["summary"]["median"]
        .as_f64()
        .context("the report has no median latency")
}

/// One trial.
struct Trial {
    verdict: String,
    ratio: f64,
    took: Duration,
}

fn verdicts(binary: &Path, a: &Path, b: &Path, iterations: u64) -> Result<Vec<Trial>> {
    let n = iterations.to_string();
    (0..TRIALS)
        .map(|_| {
            let began = Instant::now();
            let report = weir_json(binary, &["bench", "ab"], &[a, b], &["-n", &n, "--blocks", "10"])?;
            let latency = &report["comparisons"][0]["metrics"][0];
            Ok(Trial {
                verdict: latency["verdict"].as_str().unwrap_or("none").to_owned(),
                ratio: latency["ratio"].as_f64().unwrap_or(f64::NAN),
                took: began.elapsed(),
            })
        })
        .collect()
}

fn weir_json(binary: &Path, command: &[&str], files: &[&Path], flags: &[&str]) -> Result<Value> {
    let out = Command::new(binary)
        .args(command)
        .args(files)
        .args(flags)
        .args(["--json", "--store", "none"])
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !out.status.success() {
        bail!("weir {} failed ({})", command.join(" "), out.status);
    }
    serde_json::from_slice(&out.stdout).context("weir bench printed something other than its JSON report")
}
