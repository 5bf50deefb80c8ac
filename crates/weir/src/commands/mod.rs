//! One module per subcommand, each owning its `Args` and its `run`.

mod admin;
mod approvals;
mod bench;
mod cancel;
mod completions;
mod config;
mod diff;
mod docs;
mod dry_run;
mod fmt;
mod graph;
mod health;
mod init;
mod logs;
mod metrics;
mod replay;
mod resume;
mod run;
mod runs;
mod schedule;
mod schema;
mod status;
mod submit;
mod test;
mod validate;
mod worker;

use crate::exit::Failure;
use crate::settings::Settings;
use anyhow::{Context, Result};
use clap::Subcommand;
use std::process::ExitCode;
use std::sync::Arc;
use weir_engine::{Engine, Registry, SystemClock};

#[derive(Subcommand)]
pub enum Command {
    Init(init::Args),
    Run(run::Args),
    Resume(resume::Args),
    Replay(replay::Args),
    Submit(submit::Args),
    Worker(worker::Args),
    Approvals(approvals::ListArgs),
    Approve(approvals::ApproveArgs),
    Reject(approvals::RejectArgs),
    Runs(runs::Args),
    Status(status::Args),
    Metrics(metrics::Args),
    Schedule(schedule::Args),
    Bench(bench::Args),
    Admin(admin::Args),
    Health(health::Args),
    Config(config::Args),
    Validate(validate::Args),
    DryRun(dry_run::Args),
    Fmt(fmt::Args),
    Test(test::Args),
    Diff(diff::Args),
    Graph(graph::Args),
    Docs(docs::Args),
    Schema(schema::Args),
    Completions(completions::Args),
}

/// Runs a command with the settings resolved in `main`.
/// The stack of the thread that runs a command, and of the async runtime's workers. Parsing,
/// compiling and evaluating jq recurse on the depth of expressions and values; a large stack,
/// reserved but only used when needed, moves the point where that could abort the process far
/// beyond the limits that validation and conversion enforce with a message.
const STACK_BYTES: usize = 256 << 20;

/// Runs a command on a thread with a [`STACK_BYTES`] stack.
pub fn run(command: Command, settings: &Settings) -> Result<ExitCode> {
    let settings = settings.clone();
    std::thread::Builder::new()
        .name("weir".into())
        .stack_size(STACK_BYTES)
        .spawn(move || dispatch(command, &settings))
        .context("cannot start the command's thread")
        .map_err(|e| Failure::Infrastructure.wrap(e))?
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn dispatch(command: Command, settings: &Settings) -> Result<ExitCode> {
    match command {
        Command::Init(args) => init::run(args, settings),
        Command::Run(args) => run::run(args, settings),
        Command::Resume(args) => resume::run(args, settings),
        Command::Replay(args) => replay::run(args, settings),
        Command::Submit(args) => submit::run(args, settings),
        Command::Worker(args) => worker::run(args, settings),
        Command::Approvals(args) => approvals::list(args, settings),
        Command::Approve(args) => approvals::approve(args, settings),
        Command::Reject(args) => approvals::reject(args, settings),
        Command::Runs(args) => runs::run(args, settings),
        Command::Status(args) => status::run(args, settings),
        Command::Metrics(args) => metrics::run(args, settings),
        Command::Schedule(args) => schedule::run(args, settings),
        Command::Validate(args) => validate::run(args, settings),
        Command::DryRun(args) => dry_run::run(args, settings),
        Command::Fmt(args) => fmt::run(args, settings),
        Command::Test(args) => test::run(args, settings),
        Command::Diff(args) => diff::run(args, settings),
        Command::Graph(args) => graph::run(args, settings),
        Command::Docs(args) => docs::run(args, settings),
        Command::Schema(args) => schema::run(args, settings),
        Command::Completions(args) => completions::run(args, settings),
        Command::Bench(args) => bench::run(args, settings),
        Command::Admin(args) => admin::run(args, settings),
        Command::Health(args) => health::run(args, settings),
        Command::Config(args) => config::run(args, settings),
    }
}

/// The step kinds of this binary.
pub fn registry() -> Arc<Registry> {
    Arc::new(weir_steps::builtin())
}

/// An engine on the real clock.
pub fn engine(registry: Arc<Registry>) -> Engine {
    Engine::new(registry, Arc::new(SystemClock::default()))
}

/// The threads a command's async runtime runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// One: a run is one future, and a short command should not pay for more.
    One,
    /// A worker per core, for commands that run for as long as their pipeline does: a step that
    /// keeps its thread busy cannot then stall signal handling or other runs.
    Workers,
}

/// An async runtime. When the system cannot give it what it needs (threads, an event queue, a
/// timer), nothing the user changes in the pipeline would help: that is infrastructure
/// unavailable, not invalid input.
pub fn runtime(threads: Threads) -> Result<tokio::runtime::Runtime> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::Workers => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.thread_stack_size(STACK_BYTES);
            b
        }
    };
    builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(|e| Failure::Infrastructure.wrap(e))
}
