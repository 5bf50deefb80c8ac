use crate::{engine, plan, run_virtual};
use serde_json::{Value, json};
use std::time::Duration;
use weir_engine::{Collector, ErrorKind, EventKind, External, ManualClock, RunOptions};
use weir_pipeline::Status;

fn retry_delays(events: &[weir_engine::Event]) -> Vec<Duration> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepRetrying { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect()
}

#[test]
fn backoff_grows_by_factor_up_to_max() {
    let p = plan(
        "name: t\nsteps:\n  - id: f\n    uses: fail\n    with: { times: 3, output: done }\n    retry: { attempts: 4, backoff: { initial: 1s, factor: 2, max: 3s } }\n",
    );
    let (report, events) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.status, Status::Succeeded);
    assert_eq!(report.output, json!("done"));
    assert_eq!(report.steps[0].attempts, 4);
    let secs: Vec<u64> = retry_delays(&events).iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 3]);
    assert_eq!(report.duration, Duration::from_secs(6));
}

#[test]
fn jitter_stays_between_half_and_all_of_the_wait() {
    let p = plan(
        "name: t\nsteps:\n  - id: f\n    uses: fail\n    with: { times: 20 }\n    retry: { attempts: 20, backoff: { initial: 1s, factor: 1, jitter: true } }\n",
    );
    let (report, events) = run_virtual(&p, RunOptions { seed: Some(7), ..RunOptions::default() });
    assert_eq!(report.status, Status::Failed);
    let delays = retry_delays(&events);
    assert_eq!(delays.len(), 19);
    assert!(
        delays.iter().all(|d| *d >= Duration::from_millis(500) && *d <= Duration::from_secs(1)),
        "{delays:?}"
    );
    assert!(delays.windows(2).any(|w| w[0] != w[1]), "jitter varies the waits: {delays:?}");
}

#[test]
fn timeout_cancels_the_attempt_at_its_deadline() {
    let p =
        plan("name: t\nsteps:\n  - id: s\n    uses: sleep\n    with: { duration: 1h }\n    timeout: 5s\n");
    let (report, _) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.duration, Duration::from_secs(5));
    assert_eq!(report.error.map(|e| e.message), Some("timed out after 5s".into()));
}

#[test]
fn parallel_steps_overlap_in_time() {
    let steps: String =
        (0..100).map(|i| format!("  - {{ id: s{i}, uses: sleep, with: {{ duration: 10ms }} }}\n")).collect();
    let p = plan(&format!("name: t\nsteps:\n{steps}output: '1'\n"));
    let (report, _) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.status, Status::Succeeded);
    assert_eq!(report.duration, Duration::from_millis(10), "100 parallel 10ms sleeps take 10ms");
}

#[test]
fn concurrency_queues_steps_beyond_the_limit() {
    let p = plan(
        "name: t\nconcurrency: 2\nsteps:\n  - { id: a, uses: sleep, with: { duration: 1s } }\n  - { id: b, uses: sleep, with: { duration: 1s } }\n  - { id: c, uses: sleep, with: { duration: 1s } }\n  - { id: d, uses: sleep, with: { duration: 1s } }\noutput: '1'\n",
    );
    let (report, _) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.duration, Duration::from_secs(2));
}

#[test]
fn cancellation_stops_running_steps_and_ends_the_run_cancelled() {
    let p = plan(
        "name: t\nsteps:\n  - { id: long, uses: sleep, with: { duration: 1h } }\n  - { id: after, uses: pass, needs: [long] }\n",
    );
    let clock = ManualClock::new();
    let engine = engine(clock.clone());
    let opts = RunOptions::default();
    let sink = Collector::default();
    let cancel = opts.cancel.clone();
    let c = clock.clone();
    let (report, ()) =
        clock.block_on(futures_util::future::join(engine.run(&p, json!({}), &opts, &sink), async move {
            weir_engine::Clock::sleep(&*c, Duration::from_secs(3)).await;
            cancel.cancel();
        }));
    let report = report.expect("valid input");
    assert_eq!(report.status, Status::Cancelled);
    assert_eq!(report.duration, Duration::from_secs(3));
    assert_eq!(
        report.steps.iter().map(|s| s.status).collect::<Vec<_>>(),
        [Status::Cancelled, Status::Cancelled]
    );
    let last = sink.events().last().map(|e| e.kind.clone());
    assert!(matches!(last, Some(EventKind::RunFinished { status: Status::Cancelled, .. })));
}

