//! One suite, run against both backends: SQLite in a fresh file, and PostgreSQL in a schema of
//! its own on the server `WEIR_TEST_DATABASE_URL` names (dropped afterwards). Without that
//! variable the PostgreSQL half is skipped, and says so.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use weir_engine::{Collector, Engine, RunOptions, RunStore, SystemClock};
use weir_pipeline::{Bundle, Source, Status};
use weir_store::{Durability, Location, RunFilter, SavedBench, Store};

/// Where one test's stores live, removed when it ends.
enum Place {
    Sqlite(PathBuf),
    #[cfg(feature = "postgres")]
    Postgres {
        admin: String,
        schema: String,
    },
}

impl Place {
    fn location(&self) -> Location {
        match self {
            Place::Sqlite(dir) => Location::Sqlite(dir.join("weir.db")),
            #[cfg(feature = "postgres")]
            Place::Postgres { admin, schema } => {
                let sep = if admin.contains('?') { '&' } else { '?' };
                Location::Postgres(format!("{admin}{sep}options=-csearch_path%3D{schema}"))
            }
        }
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn unique(test: &str) -> String {
    format!("weir_test_{}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed), test)
}

/// Runs `body` once per backend, each time with a fresh place for its stores.
async fn each_backend<F: AsyncFn(&Place)>(test: &str, body: F) {
    let dir = std::env::temp_dir().join(unique(test));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = Place::Sqlite(dir.clone());
    body(&sqlite).await;
    std::fs::remove_dir_all(&dir).unwrap();
    postgres(test, &body).await;
}

#[cfg(feature = "postgres")]
async fn postgres<F: AsyncFn(&Place)>(test: &str, body: &F) {
    let Ok(admin) = std::env::var("WEIR_TEST_DATABASE_URL") else {
        eprintln!("{test}: PostgreSQL half skipped: WEIR_TEST_DATABASE_URL is not set");
        return;
    };
    let schema = unique(test);
    let (client, connection) =
        tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.expect("PostgreSQL");
    tokio::spawn(connection);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let place = Place::Postgres { admin, schema: schema.clone() };
    body(&place).await;
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

#[cfg(not(feature = "postgres"))]
async fn postgres<F: AsyncFn(&Place)>(test: &str, _: &F) {
    eprintln!("{test}: PostgreSQL half skipped: built without the `postgres` feature");
}

fn bundle(text: &str) -> Bundle {
    let loaded = weir_pipeline::load(Source::new("p.yaml", text), &weir_steps::builtin());
    let plan = loaded.plan.unwrap_or_else(|| panic!("invalid pipeline: {:?}", loaded.diagnostics));
    Bundle::single(plan).expect("runs no other file")
}

/// Runs `bundle` with its events going to `store`.
async fn run(bundle: &Bundle, input: Value, store: &Store) -> weir_engine::RunReport {
    let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
    let opts = RunOptions { store: Some(Arc::new(store.clone())), seed: Some(7), ..RunOptions::default() };
    engine.run(bundle, input, &opts, &Collector::default()).await.expect("valid input")
}

const FAN: &str = "name: fan
steps:
  - { id: start, uses: transform, with: { expr: '.input.n' } }
  - { id: a, uses: transform, needs: [start], with: { expr: '.steps.start.output + 1' } }
  - { id: b, uses: transform, needs: [start], with: { expr: '.steps.start.output * 10' } }
  - id: big
    uses: transform
    needs: [start]
    with: { expr: '[range(500)] | map(\"item \\(.)\")' }
  - { id: join, uses: transform, needs: [a, b, big], with: { expr: '[.steps.a.output, .steps.b.output]' } }
output: '.steps.join.output'
";

#[tokio::test]
async fn a_run_is_stored_with_its_steps_values_and_events() {
    each_backend("stored_run", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let bundle = bundle(FAN);
        let report = run(&bundle, json!({"n": 4}), &store).await;
        assert_eq!(report.status, Status::Succeeded);

        let runs = store.runs(&RunFilter::default()).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run_id, report.run_id);
        assert_eq!(runs[0].pipeline, "fan");
        assert_eq!(runs[0].status, Status::Succeeded);
        assert_eq!(runs[0].digest, bundle.root().digest());

        let detail = store.run(&report.run_id[..13]).await.unwrap().expect("found by a prefix of its id");
        assert_eq!(detail.input, json!({"n": 4}));
        assert_eq!(detail.output, json!([5, 40]));
        assert_eq!(detail.seed, "7");
        let ids: Vec<&str> = detail.steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(ids, ["start", "a", "b", "big", "join"]);
        assert!(detail.steps.iter().all(|s| s.status == Status::Succeeded && s.attempts == 1));
        let big = detail.steps.iter().find(|s| s.step == "big").unwrap();
        assert_eq!(big.output.as_array().map(Vec::len), Some(500), "a large value reads back whole");

        let events = store.events(&report.run_id, 0).await.unwrap();
        let types: Vec<String> = events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap()["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(types.first().map(String::as_str), Some("run_started"));
        assert_eq!(types.last().map(String::as_str), Some("run_finished"));
        assert_eq!(types.len(), 2 + 5 * 2, "run start and end, and a start and an end per step");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in seq order: {seqs:?}");
        let rest = store.events(&report.run_id, 4).await.unwrap();
        assert_eq!(rest, events[4..], "from a seq on, as a follower reads them");
        assert!(store.events(&report.run_id, seqs[seqs.len() - 1] + 1).await.unwrap().is_empty());

        let state = store.run_state(&report.run_id).await.unwrap().expect("stored");
        assert_eq!((state.status, state.owner, state.cancel_requested_at), (Status::Succeeded, None, None));
        assert_eq!(store.run_state("no-such-run").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_large_value_is_stored_once() {
    each_backend("blob_once", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let report = run(&bundle(FAN), json!({"n": 1}), &store).await;
        let events = store.events(&report.run_id, 0).await.unwrap();
        let big = events
            .iter()
            .find(|e| matches!(&e.kind, weir_api::EventKind::StepSucceeded { at, .. } if &*at.step == "big"));
        let weir_api::EventKind::StepSucceeded { output, .. } = &big.unwrap().kind else { unreachable!() };
        assert_eq!(output.as_array().map(Vec::len), Some(500), "the event reads back with its value");
        // The same value, from a second run, adds no second copy.
        run(&bundle(FAN), json!({"n": 2}), &store).await;
        assert_eq!(count(place, "blobs").await, 1);
    })
    .await;
}

/// The rows of `table`, read through a connection of the test's own.
async fn count(place: &Place, table: &str) -> i64 {
    match place {
        Place::Sqlite(dir) => {
            let conn = rusqlite::Connection::open(dir.join("weir.db")).unwrap();
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
        }
        #[cfg(feature = "postgres")]
        Place::Postgres { admin, schema } => {
            let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            let row = client.query_one(&format!("SELECT COUNT(*) FROM {schema}.{table}"), &[]).await.unwrap();
            row.get(0)
        }
    }
}

#[tokio::test]
async fn failures_retries_and_skips_are_recorded_per_attempt() {
    each_backend("failures", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let text = "name: flaky
steps:
  - id: boom
    uses: fail
    with: { message: 'no luck' }
    retry: { attempts: 3, backoff: { initial: 1ms, jitter: false } }
  - { id: after, uses: pass, needs: [boom] }
";
        let report = run(&bundle(text), json!({}), &store).await;
        assert_eq!(report.status, Status::Failed);
        assert_eq!(
            report.error.as_ref().map(|e| e.kind),
            Some(weir_engine::ErrorKind::Step),
            "{:?}",
            report.error
        );
        let detail = store.run(&report.run_id).await.unwrap().unwrap();
        assert_eq!(detail.run.status, Status::Failed);
        assert!(
            detail.run.error.as_ref().is_some_and(|e| e.message.contains("no luck")),
            "{:?}",
            detail.run.error
        );
        let boom = &detail.steps[0];
        assert_eq!((boom.step.as_str(), boom.status, boom.attempts), ("boom", Status::Failed, 3));
        assert_eq!(boom.error.as_ref().map(|e| e.kind.as_str()), Some("step"));
        let after = &detail.steps[1];
        assert_eq!((after.step.as_str(), after.status, after.started_at), ("after", Status::Cancelled, None));
        assert_eq!(count(place, "attempts").await, 3);
    })
    .await;
}

#[tokio::test]
async fn foreach_items_and_sub_pipeline_runs_are_stored_under_their_parent() {
    each_backend("nested", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let text = "name: items
steps:
  - id: each
    uses: foreach
    with:
      items: '[1, 2, 3]'
      step: { uses: transform, with: { expr: '.item * 2' } }
";
        let report = run(&bundle(text), json!({}), &store).await;
        assert_eq!(report.status, Status::Succeeded);
        let detail = store.run(&report.run_id).await.unwrap().unwrap();
        let items: Vec<(Option<usize>, Value)> =
            detail.steps.iter().filter(|s| s.item.is_some()).map(|s| (s.item, s.output.clone())).collect();
        assert_eq!(items, [(Some(0), json!(2)), (Some(1), json!(4)), (Some(2), json!(6))]);
        assert_eq!(detail.steps[0].item, None, "the step comes before its items");
    })
    .await;
}

/// A pipeline and the one file it runs, `child.yaml`.
fn bundle_with_child(text: &str, child: &str) -> Bundle {
    let registry = weir_steps::builtin();
    let plan = |file: &str, text: &str| {
        let loaded = weir_pipeline::load(Source::new(file, text), &registry);
        Arc::new(loaded.plan.unwrap_or_else(|| panic!("invalid pipeline: {:?}", loaded.diagnostics)))
    };
    let plans = vec![plan("p.yaml", text), plan("child.yaml", child)];
    Bundle::new(plans, &[(0, "child.yaml".to_owned(), 1)]).expect("a valid bundle")
}

const PARENT: &str = "name: parent
steps:
  - { id: a, uses: transform, with: { expr: '.input.n' } }
  - { id: sub, uses: pipeline, needs: [a], with: { file: child.yaml, input: { n: '${{ .steps.a.output }}' } } }
  - id: each
    uses: foreach
    needs: [sub]
    with: { items: '[range(4)]', concurrency: 1, step: { uses: transform, with: { expr: '.item * 10' } } }
  - { id: last, uses: transform, needs: [each], with: { expr: '[.steps.sub.output, .steps.each.output]' } }
output: .steps.last.output
";

const CHILD: &str = "name: child
steps:
  - { id: double, uses: transform, with: { expr: '.input.n * 2' } }
  - { id: plus, uses: transform, needs: [double], with: { expr: '.steps.double.output + 1' } }
output: .steps.plus.output
";

#[tokio::test]
async fn bundles_keep_every_version_and_how_they_run_each_other() {
    each_backend("bundles", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let bundle = bundle_with_child(PARENT, CHILD);
        let digest = store.put_bundle(&bundle, 1).await.unwrap();
        assert_eq!(store.put_bundle(&bundle, 2).await.unwrap(), digest, "the same versions, the same digest");
        let stored = store.bundle(&digest).await.unwrap().expect("stored");
        let files: Vec<(&str, &str)> =
            stored.plans.iter().map(|p| (p.file.as_str(), p.text.as_str())).collect();
        assert_eq!(files, [("p.yaml", PARENT), ("child.yaml", CHILD)]);
        assert_eq!(stored.plans[1].digest, bundle.plans()[1].digest());
        assert_eq!(stored.links, [(0, "child.yaml".to_owned(), 1)]);
        assert_eq!(store.pipeline(bundle.root().digest()).await.unwrap().as_deref(), Some(PARENT));
        assert_eq!(store.bundle("sha256:def").await.unwrap(), None);
        assert_eq!(count(place, "pipelines").await, 2);
        assert_eq!(count(place, "bundles").await, 1);
        // Another version of the child is another bundle; the parent's text is kept once.
        let changed = bundle_with_child(PARENT, &CHILD.replace("+ 1", "+ 2"));
        assert_ne!(store.put_bundle(&changed, 3).await.unwrap(), digest);
        assert_eq!((count(place, "pipelines").await, count(place, "bundles").await), (3, 2));
    })
    .await;
}

/// A store that takes `left` commits and then fails every one, as if the process had died
/// there: what it took is all the real store has.
#[derive(Debug)]
struct DiesAfter {
    store: Store,
    left: AtomicUsize,
}

impl RunStore for DiesAfter {
    fn commit<'a>(
        &'a self,
        events: &'a [weir_engine::Event],
    ) -> futures_util::future::BoxFuture<'a, Result<(), weir_engine::StoreError>> {
        let alive = self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        match alive {
            true => self.store.commit(events),
            false => Box::pin(async { Err(weir_engine::StoreError::new("the process died")) }),
        }
    }
}

/// The terminal events each step and item of a run tree got, in the store's event log, by run,
/// step and item.
async fn terminal_events(store: &Store, run_id: &str) -> std::collections::BTreeMap<String, usize> {
    let mut ends = std::collections::BTreeMap::new();
    for event in store.events(run_id, 0).await.unwrap() {
        let e = serde_json::to_value(&event).unwrap();
        let terminal = ["step_succeeded", "step_failed", "step_skipped", "step_cancelled"];
        if terminal.contains(&e["type"].as_str().unwrap_or_default()) {
            let run = if e["parent"].is_null() { "root" } else { "child" };
            *ends.entry(format!("{run}/{}/{}", e["step"], e["item"])).or_default() += 1;
        }
    }
    ends
}

#[tokio::test]
async fn a_run_that_died_after_any_commit_resumes_to_the_same_output() {
    each_backend("resume", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let bundle = bundle_with_child(PARENT, CHILD);
        let digest = store.put_bundle(&bundle, 1).await.unwrap();
        let store = store.recording(Some(digest.clone()), Some("test:1".into()));
        let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
        let whole = run(&bundle, json!({"n": 3}), &store).await;
        assert_eq!(whole.output, json!([7, [0, 10, 20, 30]]));
        let commits = 12; // more than the run makes: the last rounds die after it ended
        for died_after in 1..commits {
            let dying = DiesAfter { store: store.clone(), left: AtomicUsize::new(died_after) };
            let opts = RunOptions { store: Some(Arc::new(dying)), seed: Some(7), ..RunOptions::default() };
            let first = engine.run(&bundle, json!({"n": 3}), &opts, &Collector::default()).await.unwrap();
            let interrupted = store.interrupted(&first.run_id).await.unwrap().expect("stored");
            assert_eq!(interrupted.bundle.as_ref().map(|b| b.plans.len()), Some(2));
            assert_eq!(interrupted.owner.as_deref(), Some("test:1"));
            if interrupted.run.run.status == Status::Succeeded {
                continue;
            }
            assert_eq!(interrupted.run.run.status, Status::Running, "after {died_after} commits");
            let trace_id = interrupted.run.trace_id.clone().expect("the run's trace is stored");
            let resume = Some(interrupted.resume);
            let opts = RunOptions { store: Some(Arc::new(store.clone())), resume, ..RunOptions::default() };
            let events = Collector::default();
            let resumed = engine.run(&bundle, json!({"n": 3}), &opts, &events).await.unwrap();
            let resumed_in = events.events().iter().find_map(|e| match &e.kind {
                weir_engine::EventKind::RunResumed { trace, .. } if *e.run_id == *first.run_id => {
                    Some(trace.trace_id.hex())
                }
                _ => None,
            });
            assert_eq!(resumed_in, Some(trace_id), "a resumed run goes on in its trace");
            assert_eq!(resumed.run_id, first.run_id, "the same run goes on");
            assert_eq!(resumed.status, Status::Succeeded, "after {died_after} commits: {:?}", resumed.error);
            assert_eq!(resumed.output, whole.output, "after {died_after} commits");
            let stored = store.run(&first.run_id).await.unwrap().unwrap();
            assert_eq!((stored.run.status, &stored.output), (Status::Succeeded, &whole.output));
            assert_eq!(stored.children.len(), 1, "the sub-pipeline run is continued, not started again");
            let ends = terminal_events(&store, &first.run_id).await;
            assert!(
                ends.values().all(|&n| n == 1),
                "one terminal event each, after {died_after} commits: {ends:?}"
            );
            assert_eq!(ends.len(), 4 + 4 + 2, "every step and item of the tree ended");
        }
    })
    .await;
}

