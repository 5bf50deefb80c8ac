//! Process-wide settings: the global flags, the environment variables weir reads, terminal
//! detection, and how text is painted and written to stdout. Raw flags and environment become
//! one `Settings`, resolved once in `main` and passed to every command, so no command asks the
//! environment or the terminal itself.

use crate::config::{Config, Flags, Inputs, Problems};
use std::io::IsTerminal;

/// Every environment variable weir reads. The README's "Environment variables" section lists
/// the same names, and docs/env.md is generated from [`EnvVars::ALL`]; tests keep the three in
/// step.
pub struct EnvVars;

/// One environment variable, as `weir config env` describes it.
pub struct EnvVar {
    pub name: &'static str,
    /// The configuration key it sets, if it sets one.
    pub key: Option<&'static str>,
    pub meaning: &'static str,
}

impl EnvVars {
    /// A non-empty value turns colour off in `--color auto` (<https://no-color.org>).
    pub const NO_COLOR: &'static str = "NO_COLOR";
    /// A value other than empty or `0` turns colour on in `--color auto`, even when the output
    /// is not a terminal (<https://bixense.com/clicolors/>). `NO_COLOR` wins over it.
    pub const CLICOLOR_FORCE: &'static str = "CLICOLOR_FORCE";
    /// `output.color`.
    pub const WEIR_COLOR: &'static str = "WEIR_COLOR";
    /// `run.env_allow`.
    pub const WEIR_ENV_ALLOW: &'static str = "WEIR_ENV_ALLOW";
    /// `store.home`.
    pub const WEIR_HOME: &'static str = "WEIR_HOME";
    /// `store.database_url`.
    pub const WEIR_DATABASE_URL: &'static str = "WEIR_DATABASE_URL";
    /// Who `weir approve` and `weir reject` answer as, unless `--as` says.
    pub const USER: &'static str = "USER";
    /// The configuration file, instead of the `weir.toml` found (`--config`).
    pub const WEIR_CONFIG: &'static str = "WEIR_CONFIG";
    /// The profile of the configuration file applied (`--profile`).
    pub const WEIR_PROFILE: &'static str = "WEIR_PROFILE";
    /// `log.level`.
    pub const WEIR_LOG: &'static str = "WEIR_LOG";
    /// `log.format`.
    pub const WEIR_LOG_FORMAT: &'static str = "WEIR_LOG_FORMAT";
    /// `log.file`.
    pub const WEIR_LOG_FILE: &'static str = "WEIR_LOG_FILE";
    /// `log.rotation`.
    pub const WEIR_LOG_ROTATION: &'static str = "WEIR_LOG_ROTATION";
    /// `traces.enabled`, inverted.
    pub const OTEL_SDK_DISABLED: &'static str = "OTEL_SDK_DISABLED";
    /// `traces.endpoint`.
    pub const OTEL_EXPORTER_OTLP_ENDPOINT: &'static str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// `traces.traces_endpoint`.
    pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &'static str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    /// `traces.headers`.
    pub const OTEL_EXPORTER_OTLP_HEADERS: &'static str = "OTEL_EXPORTER_OTLP_HEADERS";
    /// `traces.timeout`, in milliseconds.
    pub const OTEL_EXPORTER_OTLP_TIMEOUT: &'static str = "OTEL_EXPORTER_OTLP_TIMEOUT";
    /// `traces.service_name`.
    pub const OTEL_SERVICE_NAME: &'static str = "OTEL_SERVICE_NAME";
    /// `traces.resource_attributes`.
    pub const OTEL_RESOURCE_ATTRIBUTES: &'static str = "OTEL_RESOURCE_ATTRIBUTES";
    /// `traces.sampler`.
    pub const OTEL_TRACES_SAMPLER: &'static str = "OTEL_TRACES_SAMPLER";
    /// `traces.sampler_arg`.
    pub const OTEL_TRACES_SAMPLER_ARG: &'static str = "OTEL_TRACES_SAMPLER_ARG";
    /// `metrics.addr`.
    pub const WEIR_METRICS_ADDR: &'static str = "WEIR_METRICS_ADDR";
    /// `metrics.statsd`.
    pub const WEIR_STATSD: &'static str = "WEIR_STATSD";

