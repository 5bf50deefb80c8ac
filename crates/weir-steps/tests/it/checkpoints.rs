//! What the engine promises a store: a step's result is committed before any step that needs it
//! starts, the steps that finish in one turn are committed together, a run's end is committed
//! before it returns, and a store that fails stops the run.

use crate::{engine, plan};
use futures_util::future::BoxFuture;
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use weir_engine::{ErrorKind, Event, EventKind, EventSink, RunOptions, RunStore, StoreError, SystemClock};
use weir_pipeline::Status;

/// Sees each event as it is emitted and each commit as it is made, and checks, when a step
/// starts, that the steps it needs are committed.
#[derive(Debug, Default)]
struct Recorder {
    needs: Vec<(String, Vec<String>)>,
    /// Commit after which commits fail.
    fail_after: Option<usize>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    commits: Vec<Vec<Event>>,
    /// Steps (and items) whose terminal event is committed.
    committed: HashSet<(String, Option<usize>)>,
    violations: Vec<String>,
    started: Vec<String>,
}

impl EventSink for Recorder {
    fn emit(&self, event: &Event) {
        let mut state = self.state.lock().unwrap();
        if let EventKind::StepStarted { at, .. } = &event.kind {
            state.started.push(at.step.to_string());
            let needs = self
                .needs
                .iter()
                .find(|(id, _)| **id == *at.step)
                .map(|(_, n)| n.clone())
                .unwrap_or_default();
            for need in needs {
                if !state.committed.contains(&(need.clone(), None)) {
                    state.violations.push(format!("{} started before {need} was committed", at.step));
                }
            }
        }
    }
}

impl RunStore for Recorder {
    fn commit<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut state = self.state.lock().unwrap();
            if self.fail_after.is_some_and(|n| state.commits.len() >= n) {
                return Err(StoreError::new("disk full"));
            }
            for event in events {
                if let EventKind::StepSucceeded { at, .. } | EventKind::StepFailed { at, .. } = &event.kind {
                    state.committed.insert((at.step.to_string(), at.item));
                }
            }
            state.commits.push(events.to_vec());
            Ok(())
        })
    }
}

fn run(yaml: &str, recorder: Recorder) -> (weir_engine::RunReport, Arc<Recorder>) {
    let bundle = plan(yaml);
    let needs = bundle
        .root()
        .steps()
        .iter()
        .map(|s| {
            (s.id().to_owned(), s.needs().iter().map(|&n| bundle.root().steps()[n].id().to_owned()).collect())
        })
        .collect();
    let recorder = Arc::new(Recorder { needs, ..recorder });
    let opts = RunOptions { store: Some(recorder.clone()), ..RunOptions::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let engine = engine(Arc::new(SystemClock::default()));
    let report = runtime.block_on(engine.run(&bundle, json!({}), &opts, &*recorder)).expect("valid input");
    (report, recorder)
}

fn fan_out(n: usize) -> String {
    let mut yaml = String::from("name: fan\nsteps:\n  - { id: root, uses: pass }\n");
    for i in 0..n {
        yaml.push_str(&format!("  - {{ id: s{i}, uses: pass, needs: [root] }}\n"));
    }
    let all: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    yaml.push_str(&format!("  - {{ id: join, uses: pass, needs: [{}] }}\n", all.join(", ")));
    yaml
}

#[test]
fn a_step_starts_only_once_what_it_needs_is_committed() {
    let yaml = "name: chain
steps:
  - { id: a, uses: transform, with: { expr: '1' } }
  - { id: b, uses: transform, needs: [a], with: { expr: '.steps.a.output + 1' } }
  - { id: c, uses: sleep, needs: [b], with: { duration: 1ms } }
  - { id: d, uses: pass, needs: [b, c] }
";
    let (report, recorder) = run(yaml, Recorder::default());
    assert_eq!(report.status, Status::Succeeded);
    let state = recorder.state.lock().unwrap();
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    assert_eq!(state.started, ["a", "b", "c", "d"]);
    let last = state.commits.last().and_then(|c| c.last()).map(|e| &e.kind);
    assert!(
        matches!(last, Some(EventKind::RunFinished { .. })),
        "the run's end is committed before it returns"
    );
    let first = state.commits.first().and_then(|c| c.first()).map(|e| &e.kind);
    assert!(
        matches!(first, Some(EventKind::RunStarted { .. })),
        "the run is stored before its first step starts"
    );
    let total: usize = state.commits.iter().map(Vec::len).sum();
    let seqs: Vec<u64> = state.commits.iter().flatten().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..total as u64).collect::<Vec<_>>(), "every event is committed once, in order");
}

