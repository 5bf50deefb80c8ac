//! One module per subcommand, each owning its `Args` and its `run`.

mod completions;
mod docs;
mod graph;
mod run;
mod schema;
mod test;
mod validate;

use anyhow::{Context, Result};
use clap::Subcommand;
use std::process::ExitCode;
use std::sync::Arc;
use weir_engine::{Engine, Registry, SystemClock};

#[derive(Subcommand)]
pub enum Command {
    Run(run::Args),
    Validate(validate::Args),
    Test(test::Args),
    Graph(graph::Args),
    Docs(docs::Args),
    Schema(schema::Args),
    Completions(completions::Args),
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run(args) => run::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Test(args) => test::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Docs(args) => docs::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Completions(args) => completions::run(args),
    }
}

/// The step kinds of this binary.
pub fn registry() -> Arc<Registry> {
    Arc::new(weir_steps::builtin())
}

/// An engine on the real clock, loading sub-pipelines from files.
pub fn engine(registry: Arc<Registry>) -> Engine {
    let loader = Arc::new(crate::load::FsLoader::new(registry.clone()));
    Engine::new(registry, Arc::new(SystemClock::default()), loader)
}

/// A single-threaded runtime: one run is one future, and starting it costs little.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
