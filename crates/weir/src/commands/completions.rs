//! `weir completions`: shell completion scripts.

use crate::settings::Settings;
use anyhow::Result;
use clap::CommandFactory;
use std::process::ExitCode;

/// Print a shell completion script
///
/// Example: `weir completions bash > ~/.local/share/bash-completion/completions/weir`
#[derive(clap::Args)]
pub struct Args {
    /// The shell.
    shell: clap_complete::Shell,
}

pub fn run(args: Args, _: &Settings) -> Result<ExitCode> {
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "weir", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
