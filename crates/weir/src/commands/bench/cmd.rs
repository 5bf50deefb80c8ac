//! `weir bench cmd`: whole processes of any program, timed from spawn to exit.

use super::ab::{Side, interleave};
use super::process::{Process, display, split_commands};
use super::{Bar, PlanArgs, Profile, ProfileArgs, ReportArgs, SEED, parse_fraction};
use crate::exit::{EXIT_RUN_FAILED, Failure};
use crate::settings::Settings;
use anyhow::Result;
use std::process::ExitCode;
use std::time::Instant;
use weir_api::bench::{BenchMode, Benchmark};
use weir_bench::harness::Stop;

/// Benchmark commands: whole processes, one at a time
///
/// Each command after `--` is the argv of a program, run without a shell (`-- sh -c '…'` for
/// one), its output discarded; further `--` separate further commands. One command is measured
/// alone; several are measured in turns (A B … B A, again and again), so that a machine that
/// drifts drifts for all of them, and each is compared with the first.
///
/// The same statistics, energy meters and report formats as `weir bench run`: measure an
/// inference script, or another tool, beside weir.
///
/// Exit codes: 0 measured, 1 a command exited non-zero (it is measured and reported), 2 a
/// command that cannot be started or invalid arguments.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir bench cmd -- weir run examples/hello.yaml\n  weir bench cmd --runs 20 --warmup 2 -- python infer.py -- weir run infer.yaml\n  weir bench cmd --name old --name new -- ./old -- ./new\n  weir bench cmd --prepare 'rm -rf .weir' -- weir run p.yaml\n  weir bench cmd --json -- sh -c 'sleep 0.1' > sleep.json"
)]
pub struct Args {
    #[command(flatten)]
    plan: PlanArgs,
    /// A shell command run before every iteration, untimed (clear a cache, reset a database).
    #[arg(long, value_name = "CMD")]
    prepare: Option<String>,
    /// Names for the commands, in order (default: the command line).
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Let the commands' output through instead of discarding it.
    #[arg(long)]
    show_output: bool,
    /// A change smaller than this counts as none, when several commands are compared.
    #[arg(long, value_name = "FRACTION", default_value = "2%", value_parser = parse_fraction)]
    threshold: f64,
    #[command(flatten)]
    profile: ProfileArgs,
    #[command(flatten)]
    report: ReportArgs,
    /// The commands: `-- prog args… [-- prog args…]`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    commands: Vec<String>,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let processes = processes(&args)?;
    let environment = weir_bench::fingerprint::environment(&super::build());
    let cores = environment.cores;
    let started_at = super::super::runs::now_ms();
    let began = Instant::now();
    let plan = args.plan.plan(10, 1, 1);
    let label = if processes.len() == 1 { processes[0].name.clone() } else { "commands".into() };
    let bar = Bar::new(settings, &label);
    let meters = args.profile.meters().map(|config| weir_bench::meter::Session::start(&config));
    let before = weir_bench::resources::Usage::children();
    let measured = match (processes.as_slice(), plan.stop) {
        ([one], _) => vec![one.measure(&plan, &|budget| bar.show(budget))?],
        (_, Stop::Iterations(n)) => {
            let sides: Vec<&dyn Side> = processes.iter().map(|p| p as &dyn Side).collect();
            interleave(&sides, n, 1, plan.warmup, &bar)?
        }
        (_, Stop::Duration(_)) => {
            return Err(Failure::Invalid.wrap(anyhow::anyhow!(
                "several commands are measured in turns, a number of times each: use --runs, not --duration"
            )));
        }
    };
    bar.finish();
    let mut benchmarks: Vec<Benchmark> =
        measured.into_iter().map(|m| weir_bench::measure::benchmark(m, cores, SEED)).collect();
    if let Some(session) = meters {
        // The meters see the whole machine: with several commands, the energy is theirs together.
        let usage = weir_bench::resources::Usage::children().since(before);
        let iterations = benchmarks.iter().map(|b| b.iterations).sum();
        let readings = session.finish(iterations, super::cpu_use(usage, began.elapsed()));
        if let Some(first) = benchmarks.first_mut() {
            super::add_readings(first, readings);
        }
    }
    if args.profile.has(Profile::Instructions) {
        for (benchmark, process) in benchmarks.iter_mut().zip(&processes) {
            benchmark.counters.push(super::counters::command_instructions(&process.argv)?);
        }
    }
    let failed = benchmarks.iter().any(|b| b.failures > 0);
    let mode = BenchMode::Cmd;
    let mut report = super::report(mode, environment, started_at, began.elapsed(), benchmarks);
    report.comparisons = super::compare::against_first(&report.benchmarks, args.threshold);
    super::emit(report, &args.report, settings)?;
    Ok(if failed { ExitCode::from(EXIT_RUN_FAILED) } else { ExitCode::SUCCESS })
}

fn processes(args: &Args) -> Result<Vec<Process>> {
    let commands = split_commands(&args.commands);
    if commands.is_empty() {
        return Err(
            Failure::Invalid.wrap(anyhow::anyhow!("no command after `--`: `weir bench cmd -- prog args…`"))
        );
    }
    if args.names.len() > commands.len() {
        return Err(Failure::Invalid.wrap(anyhow::anyhow!(
            "{} names for {} commands: give at most one --name per command",
            args.names.len(),
            commands.len()
        )));
    }
    let processes = commands.into_iter().enumerate().map(|(i, argv)| Process {
        name: args.names.get(i).cloned().unwrap_or_else(|| display(&argv)),
        argv,
        prepare: args.prepare.clone(),
        show_output: args.show_output,
    });
    Ok(processes.collect())
}