#[tokio::test]
async fn runs_are_filtered_and_limited() {
    each_backend("filters", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let ok = bundle("name: ok\nsteps:\n  - { id: a, uses: pass }\n");
        let bad = bundle("name: bad\nsteps:\n  - { id: a, uses: fail, with: { message: x } }\n");
        for _ in 0..3 {
            run(&ok, json!({}), &store).await;
        }
        // Runs are ordered by their start, to the millisecond.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        run(&bad, json!({}), &store).await;
        let all = store.runs(&RunFilter::default()).await.unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].pipeline, "bad", "the newest first");
        let failed = RunFilter { status: Some(Status::Failed), ..RunFilter::default() };
        assert_eq!(store.runs(&failed).await.unwrap().len(), 1);
        let named = RunFilter { pipeline: Some("ok".into()), limit: 2, ..RunFilter::default() };
        assert_eq!(store.runs(&named).await.unwrap().len(), 2);
        let future = RunFilter { since_ms: Some(u64::MAX >> 2), ..RunFilter::default() };
        assert!(store.runs(&future).await.unwrap().is_empty());
        assert!(store.run("ffffffff").await.unwrap().is_none());
        assert!(store.run("%").await.unwrap().is_none(), "a pattern is not a prefix");
    })
    .await;
}

#[tokio::test]
async fn reopening_keeps_what_was_stored() {
    each_backend("reopen", async |place| {
        let first = Store::open(place.location(), Durability::Full).await.unwrap();
        let report = run(&bundle(FAN), json!({"n": 3}), &first).await;
        drop(first);
        let again = Store::open(place.location(), Durability::Normal).await.unwrap();
        let detail = again.run(&report.run_id).await.unwrap().expect("still there");
        assert_eq!(detail.output, json!([4, 30]));
    })
    .await;
}

