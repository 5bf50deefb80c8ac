//! `weir bench ab`: two pipelines, or two commands, measured in turns (ABBA blocks) so that a
//! machine that drifts (a neighbour's load, the CPU's clock, a filling cache) drifts for both.

use super::pipeline::{Target, TargetArgs};
use super::process::{Process, display, split_commands};
use super::{Bar, ReportArgs, SEED, parse_fraction};
use crate::exit::{EXIT_INVALID, Failure};
use crate::settings::Settings;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use weir_api::bench::{BenchMode, Benchmark};
use weir_bench::harness::{Plan, Stop};
use weir_bench::measure::Measured;

/// Compare two pipelines (or two commands) measured in turns: A B B A, again and again
///
/// Measuring A fully and then B fully lets anything that changes on the machine in the
/// meantime pass for a difference between them. Here each block runs A, then B twice, then A
/// again, and the report compares the two sets of samples: the ratio of medians with its 95%
/// confidence interval, a Mann-Whitney U p-value, and a verdict (improved, regressed or no
/// change within --threshold).
///
/// Exit codes: 0 compared, 1 some iterations did not succeed, 2 invalid input or arguments.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir bench ab before.yaml after.yaml\n  weir bench ab a.yaml b.yaml -i '{\"n\": 10}' -n 400 --blocks 20\n  weir bench ab -- python old.py -- python new.py"
)]
pub struct Args {
    /// The two pipeline files, A (the base) and B; or none, with the two commands after `--`.
    #[arg(num_args = 0..=2, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
    /// Measured iterations of each side (default: 200 runs, or 20 processes).
    #[arg(short = 'n', long, value_name = "N")]
    iterations: Option<u64>,
    /// ABBA blocks the iterations are spread over (default: 10, or one per two processes).
    #[arg(long, value_name = "N")]
    blocks: Option<u64>,
    /// Iterations of each side run first and not measured (default: 3 runs, or 1 process).
    #[arg(long, value_name = "N")]
    warmup: Option<u64>,
    /// Runs in flight at once (pipelines only).
    #[arg(short = 'c', long, value_name = "N", default_value_t = 1)]
    concurrency: u32,
    /// A change smaller than this counts as none.
    #[arg(long, value_name = "FRACTION", default_value = "2%", value_parser = parse_fraction)]
    threshold: f64,
    #[command(flatten)]
    report: ReportArgs,
    /// The two commands, A then B: `-- prog args… -- prog args…`, each run without a shell.
    #[arg(last = true, value_name = "COMMAND")]
    commands: Vec<String>,
}

/// One side of an interleaved comparison.
pub trait Side {
    fn name(&self) -> &str;
    /// `n` iterations, unmeasured.
    fn warm(&self, n: u64) -> Result<()>;
    /// `n` measured iterations.
    fn block(&self, n: u64) -> Result<Measured>;
}

/// A pipeline side: runs at a concurrency, on the runtime.
pub struct PipelineSide<'a> {
    pub target: &'a Target,
    pub runtime: &'a tokio::runtime::Runtime,
    pub concurrency: u32,
}

impl Side for PipelineSide<'_> {
    fn name(&self) -> &str {
        self.target.name()
    }
    fn warm(&self, n: u64) -> Result<()> {
        self.target.warm_up(self.runtime, n)
    }
    fn block(&self, n: u64) -> Result<Measured> {
        let plan = Plan { warmup: 0, stop: Stop::Iterations(n), concurrency: self.concurrency };
        self.target.measure(self.runtime, &plan, &|_| {})
    }
}

impl Side for Process {
    fn name(&self) -> &str {
        &self.name
    }
    fn warm(&self, n: u64) -> Result<()> {
        (0..n).try_for_each(|_| self.once().map(drop))
    }
    fn block(&self, n: u64) -> Result<Measured> {
        let plan = Plan { warmup: 0, stop: Stop::Iterations(n), concurrency: 1 };
        self.measure(&plan, &|_| {})
    }
}

