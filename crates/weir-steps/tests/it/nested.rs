//! What a step sees (its ancestors' results, whatever the timing), `foreach` items and
//! sub-pipeline runs in the event stream and the report, their retry jitter, error kinds, and
//! runs spawned on a multi-threaded runtime.

use crate::{engine, plan, run_virtual, validated};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use weir_engine::{Collector, ErrorKind, Event, EventKind, RunOptions, SystemClock};
use weir_pipeline::{Bundle, Status};

#[test]
fn a_step_sees_its_ancestors_and_never_a_step_that_merely_finished_first() {
    // `quick` finishes long before `slow`, but it is no ancestor of `reader`: absent, not
    // pending, not done, whatever the timing. `.steps | keys` cannot be proven, so `reader`
    // gets every ancestor's result.
    let p = plan(
        "name: t\nsteps:\n  - { id: quick, uses: pass }\n  - { id: slow, uses: sleep, with: { duration: 1s } }\n  - { id: first, uses: pass, with: { value: 1 } }\n  - { id: mid, uses: pass, needs: [first] }\n  - id: reader\n    uses: transform\n    needs: [slow, mid]\n    with: { expr: '.steps | keys' }\n",
    );
    let (report, _) = run_virtual(&p, RunOptions::default());
    let reader = report.steps.iter().find(|s| s.id == "reader").map(|s| s.status);
    assert_eq!(reader, Some(Status::Succeeded));
    assert_eq!(report.output, json!({"quick": null, "reader": ["first", "mid", "slow"]}));
}

#[test]
fn a_step_with_proven_reads_gets_those_results() {
    let p = plan(
        "name: t\nsteps:\n  - { id: a, uses: pass, with: { value: 2 } }\n  - { id: b, uses: pass, needs: [a], with: { value: 3 } }\n  - id: c\n    uses: transform\n    needs: [b]\n    with: { expr: 'first(.steps.a.output) * .steps.b.output' }\n",
    );
    let (report, _) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.output, json!(6));
}

/// Retry delays of each `foreach` item, by item index.
fn delays_by_item(events: &[Event]) -> BTreeMap<usize, Vec<Duration>> {
    let mut out: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    for e in events {
        if let EventKind::StepRetrying { at, delay, .. } = &e.kind {
            out.entry(at.item.expect("an item's retry")).or_default().push(*delay);
        }
    }
    out
}

const FLAKY_ITEMS: &str = "name: t\nsteps:\n  - id: each\n    uses: foreach\n    with:\n      items: '[1, 2, 3, 4]'\n      step:\n        uses: fail\n        with: { times: 3, output: ok }\n        retry: { attempts: 4, backoff: { initial: 1s, factor: 2, jitter: true } }\n";

#[test]
fn failing_items_retry_at_their_own_instants_reproducibly() {
    let p = plan(FLAKY_ITEMS);
    let run = |seed| run_virtual(&p, RunOptions { seed: Some(seed), ..RunOptions::default() });
    let (report, events) = run(7);
    assert_eq!(report.output, json!(["ok", "ok", "ok", "ok"]));
    let delays = delays_by_item(&events);
    assert_eq!(delays.len(), 4, "every item retried: {delays:?}");
    let firsts: Vec<Duration> = delays.values().map(|d| d[0]).collect();
    let distinct: std::collections::BTreeSet<_> = firsts.iter().collect();
    assert_eq!(distinct.len(), 4, "no two items wait the same after their first failure: {firsts:?}");
    assert_eq!(delays_by_item(&run(7).1), delays, "the same seed gives the same waits");
    assert_ne!(delays_by_item(&run(8).1), delays, "another seed gives other waits");
}

