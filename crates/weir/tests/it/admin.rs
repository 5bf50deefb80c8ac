//! `weir admin`: cleanup, backup and restore, export and check, as a user drives them against a
//! store in a `WEIR_HOME` of the test's own.

use crate::{root, scratch, stderr, stdout, weir_env};
use serde_json::Value;
use std::path::Path;

/// A `WEIR_HOME` holding `n` runs of `examples/hello.yaml`, one per name in `who`.
fn home_with_runs(test: &str, who: &[&str]) -> crate::Scratch {
    let home = scratch(test);
    for name in who {
        let input = serde_json::json!({ "who": name }).to_string();
        let out = admin_in(&home, &["run", "examples/hello.yaml", "-q", "-i", &input]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    home
}

/// Runs `weir args` from the repository root with its store in `home`.
fn admin_in(home: &Path, args: &[&str]) -> std::process::Output {
    weir_env(&root(), args, &[("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().expect("utf-8 path"))])
}

fn run_ids(home: &Path) -> Vec<String> {
    let out = admin_in(home, &["runs", "list", "--all", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let runs: Vec<weir_api::StoredRun> = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<String> = runs.into_iter().map(|r| r.run_id).collect();
    ids.sort();
    ids
}

fn json(out: &std::process::Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

#[test]
fn cleanup_deletes_what_its_dry_run_listed_and_keeps_recent_runs() {
    let home = home_with_runs("admin-cleanup", &["Ada", "Grace"]);
    let ids = run_ids(&home);

    let recent = json(&admin_in(&home, &["admin", "cleanup", "--older-than", "30d", "--json"]));
    assert_eq!(recent["runs"], Value::Array(Vec::new()), "nothing is 30 days old");

    let dry = json(&admin_in(&home, &["admin", "cleanup", "--older-than", "0s", "--dry-run", "--json"]));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["runs"], serde_json::to_value(&ids).unwrap());
    assert_eq!(dry["rows"]["steps"], 4, "two steps per run");
    assert_eq!(run_ids(&home), ids, "a dry run deletes nothing");

    let text = admin_in(&home, &["admin", "cleanup", "--older-than", "0s", "--dry-run"]);
    assert_eq!(stdout(&text).lines().collect::<Vec<_>>(), ids, "one run id per line");
    assert!(stderr(&text).contains("would delete 2 runs, 4 steps"), "{}", stderr(&text));

    let done = json(&admin_in(&home, &["admin", "cleanup", "--older-than", "0s", "--json"]));
    assert_eq!(
        (&done["runs"], &done["rows"]),
        (&dry["runs"], &dry["rows"]),
        "deleted exactly what was listed"
    );
    assert!(run_ids(&home).is_empty());
}

#[test]
fn cleanup_refuses_what_it_cannot_mean() {
    let home = scratch("admin-cleanup-usage");
    let running = admin_in(&home, &["admin", "cleanup", "--older-than", "1d", "--status", "running"]);
    assert_eq!(running.status.code(), Some(2), "runs still running are never cleaned up");
    assert!(stderr(&running).contains("invalid value 'running'"), "{}", stderr(&running));
    let bad = admin_in(&home, &["admin", "cleanup", "--older-than", "30x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("invalid duration \"30x\""), "{}", stderr(&bad));
}

#[test]
fn a_backup_restores_elsewhere_and_a_damaged_one_changes_nothing() {
    let home = home_with_runs("admin-backup", &["Ada"]);
    let archive = home.join("backup.tar");
    let out = admin_in(&home, &["admin", "backup", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 runs, 2 steps"), "{}", stderr(&out));

    let other = scratch("admin-restore");
    let restored = admin_in(&other, &["admin", "restore", archive.to_str().unwrap()]);
    assert_eq!(restored.status.code(), Some(0), "{}", stderr(&restored));
    assert_eq!(run_ids(&other), run_ids(&home));
    let show = |h: &Path| json(&admin_in(h, &["runs", "show", &run_ids(h)[0], "--json"]));
    assert_eq!(show(&other), show(&home), "the run reads back the same");

    let again = admin_in(&other, &["admin", "restore", archive.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("is not empty; --force replaces what it holds"), "{}", stderr(&again));

    let bytes = std::fs::read(&archive).unwrap();
    let at = bytes.windows(7).position(|w| w == b"{\"id\":\"").expect("a run row");
    let mut flipped = bytes.clone();
    flipped[at + 9] ^= 0x01;
    let damaged = home.join("damaged.tar");
    std::fs::write(&damaged, &flipped).unwrap();
    let truncated = home.join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let cleaned = json(&admin_in(&other, &["admin", "cleanup", "--older-than", "0s", "--json"]));
    assert_eq!(cleaned["rows"]["runs"], 1);
    for (file, says) in
        [(&damaged, "member \"runs.jsonl\" is damaged"), (&truncated, "the archive is truncated")]
    {
        let out = admin_in(&other, &["admin", "restore", file.to_str().unwrap(), "--force"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("(the store is unchanged): the backup is not valid"), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(run_ids(&other).is_empty(), "still as it was");
    }
    let forced = admin_in(&other, &["admin", "restore", archive.to_str().unwrap(), "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert_eq!(run_ids(&other), run_ids(&home));
}

#[test]
fn export_writes_csv_json_and_json_lines() {
    let home = home_with_runs("admin-export", &["Ada, \"the first\""]);
    let csv = admin_in(&home, &["admin", "export", "--what", "steps", "--format", "csv"]);
    assert_eq!(csv.status.code(), Some(0), "{}", stderr(&csv));
    let csv = stdout(&csv);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(lines[0].starts_with("run_id,step,item,kind,status,attempts,"), "{csv}");
    assert_eq!(lines.len(), 4, "a header, two steps, and the last line's end: {csv:?}");
    assert!(lines[1].ends_with(",\"Ada, \"\"the first\"\"\""), "quoted as RFC 4180 says: {csv:?}");

    let runs =
        json(&admin_in(&home, &["admin", "export", "--what", "runs", "--format", "json", "--since", "1h"]));
    assert_eq!(runs[0]["output"], "Hello, Ada, \"the first\"!");
    assert_eq!(runs[0]["input"]["who"], "Ada, \"the first\"");

    let file = home.join("events.jsonl");
    let out = admin_in(
        &home,
        &["admin", "export", "--what", "events", "--format", "jsonl", "-o", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    let types: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("run_started"));
    assert_eq!(types.len(), 6);
}

#[test]
fn check_names_each_problem_and_exits_1() {
    let home = home_with_runs("admin-check", &["Ada"]);
    let ok = admin_in(&home, &["admin", "check"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("no problems"), "{}", stdout(&ok));

    let id = run_ids(&home).remove(0);
    let db = rusqlite::Connection::open(home.join("weir.db")).unwrap();
    db.execute_batch(&format!(
        "UPDATE runs SET id = 'gone' WHERE id = '{id}'; UPDATE pipelines SET text = text || '#';"
    ))
    .unwrap();
    drop(db);
    let bad = admin_in(&home, &["admin", "check"]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let text = stdout(&bad);
    assert!(text.contains(&format!("steps {id}/greet: its run {id} is missing")), "{text}");
    assert!(text.contains("pipelines sha256:"), "{text}");
    assert!(text.contains("its text hashes to sha256:"), "{text}");
    let problems = admin_in(&home, &["admin", "check", "--json"]);
    assert_eq!(problems.status.code(), Some(1));
    let problems: Vec<weir_api::Problem> = serde_json::from_slice(&problems.stdout).unwrap();
    assert!(problems.iter().any(|p| p.table == "events" && p.key.starts_with(&id)), "{problems:?}");
}

/// Runs `sql` on the PostgreSQL server at `url`.
pub fn postgres(url: &str, sql: &str) {
    with_postgres(url, async |client| client.batch_execute(sql).await.unwrap());
}

/// What `body` makes of a connection of the test's own to `url`, on a runtime of its own.
pub fn with_postgres<T>(url: &str, body: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("PostgreSQL");
        tokio::spawn(connection);
        body(&client).await
    })
}

#[test]
fn a_backup_of_sqlite_restores_into_postgres_through_the_binary() {
    let Ok(server) = std::env::var("WEIR_TEST_DATABASE_URL") else {
        eprintln!("skipped: WEIR_TEST_DATABASE_URL is not set");
        return;
    };
    let home = home_with_runs("admin-to-pg", &["Ada", "Grace"]);
    let archive = home.join("backup.tar");
    let out = admin_in(&home, &["admin", "backup", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let schema = format!("weir_it_admin_{}", std::process::id());
    postgres(&server, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"));
    let sep = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{sep}options=-csearch_path%3D{schema}");
    let pg = |args: &[&str]| weir_env(&root(), args, &[("NO_COLOR", "1"), ("WEIR_DATABASE_URL", &url)]);
    let restored = pg(&["admin", "restore", archive.to_str().unwrap()]);
    let listed = pg(&["runs", "list", "--json"]);
    let checked = pg(&["admin", "check"]);
    let back = home.join("from-pg.tar");
    let backed = pg(&["admin", "backup", back.to_str().unwrap()]);
    postgres(&server, &format!("DROP SCHEMA {schema} CASCADE"));

    assert_eq!(restored.status.code(), Some(0), "{}", stderr(&restored));
    assert!(stderr(&restored).contains("(sqlite, schema version"), "{}", stderr(&restored));
    let sqlite_runs = json(&admin_in(&home, &["runs", "list", "--json"]));
    assert_eq!(json(&listed), sqlite_runs, "PostgreSQL lists the runs SQLite held");
    assert_eq!(checked.status.code(), Some(0), "{}", stdout(&checked));
    assert_eq!(backed.status.code(), Some(0), "{}", stderr(&backed));

    let again = scratch("admin-from-pg");
    let out = admin_in(&again, &["admin", "restore", back.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("(postgres, schema version"), "{}", stderr(&out));
    assert_eq!(json(&admin_in(&again, &["runs", "list", "--json"])), sqlite_runs, "and back to SQLite");
}