#[test]
#[cfg_attr(not(feature = "http"), ignore = "its external step is an `http` step")]
fn dry_run_mocks_external_steps_and_runs_pure_ones() {
    let p = plan(
        "name: t\nsteps:\n  - id: fetch\n    uses: http\n    with: { url: 'http://192.0.2.1/orders/${{ .input.n // 7 }}', method: POST }\n  - id: score\n    uses: transform\n    needs: [fetch]\n    with: { expr: '.steps.fetch.output // \"no response\"' }\n",
    );
    let (report, events) = run_virtual(&p, RunOptions { dry_run: true, ..RunOptions::default() });
    assert_eq!(report.status, Status::Succeeded);
    assert_eq!(report.output, json!("no response"));
    let mocked: Vec<Value> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepMocked { at, config } if &*at.step == "fetch" => Some(config.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(mocked, [json!({"url": "http://192.0.2.1/orders/7", "method": "POST"})]);
}

#[test]
#[cfg_attr(not(feature = "http"), ignore = "its external step is an `http` step")]
fn refusing_external_calls_fails_unmocked_http_steps_and_items_but_runs_sleep_and_mocks() {
    let p = plan(
        "name: t\nsteps:\n  - { id: wait, uses: sleep, with: { duration: 30s } }\n  - { id: fetch, uses: http, on_error: continue, with: { url: 'http://192.0.2.1/a' } }\n  - { id: mocked, uses: http, with: { url: 'http://192.0.2.1/b' } }\n  - id: each\n    uses: foreach\n    on_error: continue\n    with: { items: '[1]', step: { uses: http, with: { url: 'http://192.0.2.1/${{ .item }}' } } }\n",
    );
    let opts = RunOptions {
        external: External::Refuse,
        mocks: [("mocked".to_owned(), json!("stand-in"))].into(),
        ..RunOptions::default()
    };
    let (report, _) = run_virtual(&p, opts);
    let error = |id: &str| {
        let step = report.steps.iter().find(|s| s.id == id).expect("step is reported");
        (step.status, step.error.as_ref().map(|e| (e.kind, e.message.clone())))
    };
    assert_eq!(error("wait"), (Status::Succeeded, None));
    assert_eq!(error("mocked"), (Status::Succeeded, None));
    let refused = "would call http with {\"url\":\"http://192.0.2.1/a\"}";
    assert_eq!(error("fetch"), (Status::Failed, Some((ErrorKind::Refused, refused.to_owned()))));
    let item = &report.steps.iter().find(|s| s.id == "each").expect("step is reported").nested[0];
    assert_eq!(item.error.as_ref().map(|e| e.kind), Some(ErrorKind::Refused));
    assert!(item.error.as_ref().is_some_and(|e| e.message.contains("http://192.0.2.1/1")), "{item:?}");
}

#[test]
fn mocks_replace_step_outputs() {
    let p = plan(
        "name: t\nsteps:\n  - { id: a, uses: fail }\n  - { id: b, uses: transform, needs: [a], with: { expr: '.steps.a.output.x + 1' } }\n",
    );
    let opts = RunOptions { mocks: [("a".to_owned(), json!({"x": 41}))].into(), ..RunOptions::default() };
    let (report, _) = run_virtual(&p, opts);
    assert_eq!(report.output, json!(42));
}

#[test]
fn every_step_gets_exactly_one_terminal_event() {
    let p = plan(
        "name: t\nsteps:\n  - { id: a, uses: pass }\n  - { id: b, uses: pass, needs: [a], if: 'false' }\n  - { id: c, uses: fail, needs: [a] }\n  - { id: d, uses: sleep, with: { duration: 1h } }\n  - { id: e, uses: pass, needs: [c] }\n",
    );
    let (report, events) = run_virtual(&p, RunOptions::default());
    assert_eq!(report.status, Status::Failed);
    for step in ["a", "b", "c", "d", "e"] {
        let n = events
            .iter()
            .filter(|e| match &e.kind {
                EventKind::StepSucceeded { at, .. }
                | EventKind::StepFailed { at, .. }
                | EventKind::StepSkipped { at, .. }
                | EventKind::StepCancelled { at } => &*at.step == step,
                _ => false,
            })
            .count();
        assert_eq!(n, 1, "step {step}");
    }
}

#[test]
fn a_run_is_a_send_future() {
    fn assert_send<T: Send>(_: &T) {}
    let p = plan("name: t\nsteps:\n  - { id: a, uses: pass }\n");
    let engine = engine(ManualClock::new());
    let opts = RunOptions::default();
    let sink = Collector::default();
    let run = engine.run(&p, json!({}), &opts, &sink);
    assert_send(&run);
}
