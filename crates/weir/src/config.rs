//! weir's configuration, resolved in one place: defaults, then the file (`weir.toml`, with the
//! profile chosen applied over it), then the environment, then the flags. Each value keeps where
//! it came from, for `weir config show --origin`. The file is read with the `toml` crate's parser
//! alone: its spans give every problem a line and a column, and the keys are checked here against
//! [`KEYS`], so an unknown one gets a suggestion. This module reads no environment variable:
//! `settings` hands it the values of those in `EnvVars` (see docs/config.md).

use crate::settings::{ColorChoice, EnvVars};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::de::{DeTable, DeValue};

/// The name of the file weir looks for.
pub const FILE_NAME: &str = "weir.toml";

/// The sections of the file, each of which a profile may hold too.
const SECTIONS: [&str; 8] = ["store", "output", "run", "log", "traces", "metrics", "worker", "health"];

/// Every key of the file, in the order `weir config show` lists them.
pub const KEYS: [&str; 27] = [
    "store.home",
    "store.database_url",
    "output.color",
    "run.env_allow",
    "log.level",
    "log.format",
    "log.file",
    "log.rotation",
    "log.max_size",
    "log.retention",
    "traces.enabled",
    "traces.endpoint",
    "traces.traces_endpoint",
    "traces.headers",
    "traces.timeout",
    "traces.service_name",
    "traces.resource_attributes",
    "traces.sampler",
    "traces.sampler_arg",
    "metrics.addr",
    "metrics.statsd",
    "metrics.statsd_prefix",
    "worker.concurrency",
    "worker.lease",
    "worker.poll",
    "worker.grace",
    "health.endpoints",
];

/// The keys of a `[[health.endpoints]]` table.
const ENDPOINT_KEYS: [&str; 3] = ["name", "url", "timeout"];

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    /// A line of the file, in the profile named if it was in one.
    File {
        path: PathBuf,
        line: usize,
        profile: Option<String>,
    },
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line, profile: None } => write!(f, "{}:{line}", path.display()),
            Origin::File { path, line, profile: Some(p) } => {
                write!(f, "{}:{line} (profile {p})", path.display())
            }
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// A value and where it came from. It reads as the value (`*config.log.level`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    /// This value, or the flag's when the command was given it: how a command's own flags (such
    /// as `weir worker --concurrency`, or `--metrics-addr`) go over the configuration.
    pub fn with_flag(self, flag: Option<T>, name: &'static str) -> Setting<T> {
        match flag {
            Some(value) => Setting { value, origin: Origin::Flag(name) },
            None => self,
        }
    }
}

impl<T> std::ops::Deref for Setting<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// `[store]`: where runs are stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    /// The directory of weir's own files; the embedded store is `weir.db` in it.
    pub home: Setting<PathBuf>,
    /// A `postgres://` URL or an SQLite file's path, instead of `home`'s store. A secret.
    pub database_url: Setting<Option<String>>,
}

impl Store {
    /// The store runs go to: `database_url`, else `weir.db` in `home`.
    pub fn location(&self) -> weir_store::Location {
        match &self.database_url.value {
            Some(url) => weir_store::Location::parse(url),
            None => weir_store::Location::Sqlite(self.home.join("weir.db")),
        }
    }
}

/// `[output]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub color: Setting<ColorChoice>,
}

/// `[run]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The environment variables pipelines may read (those they declare in `env`).
    pub env_allow: Setting<Vec<String>>,
}

/// `log.format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    Auto,
    /// Lines for a person.
    Text,
    /// One JSON object per line.
    Json,
}

/// `log.rotation`: the log writer's own.
pub use weir_telemetry::log::Rotation;

/// `[log]`: weir's own log lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    /// `tracing` filter directives, such as `info,weir::step=debug`.
    pub level: Setting<String>,
    pub format: Setting<LogFormat>,
    /// The file the lines go to; stderr when none.
    pub file: Setting<Option<PathBuf>>,
    pub rotation: Setting<Rotation>,
    /// The size in bytes at which `rotation = "size"` starts a new file.
    pub max_size: Setting<u64>,
    /// How many rotated files are kept.
    pub retention: Setting<u32>,
}

/// `[traces]`: OpenTelemetry traces, with the variables of the OTel specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traces {
    pub enabled: Setting<bool>,
    /// The OTLP base URL (`/v1/traces` is appended).
    pub endpoint: Setting<Option<String>>,
    /// The OTLP traces URL, used as is.
    pub traces_endpoint: Setting<Option<String>>,
    /// Headers of every export; their values are secrets.
    pub headers: Setting<BTreeMap<String, String>>,
    pub timeout: Setting<Duration>,
    pub service_name: Setting<String>,
    pub resource_attributes: Setting<BTreeMap<String, String>>,
    pub sampler: Setting<String>,
    pub sampler_arg: Setting<Option<String>>,
}

