//! `weir config show|validate|diff|env`: the resolved configuration with where each value came
//! from, a file checked, two files compared, and the reference of the environment variables.

use crate::config::{Config, Entry, Inputs, Origin, Problems, Setting};
use crate::exit::{EXIT_DIFFERENT, EXIT_INVALID};
use crate::settings::{EnvVars, Settings, Style, paint};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Show, check and compare weir's configuration
///
/// weir resolves its configuration once: defaults, then the file (`weir.toml` in the current
/// directory or its nearest ancestor up to a git repository's root, or `--config` /
/// WEIR_CONFIG), with the profile chosen (`--profile` / WEIR_PROFILE) applied over it, then the
/// environment, then the flags. Secrets (a database URL's password, header values) are never
/// printed. See docs/config.md.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir config show --origin\n  weir config show --json | jq -r '.\"store.home\"'\n  \
    weir config validate weir.toml\n  weir config diff weir.toml staging/weir.toml\n  weir config env > docs/env.md"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Show(ShowArgs),
    Validate(ValidateArgs),
    Diff(DiffArgs),
    Env(EnvArgs),
}

/// Print every key with its value (secrets as `***`)
///
/// Exit codes: 0, 2 the configuration is invalid.
#[derive(clap::Args)]
struct ShowArgs {
    /// Say where each value came from: default, FILE:LINE, env NAME, or flag --NAME.
    #[arg(long)]
    origin: bool,
    /// Print one JSON object, `{key: value}` (`{key: {value, origin}}` with `--origin`).
    #[arg(long)]
    json: bool,
}

/// Check a configuration file: its syntax, keys, types, and every profile it defines
///
/// The file alone is checked, without the environment or the flags. Without FILE, the one weir
/// would read.
///
/// Exit codes: 0 valid (or no file: the defaults apply), 2 invalid.
#[derive(clap::Args)]
struct ValidateArgs {
    file: Option<PathBuf>,
}

/// Compare two configuration files key by key, each resolved over the defaults alone
///
/// Neither the environment nor the flags enter, except `--profile`, which applies to both.
/// Secrets that differ are said to, without their values.
///
/// Exit codes: 0 the same, 1 different, 2 a file is invalid.
#[derive(clap::Args)]
struct DiffArgs {
    a: PathBuf,
    b: PathBuf,
}