#[tokio::test]
async fn a_store_from_a_newer_weir_is_refused_untouched() {
    each_backend("too_new", async |place| {
        drop(Store::open(place.location(), Durability::Normal).await.unwrap());
        set_version(place, weir_store::SCHEMA_VERSION + 1).await;
        let err = Store::open(place.location(), Durability::Normal).await.unwrap_err().to_string();
        assert!(err.contains(&format!("schema version {}", weir_store::SCHEMA_VERSION + 1)), "{err}");
        assert!(err.contains("newer than this weir knows"), "{err}");
        assert!(!err.contains("s3cret"));
    })
    .await;
}

async fn set_version(place: &Place, version: i64) {
    let sql = format!("UPDATE weir_meta SET value = '{version}' WHERE key = 'schema_version'");
    match place {
        Place::Sqlite(dir) => {
            rusqlite::Connection::open(dir.join("weir.db")).unwrap().execute(&sql, []).unwrap();
        }
        #[cfg(feature = "postgres")]
        Place::Postgres { admin, schema } => {
            let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client.batch_execute(&format!("SET search_path TO {schema}; {sql}")).await.unwrap();
        }
    }
}

/// A run of `FAN` made without a store: its id and the events it would commit.
async fn fan_events() -> (String, Vec<weir_engine::Event>) {
    let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
    let events = Collector::default();
    let report = engine
        .run(&bundle(FAN), json!({"n": 1}), &RunOptions::default(), &events)
        .await
        .expect("valid input");
    (report.run_id, events.events())
}

#[tokio::test]
async fn committing_the_same_events_twice_changes_nothing() {
    each_backend("idempotent", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let (run_id, events) = fan_events().await;
        store.commit(&events).await.unwrap();
        store.commit(&events).await.unwrap();
        assert_eq!(count(place, "events").await, events.len() as i64);
        assert_eq!(store.run(&run_id).await.unwrap().unwrap().run.status, Status::Succeeded);
    })
    .await;
}

