//! Expressions that would compute forever or fill memory: a step's `timeout`, the run's
//! cancellation and another step's failure stop them, and the values they build are limited.

use crate::{engine, plan, run_virtual};
use serde_json::json;
use std::time::Duration;
use weir_engine::{Collector, ErrorKind, ManualClock, RunOptions};
use weir_pipeline::Status;

/// Expressions that never end by themselves (or not for hours).
const ENDLESS: &[&str] = &["last(range(1e10))", "def f: f; f", "[limit(1e12; repeat(1))] | length"];

/// A pipeline of one step `hot` of kind `uses` with `with`, and `extra` lines of the step.
fn hot(uses: &str, with: &str, extra: &str) -> weir_pipeline::Bundle {
    plan(&format!("name: t\nsteps:\n  - id: hot\n    uses: {uses}\n    with: {with}\n{extra}"))
}

#[test]
fn a_timeout_stops_an_endless_expression() {
    for expr in ENDLESS {
        let p = hot("transform", &format!("{{ expr: '{expr}' }}"), "    timeout: 1s\n");
        let (report, _) = run_virtual(&p, RunOptions::default());
        assert_eq!(report.status, Status::Failed, "{expr}");
        let error = report.error.expect("an error");
        assert_eq!(
            (error.kind, error.message.as_str()),
            (ErrorKind::Timeout, "timed out after 1s"),
            "{expr}"
        );
        assert_eq!(report.duration, Duration::from_secs(1), "{expr}");
    }
}

#[test]
fn a_timeout_stops_endless_conditions_templates_items_and_nested_steps() {
    let cases = [
        hot("pass", "{ value: 1 }", "    if: 'last(range(1e10)) > 0'\n    timeout: 2s\n"),
        hot("pass", "{ value: '${{ def f: f; f }}' }", "    timeout: 2s\n"),
        hot("foreach", "{ items: '[limit(1e12; repeat(1))]', step: { uses: pass } }", "    timeout: 2s\n"),
        hot(
            "foreach",
            "{ items: '[1, 2]', step: { uses: transform, with: { expr: 'last(range(1e10))' }, timeout: 2s } }",
            "",
        ),
    ];
    for (i, p) in cases.iter().enumerate() {
        let (report, _) = run_virtual(p, RunOptions::default());
        assert_eq!(report.status, Status::Failed, "case {i}");
        let error = report.error.expect("an error");
        assert!(
            error.kind == ErrorKind::Timeout || error.message.contains("timed out after 2s"),
            "case {i}: {error:?}"
        );
        assert_eq!(report.duration, Duration::from_secs(2), "case {i}");
    }
}

#[test]
fn another_steps_failure_stops_an_endless_expression() {
    let p = plan(
        "name: t\nsteps:\n  - { id: hot, uses: transform, with: { expr: 'def f: f; f' } }\n  - { id: wait, uses: sleep, with: { duration: 3s } }\n  - { id: boom, uses: fail, needs: [wait] }\n",
    );
    let (report, _) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.error.and_then(|e| e.step), Some("boom".into()));
    assert_eq!(report.steps[0].status, Status::Cancelled, "hot was stopped");
    assert_eq!(report.duration, Duration::from_secs(3));
}

#[test]
fn cancelling_the_run_stops_an_endless_expression_and_output() {
    let cases = [
        plan("name: t\nsteps:\n  - { id: hot, uses: transform, with: { expr: 'last(range(1e10))' } }\n"),
        plan("name: t\nsteps:\n  - { id: a, uses: pass }\noutput: 'def f: f; f'\n"),
    ];
    for p in &cases {
        let clock = ManualClock::new();
        let engine = engine(clock.clone());
        let opts = RunOptions::default();
        let sink = Collector::default();
        let (cancel, c) = (opts.cancel.clone(), clock.clone());
        let (report, ()) =
            clock.block_on(futures_util::future::join(engine.run(p, json!({}), &opts, &sink), async move {
                weir_engine::Clock::sleep(&*c, Duration::from_secs(5)).await;
                cancel.cancel();
            }));
        let report = report.expect("valid input");
        assert_eq!(report.status, Status::Cancelled);
        assert_eq!(report.duration, Duration::from_secs(5));
    }
}

#[test]
fn a_long_expression_moves_off_the_run_and_still_gives_its_value() {
    let p = hot("transform", "{ expr: '[range(300000)] | map(. * 2) | add' }", "");
    let (report, _) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.error);
    assert_eq!(report.output, json!(89_999_700_000u64));
}

#[test]
fn an_endless_recursion_fails_at_the_stack_limit_instead_of_aborting() {
    // The inline evaluation stops at a stack small enough for this test's thread, then starts
    // over on a thread of its own, where it fails at the limit.
    let p = hot("transform", "{ expr: 'def f: 1 + f; f' }", "");
    let (report, _) = run_virtual(&p, RunOptions::default());
    let error = report.error.expect("an error");
    assert_eq!(error.kind, ErrorKind::Expression);
    assert!(error.message.contains("recursed too deeply (past 64 MiB of stack)"), "{}", error.message);
}

#[test]
fn values_past_the_limits_fail_the_step_with_the_limit_named() {
    let cases = [
        ("\"abc\" * 1000000000", "the expression built a string of 3000000000 bytes; the limit is 64 MiB"),
        ("reduce range(30) as $i ([0]; . + .) | length", "an array of 16777216 items; the limit is 10000000"),
        ("(\"x\" * 1000000) as $s | [range(100) | $s] | tojson", "more than 64 MiB (the limit) as JSON text"),
    ];
    for (expr, message) in cases {
        let p = hot("transform", &format!("{{ expr: '{}' }}", expr.replace('\'', "''")), "");
        let (report, _) = run_virtual(&p, RunOptions::default());
        let error = report.error.expect("an error");
        assert_eq!(error.kind, ErrorKind::Expression, "{expr}");
        assert!(error.message.contains(message), "{expr}: {}", error.message);
    }
}