    /// All of the above, described: `weir config env` prints them, as docs/env.md holds them.
    pub const ALL: &'static [EnvVar] = &[
        EnvVar {
            name: Self::WEIR_CONFIG,
            key: None,
            meaning: "The configuration file to read instead of the `weir.toml` found in the current directory or its nearest ancestor; it must exist. `--config` wins over it.",
        },
        EnvVar {
            name: Self::WEIR_PROFILE,
            key: None,
            meaning: "The profile of the configuration file (`[profile.NAME]`) applied over its base; it must be defined. `--profile` wins over it.",
        },
        EnvVar {
            name: Self::WEIR_HOME,
            key: Some("store.home"),
            meaning: "The directory of weir's own files; the embedded store is `weir.db` in it (default `.weir` in the current directory).",
        },
        EnvVar {
            name: Self::WEIR_DATABASE_URL,
            key: Some("store.database_url"),
            meaning: "Where runs are stored instead: a `postgres://` URL, or the path of an SQLite file. Its password is never shown.",
        },
        EnvVar {
            name: Self::WEIR_COLOR,
            key: Some("output.color"),
            meaning: "`auto`, `always` or `never`: when to colour output. `--color` wins over it.",
        },
        EnvVar {
            name: Self::NO_COLOR,
            key: None,
            meaning: "A non-empty value turns colour off when colour is `auto` (<https://no-color.org>).",
        },
        EnvVar {
            name: Self::CLICOLOR_FORCE,
            key: None,
            meaning: "A value other than empty or `0` colours pipes and files too when colour is `auto`; `NO_COLOR` wins over it.",
        },
        EnvVar {
            name: Self::WEIR_ENV_ALLOW,
            key: Some("run.env_allow"),
            meaning: "Comma-separated names of the environment variables pipelines may read (those they declare in `env`); a pipeline that declares one not listed does not run.",
        },
        EnvVar {
            name: Self::USER,
            key: None,
            meaning: "Who `weir approve` and `weir reject` answer as, unless `--as` says.",
        },
        EnvVar {
            name: Self::WEIR_LOG,
            key: Some("log.level"),
            meaning: "Which log lines weir writes: `tracing` filter directives such as `info,weir::step=debug`. `--log-level` wins over it.",
        },
        EnvVar {
            name: Self::WEIR_LOG_FORMAT,
            key: Some("log.format"),
            meaning: "`auto` (text on a terminal, JSON otherwise), `text` or `json`. `--log-format` wins over it.",
        },
        EnvVar {
            name: Self::WEIR_LOG_FILE,
            key: Some("log.file"),
            meaning: "The file log lines go to instead of stderr. `--log-file` wins over it.",
        },
        EnvVar {
            name: Self::WEIR_LOG_ROTATION,
            key: Some("log.rotation"),
            meaning: "When the log file starts anew: `never`, `hourly`, `daily` or `size` (at `log.max_size`).",
        },
        EnvVar {
            name: Self::OTEL_SDK_DISABLED,
            key: Some("traces.enabled"),
            meaning: "`true` turns traces off.",
        },
        EnvVar {
            name: Self::OTEL_EXPORTER_OTLP_ENDPOINT,
            key: Some("traces.endpoint"),
            meaning: "The OTLP/HTTP base URL traces are exported to (`/v1/traces` is appended).",
        },
        EnvVar {
            name: Self::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
            key: Some("traces.traces_endpoint"),
            meaning: "The OTLP/HTTP URL of traces, used as is; wins over the base URL.",
        },
        EnvVar {
            name: Self::OTEL_EXPORTER_OTLP_HEADERS,
            key: Some("traces.headers"),
            meaning: "Headers of every export, `k=v,k2=v2` with URL-encoded values. The values are never shown.",
        },
        EnvVar {
            name: Self::OTEL_EXPORTER_OTLP_TIMEOUT,
            key: Some("traces.timeout"),
            meaning: "How long an export may take, in milliseconds (the file takes a duration such as `10s`).",
        },
        EnvVar {
            name: Self::OTEL_SERVICE_NAME,
            key: Some("traces.service_name"),
            meaning: "The `service.name` of the traces (default `weir`).",
        },
        EnvVar {
            name: Self::OTEL_RESOURCE_ATTRIBUTES,
            key: Some("traces.resource_attributes"),
            meaning: "More resource attributes of the traces, `k=v,k2=v2` with URL-encoded values.",
        },
        EnvVar {
            name: Self::OTEL_TRACES_SAMPLER,
            key: Some("traces.sampler"),
            meaning: "The sampler, as the OpenTelemetry specification names them (default `parentbased_always_on`).",
        },
        EnvVar {
            name: Self::OTEL_TRACES_SAMPLER_ARG,
            key: Some("traces.sampler_arg"),
            meaning: "The sampler's argument, such as the ratio of `traceidratio`.",
        },
        EnvVar {
            name: Self::WEIR_METRICS_ADDR,
            key: Some("metrics.addr"),
            meaning: "The address `weir worker` and `weir run` serve Prometheus metrics on. `--metrics-addr` wins over it.",
        },
        EnvVar {
            name: Self::WEIR_STATSD,
            key: Some("metrics.statsd"),
            meaning: "The StatsD address metrics are sent to over UDP.",
        },
    ];
}

