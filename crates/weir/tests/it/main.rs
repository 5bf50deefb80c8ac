//! Tests of the `weir` binary as a user runs it: arguments in, stdout, stderr and exit code out.
//! One test binary, one module per area.

mod admin;
mod approvals;
mod architecture;
mod bench;
mod cli;
mod config;
mod conformance;
mod diagnostics;
mod diff;
mod documents;
mod health;
mod hermetic;
mod history;
mod init;
mod resume;
mod runs;
mod schedules;
mod settings;
mod status;
mod store_failures;
mod telemetry;
mod traces;
mod workers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// Runs `weir` with `args` in `dir`, colours off.
pub fn weir(dir: &Path, args: &[&str]) -> Output {
    weir_env(dir, args, &[("NO_COLOR", "1")])
}

/// The environment variables weir reads (`settings::EnvVars`, listed in the README).
const WEIR_READS: [&str; 25] = [
    "NO_COLOR",
    "CLICOLOR_FORCE",
    "WEIR_COLOR",
    "WEIR_ENV_ALLOW",
    "WEIR_HOME",
    "WEIR_DATABASE_URL",
    "USER",
    "WEIR_CONFIG",
    "WEIR_PROFILE",
    "WEIR_LOG",
    "WEIR_LOG_FORMAT",
    "WEIR_LOG_FILE",
    "WEIR_LOG_ROTATION",
    "TRACEPARENT",
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "WEIR_METRICS_ADDR",
    "WEIR_STATSD",
];

/// Runs `weir` with `args` in `dir`, with `env` as the only variables it reads: those of the
/// environment the tests run in are removed, so a developer's `NO_COLOR` changes no result.
/// Unless `env` names one, each call stores its runs in a fresh `WEIR_HOME`, removed after it.
pub fn weir_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    for name in WEIR_READS {
        command.env_remove(name);
    }
    let home = (!env.iter().any(|(k, _)| *k == "WEIR_HOME")).then(|| {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::env::temp_dir().join(format!("weir-it-home-{}-{n}", std::process::id()))
    });
    if let Some(home) = &home {
        command.env("WEIR_HOME", home);
    }
    let output =
        command.args(args).current_dir(dir).envs(env.iter().copied()).output().expect("the weir binary runs");
    if let Some(home) = home {
        let _ = std::fs::remove_dir_all(home);
    }
    output
}

/// The `weir` binary as a test spawns it itself (to feed its stdin, signal it or time it): the
/// variables weir reads removed, and its runs stored under the system's temporary directory.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    for name in WEIR_READS {
        command.env_remove(name);
    }
    command.env("WEIR_HOME", std::env::temp_dir().join(format!("weir-it-home-{}", std::process::id())));
    command
}

/// `weir` run in `dir`, with its runs stored in `home`.
pub fn weir_in(dir: &Path, home: &Path, args: &[&str]) -> Command {
    let mut command = command();
    command.env("WEIR_HOME", home).current_dir(dir).args(args);
    command
}

/// What `command` did.
pub fn output(mut command: Command) -> Output {
    command.output().expect("weir runs")
}

/// The JSON a command printed on stdout.
pub fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}\n{}", stdout(output), stderr(output)))
}

/// Polls `weir runs list` in `home` until the newest run's step `step` has `status`; returns
/// the run's id.
pub fn wait_for_step(dir: &Path, home: &Path, step: &str, status: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let list = output(weir_in(dir, home, &["runs", "list", "--json"]));
        if let Some(id) = serde_json::from_slice::<serde_json::Value>(&list.stdout)
            .ok()
            .and_then(|runs| runs.get(0).and_then(|r| r["run_id"].as_str().map(str::to_owned)))
        {
            let run = json_of(&output(weir_in(dir, home, &["runs", "show", &id, "--json"])));
            let steps = run["steps"].as_array().cloned().unwrap_or_default();
            if steps.iter().any(|s| s["step"] == step && s["status"] == status) {
                return id;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("step {step} was not {status} within 20 s");
}

/// [`command`] in `dir`, colours off, its runs stored in `dir/.weir` — or in the PostgreSQL
/// schema `url` names.
pub fn command_in(dir: &Path, url: Option<&str>) -> Command {
    let mut cmd = command();
    cmd.current_dir(dir).env("NO_COLOR", "1").env("WEIR_HOME", dir.join(".weir"));
    if let Some(url) = url {
        cmd.env("WEIR_DATABASE_URL", url);
    }
    cmd
}

/// Runs `body` against a PostgreSQL schema of its own on the server `WEIR_TEST_DATABASE_URL`
/// names, given the URL that selects the schema, the schema and the server's URL; the schema is
/// dropped afterwards, whether `body` passed or not. Skipped, saying so, when the variable is
/// not set.
pub fn on_postgres(test: &str, body: impl FnOnce(&str, &str, &str)) {
    let Ok(server) = std::env::var("WEIR_TEST_DATABASE_URL") else {
        eprintln!("skipped: WEIR_TEST_DATABASE_URL is not set");
        return;
    };
    let schema = format!("weir_it_{test}_{}", std::process::id());
    admin::postgres(&server, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
    let sep = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{sep}options=-csearch_path%3D{schema}");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&url, &schema, &server)));
    admin::postgres(&server, &format!("DROP SCHEMA {schema} CASCADE"));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An empty directory for one test under the system's temporary directory, removed when dropped.
pub struct Scratch(PathBuf);

pub fn scratch(test: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("weir-it-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch directory can be created");
    Scratch(dir)
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