/// `[metrics]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metrics {
    /// Where `weir worker` and `weir run` serve Prometheus metrics; a command's `--metrics-addr`
    /// goes over it.
    pub addr: Setting<Option<String>>,
    pub statsd: Setting<Option<String>>,
    pub statsd_prefix: Setting<String>,
}

/// `[worker]`: the defaults of `weir worker`'s flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub concurrency: Setting<u32>,
    pub lease: Setting<Duration>,
    pub poll: Setting<Duration>,
    pub grace: Setting<Duration>,
}

/// One `[[health.endpoints]]`: what `weir health` requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
    pub timeout: Duration,
}

/// `[health]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub endpoints: Setting<Vec<Endpoint>>,
}

/// The flags that set configuration, as given (none when absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub profile: Option<String>,
    pub color: Option<ColorChoice>,
    pub log_level: Option<String>,
    pub log_format: Option<LogFormat>,
    pub log_file: Option<PathBuf>,
}

/// What a configuration is resolved from besides the file's text: kept, so that a reload of the
/// file resolves the same way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    pub flags: Flags,
    /// The values of the environment variables of `EnvVars` that are set and not empty.
    pub env: BTreeMap<&'static str, String>,
    /// The current directory, where the file is looked for.
    pub dir: PathBuf,
}

/// The resolved configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub store: Store,
    pub output: Output,
    pub run: Run,
    pub log: Log,
    pub traces: Traces,
    pub metrics: Metrics,
    pub worker: Worker,
    pub health: Health,
    /// The profile applied, if any.
    pub profile: Setting<Option<String>>,
    /// The file read, if any.
    pub file: Setting<Option<PathBuf>>,
    /// What it was resolved from.
    pub inputs: Inputs,
}

/// Everything wrong with a configuration, each problem with its place (`weir.toml:3:9`, or the
/// variable's name), one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for Problems {}

/// One key as `weir config show` prints it: secrets already hidden.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: &'static str,
    pub value: serde_json::Value,
    pub origin: Origin,
    /// A hash of the value before secrets were hidden, so that two can be compared.
    fingerprint: u64,
}

impl Entry {
    /// Whether the values differ, hidden parts included.
    pub fn differs(&self, other: &Entry) -> bool {
        self.value != other.value || self.fingerprint != other.fingerprint
    }
}

impl Config {
    /// The configuration of `inputs`: the file they name or the one found, else defaults.
    pub fn resolve(inputs: &Inputs) -> Result<Config, Problems> {
        let file = find(inputs).map_err(|p| Problems(vec![p]))?;
        Config::resolve_file(inputs, file)
    }