/// The value of an environment variable a pipeline declared and the operator allowed.
pub fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The flags every subcommand takes, before or after its name (`weir -q run p.yaml` and
/// `weir run p.yaml -q` are the same). Those that set configuration win over the file and the
/// environment (docs/config.md).
#[derive(clap::Args)]
pub struct GlobalArgs {
    /// Print only problems on stderr: no progress, summaries or notes
    ///
    /// Errors, diagnostics and the messages of `log` steps still appear: those are what the
    /// pipeline itself says, not weir's commentary on it. So do `--events`, which were asked for.
    /// What a command prints on stdout does not change.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// When to colour output [default: auto; config output.color, env WEIR_COLOR]
    ///
    /// `auto` colours a terminal, unless NO_COLOR is set; CLICOLOR_FORCE colours pipes and files
    /// too. `always` and `never` ignore both variables.
    #[arg(long, value_enum, value_name = "WHEN", global = true)]
    color: Option<ColorChoice>,
    /// The configuration file, instead of the `weir.toml` found [env: WEIR_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<std::path::PathBuf>,
    /// The profile of the configuration file to apply (`[profile.NAME]`) [env: WEIR_PROFILE]
    ///
    /// Given before the subcommand (`weir --profile prod worker`): after it, `--profile` is
    /// `weir bench`'s own flag.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Which log lines to write: filter directives such as `info,weir::step=debug` [config
    /// log.level, env WEIR_LOG]
    #[arg(long, value_name = "FILTER", global = true)]
    log_level: Option<String>,
    /// How log lines are written [config log.format, env WEIR_LOG_FORMAT]
    #[arg(long, value_enum, value_name = "FORMAT", global = true)]
    log_format: Option<crate::config::LogFormat>,
    /// The file log lines go to instead of stderr [config log.file, env WEIR_LOG_FILE]
    #[arg(long, value_name = "FILE", global = true)]
    log_file: Option<std::path::PathBuf>,
}

/// The value of `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour terminals, following NO_COLOR and CLICOLOR_FORCE.
    Auto,
    /// Colour everything, even pipes and files.
    Always,
    /// Colour nothing.
    Never,
}

/// How weir writes, resolved once from the global flags, the configuration, the environment and
/// the terminals it writes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Colour what goes to stdout.
    pub stdout_color: bool,
    /// Colour what goes to stderr.
    pub stderr_color: bool,
    /// stderr is a terminal, so a person may be watching it.
    pub stderr_tty: bool,
    /// `--quiet`: only problems on stderr.
    pub quiet: bool,
    /// The width of the terminal stdout is, in columns; none when stdout is not a terminal.
    pub stdout_width: Option<usize>,
    /// The configuration: defaults, file, environment and flags, resolved.
    pub config: Config,
}

impl Settings {
    /// The settings of this process: flags first, then the environment, then the configuration
    /// file, then the terminals. When the configuration cannot be resolved, the settings hold its
    /// defaults and the problems are returned besides, for `main` to refuse or a command to report.
    pub fn resolve(args: &GlobalArgs) -> (Settings, Option<Problems>) {
        let inputs = Inputs {
            flags: Flags {
                config: args.config.clone(),
                profile: args.profile.clone(),
                color: args.color,
                log_level: args.log_level.clone(),
                log_format: args.log_format,
                log_file: args.log_file.clone(),
            },
            env: EnvVars::ALL
                .iter()
                .filter_map(|v| Some((v.name, std::env::var(v.name).ok().filter(|t| !t.is_empty())?)))
                .collect(),
            dir: std::env::current_dir().unwrap_or_default(),
        };
        let (config, problems) = match Config::resolve(&inputs) {
            Ok(config) => (config, None),
            Err(problems) => (Config::defaults(&inputs), Some(problems)),
        };
        let stdout = std::io::stdout();
        let stdout_width = terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0));
        let settings = Settings {
            stdout_width: stdout_width.filter(|_| stdout.is_terminal()),
            ..Settings::new(
                args.quiet,
                config,
                ColorEnv::read(),
                std::io::stdout().is_terminal(),
                std::io::stderr().is_terminal(),
            )
        };
        (settings, problems)
    }

    fn new(quiet: bool, config: Config, env: ColorEnv, stdout_tty: bool, stderr_tty: bool) -> Settings {
        let choice = *config.output.color;
        Settings {
            stdout_color: color(choice, env, stdout_tty),
            stderr_color: color(choice, env, stderr_tty),
            stderr_tty,
            quiet,
            stdout_width: None,
            config,
        }
    }

    /// Whether to show what only helps a person watching stderr: live progress, a run's summary
    /// line, notes such as "the files define the same pipeline". Not into a pipe or a file,
    /// where they would be noise for whoever reads it, and not with `--quiet`.
    pub fn interactive(&self) -> bool {
        self.stderr_tty && !self.quiet
    }

    /// No colour, no terminal, not quiet: weir writing into pipes, as unit tests see it.
    #[cfg(test)]
    pub const PIPED: Settings = Settings {
        stdout_color: false,
        stderr_color: false,
        stderr_tty: false,
        quiet: false,
        stdout_width: None,
        config: Config::EMPTY,
    };
}

