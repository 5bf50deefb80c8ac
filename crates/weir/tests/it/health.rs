//! `weir health`: the verdict and exit code a user (or a probe) gets from stores in the states
//! that matter: fresh, with a worker that stopped beating, with a schedule no worker fires, not a
//! database at all, and written by a newer weir.

use crate::{scratch, stderr, stdout, weir_env};
use serde_json::Value;
use std::path::Path;

/// `weir health --json` with its store in `home`: the exit code and the report.
fn health(home: &Path) -> (Option<i32>, weir_api::HealthReport) {
    let out =
        weir_env(home, &["health", "--json"], &[("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())]);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (out.status.code(), report)
}

/// The check named `name` in `report`, as `(status, detail)`.
fn check<'a>(report: &'a weir_api::HealthReport, name: &str) -> (&'static str, &'a str) {
    let c = report.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name} check"));
    (c.status.as_str(), c.detail.as_str())
}

/// Runs `sql` on the SQLite store in `home`, as another program (or a dead worker) left it.
fn edit(home: &Path, sql: &str) {
    rusqlite::Connection::open(home.join("weir.db")).unwrap().execute_batch(sql).unwrap();
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn a_fresh_store_is_healthy_and_says_which_checks_did_not_run() {
    let home = scratch("health-fresh");
    let (code, report) = health(&home);
    assert_eq!(code, Some(0), "{report:?}");
    assert_eq!(report.status, weir_api::Overall::Healthy);
    assert_eq!(check(&report, "workers"), ("ok", "no workers registered"));
    assert_eq!(check(&report, "config").0, "skipped");
    assert_eq!(check(&report, "endpoints").0, "skipped");

    // Latencies and the store's path change from run to run, the schema version with migrations.
    let mut json: Value = serde_json::to_value(&report).unwrap();
    for c in json["checks"].as_array_mut().unwrap() {
        c["latency_ms"] = Value::from(0);
    }
    let text = serde_json::to_string_pretty(&json)
        .unwrap()
        .replace(home.to_str().unwrap(), "<home>")
        .replace(&format!("schema version {},", weir_store::SCHEMA_VERSION), "schema version <current>,");
    insta::assert_snapshot!("health-json", text);
}

#[test]
fn the_table_shows_each_check_with_its_status_and_latency() {
    let home = scratch("health-table");
    let out = weir_env(&home, &["health"], &[("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("CHECK") && lines[0].contains("LATENCY"), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("store.integrity") && l.contains(" ms ")), "{text}");
    assert!(
        lines.iter().any(|l| l.starts_with("config") && l.contains("skipped") && l.contains(" - ")),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"healthy"), "{text}");
}

#[test]
fn a_worker_whose_heartbeat_is_older_than_its_lease_is_degraded_and_named() {
    let home = scratch("health-stale-worker");
    assert_eq!(health(&home).0, Some(0), "the store is created");
    let now = now_ms();
    edit(
        &home,
        &format!(
            "INSERT INTO workers (id, owner, started_at, heartbeat) VALUES ('w-alive', 'host:boot:1:1', {now}, {now}), \
             ('w-stale', 'host:boot:2:2', {}, {})",
            now - 3_600_000,
            now - 600_000
        ),
    );
    let (code, report) = health(&home);
    assert_eq!(code, Some(1), "{report:?}");
    assert_eq!(report.status, weir_api::Overall::Degraded);
    let (status, detail) = check(&report, "workers");
    assert_eq!(status, "degraded");
    assert!(detail.contains("1 of 2 workers") && detail.contains("w-stale (10m ago"), "{detail}");
    assert!(!detail.contains("w-alive"), "{detail}");
}

#[test]
fn a_schedule_no_worker_fires_is_degraded_and_named() {
    let home = scratch("health-overdue");
    let env = [("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())];
    let pipeline = crate::root().join("examples/hello.yaml");
    let added = weir_env(
        &home,
        &["schedule", "add", pipeline.to_str().unwrap(), "--cron", "*/5 * * * *", "--set-str", "name=Ada"],
        &env,
    );
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    assert_eq!(health(&home).0, Some(0), "the first tick is ahead");

    edit(&home, &format!("UPDATE schedules SET next_at = {}", now_ms() - 2 * 3_600_000));
    let (code, report) = health(&home);
    assert_eq!(code, Some(1), "{report:?}");
    let (status, detail) = check(&report, "schedules");
    assert_eq!(status, "degraded");
    assert!(detail.contains("hello (due 2h ago)"), "{detail}");

    // A paused schedule is not expected to fire.
    let paused = weir_env(&home, &["schedule", "pause", "hello"], &env);
    assert_eq!(paused.status.code(), Some(0), "{}", stderr(&paused));
    assert_eq!(check(&health(&home).1, "schedules").0, "ok");
}

#[test]
fn a_file_that_is_not_a_database_is_down() {
    let home = scratch("health-not-a-db");
    std::fs::write(home.join("weir.db"), "not a database, but long enough to look like a header".repeat(50))
        .unwrap();
    let (code, report) = health(&home);
    assert_eq!(code, Some(3), "{report:?}");
    assert_eq!(report.status, weir_api::Overall::Down);
    let (status, detail) = check(&report, "store.reachable");
    assert_eq!(status, "down");
    assert!(detail.contains("cannot open the store"), "{detail}");
    for name in ["store.schema", "store.integrity", "workers", "schedules"] {
        assert_eq!(check(&report, name), ("skipped", "not checked: the store cannot be opened"), "{name}");
    }
}

#[test]
fn a_store_written_by_a_newer_weir_is_down_and_left_untouched() {
    let home = scratch("health-newer");
    assert_eq!(health(&home).0, Some(0), "the store is created");
    let newer = weir_store::SCHEMA_VERSION + 1;
    edit(&home, &format!("UPDATE weir_meta SET value = '{newer}' WHERE key = 'schema_version'"));
    let (code, report) = health(&home);
    assert_eq!(code, Some(3), "{report:?}");
    assert_eq!(check(&report, "store.reachable").0, "ok");
    let (status, detail) = check(&report, "store.schema");
    assert_eq!(status, "down");
    assert!(detail.contains(&format!("schema version {newer} is newer")), "{detail}");
    assert_eq!(check(&report, "workers").0, "skipped");
}