    /// The configuration of `inputs` with `file` (or none) as the file.
    pub fn resolve_file(inputs: &Inputs, file: Setting<Option<PathBuf>>) -> Result<Config, Problems> {
        let text = match &file.value {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| Problems(vec![format!("cannot read {}: {e}", path.display())]))?,
            ),
            None => None,
        };
        let profile = inputs.flags.profile.clone().map(|p| (p, Origin::Flag("--profile")));
        let profile = profile.or_else(|| {
            let name = EnvVars::WEIR_PROFILE;
            inputs.env.get(name).map(|p| (p.clone(), Origin::Env(name)))
        });
        let mut layers = Layers {
            inputs,
            path: file.value.clone().unwrap_or_default(),
            file: BTreeMap::new(),
            profile: BTreeMap::new(),
            profile_name: profile.as_ref().map(|p| p.0.clone()),
            problems: Vec::new(),
        };
        // Unknown when the file cannot be parsed: that problem is the one to report.
        let found = text.as_deref().map_or(Some(false), |text| layers.read(text));
        if let Some((name, _)) = &profile
            && found == Some(false)
        {
            let place = match &file.value {
                Some(path) => format!("in {}", path.display()),
                None => "anywhere: there is no configuration file".to_owned(),
            };
            layers.problems.push(format!("profile `{name}` is not defined {place}"));
        }
        let config = layers.config(file, profile);
        if layers.problems.is_empty() {
            return Ok(config);
        }
        // The file's problems in the order of its lines, then the environment's.
        let prefix = format!("{}:", layers.path.display());
        layers.problems.sort_by_key(|p| {
            let mut place = p.strip_prefix(&prefix).unwrap_or("").split(':').map(|n| n.parse::<usize>().ok());
            (place.next().flatten().unwrap_or(usize::MAX), place.next().flatten().unwrap_or(0))
        });
        Err(Problems(layers.problems))
    }

    /// The same configuration, its file read again.
    pub fn reload(&self) -> Result<Config, Problems> {
        Config::resolve_file(&self.inputs, self.file.clone())
    }

    /// The names of the profiles the file defines.
    pub fn profiles(path: &Path) -> Result<Vec<String>, Problems> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Problems(vec![format!("cannot read {}: {e}", path.display())]))?;
        let table =
            DeTable::parse(&text).map_err(|e| Problems(vec![at(path, &text, e.span(), e.message())]))?;
        let profiles = table.get_ref().get("profile").and_then(|p| p.get_ref().as_table());
        Ok(profiles.map(|t| t.keys().map(|k| k.get_ref().to_string()).collect()).unwrap_or_default())
    }

    /// Every key with its value (secrets hidden) and origin, in the order of [`KEYS`], then the
    /// profile and the file.
    pub fn entries(&self) -> Vec<Entry> {
        let endpoints = self.health.endpoints.value.iter().map(
            |e| serde_json::json!({"name": e.name, "url": redact_url(&e.url), "timeout": duration(e.timeout)}),
        );
        let hidden: BTreeMap<&str, &str> = self.traces.headers.keys().map(|k| (k.as_str(), "***")).collect();
        let t = &self.traces;
        vec![
            entry("store.home", &self.store.home, |v| v.display().to_string().into()),
            entry("store.database_url", &self.store.database_url, |v| v.as_deref().map(redact_url).into()),
            entry("output.color", &self.output.color, |v| color_name(*v).into()),
            entry("run.env_allow", &self.run.env_allow, |v| v.clone().into()),
            entry("log.level", &self.log.level, |v| v.clone().into()),
            entry("log.format", &self.log.format, |v| format!("{v:?}").to_lowercase().into()),
            entry("log.file", &self.log.file, |v| v.as_ref().map(|p| p.display().to_string()).into()),
            entry("log.rotation", &self.log.rotation, |v| format!("{v:?}").to_lowercase().into()),
            entry("log.max_size", &self.log.max_size, |v| (*v).into()),
            entry("log.retention", &self.log.retention, |v| (*v).into()),
            entry("traces.enabled", &t.enabled, |v| (*v).into()),
            entry("traces.endpoint", &t.endpoint, |v| v.as_deref().map(redact_url).into()),
            entry("traces.traces_endpoint", &t.traces_endpoint, |v| v.as_deref().map(redact_url).into()),
            entry("traces.headers", &t.headers, |_| serde_json::json!(hidden)),
            entry("traces.timeout", &t.timeout, |v| duration(*v)),
            entry("traces.service_name", &t.service_name, |v| v.clone().into()),
            entry("traces.resource_attributes", &t.resource_attributes, |v| serde_json::json!(v)),
            entry("traces.sampler", &t.sampler, |v| v.clone().into()),
            entry("traces.sampler_arg", &t.sampler_arg, |v| v.clone().into()),
            entry("metrics.addr", &self.metrics.addr, |v| v.clone().into()),
            entry("metrics.statsd", &self.metrics.statsd, |v| v.clone().into()),
            entry("metrics.statsd_prefix", &self.metrics.statsd_prefix, |v| v.clone().into()),
            entry("worker.concurrency", &self.worker.concurrency, |v| (*v).into()),
            entry("worker.lease", &self.worker.lease, |v| duration(*v)),
            entry("worker.poll", &self.worker.poll, |v| duration(*v)),
            entry("worker.grace", &self.worker.grace, |v| duration(*v)),
            entry("health.endpoints", &self.health.endpoints, |_| endpoints.collect::<Vec<_>>().into()),
            entry("profile", &self.profile, |v| v.clone().into()),
            entry("config.file", &self.file, |v| v.as_ref().map(|p| p.display().to_string()).into()),
        ]
    }
}

/// A value of no origin but the default.
const fn default<T>(value: T) -> Setting<T> {
    Setting { value, origin: Origin::Default }
}

impl Config {
    /// A configuration a constant can hold, for unit tests: empty strings and paths, nothing set.
    #[cfg(test)]
    pub const EMPTY: Config = Config {
        store: Store { home: default(PathBuf::new()), database_url: default(None) },
        output: Output { color: default(ColorChoice::Auto) },
        run: Run { env_allow: default(Vec::new()) },
        log: Log {
            level: default(String::new()),
            format: default(LogFormat::Auto),
            file: default(None),
            rotation: default(Rotation::Never),
            max_size: default(0),
            retention: default(0),
        },
        traces: Traces {
            enabled: default(false),
            endpoint: default(None),
            traces_endpoint: default(None),
            headers: default(BTreeMap::new()),
            timeout: default(Duration::ZERO),
            service_name: default(String::new()),
            resource_attributes: default(BTreeMap::new()),
            sampler: default(String::new()),
            sampler_arg: default(None),
        },
        metrics: Metrics {
            addr: default(None),
            statsd: default(None),
            statsd_prefix: default(String::new()),
        },
        worker: Worker {
            concurrency: default(1),
            lease: default(Duration::ZERO),
            poll: default(Duration::ZERO),
            grace: default(Duration::ZERO),
        },
        health: Health { endpoints: default(Vec::new()) },
        profile: default(None),
        file: default(None),
        inputs: Inputs {
            flags: Flags {
                config: None,
                profile: None,
                color: None,
                log_level: None,
                log_format: None,
                log_file: None,
            },
            env: BTreeMap::new(),
            dir: PathBuf::new(),
        },
    };