/// Print the reference of every environment variable weir reads (Markdown; docs/env.md)
#[derive(clap::Args)]
struct EnvArgs {}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    match args.command {
        Command::Show(show) => self::show(&show, settings),
        Command::Validate(validate) => self::validate(validate.file.as_deref(), settings),
        Command::Diff(diff) => self::diff(&diff, settings),
        Command::Env(EnvArgs {}) => {
            outln!("{}", reference().trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn show(args: &ShowArgs, settings: &Settings) -> Result<ExitCode> {
    let config = match Config::resolve(&settings.config.inputs) {
        Ok(config) => config,
        Err(problems) => return Ok(refuse(&problems, settings)),
    };
    let entries = config.entries();
    if args.json {
        let object: serde_json::Map<String, serde_json::Value> = entries
            .into_iter()
            .map(|e| {
                let value = match args.origin {
                    true => serde_json::json!({"value": e.value, "origin": e.origin.to_string()}),
                    false => e.value,
                };
                (e.key.to_owned(), value)
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = entries.iter().map(|e| e.key.len() + e.value.to_string().len()).max().unwrap_or(0) + 3;
    for e in entries {
        let line = format!("{} = {}", e.key, e.value);
        match args.origin {
            true => {
                let origin = paint(&format!("# {}", e.origin), Style::Dim, settings.stdout_color);
                outln!("{line:width$}  {origin}");
            }
            false => outln!("{line}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the problems and gives the exit code of invalid input.
fn refuse(problems: &Problems, settings: &Settings) -> ExitCode {
    for p in &problems.0 {
        eprintln!("{}: {p}", paint("error", Style::Error, settings.stderr_color));
    }
    ExitCode::from(EXIT_INVALID)
}

/// `file` (or none) alone: no environment, no flags but the profile.
fn alone(file: &Path, settings: &Settings, profile: Option<String>) -> Result<Config, Problems> {
    let mut inputs = Inputs { dir: settings.config.inputs.dir.clone(), ..Inputs::default() };
    inputs.flags.profile = profile;
    if !file.is_file() {
        return Err(Problems(vec![format!("the configuration file {} does not exist", file.display())]));
    }
    Config::resolve_file(&inputs, Setting { value: Some(file.to_path_buf()), origin: Origin::Flag("FILE") })
}

fn validate(file: Option<&Path>, settings: &Settings) -> Result<ExitCode> {
    let file = match file {
        Some(file) => file.to_path_buf(),
        None => match Config::resolve(&settings.config.inputs) {
            Ok(Config { file: Setting { value: Some(file), .. }, .. }) => file,
            Ok(_) => {
                if !settings.quiet {
                    eprintln!(
                        "no configuration file ({} here or above, --config, WEIR_CONFIG): the defaults apply",
                        crate::config::FILE_NAME
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(problems) => return Ok(refuse(&problems, settings)),
        },
    };
    let profiles = match Config::profiles(&file) {
        Ok(profiles) => profiles,
        Err(problems) => return Ok(refuse(&problems, settings)),
    };
    let mut problems: Vec<String> = Vec::new();
    let each = std::iter::once(None).chain(profiles.iter().cloned().map(Some));
    for profile in each {
        if let Err(found) = alone(&file, settings, profile) {
            problems.extend(found.0.into_iter().filter(|p| !problems.contains(p)).collect::<Vec<_>>());
        }
    }
    if !problems.is_empty() {
        return Ok(refuse(&Problems(problems), settings));
    }
    if !settings.quiet {
        let profiles = match profiles.is_empty() {
            true => String::new(),
            false => format!(" (profiles: {})", profiles.join(", ")),
        };
        eprintln!("{}: {} is valid{profiles}", paint("ok", Style::Ok, settings.stderr_color), file.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn diff(args: &DiffArgs, settings: &Settings) -> Result<ExitCode> {
    let profile = settings.config.profile.value.clone();
    let (a, b) = match (alone(&args.a, settings, profile.clone()), alone(&args.b, settings, profile)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(p), _) | (_, Err(p)) => return Ok(refuse(&p, settings)),
    };
    let skip = |e: &Entry| e.key == "config.file";
    let changed: Vec<(Entry, Entry)> =
        a.entries().into_iter().zip(b.entries()).filter(|(x, y)| !skip(x) && x.differs(y)).collect();
    for (x, y) in &changed {
        if x.value == y.value {
            outln!("{}: the secret values differ", x.key);
            continue;
        }
        let color = settings.stdout_color;
        outln!("{}", paint(&format!("- {} = {}   # {}", x.key, x.value, x.origin), Style::Error, color));
        outln!("{}", paint(&format!("+ {} = {}   # {}", y.key, y.value, y.origin), Style::Ok, color));
    }
    if changed.is_empty() {
        if !settings.quiet {
            eprintln!("{} and {} resolve the same", args.a.display(), args.b.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    Ok(ExitCode::from(EXIT_DIFFERENT))
}

/// The reference of the environment variables, as `weir config env` prints it and docs/env.md
/// holds it.
fn reference() -> String {
    let mut out = String::from(
        "# Environment variables\n\n\
         Every environment variable weir reads. Generated by `weir config env` from `EnvVars` in\n\
         `crates/weir/src/settings.rs`; do not edit by hand. A variable goes over the key of the\n\
         configuration file it sets, and a flag over both (docs/config.md). Empty values count as unset.\n\n\
         | Variable | Configuration key | Meaning |\n|---|---|---|\n",
    );
    for v in EnvVars::ALL {
        let key = v.key.map_or("—".to_owned(), |k| format!("`{k}`"));
        out.push_str(&format!("| `{}` | {key} | {} |\n", v.name, v.meaning));
    }
    out
}
