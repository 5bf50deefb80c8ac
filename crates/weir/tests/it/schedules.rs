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