/// What the environment says about colour in `--color auto`.
#[derive(Clone, Copy, Default)]
struct ColorEnv {
    no_color: bool,
    force: bool,
}

impl ColorEnv {
    fn read() -> ColorEnv {
        let value = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        ColorEnv {
            no_color: value(EnvVars::NO_COLOR).is_some(),
            force: value(EnvVars::CLICOLOR_FORCE).is_some_and(|v| v != "0"),
        }
    }
}

/// Whether to colour one stream. `--color`, `WEIR_COLOR` and `output.color` have already become
/// `choice`, and each beats NO_COLOR and CLICOLOR_FORCE.
fn color(choice: ColorChoice, env: ColorEnv, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !env.no_color && (env.force || terminal),
    }
}

#[derive(Clone, Copy)]
pub enum Style {
    Error,
    Ok,
    Dim,
    Warn,
}

/// `text` in a terminal style, or plain when `color` is false.
pub fn paint(text: &str, style: Style, color: bool) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match style {
        Style::Error => "1;31",
        Style::Ok => "32",
        Style::Dim => "2",
        Style::Warn => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Writes one line to stdout; when stdout is a closed pipe, exits as a process killed by SIGPIPE
/// would (status 141), like other command-line tools.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        #[allow(clippy::disallowed_methods)] // Nothing is left to do once the reader has gone.
        std::process::exit(141);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn colour_follows_the_flag_then_the_environment_then_the_terminal() {
        let env = |no_color, force| ColorEnv { no_color, force };
        let cases = [
            // (choice, NO_COLOR, CLICOLOR_FORCE, terminal) -> colour
            (ColorChoice::Auto, env(false, false), true, true),
            (ColorChoice::Auto, env(false, false), false, false),
            (ColorChoice::Auto, env(true, false), true, false),
            (ColorChoice::Auto, env(false, true), false, true),
            (ColorChoice::Auto, env(true, true), false, false),
            (ColorChoice::Always, env(true, false), false, true),
            (ColorChoice::Never, env(false, true), true, false),
        ];
        for (choice, env, terminal, expected) in cases {
            assert_eq!(color(choice, env, terminal), expected, "{choice:?} {terminal}");
        }
    }

    #[test]
    fn each_stream_is_coloured_by_whether_it_is_a_terminal() {
        let piped_stdout = Settings::new(false, Config::EMPTY, ColorEnv::default(), false, true);
        assert!(!piped_stdout.stdout_color && piped_stdout.stderr_color);
    }

    #[test]
    fn quiet_or_a_pipe_turns_off_progress() {
        let at =
            |stderr_tty, quiet| Settings::new(quiet, Config::EMPTY, ColorEnv::default(), true, stderr_tty);
        assert!(at(true, false).interactive());
        assert!(!at(true, true).interactive());
        assert!(!at(false, false).interactive());
    }

    /// The names declared in `EnvVars`, read from this file so that a constant left out of
    /// `ALL` is noticed.
    fn declared() -> BTreeSet<&'static str> {
        let source = include_str!("settings.rs");
        let block = source.split("impl EnvVars {").nth(1).and_then(|s| s.split("\n}").next()).unwrap_or("");
        block.lines().filter_map(|l| l.trim().strip_prefix("pub const ")?.split('"').nth(1)).collect()
    }

    /// The names in the first column of the README's "Environment variables" table.
    fn documented() -> BTreeSet<&'static str> {
        let readme = include_str!("../../../README.md");
        let section = readme.split("\n## Environment variables\n").nth(1).unwrap_or("");
        let section = section.split("\n## ").next().unwrap_or("");
        section.lines().filter_map(|l| l.strip_prefix("| `")?.split('`').next()).collect()
    }

    #[test]
    fn every_environment_variable_is_declared_once_and_documented() {
        let all: BTreeSet<&str> = EnvVars::ALL.iter().map(|v| v.name).collect();
        assert_eq!(all.len(), EnvVars::ALL.len(), "a name is listed twice in EnvVars::ALL");
        assert_eq!(declared(), all, "EnvVars::ALL and the constants of EnvVars differ");
        assert_eq!(documented(), all, "README.md's \"Environment variables\" and EnvVars differ");
    }
}