    /// The defaults alone, for when what `inputs` say cannot be resolved (`weir health` still
    /// runs, and reports it); `inputs` are kept, for resolving again.
    pub fn defaults(inputs: &Inputs) -> Config {
        let none = Inputs::default();
        let mut layers = Layers {
            inputs: &none,
            path: PathBuf::new(),
            file: BTreeMap::new(),
            profile: BTreeMap::new(),
            profile_name: None,
            problems: Vec::new(),
        };
        Config { inputs: inputs.clone(), ..layers.config(default(None), None) }
    }
}

fn entry<T: fmt::Debug>(
    key: &'static str,
    s: &Setting<T>,
    show: impl FnOnce(&T) -> serde_json::Value,
) -> Entry {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{:?}", s.value).hash(&mut hasher);
    Entry { key, value: show(&s.value), origin: s.origin.clone(), fingerprint: hasher.finish() }
}

/// A duration as the file writes it: `10s`, or `250ms` when not whole seconds.
fn duration(d: Duration) -> serde_json::Value {
    let ms = d.as_millis();
    match ms % 1000 {
        0 => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
    .into()
}

fn color_name(c: ColorChoice) -> &'static str {
    match c {
        ColorChoice::Auto => "auto",
        ColorChoice::Always => "always",
        ColorChoice::Never => "never",
    }
}

/// `url` with the password of its user info replaced by `***`: `postgres://u:***@h/db`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let authority_end = url[scheme..].find(['/', '?', '#']).map_or(url.len(), |i| scheme + i);
    let Some(at) = url[scheme..authority_end].rfind('@').map(|i| scheme + i) else {
        return url.to_owned();
    };
    match url[scheme..at].find(':').map(|i| scheme + i) {
        Some(colon) => format!("{}***{}", &url[..=colon], &url[at..]),
        None => url.to_owned(),
    }
}

/// The file to read: `--config`, else `WEIR_CONFIG` (both must exist), else `weir.toml` in the
/// current directory or the nearest ancestor, not above the root of a git repository (a directory
/// holding `.git`), else none.
fn find(inputs: &Inputs) -> Result<Setting<Option<PathBuf>>, String> {
    let given = inputs.flags.config.clone().map(|p| (p, Origin::Flag("--config")));
    let given = given.or_else(|| {
        let name = EnvVars::WEIR_CONFIG;
        inputs.env.get(name).map(|p| (PathBuf::from(p), Origin::Env(name)))
    });
    if let Some((path, origin)) = given {
        if !path.is_file() {
            return Err(format!("the configuration file {} ({origin}) does not exist", path.display()));
        }
        return Ok(Setting { value: Some(path), origin });
    }
    for dir in inputs.dir.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            let shown = candidate.strip_prefix(&inputs.dir).map_or(candidate.clone(), Path::to_path_buf);
            return Ok(Setting { value: Some(shown), origin: Origin::Default });
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    Ok(Setting { value: None, origin: Origin::Default })
}

/// `path:line:col: message`, for the byte offset `span` starts at in `text`.
fn at(path: &Path, text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> String {
    let message = message.trim_end();
    match span {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("{}:{line}:{col}: {message}", path.display())
        }
        None => format!("{}: {message}", path.display()),
    }
}

/// The 1-based line and column (in characters) of the byte offset `offset` of `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A value of the file, with the line and column it starts at.
struct Placed<'i> {
    value: DeValue<'i>,
    line: usize,
    col: usize,
}

/// The layers of one resolution, and the problems found in them.
struct Layers<'a, 'i> {
    inputs: &'a Inputs,
    /// The file's path, as shown.
    path: PathBuf,
    /// The file's values by dotted key (`log.level`), outside profiles.
    file: BTreeMap<String, Placed<'i>>,
    /// The chosen profile's values.
    profile: BTreeMap<String, Placed<'i>>,
    profile_name: Option<String>,
    problems: Vec<String>,
}

