//! `weir.toml` and `weir config`: what wins over what, profiles, the problems a file is refused
//! for (with their place and a suggestion), secrets never printed, two files compared, the
//! reference of the environment variables, and a worker that re-reads its file.

use crate::{command, json_of, root, scratch, stderr, stdout, weir_env};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// `weir config show --json --origin` in `dir`: each key's `(value, origin)`.
fn shown(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let args = [args, &["config", "show", "--json", "--origin"]].concat();
    let out = weir_env(dir, &args, env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json_of(&out)
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let dir = scratch("config-precedence");
    write(&dir, "weir.toml", "[log]\nlevel = \"info\"\n\n[output]\ncolor = \"never\"\n");
    let file = shown(&dir, &[], &[]);
    assert_eq!(file["log.level"], serde_json::json!({"value": "info", "origin": "weir.toml:2"}));
    assert_eq!(file["log.format"], serde_json::json!({"value": "auto", "origin": "default"}));
    let env = shown(&dir, &[], &[("WEIR_LOG", "debug"), ("WEIR_COLOR", "always")]);
    assert_eq!(env["log.level"], serde_json::json!({"value": "debug", "origin": "env WEIR_LOG"}));
    assert_eq!(env["output.color"]["value"], "always");
    let flag = shown(&dir, &["--log-level", "error", "--color", "auto"], &[("WEIR_LOG", "debug")]);
    assert_eq!(flag["log.level"], serde_json::json!({"value": "error", "origin": "flag --log-level"}));
    assert_eq!(flag["output.color"]["origin"], "flag --color");
}

#[test]
fn the_file_is_found_in_an_ancestor_or_named_by_config() {
    let dir = scratch("config-discovery");
    write(&dir, "weir.toml", "[log]\nfile = \"from-parent\"\n");
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    write(&dir, "other.toml", "[log]\nfile = \"named\"\n");
    let found = shown(&dir.join("sub/deeper"), &[], &[]);
    assert_eq!(found["log.file"]["value"], "from-parent");
    let named = shown(&dir.join("sub"), &["--config", "../other.toml"], &[]);
    assert_eq!(named["log.file"]["value"], "named");
    let by_env = shown(&dir.join("sub"), &[], &[("WEIR_CONFIG", "../other.toml")]);
    assert_eq!(by_env["log.file"]["origin"], "../other.toml:2");
    let missing = weir_env(&dir, &["--config", "nope.toml", "validate", "x.yaml"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("nope.toml (flag --config) does not exist"), "{}", stderr(&missing));
}

#[test]
fn a_profile_applies_over_the_base_and_must_exist() {
    let dir = scratch("config-profile");
    let text = "[log]\nlevel = \"info\"\nformat = \"text\"\n\n[profile.prod.log]\nlevel = \"warn\"\n";
    write(&dir, "weir.toml", text);
    let prod = shown(&dir, &["--profile", "prod"], &[]);
    assert_eq!(
        prod["log.level"],
        serde_json::json!({"value": "warn", "origin": "weir.toml:6 (profile prod)"})
    );
    assert_eq!(prod["log.format"]["value"], "text", "the base still applies");
    assert_eq!(prod["profile"]["value"], "prod");
    let by_env = shown(&dir, &[], &[("WEIR_PROFILE", "prod")]);
    assert_eq!(by_env["log.level"]["value"], "warn");
    let unknown = weir_env(&dir, &["--profile", "staging", "config", "show"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("profile `staging` is not defined in weir.toml"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn an_unknown_key_is_refused_with_its_place_and_a_suggestion() {
    let dir = scratch("config-unknown");
    write(&dir, "weir.toml", "[log]\nlevel = \"info\"\nlevle = \"debug\"\n\n[stor]\nhome = \"x\"\n");
    for args in [&["config", "validate"][..], &["validate", "x.yaml"], &["config", "show"]] {
        let out = weir_env(&dir, args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("weir.toml:3:1: unknown key `levle` in [log]; did you mean `level`?"), "{err}");
        assert!(err.contains("weir.toml:5:2: unknown section `stor`; did you mean `store`?"), "{err}");
    }
}

#[test]
fn a_value_of_the_wrong_type_says_what_was_expected_and_found() {
    let dir = scratch("config-types");
    let text = "[worker]\nconcurrency = \"many\"\n\n[log]\nformat = \"yaml\"\n\n[run]\nenv_allow = \"A\"\n";
    write(&dir, "weir.toml", text);
    let out = weir_env(&dir, &["config", "validate", "weir.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("weir.toml:2:15: worker.concurrency: expected a whole number, found a string"),
        "{err}"
    );
    assert!(
        err.contains("weir.toml:5:10: log.format: expected one of `auto`, `text`, `json`, found `yaml`"),
        "{err}"
    );
    assert!(
        err.contains("weir.toml:8:13: run.env_allow: expected an array of strings, found a string"),
        "{err}"
    );
    std::fs::create_dir(dir.join("empty")).unwrap();
    let env = weir_env(&dir.join("empty"), &["config", "show"], &[("WEIR_LOG_ROTATION", "weekly")]);
    assert_eq!(env.status.code(), Some(2));
    assert!(
        stderr(&env).contains(
            "WEIR_LOG_ROTATION: expected one of `never`, `hourly`, `daily`, `size`, found `weekly`"
        )
    );
}

#[test]
fn validate_checks_every_profile_and_exits_0_or_2() {
    let dir = scratch("config-validate");
    write(&dir, "good.toml", "[store]\nhome = \"h\"\n[profile.prod.store]\nhome = \"p\"\n");
    write(&dir, "bad.toml", "[store]\nhome = \"h\"\n[profile.prod.store]\nhome = 3\n");
    let good = weir_env(&dir, &["config", "validate", "good.toml"], &[]);
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    assert!(stderr(&good).contains("good.toml is valid (profiles: prod)"), "{}", stderr(&good));
    let bad = weir_env(&dir, &["config", "validate", "bad.toml"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("bad.toml:4:8: store.home: expected a string, found an integer"),
        "{}",
        stderr(&bad)
    );
    let none = weir_env(&dir, &["config", "validate"], &[]);
    assert_eq!(none.status.code(), Some(0), "no file: the defaults apply");
}

#[test]
fn secrets_are_never_printed() {
    let dir = scratch("config-secrets");
    let text = "[store]\ndatabase_url = \"postgres://weir:hunter2@db/weir\"\n\n[traces]\nheaders = { authorization = \"Bearer tok3n\" }\n";
    write(&dir, "weir.toml", text);
    let env = [("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr%21t")];
    for args in [&["config", "show"][..], &["config", "show", "--origin"], &["config", "show", "--json"]] {
        let out = weir_env(&dir, args, &[]);
        let text = stdout(&out);
        assert!(text.contains("postgres://weir:***@db/weir"), "{text}");
        assert!(!text.contains("hunter2") && !text.contains("tok3n"), "{text}");
        let with_env = stdout(&weir_env(&dir, args, &env));
        assert!(!with_env.contains("s3cr") && with_env.contains("x-api-key"), "{with_env}");
    }
}

#[test]
fn diff_compares_two_files_key_by_key() {
    let dir = scratch("config-diff");
    write(
        &dir,
        "a.toml",
        "[log]\nlevel = \"info\"\n[store]\ndatabase_url = \"postgres://u:pw-one-x@h/db\"\n",
    );
    write(
        &dir,
        "b.toml",
        "[log]\nlevel = \"debug\"\n[store]\ndatabase_url = \"postgres://u:pw-two-x@h/db\"\n",
    );
    let out = weir_env(&dir, &["config", "diff", "a.toml", "b.toml"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("- log.level = \"info\"   # a.toml:2"), "{text}");
    assert!(text.contains("+ log.level = \"debug\"   # b.toml:2"), "{text}");
    assert!(text.contains("store.database_url: the secret values differ"), "{text}");
    assert!(!text.contains("pw-one-x") && !text.contains("pw-two-x"), "{text}");
    let same = weir_env(&dir, &["config", "diff", "a.toml", "a.toml"], &[]);
    assert_eq!((same.status.code(), stdout(&same)), (Some(0), String::new()));
}

#[test]
fn the_reference_of_environment_variables_is_the_committed_one() {
    let out = weir_env(&root(), &["config", "env"], &[]);
    let committed = std::fs::read_to_string(root().join("docs/env.md")).unwrap();
    assert!(
        stdout(&out) == committed,
        "docs/env.md is stale: regenerate it with `cargo run -p weir -- config env > docs/env.md`"
    );
    assert!(committed.contains("| `WEIR_LOG` | `log.level` |"));
}

/// `weir health --json` in `dir`: the exit code and the checks by name, `(status, detail)`.
fn health(dir: &Path) -> (Option<i32>, Vec<(String, String, String)>) {
    let out = weir_env(dir, &["health", "--json"], &[]);
    let report = json_of(&out);
    let checks = report["checks"].as_array().unwrap().iter();
    let checks = checks.map(|c| {
        let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
        (text("name"), text("status"), text("detail"))
    });
    (out.status.code(), checks.collect())
}

#[test]
fn health_reports_an_invalid_file_as_degraded() {
    let dir = scratch("config-health-invalid");
    write(&dir, "weir.toml", "[worker]\nconcurency = 4\n");
    let (code, checks) = health(&dir);
    assert_eq!(code, Some(1));
    let config = checks.iter().find(|c| c.0 == "config").unwrap();
    assert_eq!(config.1, "degraded");
    assert!(
        config.2.contains("weir.toml:2:1: unknown key `concurency` in [worker]; did you mean `concurrency`?")
    );
    write(&dir, "weir.toml", "[worker]\nconcurrency = 4\n");
    let (code, checks) = health(&dir);
    assert_eq!(code, Some(0), "{checks:?}");
    let config = checks.iter().find(|c| c.0 == "config").unwrap();
    assert_eq!((config.1.as_str(), config.2.as_str()), ("ok", "weir.toml parses and validates"));
    let endpoints = checks.iter().find(|c| c.0 == "endpoints").unwrap();
    assert!(endpoints.1 == "skipped" && endpoints.2.contains("no endpoints are configured"), "{endpoints:?}");
}

#[cfg(feature = "http")]
#[test]
fn health_requests_each_configured_endpoint() {
    use std::io::{Read, Write};
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = up.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in up.incoming().flatten() {
            let _ = stream.read(&mut [0; 1024]);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = scratch("config-health-endpoints");
    let text = format!(
        "[[health.endpoints]]\nname = \"api\"\nurl = \"http://127.0.0.1:{port}/health\"\ntimeout = \"2s\"\n\n\
         [[health.endpoints]]\nname = \"gone\"\nurl = \"http://127.0.0.1:{closed}/\"\n"
    );
    write(&dir, "weir.toml", &text);
    let (code, checks) = health(&dir);
    assert_eq!(code, Some(1), "{checks:?}");
    let api = checks.iter().find(|c| c.0 == "endpoints.api").unwrap();
    assert_eq!(
        (api.1.as_str(), api.2.as_str()),
        ("ok", &*format!("GET http://127.0.0.1:{port}/health: 200 OK"))
    );
    let gone = checks.iter().find(|c| c.0 == "endpoints.gone").unwrap();
    assert_eq!(gone.1, "degraded", "{gone:?}");
}

/// Waits until `path` holds `text`, at most 20 s.
fn until_logged(path: &Path, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(text) {
            return log;
        }
        assert!(Instant::now() < deadline, "no {text:?} within 20 s in:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_worker_applies_a_valid_change_to_its_file_and_keeps_its_configuration_over_an_invalid_one() {
    let dir = scratch("config-reload");
    write(&dir, "weir.toml", "[worker]\nconcurrency = 2\n");
    let log = dir.join("worker.log");
    let mut worker = command();
    worker.args(["worker"]).current_dir(&*dir).env("WEIR_HOME", dir.join(".weir"));
    let mut child = worker
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("weir worker starts");
    until_logged(&log, "started");
    write(&dir, "weir.toml", "[worker]\nconcurrency = 16\npoll = \"250ms\"\n");
    until_logged(&log, "now runs up to 16 at once, polling every 250ms");
    write(&dir, "weir.toml", "[worker]\nconcurrency = \"lots\"\n");
    let text = until_logged(&log, "changed but is invalid; the configuration stays as it was");
    assert!(
        text.contains("weir.toml:2:15: worker.concurrency: expected a whole number, found a string"),
        "{text}"
    );
    let (code, checks) = health(&dir);
    assert_eq!(code, Some(1), "the refused change shows in health: {checks:?}");
    assert!(child.try_wait().unwrap().is_none(), "the worker still runs:\n{text}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_worker_takes_its_defaults_from_the_file_and_its_flags_over_them() {
    let dir = scratch("config-worker-defaults");
    write(&dir, "weir.toml", "[worker]\nlease = \"500ms\"\n");
    let short = weir_env(&dir, &["worker", "--once"], &[]);
    assert_eq!(short.status.code(), Some(2));
    assert!(stderr(&short).contains("the lease 500ms (weir.toml:2) is too short"), "{}", stderr(&short));
    let flag = weir_env(&dir, &["worker", "--once", "--lease", "2s"], &[]);
    assert_eq!(flag.status.code(), Some(0), "{}", stderr(&flag));
}

#[test]
fn the_opentelemetry_variables_set_traces_as_the_specification_reads_them() {
    let dir = scratch("config-otel");
    let env = [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=data%20eng"),
        ("OTEL_SERVICE_NAME", "billing"),
    ];
    let traces = shown(&dir, &[], &env);
    assert_eq!(
        traces["traces.enabled"],
        serde_json::json!({"value": false, "origin": "env OTEL_SDK_DISABLED"})
    );
    assert_eq!(traces["traces.timeout"]["value"], "2500ms");
    assert_eq!(
        traces["traces.resource_attributes"]["value"],
        serde_json::json!({"deployment.environment": "prod", "team": "data eng"})
    );
    assert_eq!(traces["traces.service_name"]["value"], "billing");
}
