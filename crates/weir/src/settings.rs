//! Process-wide settings: the global flags, the environment variables weir reads, terminal
//! detection, and how text is painted and written to stdout. Raw flags and environment become
//! one `Settings`, resolved once in `main` and passed to every command, so no command asks the
//! environment or the terminal itself.

use std::io::IsTerminal;

/// Every environment variable weir reads. The README's "Environment variables" section lists
/// the same names; a test keeps the two in step.
pub struct EnvVars;

impl EnvVars {
    /// A non-empty value turns colour off in `--color auto` (<https://no-color.org>).
    pub const NO_COLOR: &'static str = "NO_COLOR";
    /// A value other than empty or `0` turns colour on in `--color auto`, even when the output
    /// is not a terminal (<https://bixense.com/clicolors/>). `NO_COLOR` wins over it.
    pub const CLICOLOR_FORCE: &'static str = "CLICOLOR_FORCE";
    /// `auto`, `always` or `never`: the default of `--color`.
    pub const WEIR_COLOR: &'static str = "WEIR_COLOR";
    /// Comma-separated names of the environment variables that pipelines may read (those they
    /// declare in `env`); a pipeline that declares one not listed does not run.
    pub const WEIR_ENV_ALLOW: &'static str = "WEIR_ENV_ALLOW";
    /// The directory of weir's own files; the embedded store is `weir.db` in it (default `.weir`
    /// in the current directory).
    pub const WEIR_HOME: &'static str = "WEIR_HOME";
    /// Where runs are stored instead: a `postgres://` URL, or the path of an SQLite file.
    pub const WEIR_DATABASE_URL: &'static str = "WEIR_DATABASE_URL";
    /// Who `weir approve` and `weir reject` answer as, unless `--as` says.
    pub const USER: &'static str = "USER";
    /// A W3C `traceparent` (`00-<trace id>-<span id>-<flags>`): the run's span is its child.
    pub const TRACEPARENT: &'static str = "TRACEPARENT";
    /// `true` turns traces off, whatever else is set.
    pub const OTEL_SDK_DISABLED: &'static str = "OTEL_SDK_DISABLED";
    /// The OTLP/HTTP collector spans go to, `/v1/traces` appended (none: no spans are sent).
    pub const OTEL_EXPORTER_OTLP_ENDPOINT: &'static str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// The URL spans go to, as it is; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &'static str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    /// Headers sent to the collector: `key=value,…`, values percent-encoded.
    pub const OTEL_EXPORTER_OTLP_HEADERS: &'static str = "OTEL_EXPORTER_OTLP_HEADERS";
    /// How long one export may take, in milliseconds (default 10000).
    pub const OTEL_EXPORTER_OTLP_TIMEOUT: &'static str = "OTEL_EXPORTER_OTLP_TIMEOUT";
    /// The `service.name` of the spans (default `weir`).
    pub const OTEL_SERVICE_NAME: &'static str = "OTEL_SERVICE_NAME";
    /// More attributes of the spans' resource: `key=value,…`.
    pub const OTEL_RESOURCE_ATTRIBUTES: &'static str = "OTEL_RESOURCE_ATTRIBUTES";
    /// Which traces are recorded (default `parentbased_always_on`).
    pub const OTEL_TRACES_SAMPLER: &'static str = "OTEL_TRACES_SAMPLER";
    /// The ratio of the `traceidratio` samplers.
    pub const OTEL_TRACES_SAMPLER_ARG: &'static str = "OTEL_TRACES_SAMPLER_ARG";

    /// All of the above, for the test that checks them against the README.
    #[cfg(test)]
    pub const ALL: &'static [&'static str] = &[
        Self::NO_COLOR,
        Self::CLICOLOR_FORCE,
        Self::WEIR_COLOR,
        Self::WEIR_ENV_ALLOW,
        Self::WEIR_HOME,
        Self::WEIR_DATABASE_URL,
        Self::USER,
        Self::TRACEPARENT,
        Self::OTEL_SDK_DISABLED,
        Self::OTEL_EXPORTER_OTLP_ENDPOINT,
        Self::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
        Self::OTEL_EXPORTER_OTLP_HEADERS,
        Self::OTEL_EXPORTER_OTLP_TIMEOUT,
        Self::OTEL_SERVICE_NAME,
        Self::OTEL_RESOURCE_ATTRIBUTES,
        Self::OTEL_TRACES_SAMPLER,
        Self::OTEL_TRACES_SAMPLER_ARG,
    ];
}