#[tokio::test]
async fn a_commit_the_database_refuses_midway_stores_nothing_of_it() {
    each_backend("refused", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let (_, events) = fan_events().await;
        // The step `b` ends in the middle of the run's events: its row is refused, after the
        // statements before it in the same transaction succeeded.
        let refuse = match place {
            Place::Sqlite(_) => {
                "CREATE TRIGGER refuse BEFORE INSERT ON steps WHEN NEW.step = 'b' \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;"
            }
            #[cfg(feature = "postgres")]
            Place::Postgres { .. } => {
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN IF NEW.step = 'b' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$; \
                 CREATE TRIGGER refuse BEFORE INSERT ON steps FOR EACH ROW EXECUTE FUNCTION refuse();"
            }
        };
        execute(place, refuse).await;
        let refused = store.commit(&events).await.unwrap_err();
        assert!(refused.to_string().contains("refused"), "{refused}");
        for table in ["events", "runs", "steps", "attempts"] {
            assert_eq!(count(place, table).await, 0, "{table} keeps nothing of the refused commit");
        }
        // The store goes on: the next commit is not inside the refused one's transaction.
        let on_steps = if matches!(place, Place::Sqlite(_)) { "" } else { " ON steps" };
        execute(place, &format!("DROP TRIGGER refuse{on_steps}")).await;
        store.commit(&events).await.unwrap();
        assert_eq!(count(place, "events").await, events.len() as i64);
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_postgres_names_the_url_without_its_password() {
    let url = "postgres://ada:s3cret@127.0.0.1:1/weir?connect_timeout=2";
    let result = Store::open(Location::parse(url), Durability::Normal).await;
    let err = result.unwrap_err().to_string();
    if cfg!(feature = "postgres") {
        assert!(err.contains("postgres://ada:***@127.0.0.1:1/weir"), "{err}");
        assert!(err.contains("check that the server runs"), "{err}");
    } else {
        assert!(err.contains("without PostgreSQL"), "{err}");
    }
    assert!(!err.contains("s3cret"), "{err}");
}

#[tokio::test]
async fn a_foreach_of_ten_thousand_items_resumes_at_the_items_that_had_not_ended() {
    each_backend("resume_foreach", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let bundle = bundle(
            "name: many
steps:
  - id: each
    uses: foreach
    with: { items: '[range(10000)]', concurrency: 64, step: { uses: transform, with: { expr: '.item + 1' } } }
output: '.steps.each.output | add'
",
        );
        let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
        // How many commits a whole run makes, to die about seven tenths of the way through.
        let counting = DiesAfter { store: store.clone(), left: AtomicUsize::new(usize::MAX) };
        let counting = Arc::new(counting);
        let opts = RunOptions { store: Some(counting.clone()), ..RunOptions::default() };
        let whole = engine.run(&bundle, json!({}), &opts, &Collector::default()).await.unwrap();
        assert_eq!(whole.output, json!(50_005_000));
        let commits = usize::MAX - counting.left.load(Ordering::SeqCst);

        let dying = DiesAfter { store: store.clone(), left: AtomicUsize::new(commits * 7 / 10) };
        let opts = RunOptions { store: Some(Arc::new(dying)), ..RunOptions::default() };
        let first = engine.run(&bundle, json!({}), &opts, &Collector::default()).await.unwrap();
        let interrupted = store.interrupted(&first.run_id).await.unwrap().expect("stored");
        let done = interrupted.resume.run.steps["each"].items.len();
        assert!((1000..10_000).contains(&done), "{done} of 10,000 items ended before it died");

        let resume = Some(interrupted.resume);
        let opts = RunOptions { store: Some(Arc::new(store.clone())), resume, ..RunOptions::default() };
        let events = Collector::default();
        let resumed = engine.run(&bundle, json!({}), &opts, &events).await.unwrap();
        assert_eq!(resumed.output, whole.output);
        let started = events
            .events()
            .iter()
            .filter(
                |e| matches!(&e.kind, weir_engine::EventKind::StepStarted { at, .. } if at.item.is_some()),
            )
            .count();
        assert_eq!(started, 10_000 - done, "only the items that had not ended run again");
    })
    .await;
}

/// Runs `sql` on the store at `place` through a connection of the test's own: how a test
/// damages a store the way a bug or a hand edit would.
async fn execute(place: &Place, sql: &str) {
    match place {
        Place::Sqlite(dir) => {
            rusqlite::Connection::open(dir.join("weir.db")).unwrap().execute_batch(sql).unwrap()
        }
        #[cfg(feature = "postgres")]
        Place::Postgres { admin, schema } => {
            let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client.batch_execute(&format!("SET search_path TO {schema}; {sql}")).await.unwrap();
        }
    }
}

/// A store holding a finished run of `PARENT` (with its sub-pipeline run), two of `FAN` (which
/// share one blob), and one that is still running; returns the store and the runs' ids in that
/// order.
async fn populated(place: &Place) -> (Store, [String; 4]) {
    let store = Store::open(place.location(), Durability::Normal).await.unwrap();
    let tree = bundle_with_child(PARENT, CHILD);
    let digest = store.put_bundle(&tree, 1).await.unwrap();
    let recording = store.clone().recording(Some(digest), None);
    let parent = run(&tree, json!({"n": 3}), &recording).await.run_id;
    store.put_bundle(&bundle(FAN), 1).await.unwrap();
    let fan1 = run(&bundle(FAN), json!({"n": 1}), &store).await.run_id;
    let fan2 = run(&bundle(FAN), json!({"n": 2}), &store).await.run_id;
    // A run whose process died after its first commit: still `running`.
    let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
    let events = Collector::default();
    let report = engine.run(&bundle(FAN), json!({"n": 9}), &RunOptions::default(), &events).await.unwrap();
    store.commit(&events.events()[..1]).await.unwrap();
    (store, [parent, fan1, fan2, report.run_id])
}

fn cleanup_all(status: Option<Status>, dry_run: bool) -> weir_store::CleanupFilter {
    // Everything started before a minute from now: all the test's runs are old enough.
    let before_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 + 60_000;
    weir_store::CleanupFilter { before_ms, status, dry_run }
}

use std::time::{SystemTime, UNIX_EPOCH};

#[tokio::test]
async fn cleanup_deletes_exactly_what_its_dry_run_lists_and_never_a_running_run() {
    each_backend("cleanup", async |place| {
        let (store, [parent, fan1, fan2, running]) = populated(place).await;
        let child = store.run(&parent).await.unwrap().unwrap().children[0].run_id.clone();

        let none = store.cleanup(&cleanup_all(Some(Status::Failed), true)).await.unwrap();
        assert!(none.runs.is_empty(), "no run failed: {none:?}");

        let dry = store.cleanup(&cleanup_all(None, true)).await.unwrap();
        let mut expected = vec![parent.clone(), child.clone(), fan1.clone(), fan2.clone()];
        expected.sort();
        assert_eq!(dry.runs, expected, "every finished run and the sub-pipeline run, not the running one");
        assert_eq!(count(place, "runs").await, 5, "a dry run deletes nothing");
        assert_eq!(dry.rows.blobs, 1, "the blob both FAN runs share, named by no other run");

        let done = store.cleanup(&cleanup_all(None, false)).await.unwrap();
        assert!(!done.dry_run);
        assert_eq!((&done.runs, done.rows), (&dry.runs, dry.rows), "deleted exactly what the dry run listed");
        let left = store.runs(&RunFilter { children: true, ..RunFilter::default() }).await.unwrap();
        assert_eq!(left.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), [running.as_str()]);
        for table in ["steps", "attempts", "blobs"] {
            assert_eq!(count(place, table).await, 0, "{table} of the deleted runs");
        }
        assert_eq!(count(place, "events").await, 1, "the running run's one event");
        assert!(store.check().await.unwrap().is_empty(), "nothing left dangling");
        assert!(store.cleanup(&cleanup_all(None, false)).await.unwrap().runs.is_empty());
    })
    .await;
}

#[tokio::test]
async fn check_names_every_problem_and_nothing_in_a_sound_store() {
    each_backend("check", async |place| {
        let (store, [parent, fan1, fan2, _]) = populated(place).await;
        assert_eq!(store.check().await.unwrap(), [], "a store weir wrote holds together");
        execute(
            place,
            &format!(
                "DELETE FROM runs WHERE id = '{fan1}';
                 UPDATE runs SET bundle = 'sha256:gone' WHERE id = '{parent}';
                 UPDATE runs SET parent_run = 'nobody' WHERE parent_run = '{parent}';
                 UPDATE pipelines SET text = text || ' ' WHERE name = 'fan';
                 UPDATE steps SET output_blob = 'sha256:lost' WHERE run_id = '{fan2}' AND step = 'big';"
            ),
        )
        .await;
        let problems = store.check().await.unwrap();
        let said: Vec<String> =
            problems.iter().map(|p| format!("{} {}: {}", p.table, p.key, p.problem)).collect();
        let has = |text: &str| said.iter().any(|s| s.contains(text));
        assert!(has(&format!("steps {fan1}/start: its run {fan1} is missing")), "{said:#?}");
        assert!(has(&format!("attempts {fan1}/start/attempt 1: its run {fan1} is missing")), "{said:#?}");
        assert!(
            said.iter().any(|s| s.starts_with(&format!("events {fan1}/"))
                && s.ends_with(&format!("its run {fan1} is missing"))),
            "{said:#?}"
        );
        assert!(has("its parent run nobody is missing"), "{said:#?}");
        assert!(
            has(&format!("runs {parent}: it names bundle sha256:gone, which is not in bundles")),
            "{said:#?}"
        );
        assert!(
            has(&format!("steps {fan2}/big: its output is blob sha256:lost, which is not in blobs")),
            "{said:#?}"
        );
        let fan = bundle(FAN).root().digest().to_owned();
        assert!(has(&format!("pipelines {fan}: its text hashes to sha256:")), "{said:#?}");
    })
    .await;
}

/// What a store holds, as a user reads it back: every run with its detail and events.
async fn contents(store: &Store) -> Vec<(weir_api::StoredRunDetail, Vec<weir_api::Event>)> {
    let runs = store.runs(&RunFilter { children: true, limit: 100, ..RunFilter::default() }).await.unwrap();
    let mut out = Vec::new();
    for r in runs {
        let detail = store.run(&r.run_id).await.unwrap().unwrap();
        out.push((detail, store.events(&r.run_id, 0).await.unwrap()));
    }
    out
}

/// Backs `from` up, restores it into a fresh store at `to`, and checks that both read the same;
/// then that a second restore is refused, and one with `replace` is not.
async fn round_trip(from: &Store, to: &Place) {
    let (archive, made) = from.backup(1, "0.0.0-test").await.unwrap();
    let target = Store::open(to.location(), Durability::Normal).await.unwrap();
    let restored = target.restore(&archive, false).await.unwrap();
    assert_eq!(restored.rows, made.rows);
    assert_eq!(contents(&target).await, contents(from).await, "the restored store reads as the original");
    assert_eq!(target.check().await.unwrap(), []);
    let err = target.restore(&archive, false).await.unwrap_err();
    assert!(matches!(err, weir_store::Error::NotEmpty { .. }), "{err}");
    target.restore(&archive, true).await.unwrap();
    assert_eq!(contents(&target).await, contents(from).await, "a forced restore replaces, not adds");
}