/// How a value is read from an environment variable or a flag (text), and from the file.
trait Kind: Sized {
    fn from_text(text: &str) -> Result<Self, String>;
    fn from_toml(value: &DeValue<'_>) -> Result<Self, String> {
        match value.as_str() {
            Some(text) => Self::from_text(text),
            None => Err(expected("a string", value)),
        }
    }
}

/// `expected a string, found an integer`.
fn expected(what: &str, found: &DeValue<'_>) -> String {
    let kind = found.type_str();
    let article = if kind.starts_with(['a', 'i']) { "an" } else { "a" };
    format!("expected {what}, found {article} {kind}")
}

/// One of `names`, each standing for a value.
fn choice<T: Copy>(text: &str, names: &[(&str, T)]) -> Result<T, String> {
    names.iter().find(|(n, _)| *n == text).map(|(_, v)| *v).ok_or_else(|| {
        let all: Vec<String> = names.iter().map(|(n, _)| format!("`{n}`")).collect();
        format!("expected one of {}, found `{text}`", all.join(", "))
    })
}

impl Kind for String {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl Kind for PathBuf {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(text.into())
    }
}

impl<T: Kind> Kind for Option<T> {
    fn from_text(text: &str) -> Result<Self, String> {
        T::from_text(text).map(Some)
    }
    fn from_toml(value: &DeValue<'_>) -> Result<Self, String> {
        T::from_toml(value).map(Some)
    }
}

impl Kind for bool {
    fn from_text(text: &str) -> Result<Self, String> {
        choice(text, &[("true", true), ("false", false)])
    }
    fn from_toml(value: &DeValue<'_>) -> Result<Self, String> {
        value.as_bool().ok_or_else(|| expected("a boolean (true or false)", value))
    }
}

impl Kind for u32 {
    fn from_text(text: &str) -> Result<Self, String> {
        text.trim().parse().map_err(|_| format!("expected a whole number, found `{text}`"))
    }
    fn from_toml(value: &DeValue<'_>) -> Result<Self, String> {
        let n = value.as_integer().ok_or_else(|| expected("a whole number", value))?;
        let n = i64::from_str_radix(n.as_str(), n.radix()).ok();
        n.and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("expected a whole number from 0 to {}", u32::MAX))
    }
}

/// A size in bytes: a whole number, or one with a unit (`10MiB`, `512KiB`, `1GiB`, `100KB`).
impl Kind for u64 {
    fn from_text(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let units = [("", 1), ("B", 1), ("KB", 1000), ("KiB", 1024), ("MB", 1_000_000), ("MiB", 1 << 20)];
        let units = [&units[..], &[("GB", 1_000_000_000), ("GiB", 1 << 30)]].concat();
        let unit = units.iter().find(|(u, _)| *u == text[digits..].trim()).map(|(_, m)| *m);
        let n: Option<u64> = text[..digits].parse().ok();
        n.zip(unit).and_then(|(n, m)| n.checked_mul(m)).ok_or_else(|| {
            format!("expected a size such as `10MiB` (units B, KB, KiB, MB, MiB, GB, GiB), found `{text}`")
        })
    }
    fn from_toml(value: &DeValue<'_>) -> Result<Self, String> {
        match (value.as_str(), value.as_integer()) {
            (Some(text), _) => Self::from_text(text),
            (_, Some(n)) if n.radix() == 10 => Self::from_text(n.as_str()),
            _ => Err(expected("a size (`10MiB`) or a number of bytes", value)),
        }
    }
}

impl Kind for Duration {
    fn from_text(text: &str) -> Result<Self, String> {
        weir_pipeline::Duration::parse(text.trim()).map(|d| d.0).map_err(|e| e.to_string())
    }
}

/// A comma-separated list in the environment, an array of strings in the file.
impl Kind for Vec<String> {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(text.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect())
    }
    fn from_toml(value: &DeValue<'_>) -> Result<Self, String> {
        let items = value.as_array().ok_or_else(|| expected("an array of strings", value))?;
        let text = |v: &toml::Spanned<DeValue<'_>>| v.get_ref().as_str().map(str::to_owned);
        items.iter().map(|v| text(v).ok_or_else(|| expected("an array of strings", v.get_ref()))).collect()
    }
}