/// Measures `sides` in turns: `rounds` rounds, each side `per_slot` iterations a turn, the
/// order reversed every other round (A B, B A, … — ABBA for two sides).
pub fn interleave(
    sides: &[&dyn Side],
    rounds: u64,
    per_slot: u64,
    warmup: u64,
    bar: &Bar,
) -> Result<Vec<Measured>> {
    for side in sides {
        side.warm(warmup)?;
    }
    let start = Instant::now();
    let mut measured: Vec<Measured> = sides
        .iter()
        .map(|s| Measured { name: s.name().to_owned(), warmup, concurrency: 1, ..Measured::default() })
        .collect();
    let mut order: Vec<usize> = (0..sides.len()).collect();
    for round in 0..rounds {
        for &i in &order {
            let offset = start.elapsed();
            let block = sides[i].block(per_slot)?;
            measured[i].concurrency = block.concurrency.max(1);
            measured[i].append(block, offset);
        }
        order.reverse();
        bar.fraction((round + 1) as f64 / rounds as f64);
    }
    bar.finish();
    Ok(measured)
}

/// Rounds and iterations per turn for `iterations` of each side over `blocks` ABBA blocks.
fn slots(iterations: u64, blocks: u64) -> (u64, u64) {
    let rounds = (blocks.max(1) * 2).min(iterations.max(1));
    (rounds, iterations.max(1).div_ceil(rounds))
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let commands = split_commands(&args.commands);
    let runtime = super::super::runtime(super::super::Threads::Workers)?;
    let environment = weir_bench::fingerprint::environment(&super::build());
    let cores = environment.cores;
    let started_at = super::super::runs::now_ms();
    let began = Instant::now();
    let bar = Bar::new(settings, "A/B");
    let measured = match (args.files.as_slice(), commands.as_slice()) {
        ([a, b], []) => {
            let (Some(a), Some(b)) = (
                Target::load(a, &args.target, settings, &runtime)?,
                Target::load(b, &args.target, settings, &runtime)?,
            ) else {
                return Ok(ExitCode::from(EXIT_INVALID));
            };
            let side = |target| PipelineSide { target, runtime: &runtime, concurrency: args.concurrency };
            let (rounds, per_slot) = slots(args.iterations.unwrap_or(200), args.blocks.unwrap_or(10));
            interleave(&[&side(&a), &side(&b)], rounds, per_slot, args.warmup.unwrap_or(3), &bar)?
        }
        ([], [a, b]) => {
            let process = |argv: &Vec<String>| Process {
                name: display(argv),
                argv: argv.clone(),
                prepare: None,
                show_output: false,
            };
            let iterations = args.iterations.unwrap_or(20);
            let (rounds, per_slot) = slots(iterations, args.blocks.unwrap_or(iterations.div_ceil(2)));
            interleave(&[&process(a), &process(b)], rounds, per_slot, args.warmup.unwrap_or(1), &bar)?
        }
        _ => {
            return Err(Failure::Invalid.wrap(anyhow::anyhow!(
                "weir bench ab compares two pipelines (`weir bench ab A.yaml B.yaml`) or two commands (`weir bench ab -- prog a… -- prog b…`); found {} files and {} commands",
                args.files.len(),
                commands.len()
            )));
        }
    };
    let benchmarks: Vec<Benchmark> =
        measured.into_iter().map(|m| weir_bench::measure::benchmark(m, cores, SEED)).collect();
    let failed = benchmarks.iter().any(|b| b.failures > 0);
    let mut report = super::report(BenchMode::Ab, environment, started_at, began.elapsed(), benchmarks);
    report.comparisons = super::compare::against_first(&report.benchmarks, args.threshold);
    super::emit(report, &args.report, settings)?;
    Ok(if failed { ExitCode::from(crate::exit::EXIT_RUN_FAILED) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_spread_over_abba_blocks() {
        assert_eq!(slots(200, 10), (20, 10));
        assert_eq!(slots(20, 10), (20, 1));
        assert_eq!(slots(3, 10), (3, 1), "never more turns than iterations");
        assert_eq!(slots(201, 10), (20, 11), "every side gets at least what was asked");
    }
}