#[test]
fn items_report_their_events_and_attempts() {
    let p = plan(FLAKY_ITEMS);
    let (report, events) = run_virtual(&p, RunOptions { seed: Some(1), ..RunOptions::default() });
    let items = &report.steps[0].nested;
    assert_eq!(items.iter().map(|n| n.item).collect::<Vec<_>>(), [Some(0), Some(1), Some(2), Some(3)]);
    assert!(items.iter().all(|n| n.attempts == 4 && n.status == Status::Succeeded), "{items:?}");
    for item in 0..4 {
        let of_item = |e: &&Event| e.kind.step().is_some_and(|at| at.item == Some(item));
        let kinds: Vec<&str> = events
            .iter()
            .filter(of_item)
            .map(|e| match &e.kind {
                EventKind::StepStarted { .. } => "started",
                EventKind::StepRetrying { .. } => "retrying",
                EventKind::StepSucceeded { .. } => "succeeded",
                _ => "other",
            })
            .collect();
        let expected =
            ["started", "retrying", "started", "retrying", "started", "retrying", "started", "succeeded"];
        assert_eq!(kinds, expected, "item {item}");
        let at = events.iter().find(of_item).and_then(|e| e.kind.step()).cloned().expect("an event");
        assert_eq!((&*at.step, &*at.kind), ("each", "fail"));
    }
}

#[test]
fn items_stopped_by_a_failing_item_are_cancelled() {
    let p = plan(
        "name: t\nsteps:\n  - id: each\n    uses: foreach\n    with:\n      items: '[0, 1, 2]'\n      step:\n        uses: sleep\n        with: { duration: '${{ if .item == 1 then \"1s\" else \"1h\" end }}' }\n        timeout: 2s\n",
    );
    // Item 1 sleeps 1s; items 0 and 2 would sleep for an hour but time out at 2s, failing the
    // step; item 1 has finished by then.
    let (report, events) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.status, Status::Failed);
    let error = report.steps[0].error.clone().expect("the step failed");
    assert_eq!(error.kind, ErrorKind::Nested);
    let terminal: Vec<(Option<usize>, &str)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepSucceeded { at, .. } if at.item.is_some() => Some((at.item, "succeeded")),
            EventKind::StepFailed { at, error_kind, .. } if at.item.is_some() => {
                assert_eq!(*error_kind, ErrorKind::Timeout);
                Some((at.item, "failed"))
            }
            EventKind::StepCancelled { at } if at.item.is_some() => Some((at.item, "cancelled")),
            _ => None,
        })
        .collect();
    assert_eq!(terminal.len(), 3, "one terminal event per item: {terminal:?}");
    assert!(terminal.contains(&(Some(1), "succeeded")));
    assert!(terminal.contains(&(Some(0), "failed")));
    assert!(terminal.contains(&(Some(2), "cancelled")), "{terminal:?}");
}

fn bundle_with_child(parent: &str, child: &str) -> Bundle {
    let parent = validated("parent.yaml", parent);
    let child = validated("child.yaml", child);
    Bundle::new(vec![parent, child], &[(0, "child.yaml".into(), 1)]).expect("a valid bundle")
}

#[test]
fn sub_pipeline_runs_report_into_the_same_stream_with_their_parent() {
    let bundle = bundle_with_child(
        "name: parent\nsteps:\n  - id: each\n    uses: foreach\n    with: { items: '[10, 20]', pipeline: child.yaml }\n",
        "name: child\nsteps:\n  - { id: double, uses: transform, with: { expr: '.input * 2' } }\n",
    );
    let (report, events) = run_virtual(&bundle, RunOptions { seed: Some(3), ..RunOptions::default() });
    assert_eq!(report.output, json!([20, 40]));
    let runs: Vec<(&Event, &Value, u64)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RunStarted { input, seed, .. } => Some((e, input, *seed)),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 3, "the run and one run per item");
    assert_eq!(runs[0].2, 3, "the root run records its seed");
    let children: Vec<_> = runs.iter().filter(|(e, ..)| e.parent.is_some()).collect();
    for (i, (e, input, seed)) in children.iter().enumerate() {
        let parent = e.parent.as_deref().expect("a parent");
        assert_eq!((parent.step.as_str(), parent.item), ("each", Some(i)));
        assert_eq!(&*parent.run_id, report.run_id);
        assert_eq!(**input, json!([10, 20][i]));
        assert_ne!(*seed, 3, "a child run has a seed of its own");
    }
    let nested = &report.steps[0].nested;
    assert_eq!(nested.len(), 2);
    for (n, (e, ..)) in nested.iter().zip(&children) {
        assert_eq!(n.run_id.as_deref(), Some(&*e.run_id), "the report names each item's run");
    }
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>(), "one ordered stream");
    assert!(matches!(
        events.last().map(|e| (&e.kind, e.parent.is_none())),
        Some((EventKind::RunFinished { .. }, true))
    ));
}

