//! `weir schedule add|list|pause|resume|remove`: schedules kept in the store, as a user manages
//! them. That their ticks fire once across workers is the store suite's to show.

use crate::{scratch, stderr, stdout, weir_env};
use serde_json::Value;

#[test]
fn a_schedule_is_added_listed_paused_resumed_and_removed() {
    let dir = scratch("schedules");
    let home = dir.join(".weir");
    let home = home.to_str().unwrap();
    let pipeline = crate::root().join("examples/hello.yaml");
    let pipeline = pipeline.to_str().unwrap();
    let weir = |args: &[&str]| weir_env(&dir, args, &[("NO_COLOR", "1"), ("WEIR_HOME", home)]);

    let added =
        weir(&["schedule", "add", pipeline, "--cron", "*/5 * * * *", "--set-str", "name=Ada", "--json"]);
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    let schedule: Value = serde_json::from_str(&stdout(&added)).unwrap();
    assert_eq!((schedule["name"].as_str(), schedule["cron"].as_str()), (Some("hello"), Some("*/5 * * * *")));
    assert_eq!(schedule["input"]["name"], "Ada");
    assert_eq!(schedule["next_at"].as_u64().unwrap() % 300_000, 0, "on a five-minute boundary");
    assert!(
        stderr(&added).contains("added schedule hello (*/5 * * * *): next tick 20"),
        "{}",
        stderr(&added)
    );

    let again = weir(&["schedule", "add", pipeline, "--cron", "@daily"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("a schedule named \"hello\" exists already: `--replace` replaces it"));
    let replaced = weir(&["schedule", "add", pipeline, "--cron", "@daily", "--replace"]);
    assert!(stderr(&replaced).contains("replaced schedule hello (@daily)"), "{}", stderr(&replaced));

    let bad = weir(&["schedule", "add", pipeline, "--cron", "0 25 * * *", "--name", "x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("field 2 (hour) \"25\": 25 is out of range 0-23"), "{}", stderr(&bad));

    let paused = weir(&["schedule", "pause", "hello"]);
    assert!(stderr(&paused).contains("paused schedule hello"), "{}", stderr(&paused));
    let listed = weir(&["schedule", "list"]);
    let row = stdout(&listed).lines().find(|l| l.starts_with("hello")).unwrap().to_owned();
    assert!(row.contains("@daily") && row.contains("paused") && row.contains("never fired"), "{row}");
    let resumed = weir(&["schedule", "resume", "hello"]);
    assert!(stderr(&resumed).contains("resumed schedule hello: next tick 20"), "{}", stderr(&resumed));

    let missing = weir(&["schedule", "remove", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no schedule is named \"nope\" (there are: hello;"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(weir(&["schedule", "remove", "hello"]).status.code(), Some(0));
    assert_eq!(stdout(&weir(&["schedule", "list", "--json"])).trim(), "[]");
}

/// Ticks missed while no worker ran: `weir worker --once` fires them as each schedule's
/// catch-up policy says, the runs go through the queue, and a second look fires nothing.
#[test]
fn a_worker_fires_missed_ticks_by_the_catch_up_policy_and_runs_them() {
    let dir = scratch("schedules-fire");
    let home = dir.join(".weir");
    let home_text = home.to_str().unwrap();
    let pipeline = crate::root().join("examples/hello.yaml");
    let pipeline = pipeline.to_str().unwrap();
    let weir = |args: &[&str]| weir_env(&dir, args, &[("NO_COLOR", "1"), ("WEIR_HOME", home_text)]);
    // Hourly, half an hour away from now: the ticks it missed are all long past the grace of
    // `skip`, and the next one is well ahead.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let cron = format!("{} * * * *", (now / 60_000 + 30) % 60);
    for (name, policy) in [("latest", "latest"), ("all", "all"), ("skip", "skip")] {
        let args = ["schedule", "add", pipeline, "--cron", &cron, "--name", name, "--catch-up", policy];
        assert_eq!(weir(&args).status.code(), Some(0));
    }
    let listed: Vec<Value> = serde_json::from_str(&stdout(&weir(&["schedule", "list", "--json"]))).unwrap();
    let next = listed[0]["next_at"].as_i64().unwrap();
    // Nothing ran for the last three ticks.
    let first_missed = next - 3 * 3_600_000;
    let db = rusqlite::Connection::open(home.join("weir.db")).unwrap();
    db.execute("UPDATE schedules SET next_at = ?1", [first_missed]).unwrap();
    drop(db);

    let worker = weir(&["worker", "--once"]);
    assert_eq!(worker.status.code(), Some(0), "{}", stderr(&worker));
    assert_eq!(stderr(&worker).matches("queued by schedule").count(), 1 + 3, "{}", stderr(&worker));
    let runs: Vec<Value> = serde_json::from_str(&stdout(&weir(&["runs", "list", "--json"]))).unwrap();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:?}");
    let listed: Vec<Value> = serde_json::from_str(&stdout(&weir(&["schedule", "list", "--json"]))).unwrap();
    let by_name = |name: &str| listed.iter().find(|s| s["name"] == name).unwrap().clone();
    assert_eq!(by_name("latest")["missed"], 2);
    assert_eq!(by_name("latest")["last_tick_at"], first_missed + 2 * 3_600_000);
    assert_eq!(by_name("latest")["last_status"], "succeeded");
    assert_eq!(by_name("all")["missed"], 0);
    assert_eq!((by_name("skip")["missed"].as_u64(), by_name("skip").get("last_run_id")), (Some(3), None));
    assert_eq!(by_name("skip")["next_at"], next, "it goes on from the next tick");

    let again = weir(&["worker", "--once"]);
    assert!(!stderr(&again).contains("queued by schedule"), "{}", stderr(&again));
    let runs: Vec<Value> = serde_json::from_str(&stdout(&weir(&["runs", "list", "--json"]))).unwrap();
    assert_eq!(runs.len(), 4, "each tick fired once");
}