#[tokio::test]
async fn a_backup_restores_into_an_empty_store_as_it_was() {
    each_backend("backup", async |place| {
        let (store, _) = populated(place).await;
        let copy = match place {
            Place::Sqlite(dir) => Place::Sqlite(dir.join("copy")),
            #[cfg(feature = "postgres")]
            Place::Postgres { .. } => Place::Sqlite(std::env::temp_dir().join(unique("backup_copy"))),
        };
        round_trip(&store, &copy).await;
        if let Place::Sqlite(dir) = &copy {
            let _ = std::fs::remove_dir_all(dir);
        }
    })
    .await;
}

#[tokio::test]
async fn a_backup_of_sqlite_restores_into_postgres_and_back() {
    let dir = std::env::temp_dir().join(unique("sqlite_to_pg"));
    let sqlite = Place::Sqlite(dir.clone());
    let (store, _) = populated(&sqlite).await;
    postgres("sqlite_to_pg", &async |pg: &Place| {
        round_trip(&store, pg).await;
        let pg_store = Store::open(pg.location(), Durability::Normal).await.unwrap();
        round_trip(&pg_store, &Place::Sqlite(dir.join("back"))).await;
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_damaged_or_truncated_backup_is_refused_and_the_store_is_unchanged() {
    each_backend("damaged", async |place| {
        let (store, _) = populated(place).await;
        let (archive, _) = store.backup(1, "0.0.0-test").await.unwrap();
        let before = contents(&store).await;
        // A byte of the runs member's first row, found by its content.
        let at = archive.windows(7).position(|w| w == b"{\"id\":\"").expect("a run row");
        let mut flipped = archive.clone();
        flipped[at + 8] ^= 0x01;
        let err = store.restore(&flipped, true).await.unwrap_err().to_string();
        assert!(err.contains("member \"runs.jsonl\" is damaged: its SHA-256 is"), "{err}");
        let err = store.restore(&archive[..archive.len() * 2 / 3], true).await.unwrap_err().to_string();
        assert!(err.contains("the archive is truncated"), "{err}");
        let err = store.restore(b"not a backup", true).await.unwrap_err().to_string();
        assert!(err.contains("truncated") || err.contains("not a tar header"), "{err}");
        assert_eq!(contents(&store).await, before, "nothing was touched, even with replace");
    })
    .await;
}

const APPROVAL: &str = "name: gate
steps:
  - id: ask
    uses: approval
    with: { prompt: 'go?', timeout: 1h, on_timeout: reject }
output: .steps.ask.output.answer
";

/// The approval of run `run_id`, once the run is waiting on it.
async fn asked(store: &Store, run_id: &str) -> weir_api::StoredApproval {
    for _ in 0..400 {
        if let Some(first) =
            store.pending_approvals(1).await.unwrap().into_iter().find(|a| a.run_id == run_id)
        {
            return first;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("run {run_id} never asked");
}

fn given(approved: bool, by: &str) -> weir_store::Given {
    weir_store::Given { approved, value: json!({"by": by}), by: by.into(), reason: None, at_ms: 2 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_answered_once_from_another_store_and_the_run_goes_on() {
    each_backend("approval", async |place: &Place| {
        let waiting = Store::open(place.location(), Durability::Normal).await.unwrap();
        let answering = Store::open(place.location(), Durability::Normal).await.unwrap();
        let bundle = Arc::new(bundle(APPROVAL));
        let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
        let store = Arc::new(waiting.clone()) as Arc<dyn RunStore>;
        let opts =
            RunOptions { run_id: Some("r-approval".into()), store: Some(store), ..RunOptions::default() };
        let running = tokio::spawn(engine.start(bundle, json!({}), opts, Arc::new(Collector::default())));

        let question = asked(&answering, "r-approval").await;
        assert_eq!((question.prompt.as_str(), question.decision.as_str()), ("go?", "pending"));
        assert_eq!(question.run_status, Status::Waiting);
        assert!(question.deadline.is_some_and(|d| d == question.requested_at + 3_600_000));
        // The question is committed just before the wait for its answer begins.
        let mut tries = 0;
        while !waiting.waiting().any() && tries < 500 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            tries += 1;
        }
        assert!(waiting.waiting().any(), "the waiting store says it waits");
        let key = weir_store::ApprovalKey { run_id: "r-approval", step: "ask", item: None };
        assert!(answering.answer(key, &given(true, "ada")).await.unwrap(), "the first answer is taken");
        assert!(!answering.answer(key, &given(false, "grace")).await.unwrap(), "a second one is not");

        let report = running.await.unwrap().unwrap();
        assert_eq!(report.status, Status::Succeeded, "{:?}", report.error);
        assert_eq!(report.output, json!({"by": "ada"}));
        assert!(!waiting.waiting().any());
        let run = answering.run("r-approval").await.unwrap().unwrap();
        assert_eq!(run.run.status, Status::Succeeded);
        let all = answering.approvals("r-approval", 3).await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].decision.as_str(), all[0].by.as_deref()), ("approved", Some("ada")));
        assert!(answering.pending_approvals(3).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_settled_by_whoever_looks_after_it_and_refuses_later_answers() {
    each_backend("approval_timeout", async |place: &Place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let bundle = Arc::new(bundle(APPROVAL));
        let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
        let opts = RunOptions {
            run_id: Some("r-late".into()),
            store: Some(Arc::new(store.clone()) as Arc<dyn RunStore>),
            ..RunOptions::default()
        };
        // The run asks, then its process goes away (the future is dropped, nothing more is
        // committed): the question stays, waiting.
        let running = tokio::spawn(engine.start(bundle, json!({}), opts, Arc::new(Collector::default())));
        let question = asked(&store, "r-late").await;
        running.abort();
        let _ = running.await;
        let after = question.deadline.unwrap() + 1;
        let pending = store.pending_approvals(after).await.unwrap();
        assert!(pending.is_empty(), "the deadline passed: {pending:?}");
        let settled = store.approvals("r-late", after).await.unwrap();
        assert_eq!(settled[0].decision, "rejected", "on_timeout: reject");
        assert_eq!((settled[0].by.as_deref(), settled[0].timed_out), (Some("timeout"), true));
        assert_eq!(settled[0].decided_at, question.deadline, "settled as of its deadline");
        let key = weir_store::ApprovalKey { run_id: "r-late", step: "ask", item: None };
        let late = weir_store::Given { at_ms: after, ..given(true, "ada") };
        assert!(!store.answer(key, &late).await.unwrap(), "an answer after the timeout is refused");
    })
    .await;
}

/// One event of run `run_id`, as the engine would hand it to the store.
fn event(run_id: &str, seq: u64, kind: weir_engine::EventKind) -> weir_engine::Event {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_000 + seq);
    weir_engine::Event { seq, at, run_id: run_id.into(), parent: None, kind }
}

#[tokio::test]
async fn a_run_is_cancelled_in_the_store_or_asked_to_stop() {
    use weir_engine::{EventKind, StepAt};
    each_backend("cancel", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let running = store.clone().recording(None, Some("host-a:boot:1:1".into()));
        let at = |step: &str| StepAt { step: step.into(), kind: "approval".into(), item: None };
        let trace = weir_engine::TraceContext::root();
        let started = EventKind::RunStarted {
            pipeline: "p".into(),
            digest: "d".into(),
            input: json!({}),
            seed: 1,
            trace,
            parent_span: None,
        };
        let request = weir_engine::ApprovalRequest {
            prompt: "ship?".into(),
            schema: None,
            assignees: Vec::new(),
            timeout: None,
            on_timeout: weir_engine::OnTimeout::default(),
        };
        let events = [
            event("r-cancel", 0, started),
            event(
                "r-cancel",
                1,
                EventKind::StepStarted {
                    at: at("review"),
                    attempt: 1,
                    span: trace.child().span_id,
                    parent_span: trace.span_id,
                },
            ),
            event("r-cancel", 2, EventKind::ApprovalRequested { at: at("review"), request }),
        ];
        running.commit(&events).await.unwrap();
        assert_eq!(store.run_state("r-cancel").await.unwrap().unwrap().status, Status::Waiting);

        assert!(store.cancel_requests("host-a:boot:1:1").await.unwrap().is_empty());
        assert!(store.request_cancel("r-cancel", Some("not today"), 5).await.unwrap());
        assert_eq!(store.cancel_requests("host-a:boot:1:1").await.unwrap(), ["r-cancel"]);
        assert!(store.cancel_requests("host-b:boot:1:1").await.unwrap().is_empty(), "another process's");
        let state = store.run_state("r-cancel").await.unwrap().unwrap();
        assert_eq!((state.cancel_requested_at, state.cancel_reason.as_deref()), (Some(5), Some("not today")));

        assert_eq!(
            store.cancel("r-cancel", Some("not today"), 9_000).await.unwrap(),
            Some(Status::Cancelled)
        );
        let detail = store.run("r-cancel").await.unwrap().unwrap();
        assert_eq!(detail.run.status, Status::Cancelled);
        assert_eq!(detail.run.error.as_ref().map(|e| e.kind.as_str()), Some("cancelled"));
        assert_eq!(detail.cancel_reason.as_deref(), Some("not today"));
        assert_eq!(detail.run.finished_at, Some(9_000));
        assert_eq!(detail.steps[0].status, Status::Cancelled);
        let log = store.events("r-cancel", 3).await.unwrap();
        let types: Vec<Value> =
            log.iter().map(|e| serde_json::to_value(e).unwrap()["type"].clone()).collect();
        assert_eq!(types, [json!("step_cancelled"), json!("run_finished")], "after the last stored event");
        assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
        let approvals = store.approvals("r-cancel", 9_000).await.unwrap();
        assert_eq!(
            (approvals[0].decision.as_str(), approvals[0].by.as_deref()),
            ("rejected", Some("cancel"))
        );
        assert!(store.pending_approvals(9_000).await.unwrap().is_empty());

        assert!(store.cancel_requests("host-a:boot:1:1").await.unwrap().is_empty(), "answered by its end");
        assert!(!store.request_cancel("r-cancel", None, 9_001).await.unwrap(), "an ended run is not asked");
        assert_eq!(
            store.cancel("r-cancel", None, 9_002).await.unwrap(),
            Some(Status::Cancelled),
            "unchanged"
        );
        assert_eq!(store.events("r-cancel", 0).await.unwrap().len(), 5, "nothing more recorded");
        assert_eq!(store.cancel("no-such-run", None, 1).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_replay_is_a_new_run_that_records_what_it_reuses() {
    each_backend("replay", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let bundle = bundle(FAN);
        let original = run(&bundle, json!({"n": 4}), &store).await;
        let found = store.interrupted(&original.run_id).await.unwrap().expect("stored");
        let reuse = ["start", "a"]
            .map(|s| (s.to_owned(), found.resume.run.steps[s].ended.clone().expect("ended")))
            .into_iter()
            .collect();
        let replaying = store.clone().replaying(&original.run_id);
        let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
        let opts = RunOptions { store: Some(Arc::new(replaying)), reuse, ..RunOptions::default() };
        let replay = engine.run(&bundle, json!({"n": 4}), &opts, &Collector::default()).await.unwrap();
        assert_eq!((replay.status, &replay.output), (Status::Succeeded, &original.output));
        assert_ne!(replay.run_id, original.run_id);

        let detail = store.run(&replay.run_id).await.unwrap().expect("a run of its own");
        assert_eq!(detail.replay_of.as_deref(), Some(original.run_id.as_str()));
        let attempts: Vec<(&str, u32, Status)> =
            detail.steps.iter().map(|s| (s.step.as_str(), s.attempts, s.status)).collect();
        assert_eq!(
            attempts,
            [
                ("start", 0, Status::Succeeded),
                ("a", 0, Status::Succeeded),
                ("b", 1, Status::Succeeded),
                ("big", 1, Status::Succeeded),
                ("join", 1, Status::Succeeded)
            ],
            "reused without running, the rest ran"
        );
        assert_eq!(detail.steps[1].output, json!(5));
        let original = store.run(&original.run_id).await.unwrap().unwrap();
        assert_eq!(original.replay_of, None);
    })
    .await;
}

const MINUTE: u64 = 60_000;

/// 2026-12-04 18:00 UTC, a minute boundary.
const T0: u64 = 1_796_407_200_000;

async fn add_every_minute(
    store: &Store,
    name: &str,
    catch_up: weir_store::CatchUp,
    now: u64,
) -> weir_store::Added {
    let cron = weir_store::cron::Cron::parse("* * * * *").unwrap();
    let fan = bundle(FAN);
    let digest = store.put_bundle(&fan, now).await.unwrap();
    let new = weir_store::NewSchedule {
        name,
        cron: &cron,
        pipeline: "fan",
        file: "fan.yaml",
        digest: fan.root().digest(),
        bundle: &digest,
        input: &json!({"n": 1}),
        catch_up,
    };
    store.add_schedule(&new, false, now).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tick_fires_once_however_many_stores_look_at_once() {
    each_backend("schedule_once", async |place: &Place| {
        let first = Store::open(place.location(), Durability::Normal).await.unwrap();
        assert_eq!(
            add_every_minute(&first, "tick", weir_store::CatchUp::All, T0).await,
            weir_store::Added::New
        );
        assert_eq!(
            add_every_minute(&first, "tick", weir_store::CatchUp::All, T0).await,
            weir_store::Added::Exists
        );
        let mut stores = vec![first];
        for _ in 0..3 {
            stores.push(Store::open(place.location(), Durability::Normal).await.unwrap());
        }
        // Four processes look at the same five minutes, each at every second of them.
        let mut lookers = Vec::new();
        for store in stores.clone() {
            lookers.push(tokio::spawn(async move {
                let mut fired = Vec::new();
                for second in 0..=300u64 {
                    fired.extend(store.fire_schedules(T0 + second * 1_000).await.unwrap());
                }
                fired
            }));
        }
        let mut fired = Vec::new();
        for looker in lookers {
            fired.extend(looker.await.unwrap());
        }
        fired.sort_by_key(|f| f.tick_at);
        let ticks: Vec<i64> = fired.iter().map(|f| f.tick_at).collect();
        let expected: Vec<i64> = (1..=5).map(|m| (T0 + m * MINUTE) as i64).collect();
        assert_eq!(ticks, expected, "every minute once, across the four");
        assert_eq!(count(place, "schedule_ticks").await, 5);
        // Each tick's run is queued, and no other.
        assert_eq!((count(place, "runs").await, count(place, "queue").await), (5, 5));
        for tick in &fired {
            let run = stores[1].run(&tick.run_id).await.unwrap().expect("the tick's run");
            assert_eq!((run.run.status, run.input.clone()), (Status::Pending, json!({"n": 1})));
        }
        let listed = stores[0].schedules().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].next_at, listed[0].missed), (T0 + 6 * MINUTE, 0));
        assert_eq!(listed[0].last_tick_at, Some(T0 + 5 * MINUTE));
    })
    .await;
}

#[tokio::test]
async fn missed_ticks_follow_the_catch_up_policy_and_pausing_misses_its_ticks() {
    each_backend("schedule_catch_up", async |place: &Place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        for (name, policy) in [
            ("latest", weir_store::CatchUp::Latest),
            ("all", weir_store::CatchUp::All),
            ("skip", weir_store::CatchUp::Skip),
        ] {
            add_every_minute(&store, name, policy, T0).await;
        }
        // Nothing looked for ten minutes and a half.
        let fired = store.fire_schedules(T0 + 10 * MINUTE + 30_000).await.unwrap();
        let of =
            |name: &str| fired.iter().filter(|f| f.schedule == name).map(|f| f.tick_at).collect::<Vec<_>>();
        assert_eq!(of("latest"), [(T0 + 10 * MINUTE) as i64], "only the last missed tick");
        assert_eq!(of("all").len(), 10, "every missed tick");
        assert_eq!(of("skip"), [(T0 + 10 * MINUTE) as i64], "the last one is within the grace");
        let missed: Vec<(String, u64)> =
            store.schedules().await.unwrap().into_iter().map(|s| (s.name, s.missed)).collect();
        assert_eq!(missed, [("all".into(), 0), ("latest".into(), 9), ("skip".into(), 9)]);

        // Paused for five minutes: those ticks are missed, and resuming goes on from the next.
        assert_eq!(store.pause_schedule("latest", true, T0 + 11 * MINUTE).await.unwrap(), Some(true));
        assert_eq!(store.pause_schedule("latest", true, T0 + 11 * MINUTE).await.unwrap(), Some(false));
        let later = store.fire_schedules(T0 + 15 * MINUTE + 1).await.unwrap();
        assert!(later.iter().all(|f| f.schedule != "latest"), "a paused schedule does not fire");
        assert_eq!(store.pause_schedule("latest", false, T0 + 15 * MINUTE + 1).await.unwrap(), Some(true));
        let resumed = store.schedule("latest").await.unwrap().unwrap();
        assert_eq!((resumed.paused, resumed.next_at, resumed.missed), (false, T0 + 16 * MINUTE, 9 + 5));
        assert_eq!(store.pause_schedule("nope", true, T0).await.unwrap(), None);

        assert!(store.remove_schedule("latest").await.unwrap());
        assert!(!store.remove_schedule("latest").await.unwrap());
        let left: Vec<String> = store.schedules().await.unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(left, ["all", "skip"]);
    })
    .await;
}

/// Puts `n` runs of `bundle` in the queue of `store` at `now_ms`; returns their ids.
async fn submit(store: &Store, bundle: &Bundle, n: usize, now_ms: u64) -> Vec<String> {
    let digest = store.put_bundle(bundle, now_ms).await.unwrap();
    let runs: Vec<weir_store::Submission> = (0..n)
        .map(|i| weir_store::Submission {
            run_id: format!("r-{i:04}"),
            pipeline: bundle.root().name().to_owned(),
            digest: bundle.root().digest().to_owned(),
            bundle: digest.clone(),
            seed: 7,
            input: json!({"n": i}),
            trace_parent: None,
        })
        .collect();
    store.enqueue(&runs, now_ms).await.unwrap();
    runs.into_iter().map(|r| r.run_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_is_exclusive_under_concurrency() {
    each_backend("claims", async |place: &Place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let ids = submit(&store, &bundle(FAN), 200, 1_000).await;
        assert_eq!(
            store
                .runs(&RunFilter { status: Some(Status::Pending), limit: 500, ..RunFilter::default() })
                .await
                .unwrap()
                .len(),
            200
        );
        // Four workers, each on a connection of its own, claim in small batches at once.
        let mut claimers = Vec::new();
        for w in 0..4 {
            let store = Store::open(place.location(), Durability::Normal).await.unwrap();
            claimers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let claimed = store.claim(&format!("w{w}"), 7, 60_000, 2_000).await.unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    assert!(claimed.iter().all(|c| c.claims == 1));
                    mine.extend(claimed.into_iter().map(|c| c.run_id));
                }
            }));
        }
        let mut all = Vec::new();
        for claimer in claimers {
            all.extend(claimer.await.unwrap());
        }
        all.sort();
        assert_eq!(all, ids, "every run claimed once, by one worker");
        assert!(store.claim("w9", 10, 60_000, 3_000).await.unwrap().is_empty(), "all are leased");
    })
    .await;
}

#[tokio::test]
async fn an_expired_lease_is_reclaimed_and_a_renewed_one_is_not() {
    each_backend("leases", async |place: &Place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let ids = submit(&store, &bundle(FAN), 2, 1_000).await;
        store.register_worker("a", "host:boot:1:1", 1_000).await.unwrap();
        let first = store.claim("a", 10, 5_000, 1_000).await.unwrap();
        assert_eq!(first.iter().map(|c| c.run_id.as_str()).collect::<Vec<_>>(), ids);
        assert_eq!(store.queued(&ids[0]).await.unwrap(), weir_store::Queued::By("a".into()));
        // A heartbeat before the lease ends pushes it on, for every run the worker holds.
        assert_eq!(store.heartbeat("a", 9_000, 4_000).await.unwrap().len(), 2);
        assert!(store.claim("b", 10, 20_000, 6_000).await.unwrap().is_empty(), "renewed: not claimable");
        // Past the lease, the next claim takes the runs over; the old worker no longer holds them.
        let taken = store.claim("b", 10, 20_000, 9_001).await.unwrap();
        assert_eq!(taken.len(), 2);
        assert!(taken.iter().all(|c| c.claims == 2), "{taken:?}");
        assert!(store.heartbeat("a", 30_000, 9_500).await.unwrap().is_empty(), "a lost them");
        // A released run is claimable at once; a worker that retires gives back the rest.
        store.release("b", &ids[0], 10_000).await.unwrap();
        store.release("a", &ids[1], 10_000).await.unwrap();
        let again = store.claim("c", 10, 40_000, 10_000).await.unwrap();
        assert_eq!(again.iter().map(|c| c.run_id.as_str()).collect::<Vec<_>>(), [ids[0].as_str()]);
        store.retire_worker("b", 11_000).await.unwrap();
        assert_eq!(store.queued(&ids[1]).await.unwrap(), weir_store::Queued::Waiting);
        store.retire_worker("a", 11_000).await.unwrap();
        assert_eq!(count(place, "workers").await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_finished_run_leaves_the_queue() {
    each_backend("dequeue", async |place: &Place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let bundle = bundle(FAN);
        let ids = submit(&store, &bundle, 3, 1_000).await;
        let claimed = store.claim("w", 2, u64::MAX / 2, 2_000).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
        for c in &claimed {
            let found = store.interrupted(&c.run_id).await.unwrap().expect("stored");
            assert_eq!(found.run.run.status, Status::Pending);
            let recording = store.clone().recording(None, Some("w".into()));
            let opts = RunOptions {
                run_id: Some(c.run_id.clone()),
                seed: Some(7),
                store: Some(Arc::new(recording)),
                ..RunOptions::default()
            };
            let report = engine.run(&bundle, found.run.input, &opts, &Collector::default()).await.unwrap();
            assert_eq!((report.run_id.as_str(), report.status), (c.run_id.as_str(), Status::Succeeded));
            assert_eq!(store.queued(&c.run_id).await.unwrap(), weir_store::Queued::No);
        }
        let run = store.run(&ids[1]).await.unwrap().unwrap();
        assert_eq!((run.run.status, run.output.clone()), (Status::Succeeded, json!([2, 10])));
        assert_eq!(count(place, "queue").await, 1, "only the run not yet run is left");
        assert!(store.check().await.unwrap().is_empty());
        // A queued run is kept by a cleanup, however old.
        let filter = weir_store::CleanupFilter { before_ms: u64::MAX / 2, status: None, dry_run: false };
        let report = store.cleanup(&filter).await.unwrap();
        assert_eq!(report.runs.len(), 2, "{:?}", report.runs);
        assert_eq!(store.queued(&ids[2]).await.unwrap(), weir_store::Queued::Waiting);
    })
    .await;
}

#[tokio::test]
async fn the_end_of_a_run_is_announced_to_other_stores_on_postgres() {
    each_backend("run_ends", async |place: &Place| {
        let waiter = Store::open(place.location(), Durability::Normal).await.unwrap();
        let ends = waiter.run_ends().await.unwrap();
        let Some(mut ends) = ends else {
            assert!(matches!(place, Place::Sqlite(_)), "only SQLite has no announcements");
            return;
        };
        ends.borrow_and_update();
        let runner = Store::open(place.location(), Durability::Normal).await.unwrap();
        let report = run(&bundle(FAN), json!({"n": 1}), &runner).await;
        assert_eq!(report.status, Status::Succeeded);
        let told = tokio::time::timeout(std::time::Duration::from_secs(10), ends.changed()).await;
        assert!(matches!(told, Ok(Ok(()))), "the run's end was not announced");
        let run = waiter.run(&report.run_id).await.unwrap().expect("stored before it is announced");
        assert_eq!(run.run.status, Status::Succeeded);
    })
    .await;
}

#[tokio::test]
async fn a_run_s_events_include_those_of_sub_pipelines_at_any_depth() {
    each_backend("nested_events", async |place: &Place| {
        let registry = weir_steps::builtin();
        let plan = |file: &str, text: &str| {
            let loaded = weir_pipeline::load(Source::new(file, text), &registry);
            Arc::new(loaded.plan.unwrap_or_else(|| panic!("invalid pipeline: {:?}", loaded.diagnostics)))
        };
        let top = "name: top\nsteps:\n  - { id: mid, uses: pipeline, with: { file: mid.yaml } }\n";
        let mid = "name: mid\nsteps:\n  - { id: low, uses: pipeline, with: { file: low.yaml } }\n";
        let low = "name: low\nsteps:\n  - { id: leaf, uses: transform, with: { expr: '7' } }\n";
        let plans = vec![plan("top.yaml", top), plan("mid.yaml", mid), plan("low.yaml", low)];
        let links = [(0, "mid.yaml".to_owned(), 1), (1, "low.yaml".to_owned(), 2)];
        let bundle = Bundle::new(plans, &links).expect("a valid bundle");
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let report = run(&bundle, json!({}), &store).await;
        assert_eq!(report.status, Status::Succeeded, "{:?}", report.error);
        let events = store.events(&report.run_id, 0).await.unwrap();
        let steps: Vec<Value> = events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .filter(|e| e["type"] == "step_succeeded")
            .map(|e| e["step"].clone())
            .collect();
        assert_eq!(steps, [json!("leaf"), json!("low"), json!("mid")], "two levels down too");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in seq order");
    })
    .await;
}

#[tokio::test]
async fn bench_results_are_kept_by_name_and_read_back_oldest_first() {
    each_backend("bench_results", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let saved = |id: &str, name: &str, saved_at: u64| SavedBench {
            id: id.into(),
            name: name.into(),
            saved_at,
            git_commit: saved_at.is_multiple_of(2).then(|| format!("c{saved_at}")),
            report: format!("{{\"n\": {saved_at}}}"),
        };
        for (id, name, at) in
            [("r1", "chain", 10), ("r2", "chain", 30), ("r3", "fan", 20), ("r4", "chain", 20)]
        {
            store.save_bench(&saved(id, name, at)).await.unwrap();
        }
        let history = store.bench_history("chain", 10).await.unwrap();
        assert_eq!(history, [saved("r1", "chain", 10), saved("r4", "chain", 20), saved("r2", "chain", 30)]);
        let newest = store.bench_history("chain", 2).await.unwrap();
        assert_eq!(newest.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["r4", "r2"]);
        assert!(store.bench_history("none", 10).await.unwrap().is_empty());
        let names = store.bench_names().await.unwrap();
        assert_eq!(names, [("chain".to_owned(), 3, 30), ("fan".to_owned(), 1, 20)]);
        let again = store.save_bench(&saved("r1", "chain", 40)).await;
        assert!(again.is_err(), "an id is saved once");
    })
    .await;
}

#[tokio::test]
async fn health_reads_the_version_the_integrity_and_the_workers_with_their_heartbeats() {
    each_backend("health", async |place: &Place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        store.ping().await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), Some(weir_store::SCHEMA_VERSION));
        let integrity = store.quick_check().await.unwrap();
        match place {
            Place::Sqlite(_) => assert_eq!(integrity, weir_store::Integrity::Ok),
            #[cfg(feature = "postgres")]
            Place::Postgres { .. } => {
                assert!(matches!(integrity, weir_store::Integrity::Unsupported(_)), "{integrity:?}")
            }
        }
        assert!(store.workers().await.unwrap().is_empty());
        store.register_worker("b", "host:boot:2:2", 2_000).await.unwrap();
        store.register_worker("a", "host:boot:1:1", 1_000).await.unwrap();
        store.heartbeat("a", 40_000, 7_000).await.unwrap();
        let workers = store.workers().await.unwrap();
        let seen: Vec<_> = workers.iter().map(|w| (w.id.as_str(), w.started_at, w.heartbeat)).collect();
        assert_eq!(seen, [("a", 1_000, 7_000), ("b", 2_000, 2_000)]);
        assert_eq!(workers[0].owner, "host:boot:1:1");
        store.retire_worker("a", 8_000).await.unwrap();
        assert_eq!(store.workers().await.unwrap().len(), 1, "a retired worker is gone");
    })
    .await;
}

