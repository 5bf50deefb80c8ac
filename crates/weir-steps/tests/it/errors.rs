//! Errors at run time are as precise as validation's: the key, what was expected and what was
//! found; the expression that failed; the item as people count it; what a cancelled run stopped.

use crate::{engine, plan, run_virtual};
use serde_json::json;
use std::time::Duration;
use weir_engine::{Collector, ErrorKind, ManualClock, RunOptions};
use weir_pipeline::Status;

/// The message of the error that ended a run of `yaml`.
fn error_of(yaml: &str) -> String {
    let (report, _) = run_virtual(&plan(yaml), RunOptions::default());
    assert_eq!(report.status, Status::Failed, "{yaml}");
    report.error.map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn a_value_of_the_wrong_type_names_its_key_and_what_it_should_be() {
    let error = error_of("name: t\nsteps:\n  - { id: s, uses: sleep, with: { duration: '${{ 5 }}' } }\n");
    assert!(
        error.starts_with(
            "step \"s\" failed after 1 attempt: `with.duration`: expected a duration string such as \"10s\", found the integer 5"
        ),
        "{error}"
    );
    let error =
        error_of("name: t\nsteps:\n  - { id: s, uses: sleep, with: { duration: '${{ \"5 seconds\" }}' } }\n");
    assert!(error.contains("`with.duration`: invalid duration \"5 seconds\": unknown unit"), "{error}");
    assert!(!error.contains('^'), "no regular expression in the message: {error}");
}

#[test]
fn an_expression_that_fails_is_named_with_its_key_and_text() {
    let error = error_of(
        "name: t\nsteps:\n  - { id: t, uses: transform, with: { expr: '.input.a.b | length + \"x\"' } }\n",
    );
    assert!(error.contains("`expr`: `.input.a.b | length + \"x\"`: cannot"), "{error}");
    let error = error_of(
        "name: t\nsteps:\n  - { id: s, uses: sleep, with: { duration: '${{ .input.x | ascii_downcase }}' } }\n",
    );
    assert_eq!(
        error,
        "step \"s\" failed: `with.duration`: `.input.x | ascii_downcase`: cannot use null as string"
    );
}

#[test]
fn a_failed_item_is_counted_as_people_count() {
    let error = error_of(
        "name: t\nsteps:\n  - id: each\n    uses: foreach\n    with:\n      items: '[1, 2, 3, 4]'\n      step: { uses: fail, with: { times: '${{ if .item == 3 then 1 else 0 end }}' } }\n",
    );
    assert!(error.contains("item 3 of 4 (index 2): failed on purpose"), "{error}");
}

#[test]
fn a_cancelled_run_reports_the_attempts_that_started_and_what_it_stopped() {
    let p = plan(
        "name: t\nsteps:\n  - { id: a, uses: sleep, with: { duration: 1h } }\n  - { id: b, uses: sleep, with: { duration: 1h }, retry: { attempts: 3 }, timeout: 1s }\n  - { id: c, uses: pass, needs: [a] }\n",
    );
    let clock = ManualClock::new();
    let engine = engine(clock.clone());
    let opts = RunOptions::default();
    let cancel = opts.cancel.clone();
    let c = clock.clone();
    let sink = Collector::default();
    let (report, ()) =
        clock.block_on(futures_util::future::join(engine.run(&p, json!({}), &opts, &sink), async move {
            weir_engine::Clock::sleep(&*c, Duration::from_millis(2500)).await;
            cancel.cancel();
        }));
    let report = report.expect("valid input");
    let failure = report.error.expect("why it ended");
    assert_eq!(failure.kind, ErrorKind::Cancelled);
    assert_eq!(failure.to_string(), "cancelled while steps \"a\", \"b\" were running");
    let by_id = |id: &str| report.steps.iter().find(|s| s.id == id).expect("a step").clone();
    assert_eq!((by_id("a").attempts, by_id("a").duration), (1, Some(Duration::from_millis(2500))));
    assert_eq!(by_id("b").attempts, 3, "b timed out twice and was in its third attempt");
    assert_eq!((by_id("c").attempts, by_id("c").duration), (0, None), "c never started");
    assert!(report.steps.iter().all(|s| s.status == Status::Cancelled));
}