/// The names `WEIR_ENV_ALLOW` lists.
pub fn env_allowed() -> Vec<String> {
    std::env::var(EnvVars::WEIR_ENV_ALLOW)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The value of an environment variable a pipeline declared and the operator allowed.
pub fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The flags every subcommand takes, before or after its name (`weir -q run p.yaml` and
/// `weir run p.yaml -q` are the same).
#[derive(clap::Args)]
pub struct GlobalArgs {
    /// Print only problems on stderr: no progress, summaries or notes
    ///
    /// Errors, diagnostics and the messages of `log` steps still appear: those are what the
    /// pipeline itself says, not weir's commentary on it. So do `--events`, which were asked for.
    /// What a command prints on stdout does not change.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// When to colour output
    ///
    /// `auto` colours a terminal, unless NO_COLOR is set; CLICOLOR_FORCE colours pipes and files
    /// too. `always` and `never` ignore both variables.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    #[arg(env = EnvVars::WEIR_COLOR, global = true)]
    color: ColorChoice,
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

/// How weir writes, resolved once from the global flags, the environment and the terminals it
/// writes to.
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
    /// Where runs are stored.
    pub store: StoreEnv,
    /// Where the spans of runs go, and the span a run is a child of.
    pub traces: TraceEnv,
}

/// What the environment says about traces: the standard OpenTelemetry variables, as written
/// (`crate::traces` reads them), and `TRACEPARENT`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceEnv {
    pub disabled: Option<String>,
    pub endpoint: Option<String>,
    pub traces_endpoint: Option<String>,
    pub headers: Option<String>,
    pub timeout: Option<String>,
    pub service_name: Option<String>,
    pub resource_attributes: Option<String>,
    pub sampler: Option<String>,
    pub sampler_arg: Option<String>,
    pub traceparent: Option<String>,
}

impl TraceEnv {
    fn read() -> TraceEnv {
        let value = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        TraceEnv {
            disabled: value(EnvVars::OTEL_SDK_DISABLED),
            endpoint: value(EnvVars::OTEL_EXPORTER_OTLP_ENDPOINT),
            traces_endpoint: value(EnvVars::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
            headers: value(EnvVars::OTEL_EXPORTER_OTLP_HEADERS),
            timeout: value(EnvVars::OTEL_EXPORTER_OTLP_TIMEOUT),
            service_name: value(EnvVars::OTEL_SERVICE_NAME),
            resource_attributes: value(EnvVars::OTEL_RESOURCE_ATTRIBUTES),
            sampler: value(EnvVars::OTEL_TRACES_SAMPLER),
            sampler_arg: value(EnvVars::OTEL_TRACES_SAMPLER_ARG),
            traceparent: value(EnvVars::TRACEPARENT),
        }
    }
}

/// What the environment says about the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreEnv {
    /// `WEIR_HOME`, when set.
    pub home: Option<std::path::PathBuf>,
    /// `WEIR_DATABASE_URL`, when set.
    pub database_url: Option<String>,
}

impl StoreEnv {
    fn read() -> StoreEnv {
        let value = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        StoreEnv {
            home: value(EnvVars::WEIR_HOME).map(Into::into),
            database_url: value(EnvVars::WEIR_DATABASE_URL),
        }
    }

    /// The store runs go to: `WEIR_DATABASE_URL`, else `weir.db` in `WEIR_HOME` (or `.weir`).
    pub fn location(&self) -> weir_store::Location {
        match &self.database_url {
            Some(url) => weir_store::Location::parse(url),
            None => {
                let home = self.home.clone().unwrap_or_else(|| ".weir".into());
                weir_store::Location::Sqlite(home.join("weir.db"))
            }
        }
    }
}

impl Settings {
    /// The settings of this process: flags first, then the environment, then the terminals.
    pub fn resolve(args: &GlobalArgs) -> Settings {
        let stdout = std::io::stdout();
        let stdout_width = terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0));
        Settings {
            store: StoreEnv::read(),
            traces: TraceEnv::read(),
            stdout_width: stdout_width.filter(|_| stdout.is_terminal()),
            ..Settings::new(
                args,
                ColorEnv::read(),
                std::io::stdout().is_terminal(),
                std::io::stderr().is_terminal(),
            )
        }
    }

    fn new(args: &GlobalArgs, env: ColorEnv, stdout_tty: bool, stderr_tty: bool) -> Settings {
        Settings {
            stdout_color: color(args.color, env, stdout_tty),
            stderr_color: color(args.color, env, stderr_tty),
            stderr_tty,
            quiet: args.quiet,
            stdout_width: None,
            store: StoreEnv::default(),
            traces: TraceEnv::default(),
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
        store: StoreEnv { home: None, database_url: None },
        traces: TraceEnv {
            disabled: None,
            endpoint: None,
            traces_endpoint: None,
            headers: None,
            timeout: None,
            service_name: None,
            resource_attributes: None,
            sampler: None,
            sampler_arg: None,
            traceparent: None,
        },
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

/// Whether to colour one stream. `WEIR_COLOR` has already become `choice` (clap reads it when
/// the flag is absent), so a flag beats it and both beat NO_COLOR and CLICOLOR_FORCE.
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
        let args = GlobalArgs { quiet: false, color: ColorChoice::Auto };
        let piped_stdout = Settings::new(&args, ColorEnv::default(), false, true);
        assert!(!piped_stdout.stdout_color && piped_stdout.stderr_color);
    }

    #[test]
    fn quiet_or_a_pipe_turns_off_progress() {
        let at = |stderr_tty, quiet| {
            Settings::new(
                &GlobalArgs { quiet, color: ColorChoice::Auto },
                ColorEnv::default(),
                true,
                stderr_tty,
            )
        };
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
        let all: BTreeSet<&str> = EnvVars::ALL.iter().copied().collect();
        assert_eq!(all.len(), EnvVars::ALL.len(), "a name is listed twice in EnvVars::ALL");
        assert_eq!(declared(), all, "EnvVars::ALL and the constants of EnvVars differ");
        assert_eq!(documented(), all, "README.md's \"Environment variables\" and EnvVars differ");
    }
}