/// `k=v,k2=v2` in the environment (values URL-decoded, as the OTel specification says), a table of
/// strings in the file.
impl Kind for BTreeMap<String, String> {
    fn from_text(text: &str) -> Result<Self, String> {
        let pairs = text.split(',').map(str::trim).filter(|p| !p.is_empty());
        pairs
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => Ok((k.trim().to_owned(), percent_decode(v.trim()))),
                None => Err(format!("expected key=value pairs separated by commas, found `{pair}`")),
            })
            .collect()
    }
    fn from_toml(value: &DeValue<'_>) -> Result<Self, String> {
        let table = value.as_table().ok_or_else(|| expected("a table of strings", value))?;
        let pair = |(k, v): (&toml::Spanned<toml::de::DeString<'_>>, &toml::Spanned<DeValue<'_>>)| {
            let v = v.get_ref().as_str().ok_or_else(|| expected("a string", v.get_ref()))?;
            Ok((k.get_ref().to_string(), v.to_owned()))
        };
        table.iter().map(pair).collect()
    }
}

/// `%2C` as `,`; what is not a valid escape stays as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex =
            bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Kind for ColorChoice {
    fn from_text(text: &str) -> Result<Self, String> {
        choice(text, &[("auto", Self::Auto), ("always", Self::Always), ("never", Self::Never)])
    }
}

impl Kind for LogFormat {
    fn from_text(text: &str) -> Result<Self, String> {
        choice(text, &[("auto", Self::Auto), ("text", Self::Text), ("json", Self::Json)])
    }
}

impl Kind for Rotation {
    fn from_text(text: &str) -> Result<Self, String> {
        let names =
            [("never", Self::Never), ("hourly", Self::Hourly), ("daily", Self::Daily), ("size", Self::Size)];
        choice(text, &names)
    }
}

/// Endpoints are named in the file only: an array of tables.
impl Kind for Vec<Endpoint> {
    fn from_text(_: &str) -> Result<Self, String> {
        Err("endpoints are named in the configuration file only".to_owned())
    }
    fn from_toml(value: &DeValue<'_>) -> Result<Self, String> {
        let items =
            value.as_array().ok_or_else(|| expected("an array of tables ([[health.endpoints]])", value))?;
        items.iter().map(|item| endpoint(item.get_ref())).collect()
    }
}

fn endpoint(value: &DeValue<'_>) -> Result<Endpoint, String> {
    let table = value.as_table().ok_or_else(|| expected("a table", value))?;
    if let Some(key) = table.keys().map(|k| k.get_ref().as_ref()).find(|k| !ENDPOINT_KEYS.contains(k)) {
        let hint = weir_pipeline::suggest::closest(key, ENDPOINT_KEYS)
            .map_or(String::new(), |c| format!("; did you mean `{c}`?"));
        return Err(format!("unknown key `{key}` in [[health.endpoints]]{hint}"));
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        table.get(key).map(|v| String::from_toml(v.get_ref()).map_err(|e| format!("{key}: {e}"))).transpose()
    };
    let name = text("name")?.ok_or("an endpoint needs a `name`")?;
    let url = text("url")?.ok_or_else(|| format!("endpoint `{name}` needs a `url`"))?;
    let timeout = match text("timeout")? {
        Some(t) => Duration::from_text(&t).map_err(|e| format!("endpoint `{name}`: timeout: {e}"))?,
        None => Duration::from_secs(5),
    };
    Ok(Endpoint { name, url, timeout })
}