#[tokio::test]
async fn metrics_count_runs_failures_and_retries_and_a_reset_starts_a_new_window() {
    each_backend("metrics", async |place| {
        let store = Store::open(place.location(), Durability::Normal).await.unwrap();
        let flaky = "name: flaky
steps:
  - { id: ok, uses: pass }
  - id: boom
    uses: fail
    needs: [ok]
    with: { message: 'no luck' }
    retry: { attempts: 3, backoff: { initial: 1ms, jitter: false } }
";
        run(&bundle(FAN), json!({"n": 1}), &store).await;
        run(&bundle(FAN), json!({"n": 2}), &store).await;
        run(&bundle(flaky), json!({}), &store).await;

        let all = store.metrics(0, None).await.unwrap();
        let names: Vec<&str> = all.iter().map(|p| p.pipeline.as_str()).collect();
        assert_eq!(names, ["fan", "flaky"]);
        let fan = &all[0];
        assert_eq!((fan.runs, fan.by_status.get("succeeded").copied(), fan.failure_rate), (2, Some(2), 0.0));
        assert!(fan.duration_ms.p50 > 0.0 && fan.duration_ms.p50 <= fan.duration_ms.max);
        let steps: Vec<(&str, u64, u64)> =
            fan.steps.iter().map(|s| (s.step.as_str(), s.attempts, s.retries)).collect();
        assert_eq!(steps, [("start", 2, 0), ("a", 2, 0), ("b", 2, 0), ("big", 2, 0), ("join", 2, 0)]);
        let flaky = &all[1];
        assert_eq!((flaky.runs, flaky.failure_rate), (1, 1.0));
        let boom = flaky.steps.iter().find(|s| s.step == "boom").unwrap();
        assert_eq!((boom.attempts, boom.retries, boom.failures), (3, 2, 1));

        let only = store.metrics(0, Some("flaky")).await.unwrap();
        assert_eq!(only.len(), 1);

        assert_eq!(store.metrics_since().await.unwrap(), None);
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        store.reset_metrics(now + 1).await.unwrap();
        assert_eq!(store.metrics_since().await.unwrap(), Some(now + 1));
        assert!(store.metrics(now + 1, None).await.unwrap().is_empty(), "no run started after the reset");
        assert_eq!(store.runs(&RunFilter::default()).await.unwrap().len(), 3, "nothing was deleted");

        assert!(store.in_flight(now).await.unwrap().is_empty());
        assert_eq!(store.approvals_waiting().await.unwrap().count, 0);
        assert!(store.workers().await.unwrap().is_empty());
        store.register_worker("w1", "host:1", 5).await.unwrap();
        store.heartbeat("w1", 100, 7).await.unwrap();
        let workers = store.workers().await.unwrap();
        let seen: Vec<(&str, &str, u64)> =
            workers.iter().map(|w| (w.id.as_str(), w.owner.as_str(), w.heartbeat)).collect();
        assert_eq!(seen, [("w1", "host:1", 7)]);
        assert!(store.size().await.unwrap().bytes > 0);
    })
    .await;
}
