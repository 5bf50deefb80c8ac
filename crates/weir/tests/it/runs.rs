//! Stored runs: `weir run` records them by default, `weir runs list|show` read them back, and a
//! store that cannot be opened stops the run before it starts.

use crate::{root, scratch, stderr, stdout, weir_env};
use serde_json::Value;

#[test]
fn a_run_is_stored_and_read_back() {
    let home = scratch("runs-home");
    let home_dir = home.to_str().expect("utf-8 path");
    let env = [("NO_COLOR", "1"), ("WEIR_HOME", home_dir)];
    let run = weir_env(&root(), &["run", "examples/hello.yaml", "--json", "-i", r#"{"who": "Ada"}"#], &env);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let summary: Value = serde_json::from_slice(&run.stdout).unwrap();
    let id = summary["run_id"].as_str().unwrap().to_owned();
    assert!(home.join("weir.db").is_file(), "stored in WEIR_HOME");

    let ephemeral = weir_env(&root(), &["run", "examples/hello.yaml", "--no-store"], &env);
    assert_eq!(ephemeral.status.code(), Some(0));

    let list = weir_env(&root(), &["runs", "list", "--json"], &env);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let runs: Vec<weir_api::StoredRun> = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(runs.len(), 1, "the --no-store run left no record");
    assert_eq!((runs[0].run_id.as_str(), runs[0].pipeline.as_str()), (id.as_str(), "hello"));

    let show = weir_env(&root(), &["runs", "show", &id[..12], "--json"], &env);
    assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
    let detail: weir_api::StoredRunDetail = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(detail.input, serde_json::json!({"who": "Ada"}));
    assert_eq!(detail.output, summary["output"]);
    assert_eq!(detail.steps.len(), summary["steps"].as_array().unwrap().len());

    let table = weir_env(&root(), &["runs", "show", &id], &env);
    let table = stdout(&table);
    assert!(table.contains(&format!("run       {id}")), "{table}");
    assert!(table.contains("succeeded"), "{table}");
    let bars: Vec<&str> = table.lines().filter_map(|l| l.split_once('|').map(|(_, bar)| bar)).collect();
    assert_eq!(bars.len(), detail.steps.len(), "a timeline bar per step: {table}");
    for bar in bars {
        let inside = bar.split('|').next().unwrap_or_default();
        assert_eq!(inside.len(), 40, "40 columns when piped: {table}");
        assert!(inside.contains('#'), "each step ran for a part of the run: {table}");
    }

    let missing = weir_env(&root(), &["runs", "show", "ffffffff"], &env);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no stored run has the id \"ffffffff\""), "{}", stderr(&missing));
}

#[test]
fn an_unreachable_store_stops_the_run_with_exit_3_and_no_password() {
    let dir = scratch("runs-unreachable");
    let env = [("NO_COLOR", "1"), ("WEIR_DATABASE_URL", "postgres://ada:s3cret@127.0.0.1:1/weir")];
    let out = weir_env(&root(), &["run", "examples/hello.yaml"], &env);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot open the store at postgres://ada:***@127.0.0.1:1/weir"), "{err}");
    assert!(err.contains("--no-store"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert!(stdout(&out).is_empty(), "the run did not start");
    let ok =
        weir_env(&dir, &["run", &root().join("examples/hello.yaml").to_string_lossy(), "--no-store"], &env);
    assert_eq!(ok.status.code(), Some(0), "--no-store needs no store");
}