#[test]
fn run_started_carries_what_a_replay_needs() {
    let p = plan("name: t\nsteps:\n  - { id: a, uses: transform, with: { expr: '.input.n' } }\n");
    let clock = weir_engine::ManualClock::new();
    let engine = engine(clock.clone());
    let sink = Collector::default();
    let opts = RunOptions { seed: Some(42), ..RunOptions::default() };
    clock.block_on(engine.run(&p, json!({"n": 5}), &opts, &sink)).expect("valid input");
    let first = sink.events().into_iter().next().expect("an event");
    let EventKind::RunStarted { pipeline, digest, input, seed, .. } = first.kind else {
        panic!("run_started first")
    };
    assert_eq!((pipeline.as_str(), input, seed), ("t", json!({"n": 5}), 42));
    assert_eq!(digest, p.root().digest());
    assert!(digest.starts_with("sha256:") && digest.len() == 7 + 64, "{digest}");
}

#[test]
fn step_errors_have_kinds() {
    let cases = [
        ("{ id: s, uses: sleep, with: { duration: 1h }, timeout: 1s }", ErrorKind::Timeout),
        ("{ id: s, uses: transform, with: { expr: '1 + \"a\"' } }", ErrorKind::Expression),
        ("{ id: s, uses: sleep, with: { duration: '${{ 5 }}' } }", ErrorKind::Config),
        ("{ id: s, uses: fail }", ErrorKind::Step),
    ];
    for (step, kind) in cases {
        let (report, events) =
            run_virtual(&plan(&format!("name: t\nsteps:\n  - {step}\n")), RunOptions::default());
        assert_eq!(report.error.as_ref().map(|e| e.kind), Some(kind), "{step}");
        let failed = events.iter().find_map(|e| match &e.kind {
            EventKind::StepFailed { error_kind, .. } => Some(*error_kind),
            _ => None,
        });
        assert_eq!(failed, Some(kind), "{step}");
    }
}

#[test]
fn runs_are_spawned_on_a_multi_threaded_runtime() {
    let p = Arc::new(plan("name: t\nsteps:\n  - { id: a, uses: transform, with: { expr: '.input + 1' } }\n"));
    let engine = engine(Arc::new(SystemClock::default()));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let outputs: Vec<Value> = runtime.block_on(async {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let sink = Arc::new(Collector::default());
                tokio::spawn(engine.start(p.clone(), json!(i), RunOptions::default(), sink))
            })
            .collect();
        let mut outputs = Vec::new();
        for h in handles {
            outputs.push(h.await.expect("the task ran").expect("valid input").output);
        }
        outputs
    });
    assert_eq!(outputs, (1..=8).map(|i| json!(i)).collect::<Vec<_>>());
}

#[test]
fn a_sub_pipeline_run_stopped_midway_ends_its_stream_and_is_reported_cancelled() {
    let bundle = bundle_with_child(
        "name: parent\nsteps:\n  - id: each\n    uses: foreach\n    with: { items: '[{wait: \"1s\", fail: true}, {wait: \"1h\", fail: false}]', pipeline: child.yaml }\n",
        "name: child\nsteps:\n  - { id: wait, uses: sleep, with: { duration: '${{ .input.wait }}' } }\n  - { id: maybe, uses: fail, needs: [wait], if: '.input.fail' }\n",
    );
    let (report, events) = run_virtual(&bundle, RunOptions::default());
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.duration, Duration::from_secs(1), "the hour-long item is not waited for");
    let nested = &report.steps[0].nested;
    let statuses: Vec<(Option<usize>, Status)> = nested.iter().map(|n| (n.item, n.status)).collect();
    assert_eq!(statuses, [(Some(0), Status::Failed), (Some(1), Status::Cancelled)]);
    let stopped = nested[1].run_id.as_deref().expect("the stopped item's run");
    let of_stopped: Vec<&EventKind> =
        events.iter().filter(|e| &*e.run_id == stopped).map(|e| &e.kind).collect();
    assert!(matches!(of_stopped.first(), Some(EventKind::RunStarted { .. })));
    assert!(of_stopped.iter().any(|k| matches!(k, EventKind::StepCancelled { at } if &*at.step == "wait")));
    assert!(
        matches!(of_stopped.last(), Some(EventKind::RunFinished { status: Status::Cancelled, .. })),
        "the stopped run ends its own stream: {of_stopped:?}"
    );
}
