//! `weir bench run`: a pipeline run again and again in this process.

use super::pipeline::{StoreChoice, Target, TargetArgs};
use super::{PlanArgs, Profile, ProfileArgs, ReportArgs, SEED};
use crate::exit::{EXIT_INVALID, EXIT_RUN_FAILED};
use crate::settings::Settings;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use weir_api::bench::{BenchMode, Benchmark};
use weir_bench::harness::Plan;

/// Benchmark a pipeline: run it again and again in this process
///
/// Each run goes through the engine and the store as `weir run` would (by default into a
/// throwaway store, so the cost of storing is measured and `weir runs` stays clean; `--store`
/// chooses). Reported: the latency of a run and of each step (p50 to p99.9 and the median's
/// 95% confidence interval), runs per second (and `foreach` items per second), CPU time, peak
/// memory, where a run's time went (waiting for its first step, steps executing, the
/// transitions between them), and with `--profile` energy, thermal events and deterministic
/// counters.
///
/// Exit codes: 0 measured, 1 some runs did not succeed (they are measured and reported), 2
/// invalid pipeline, input or arguments.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir bench run examples/hello.yaml\n  weir bench run score.yaml -i '{\"order\": 7}' -n 1000 --warmup 10\n  weir bench run fan.yaml --duration 30s --concurrency 8\n  weir bench run p.yaml --profile cpu,mem,energy,counters -o report.html\n  weir bench run p.yaml --json > base.json"
)]
pub struct Args {
    /// The pipeline file (YAML or JSON).
    file: PathBuf,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    plan: PlanArgs,
    /// Runs in flight at once.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: u32,
    #[command(flatten)]
    profile: ProfileArgs,
    #[command(flatten)]
    report: ReportArgs,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let runtime = super::super::runtime(super::super::Threads::Workers)?;
    let Some(target) = Target::load(&args.file, &args.target, settings, &runtime)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let plan = args.plan.plan(100, 3, args.concurrency);
    let started_at = super::super::runs::now_ms();
    let began = Instant::now();
    let environment = weir_bench::fingerprint::environment(&super::build());
    let cores = environment.cores;
    let measuring =
        Measuring { target: &target, file: &args.file, args: &args.target, profile: &args.profile };
    let benchmark = measuring.measure(&runtime, &plan, cores, settings)?;
    let failed = benchmark.failures > 0;
    let report = super::report(BenchMode::Run, environment, started_at, began.elapsed(), vec![benchmark]);
    super::emit(report, &args.report, settings)?;
    Ok(if failed { ExitCode::from(EXIT_RUN_FAILED) } else { ExitCode::SUCCESS })
}

/// A pipeline to measure, and what to measure besides time.
pub struct Measuring<'a> {
    pub target: &'a Target,
    pub file: &'a Path,
    pub args: &'a TargetArgs,
    pub profile: &'a ProfileArgs,
}

impl Measuring<'_> {
    /// Measures `plan`, with the meters and counters the profile asks for.
    pub fn measure(
        &self,
        runtime: &tokio::runtime::Runtime,
        plan: &Plan,
        cores: u32,
        settings: &Settings,
    ) -> Result<Benchmark> {
        let bar = super::Bar::new(settings, self.target.name());
        let meters = self.profile.meters().map(|config| weir_bench::meter::Session::start(&config));
        let measured = self.target.measure(runtime, plan, &|budget| bar.show(budget))?;
        bar.finish();
        let usage = measured.usage.unwrap_or_default();
        let (iterations, wall) = (measured.samples.len() as u64, measured.wall);
        let mut benchmark = weir_bench::measure::benchmark(measured, cores, SEED);
        if let Some(session) = meters {
            super::add_readings(&mut benchmark, session.finish(iterations, super::cpu_use(usage, wall)));
        }
        self.strip(&mut benchmark);
        benchmark.counters = self.counters(runtime)?;
        Ok(benchmark)
    }

    /// Leaves out what the profile did not ask for.
    fn strip(&self, benchmark: &mut Benchmark) {
        if let Some(resources) = &mut benchmark.resources {
            if !self.profile.has(Profile::Cpu) {
                (resources.cpu_user_s, resources.cpu_sys_s) = (0.0, 0.0);
            }
            if !self.profile.has(Profile::Mem) {
                resources.peak_rss_bytes = 0;
            }
        }
        if !self.profile.has(Profile::Cpu) && !self.profile.has(Profile::Mem) {
            benchmark.resources = None;
        }
    }

    fn counters(&self, runtime: &tokio::runtime::Runtime) -> Result<Vec<weir_api::bench::Counter>> {
        let mut counters = Vec::new();
        if self.profile.has(Profile::Counters) {
            counters.extend(super::counters::in_process(self.target, runtime)?);
        }
        let input = self.args.input.value()?;
        let store = match self.args.store {
            StoreChoice::Temp => "temp",
            StoreChoice::Home => "home",
            StoreChoice::None => "none",
        };
        let rerun = super::counters::Rerun { file: self.file, input: &input, store };
        if self.profile.has(Profile::Instructions) {
            counters.extend(super::counters::instructions(&rerun)?);
        }
        if self.profile.has(Profile::Syscalls) {
            let steps = self.target.steps_per_run(runtime)?;
            counters.extend(super::counters::syscalls(&rerun, steps)?);
        }
        Ok(counters)
    }
}