#[test]
fn steps_that_finish_in_one_turn_are_committed_together() {
    let (report, recorder) = run(&fan_out(200), Recorder::default());
    assert_eq!(report.status, Status::Succeeded);
    let state = recorder.state.lock().unwrap();
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    // The run's start, the root, the 200 (in one group) and the join with the run's end.
    assert_eq!(state.commits.len(), 4, "{:?}", state.commits.iter().map(Vec::len).collect::<Vec<_>>());
    let fan = state.commits[2].iter().filter(|e| matches!(e.kind, EventKind::StepSucceeded { .. })).count();
    assert_eq!(fan, 200);
}

#[test]
fn foreach_items_are_committed_as_they_end() {
    let yaml = "name: items
steps:
  - id: each
    uses: foreach
    with:
      items: '[1, 2, 3]'
      concurrency: 1
      step: { uses: sleep, with: { duration: 1ms } }
  - { id: after, uses: pass, needs: [each] }
";
    let (report, recorder) = run(yaml, Recorder::default());
    assert_eq!(report.status, Status::Succeeded);
    let state = recorder.state.lock().unwrap();
    assert!(state.violations.is_empty(), "{:?}", state.violations);
    // Each item's end is in a commit of its own, before the step's.
    let item_commits: Vec<usize> = (0..3)
        .map(|item| {
            state
                .commits
                .iter()
                .position(|c| {
                    c.iter().any(
                        |e| matches!(&e.kind, EventKind::StepSucceeded { at, .. } if at.item == Some(item)),
                    )
                })
                .expect("committed")
        })
        .collect();
    assert!(item_commits.windows(2).all(|w| w[0] < w[1]), "{item_commits:?}");
}

#[test]
fn a_store_that_fails_stops_the_run_before_the_next_step() {
    let yaml = "name: chain
steps:
  - { id: a, uses: pass }
  - { id: b, uses: pass, needs: [a] }
  - { id: c, uses: pass, needs: [b] }
";
    let (report, recorder) = run(yaml, Recorder { fail_after: Some(1), ..Recorder::default() });
    assert_eq!(report.status, Status::Failed);
    let error = report.error.expect("an error");
    assert_eq!(error.kind, ErrorKind::Store);
    assert_eq!(error.message, "the run's store failed: disk full");
    let state = recorder.state.lock().unwrap();
    assert_eq!(state.started, ["a"], "b needs a, whose result could not be committed");
    let statuses: Vec<Status> = report.steps.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [Status::Succeeded, Status::Cancelled, Status::Cancelled]);
}

#[test]
fn a_foreach_item_that_cannot_be_committed_stops_the_run_whatever_the_step_says() {
    // Neither `retry` nor `on_error: continue` applies: nothing they did could be recorded.
    let yaml = "name: items
steps:
  - id: each
    uses: foreach
    retry: { attempts: 3, backoff: { initial: 1ms } }
    on_error: continue
    with:
      items: '[1, 2, 3]'
      concurrency: 1
      step: { uses: sleep, with: { duration: 1ms } }
  - { id: after, uses: pass, needs: [each] }
";
    // The run's start and the first item commit; the second item's commit fails.
    let (report, _) = run(yaml, Recorder { fail_after: Some(2), ..Recorder::default() });
    assert_eq!(report.status, Status::Failed);
    let error = report.error.expect("an error");
    assert_eq!(error.kind, ErrorKind::Store);
    assert_eq!(error.message, "the run's store failed: item 2 of 3 (index 1): disk full");
    let each = &report.steps[0];
    assert_eq!((each.status, each.attempts), (Status::Cancelled, 1), "cancelled, to run again on resume");
    assert_eq!(report.steps[1].status, Status::Cancelled, "`after` never starts");
}
