//! What expressions say with `debug` and `stderr`: log lines of the step (or `foreach` item)
//! that evaluated them, wherever the evaluation ran.

use crate::{plan, run_virtual};
use weir_engine::{Event, EventKind, LogLevel, RunOptions};
use weir_pipeline::Status;

/// The log lines of a run: step, item, level and message.
fn lines(events: &[Event]) -> Vec<(String, Option<usize>, LogLevel, String)> {
    let line = |e: &Event| match &e.kind {
        EventKind::StepLog { at, level, message } => {
            Some((at.step.to_string(), at.item, *level, message.clone()))
        }
        _ => None,
    };
    events.iter().filter_map(line).collect()
}

#[test]
fn conditions_programs_templates_and_items_log_what_they_say_as_their_steps() {
    let p = plan(
        "name: t\nsteps:\n  - id: a\n    uses: transform\n    if: '\"checked\" | stderr | true'\n    with: { expr: '.input | debug | 1' }\n  - id: each\n    uses: foreach\n    needs: [a]\n    with:\n      items: '[10, 20] | debug'\n      step:\n        uses: transform\n        with: { expr: '.item | debug(\"item \\(.)\")' }\n  - id: l\n    uses: log\n    needs: [each]\n    with: { message: 'm=${{ {m: 1} | stderr | .m }}' }\n",
    );
    let (report, events) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.error);
    let line = |step: &str, item, level, message: &str| (step.to_owned(), item, level, message.to_owned());
    let mut got = lines(&events);
    got.sort_by_key(|(step, item, _, _)| (step.clone(), *item));
    assert_eq!(
        got,
        [
            line("a", None, LogLevel::Info, "checked"),
            line("a", None, LogLevel::Debug, r#"["DEBUG:",{}]"#),
            line("each", None, LogLevel::Debug, r#"["DEBUG:",[10,20]]"#),
            line("each", Some(0), LogLevel::Debug, r#"["DEBUG:","item 10"]"#),
            line("each", Some(1), LogLevel::Debug, r#"["DEBUG:","item 20"]"#),
            line("l", None, LogLevel::Info, r#"{"m":1}"#),
            line("l", None, LogLevel::Info, "m=1"),
        ]
    );
    let said =
        events.iter().position(|e| matches!(&e.kind, EventKind::StepLog { at, .. } if &*at.step == "a"));
    let ended = events
        .iter()
        .position(|e| matches!(&e.kind, EventKind::StepSucceeded { at, .. } if &*at.step == "a"));
    assert!(said < ended, "a step's lines come before its end");
}

#[test]
fn an_expression_that_moves_to_its_own_thread_logs_once_and_within_the_limits() {
    let p = plan(
        "name: t\nsteps:\n  - id: hot\n    uses: transform\n    with: { expr: '[range(300000) | if . % 100 == 0 then debug else . end] | length' }\n",
    );
    let (report, events) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.output, serde_json::json!(300_000));
    let got = lines(&events);
    assert_eq!(got.len(), 1_001, "1,000 lines, then how many were dropped");
    assert_eq!(got[0].3, r#"["DEBUG:",0]"#, "the inline try's lines are not repeated");
    assert_eq!(got[999].3, r#"["DEBUG:",99900]"#);
    assert_eq!(got[1_000].2, LogLevel::Warn);
    assert!(got[1_000].3.starts_with("2000 more message(s) dropped"), "{:?}", got[1_000]);
}

#[test]
fn halt_error_fails_the_step_with_its_message() {
    let p = plan(
        "name: t\nsteps:\n  - id: a\n    uses: transform\n    with: { expr: '\"no input today\" | halt_error' }\n",
    );
    let (report, _) = run_virtual(&p, RunOptions::default());
    let error = report.error.expect("an error");
    assert!(error.message.ends_with(": no input today"), "{}", error.message);
}