/// How an environment variable's text becomes a value.
type FromEnv<T> = Option<(&'static str, fn(&str) -> Result<T, String>)>;

fn env<T: Kind>(name: &'static str) -> FromEnv<T> {
    Some((name, T::from_text))
}

impl<'i> Layers<'_, 'i> {
    /// Reads the keys of the file and of the chosen profile, reporting the unknown ones and what
    /// the parser refuses; whether the chosen profile is defined (none when the file cannot be
    /// parsed).
    fn read(&mut self, text: &'i str) -> Option<bool> {
        let table = match DeTable::parse(text) {
            Ok(table) => table.into_inner(),
            Err(e) => {
                self.problems.push(at(&self.path, text, e.span(), e.message()));
                return None;
            }
        };
        let mut found = false;
        let mut base = DeTable::new();
        for (key, value) in table {
            if key.get_ref().as_ref() != "profile" {
                base.insert(key, value);
                continue;
            }
            let Some(profiles) = self.table(text, "profile", &value) else { continue };
            for (name, body) in profiles {
                let name = name.get_ref().as_ref();
                let Some(body) = self.table(text, &format!("profile.{name}"), body) else { continue };
                let values = self.sections(text, body, &format!("profile.{name}."));
                if self.profile_name.as_deref() == Some(name) {
                    found = true;
                    self.profile = values;
                }
            }
        }
        self.file = self.sections(text, &base, "");
        Some(found)
    }

    /// The keys of the sections of `table` (the file's or a profile's), checked.
    fn sections(&mut self, text: &str, table: &DeTable<'i>, prefix: &str) -> BTreeMap<String, Placed<'i>> {
        let mut out = BTreeMap::new();
        for (section, body) in table {
            let name = section.get_ref().as_ref();
            if !SECTIONS.contains(&name) {
                let mut known = SECTIONS.to_vec();
                let place = if prefix.is_empty() {
                    known.push("profile");
                    String::new()
                } else {
                    format!(" in [{}]", prefix.trim_end_matches('.'))
                };
                self.unknown(text, section.span(), &format!("section `{name}`{place}"), name, &known);
                continue;
            }
            let Some(keys) = self.table(text, &format!("{prefix}{name}"), body) else { continue };
            for (key, value) in keys {
                let full = format!("{name}.{}", key.get_ref());
                if !KEYS.contains(&full.as_str()) {
                    let section_prefix = format!("{name}.");
                    let known: Vec<&str> =
                        KEYS.iter().filter_map(|c| c.strip_prefix(&section_prefix)).collect();
                    let what = format!("key `{}` in [{prefix}{name}]", key.get_ref());
                    self.unknown(text, key.span(), &what, key.get_ref(), &known);
                    continue;
                }
                let (line, col) = line_col(text, value.span().start);
                out.insert(full, Placed { value: value.get_ref().clone(), line, col });
            }
        }
        out
    }

    /// `value` as a table, or a problem.
    fn table<'t>(
        &mut self,
        text: &str,
        name: &str,
        value: &'t toml::Spanned<DeValue<'i>>,
    ) -> Option<&'t DeTable<'i>> {
        let table = value.get_ref().as_table();
        if table.is_none() {
            let problem = format!("[{name}]: {}", expected("a table", value.get_ref()));
            self.problems.push(at(&self.path, text, Some(value.span()), &problem));
        }
        table
    }

    fn unknown(&mut self, text: &str, span: std::ops::Range<usize>, what: &str, name: &str, known: &[&str]) {
        let hint = match weir_pipeline::suggest::closest(name, known.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => {
                let all: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                format!("expected one of {}", all.join(", "))
            }
        };
        self.problems.push(at(&self.path, text, Some(span), &format!("unknown {what}; {hint}")));
    }

    /// The value of `key`: the flag's, else the environment variable's, else the profile's, else
    /// the file's, else `default`.
    fn get<T: Kind>(
        &mut self,
        key: &str,
        env: FromEnv<T>,
        flag: Option<(&'static str, T)>,
        default: T,
    ) -> Setting<T> {
        if let Some((name, value)) = flag {
            return Setting { value, origin: Origin::Flag(name) };
        }
        if let Some((name, parse)) = env
            && let Some(text) = self.inputs.env.get(name)
        {
            match parse(text) {
                Ok(value) => return Setting { value, origin: Origin::Env(name) },
                Err(e) => self.problems.push(format!("{name}: {e}")),
            }
        }
        let (placed, profile) = match self.profile.get(key) {
            Some(placed) => (Some(placed), self.profile_name.clone()),
            None => (self.file.get(key), None),
        };
        let read = placed.map(|p| (T::from_toml(&p.value), p.line, p.col));
        match read {
            Some((Ok(value), line, _)) => {
                Setting { value, origin: Origin::File { path: self.path.clone(), line, profile } }
            }
            Some((Err(e), line, col)) => {
                self.problems.push(format!("{}:{line}:{col}: {key}: {e}", self.path.display()));
                Setting { value: default, origin: Origin::Default }
            }
            None => Setting { value: default, origin: Origin::Default },
        }
    }

    fn config(&mut self, file: Setting<Option<PathBuf>>, profile: Option<(String, Origin)>) -> Config {
        let flags = self.inputs.flags.clone();
        let worker = Worker {
            concurrency: self.get("worker.concurrency", None, None, 8),
            lease: self.get("worker.lease", None, None, Duration::from_secs(30)),
            poll: self.get("worker.poll", None, None, Duration::from_millis(100)),
            grace: self.get("worker.grace", None, None, Duration::from_secs(30)),
        };
        if worker.poll.is_zero() {
            self.problems.push(format!("worker.poll ({}): must be longer than 0ms", worker.poll.origin));
        }
        if !(1..=10_000).contains(&*worker.concurrency) {
            let origin = &worker.concurrency.origin;
            let found = *worker.concurrency;
            self.problems.push(format!("worker.concurrency ({origin}): expected 1 to 10000, found {found}"));
        }
        Config {
            store: Store {
                home: self.get("store.home", env(EnvVars::WEIR_HOME), None, ".weir".into()),
                database_url: self.get("store.database_url", env(EnvVars::WEIR_DATABASE_URL), None, None),
            },
            output: Output {
                color: self.get(
                    "output.color",
                    env(EnvVars::WEIR_COLOR),
                    flags.color.map(|c| ("--color", c)),
                    ColorChoice::Auto,
                ),
            },
            run: Run { env_allow: self.get("run.env_allow", env(EnvVars::WEIR_ENV_ALLOW), None, Vec::new()) },
            log: self.log(&flags),
            traces: self.traces(),
            metrics: Metrics {
                addr: self.get("metrics.addr", env(EnvVars::WEIR_METRICS_ADDR), None, None),
                statsd: self.get("metrics.statsd", env(EnvVars::WEIR_STATSD), None, None),
                statsd_prefix: self.get("metrics.statsd_prefix", None, None, "weir".to_owned()),
            },
            worker,
            health: Health { endpoints: self.get("health.endpoints", None, None, Vec::new()) },
            profile: match profile {
                Some((name, origin)) => Setting { value: Some(name), origin },
                None => Setting { value: None, origin: Origin::Default },
            },
            file,
            inputs: self.inputs.clone(),
        }
    }

    fn log(&mut self, flags: &Flags) -> Log {
        Log {
            level: self.get(
                "log.level",
                env(EnvVars::WEIR_LOG),
                flags.log_level.clone().map(|l| ("--log-level", l)),
                "warn".to_owned(),
            ),
            format: self.get(
                "log.format",
                env(EnvVars::WEIR_LOG_FORMAT),
                flags.log_format.map(|f| ("--log-format", f)),
                LogFormat::Auto,
            ),
            file: self.get(
                "log.file",
                env(EnvVars::WEIR_LOG_FILE),
                flags.log_file.clone().map(|f| ("--log-file", Some(f))),
                None,
            ),
            rotation: self.get("log.rotation", env(EnvVars::WEIR_LOG_ROTATION), None, Rotation::Never),
            max_size: self.get("log.max_size", None, None, 10 << 20),
            retention: self.get("log.retention", None, None, 7),
        }
    }

    fn traces(&mut self) -> Traces {
        let disabled = |text: &str| bool::from_text(text.trim()).map(|off| !off);
        let millis = |text: &str| {
            let ms = text.trim().parse().map_err(|_| format!("expected milliseconds, found `{text}`"));
            ms.map(Duration::from_millis)
        };
        Traces {
            enabled: self.get("traces.enabled", Some((EnvVars::OTEL_SDK_DISABLED, disabled)), None, true),
            endpoint: self.get("traces.endpoint", env(EnvVars::OTEL_EXPORTER_OTLP_ENDPOINT), None, None),
            traces_endpoint: self.get(
                "traces.traces_endpoint",
                env(EnvVars::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
                None,
                None,
            ),
            headers: self.get(
                "traces.headers",
                env(EnvVars::OTEL_EXPORTER_OTLP_HEADERS),
                None,
                BTreeMap::new(),
            ),
            timeout: self.get(
                "traces.timeout",
                Some((EnvVars::OTEL_EXPORTER_OTLP_TIMEOUT, millis)),
                None,
                Duration::from_secs(10),
            ),
            service_name: self.get(
                "traces.service_name",
                env(EnvVars::OTEL_SERVICE_NAME),
                None,
                "weir".to_owned(),
            ),
            resource_attributes: self.get(
                "traces.resource_attributes",
                env(EnvVars::OTEL_RESOURCE_ATTRIBUTES),
                None,
                BTreeMap::new(),
            ),
            sampler: self.get(
                "traces.sampler",
                env(EnvVars::OTEL_TRACES_SAMPLER),
                None,
                "parentbased_always_on".to_owned(),
            ),
            sampler_arg: self.get("traces.sampler_arg", env(EnvVars::OTEL_TRACES_SAMPLER_ARG), None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u:p@ss@h:5432/db?x=1"), "postgres://u:***@h:5432/db?x=1");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("/var/weir/runs.db"), "/var/weir/runs.db");
    }

    #[test]
    fn header_values_are_url_decoded() {
        let parsed = BTreeMap::<String, String>::from_text("authorization=Bearer%20x, k=a%2Cb").unwrap();
        assert_eq!(parsed["authorization"], "Bearer x");
        assert_eq!(parsed["k"], "a,b");
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(u64::from_text("10MiB"), Ok(10 << 20));
        assert_eq!(u64::from_text("100KB"), Ok(100_000));
        assert!(u64::from_text("ten").is_err());
    }

    #[test]
    fn show_lists_every_key_in_order() {
        let config =
            Config::resolve_file(&Inputs::default(), Setting { value: None, origin: Origin::Default });
        let keys: Vec<&str> = config.unwrap().entries().iter().map(|e| e.key).collect();
        // After the keys, where they came from: the profile and the file.
        assert_eq!(keys, [&KEYS[..], &["profile", "config.file"]].concat());
    }
}
