//! The `weir` binary: parses arguments, dispatches to one module per subcommand, and maps the
//! outcome to an exit code (0 ok, 1 run failed, 2 invalid input or usage, 3 infrastructure
//! unavailable).

/// `println!` that ends the process quietly when the reader of stdout goes away (`weir … | head`)
/// instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::settings::write_stdout(format_args!($($arg)*))
    };
}

mod commands;
mod config;
mod env;
mod exit;
mod input;
mod load;
mod output;
mod owner;
mod progress;
mod settings;
mod telemetry;
mod timeline;
mod traces;

use clap::Parser;
use settings::{Settings, Style, paint};
use std::process::ExitCode;

/// Pipelines you can validate, test, run and inspect.
///
/// A pipeline is a DAG of steps in YAML or JSON. Start with `weir init hello` and `weir run hello.yaml`.
#[derive(Parser)]
// `version` is not propagated: `-V` is weir's own flag, so `weir run -V` is a usage error rather
// than a version line where a run's output was expected.
#[command(name = "weir", version, about, long_about)]
#[command(
    after_help = "Exit codes: 0 ok, 1 run or test failed (or admin check found problems, or a replay ended otherwise), 2 invalid pipeline/input/usage, 3 infrastructure unavailable.\nConfiguration: weir.toml (see `weir config`); every environment variable: `weir config env`."
)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
    #[command(flatten)]
    global: settings::GlobalArgs,
}

/// The system allocator, counting allocations while `weir bench --profile counters` asks it to.
#[global_allocator]
static ALLOCATOR: weir_bench::alloc::CountingAlloc = weir_bench::alloc::CountingAlloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (settings, problems) = Settings::resolve(&cli.global);
    // `weir health` and `weir config` report an invalid configuration themselves.
    if let Some(problems) = problems
        && !matches!(cli.command, commands::Command::Health(_) | commands::Command::Config(_))
    {
        for p in &problems.0 {
            eprintln!("{}: {p}", paint("error", Style::Error, settings.stderr_color));
        }
        return ExitCode::from(exit::EXIT_INVALID);
    }
    // Dropped when the command returns: what is left of a log file's lines is written then.
    let _logs = match telemetry::logs(&settings) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("{}: {err:#}", paint("error", Style::Error, settings.stderr_color));
            return ExitCode::from(exit::code(&err));
        }
    };
    match commands::run(cli.command, &settings) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}: {err:#}", paint("error", Style::Error, settings.stderr_color));
            ExitCode::from(exit::code(&err))
        }
    }
}
