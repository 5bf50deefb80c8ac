//! `weir diff`: exit codes like diff(1), the text and JSON renderings, invalid files.

use crate::{Scratch, scratch, stderr, stdout, weir};
use std::fs;

const BEFORE: &str = r#"
name: score
steps:
  - id: fetch
    uses: http
    with: { url: "https://example.test/orders/1" }
  - id: score
    uses: transform
    needs: [fetch]
    with: { expr: '.steps.fetch.output.body.total' }
"#;

/// The same pipeline in JSON, steps in another order.
const SAME: &str = r#"{"name": "score", "steps": [
  {"id": "score", "uses": "transform", "needs": ["fetch"], "with": {"expr": ".steps.fetch.output.body.total"}},
  {"id": "fetch", "uses": "http", "with": {"url": "https://example.test/orders/1"}}]}"#;

const AFTER: &str = r#"
name: score
steps:
  - id: fetch
    uses: http
    with: { url: "https://example.test/orders/2" }
    timeout: 5s
  - id: score
    uses: transform
    with: { expr: '1' }
"#;

fn files(test: &str) -> Scratch {
    let dir = scratch(test);
    for (name, text) in [("before.yaml", BEFORE), ("same.json", SAME), ("after.yaml", AFTER)] {
        fs::write(dir.join(name), text).unwrap();
    }
    fs::write(dir.join("broken.yaml"), "name: score\nsteps: 3\n").unwrap();
    dir
}

#[test]
#[cfg_attr(not(feature = "http"), ignore = "the pipelines have an `http` step")]
fn the_same_pipeline_exits_0_and_prints_nothing() {
    let dir = files("diff-same");
    let out = weir(&dir, &["diff", "before.yaml", "same.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
#[cfg_attr(not(feature = "http"), ignore = "the pipelines have an `http` step")]
fn a_changed_pipeline_exits_1_and_lists_the_changes() {
    let dir = files("diff-changed");
    let out = weir(&dir, &["diff", "before.yaml", "after.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "~ step fetch: with.url \"https://example.test/orders/1\" -> \"https://example.test/orders/2\"\n\
         ~ step fetch: timeout (unset) -> \"5s\"\n\
         ~ step score: needs [\"fetch\"] -> []\n\
         ~ step score: with.expr \".steps.fetch.output.body.total\" -> \"1\"\n\
         - edge fetch -> score\n"
    );
    let out = weir(&dir, &["diff", "before.yaml", "after.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["identical"], false);
    assert_eq!(json["edges"][0]["kind"], "needs");
}

#[test]
fn an_invalid_file_exits_2_with_its_diagnostics() {
    let dir = files("diff-invalid");
    let out = weir(&dir, &["diff", "broken.yaml", "after.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("broken.yaml:2:8"), "{}", stderr(&out));
}
