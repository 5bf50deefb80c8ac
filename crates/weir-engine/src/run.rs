//! Running a bundle: the engine's entry points, what the runs of one tree share, the attempt loop
//! (timeouts, retries, backoff), `foreach` items and sub-pipeline runs. The scheduler that
//! decides which step runs when is in `scheduler`.

use crate::cancel::Cancel;
use crate::clock::Clock;
use crate::error::{ErrorKind, StepError};
use crate::event::{Event, EventKind, EventSink, Parent, StepAt};
use crate::kind::{Registry, StepCx};
use crate::report::{InputError, NestedReport, RunReport};
use crate::resume::{Ended, Prior, PriorRun, Resume};
use crate::scheduler::Scheduler;
use crate::store::{RunStore, StoreError};
use crate::trace::{SpanId, TraceContext};
use futures_util::future::{Either, select};
use jaq_json::Val;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weir_pipeline::expr::key;
use weir_pipeline::model::Retry;
use weir_pipeline::{Bundle, Effects, Plan, PlanId, PlanStep, Status, Template};

/// Runs plans. Cheap to clone and to share: one per process is enough, and a server hands a
/// clone to every run it spawns.
#[derive(Clone)]
pub struct Engine {
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("registry", &self.registry).finish_non_exhaustive()
    }
}

/// Per-run choices.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// The run's id; a fresh one is made when absent.
    pub run_id: Option<String>,
    /// Outputs of the root pipeline's steps to use instead of running them (test cases, `--mock`).
    pub mocks: HashMap<String, Value>,
    /// Mock every step with external effects (null output unless in `mocks`).
    pub dry_run: bool,
    /// Seed for retry jitter; random when absent. Items and sub-pipeline runs derive their own.
    pub seed: Option<u64>,
    /// Environment variables the run may show its pipelines, by name. Each pipeline's
    /// expressions see those of them it declares in `env`, and nothing else of the environment.
    pub env: BTreeMap<String, String>,
    /// Whether steps that call outside the process run, in every run of the tree. A mocked step
    /// is never refused.
    pub external: External,
    pub cancel: Cancel,
    /// Where the run's events are made durable. The engine awaits each commit before a step that
    /// depends on what it records starts (see [`RunStore`]); none for an ephemeral run.
    pub store: Option<Arc<dyn RunStore>>,
    /// Continue this interrupted run instead of starting a new one: its id and seed are kept
    /// (`run_id` and `seed` are not used), and what had ended is not run again (see
    /// [`crate::resume`]). The input must be the one it started with.
    pub resume: Option<Resume>,
    /// Results of the root pipeline's steps, from an earlier run, that this new run takes
    /// instead of running them (`weir replay --from`). Unlike a resumed run's, each is recorded
    /// as this run's own, with a terminal event (0 attempts: it did not run), and committed
    /// before a step that needs it starts.
    pub reuse: HashMap<String, Ended>,
    /// The span the root run is a child of (a `traceparent` it was given); the run starts a
    /// trace of its own when absent.
    pub trace_parent: Option<TraceContext>,
}

/// What a run does with a step that would call outside the process ([`Effects::External`])
/// and is not mocked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum External {
    /// Run it: the default, for real runs.
    #[default]
    Allow,
    /// Fail it with an [`ErrorKind::Refused`] error naming what it would have called, without
    /// running it: tests stay hermetic, and a forgotten mock shows as such instead of as a
    /// network error or a test that passes only while a service is up.
    Refuse,
}

impl Engine {
    pub fn new(registry: Arc<Registry>, clock: Arc<dyn Clock>) -> Self {
        Self { registry, clock }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Validates `input` against the root plan's input schema, then runs the bundle's root plan
    /// to the end.
    pub async fn run(
        &self,
        bundle: &Bundle,
        input: Value,
        opts: &RunOptions,
        sink: &dyn EventSink,
    ) -> Result<RunReport, InputError> {
        let journal = Mutex::default();
        let next_seq = opts.resume.as_ref().map_or(0, |r| r.next_seq);
        let tree = Tree { engine: self, bundle, opts, sink, seq: AtomicU64::new(next_seq), journal };
        let prior = opts.resume.as_ref().map(|r| &r.run);
        let run_id = match prior {
            Some(prior) => prior.run_id.clone(),
            None => opts.run_id.clone().unwrap_or_else(|| new_run_id(&*self.clock)),
        };
        let seed = prior.map(|p| p.seed).or(opts.seed).unwrap_or_else(|| fastrand::u64(..));
        let span = match (prior.and_then(|p| p.trace_id), opts.trace_parent) {
            (Some(trace_id), _) => {
                Span { trace: TraceContext { trace_id, ..TraceContext::root() }, parent: None }
            }
            (None, Some(parent)) => Span { trace: parent.child(), parent: Some(parent.span_id) },
            (None, None) => Span { trace: TraceContext::root(), parent: None },
        };
        let mut run = std::pin::pin!(tree.run(PlanId::ROOT, input, run_id.into(), seed, None, span, prior));
        // The whole tree is this one future: where it returns is where its events may move to
        // another thread.
        std::future::poll_fn(|cx| {
            let poll = run.as_mut().poll(cx);
            sink.yielded();
            poll
        })
        .await
    }

    /// [`Engine::run`] with owned arguments: a future that borrows nothing, for `tokio::spawn`.
    pub fn start(
        &self,
        bundle: Arc<Bundle>,
        input: Value,
        opts: RunOptions,
        sink: Arc<dyn EventSink>,
    ) -> impl Future<Output = Result<RunReport, InputError>> + Send + 'static {
        let engine = self.clone();
        async move { engine.run(&bundle, input, &opts, &*sink).await }
    }
}

/// A sortable, unique run id: milliseconds since the epoch, then randomness (UUIDv7 layout).
/// What a run gets when [`RunOptions::run_id`] is absent; public for a run that needs its id
/// before it starts (one put in a queue).
pub fn new_run_id(clock: &dyn Clock) -> String {
    let ms =
        clock.wall().duration_since(std::time::SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let r = fastrand::u64(..);
    let r2 = fastrand::u16(..);
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xffff,
        r2 & 0x0fff,
        0x8000 | (r >> 50) as u16 & 0x3fff,
        r & 0xffff_ffff_ffff
    )
}

/// What a run and the sub-pipeline runs it starts share: one event stream, one set of options.
struct Tree<'a> {
    engine: &'a Engine,
    bundle: &'a Bundle,
    opts: &'a RunOptions,
    sink: &'a dyn EventSink,
    /// The next event's `seq`, across all runs of the tree.
    seq: AtomicU64,
    /// The events not yet committed to the store, when there is one. A mutex because the
    /// sub-pipeline runs and items of the tree emit from their own futures; it is held only to
    /// push or take.
    journal: Mutex<Vec<Event>>,
}

impl Tree<'_> {
    /// Commits the journal's events to the store, all of them in one transaction: what every
    /// run of the tree recorded since the last commit. Nothing to do without a store.
    async fn flush(&self) -> Result<(), StoreError> {
        let Some(store) = &self.opts.store else { return Ok(()) };
        let events = std::mem::take(&mut *self.journal.lock().unwrap_or_else(|e| e.into_inner()));
        if events.is_empty() {
            return Ok(());
        }
        store.commit(&events).await
    }
}

impl Tree<'_> {
    #[allow(clippy::too_many_arguments)] // What makes one run of the tree what it is, each once.
    async fn run(
        &self,
        plan_id: PlanId,
        input: Value,
        run_id: Arc<str>,
        seed: u64,
        parent: Option<Arc<Parent>>,
        span: Span,
        prior: Option<&Prior>,
    ) -> Result<RunReport, InputError> {
        let plan = self.bundle.plan(plan_id);
        plan.check_input(&input).map_err(|problems| InputError { problems })?;
        let env = declared_env(plan, &self.opts.env);
        let env = RunEnv { tree: self, plan_id, plan, run_id, seed, parent, span, env, prior };
        Ok(Scheduler::new(&env, input).run().await)
    }
}

/// The variables `plan` declares in `env`, with the values the run was given for them.
fn declared_env(plan: &Plan, given: &BTreeMap<String, String>) -> Val {
    let declared = plan.pipeline().env.iter();
    let entries = declared.filter_map(|name| Some((key(name), key(given.get(name)?))));
    Val::obj(entries.collect())
}

/// A run's span and the span it is a child of, if any.
#[derive(Clone, Copy)]
pub(crate) struct Span {
    pub(crate) trace: TraceContext,
    pub(crate) parent: Option<SpanId>,
}

/// What every future of one run shares. Immutable.
pub(crate) struct RunEnv<'a> {
    tree: &'a Tree<'a>,
    plan_id: PlanId,
    pub(crate) plan: &'a Arc<Plan>,
    pub(crate) run_id: Arc<str>,
    pub(crate) seed: u64,
    parent: Option<Arc<Parent>>,
    pub(crate) span: Span,
    /// `$ENV` of this run's expressions: the variables its pipeline declares, of those allowed.
    pub(crate) env: Val,
    /// What the run recorded before it was interrupted, when it is being resumed.
    pub(crate) prior: Option<&'a Prior>,
}

/// The items and sub-pipeline runs of one attempt, as they end. A mutex because items of one
/// `foreach` finish from several futures; it is held only to push or take.
pub(crate) type NestedLog = Mutex<Vec<NestedReport>>;

impl RunEnv<'_> {
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.tree.engine.clock
    }

    pub(crate) fn cancel(&self) -> &Cancel {
        &self.tree.opts.cancel
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        let seq = self.tree.seq.fetch_add(1, Ordering::Relaxed);
        let event = Event {
            seq,
            at: self.clock().wall(),
            run_id: self.run_id.clone(),
            parent: self.parent.clone(),
            kind,
        };
        self.tree.sink.emit(&event);
        if self.tree.opts.store.is_some() {
            self.tree.journal.lock().unwrap_or_else(|e| e.into_inner()).push(event);
        }
    }

    /// How step `step` ended in the run this one replays, if this is the root run and takes it.
    pub(crate) fn reused(&self, step: &str) -> Option<&Ended> {
        self.parent.is_none().then(|| self.tree.opts.reuse.get(step)).flatten()
    }

    /// Whether the run's events go to a store.
    pub(crate) fn stores(&self) -> bool {
        self.tree.opts.store.is_some()
    }

    /// The store the run's events go to, if any.
    pub(crate) fn store(&self) -> Option<&dyn RunStore> {
        self.tree.opts.store.as_deref()
    }

    /// Makes what the tree's runs recorded so far durable (see [`Tree::flush`]).
    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush().await
    }

    /// Whether a step runs for real, or a mock stands in (with this output). Mocks name steps of
    /// the root pipeline.
    pub(crate) fn mock(&self, step: &PlanStep) -> Option<Value> {
        if self.parent.is_none()
            && let Some(v) = self.tree.opts.mocks.get(step.id())
        {
            return Some(v.clone());
        }
        (self.tree.opts.dry_run && step.effects().mocked_in_dry_run()).then_some(Value::Null)
    }

    /// Why a step that is not mocked must not run with `with`, if the run refuses what it does.
    pub(crate) fn refusal(&self, step: &PlanStep, with: &Value) -> Option<StepError> {
        (self.tree.opts.external == External::Refuse && step.effects() == Effects::External)
            .then(|| StepError::fatal(ErrorKind::Refused, format!("would call {} with {with}", step.kind())))
    }

    /// Runs the nested step of `foreach` step `parent` for item `index`, with its own retry and
    /// timeout, reporting it as that item.
    pub(crate) async fn run_item(
        &self,
        parent: &PlanStep,
        nested: &PlanStep,
        scope: Val,
        index: usize,
        log: &NestedLog,
        attempt: &TraceContext,
    ) -> Result<Value, StepError> {
        let at = StepAt { step: parent.names().0.clone(), kind: nested.names().1.clone(), item: Some(index) };
        let prior = self.prior.and_then(|p| p.step(parent.id())).and_then(|s| s.items.get(&index));
        if let Some(ended) = prior {
            return restore_item(ended, index, log);
        }
        let mut guard = NestedGuard {
            env: self,
            log,
            item: Some(index),
            run_id: None,
            at: Some(&at),
            started: self.clock().now(),
            done: false,
        };
        let (result, attempts) = match render(self, nested, &at, &scope).await {
            Err(e) => (Err(e), 0),
            Ok(with) => match self.mock(nested) {
                Some(output) => {
                    self.emit(EventKind::StepMocked { at: at.clone(), config: with });
                    (Ok(output), 0)
                }
                None => match self.refusal(nested, &with) {
                    Some(e) => (Err(e), 0),
                    None => {
                        let seed = mix(self.seed, parent.id(), Some(index));
                        let started = AtomicU32::new(0);
                        let (result, n, _) =
                            attempts(self, nested, &at, with, scope, seed, &started, attempt).await;
                        (result, n)
                    }
                },
            },
        };
        let status = if result.is_ok() { Status::Succeeded } else { Status::Failed };
        guard.finish(status, &result, attempts);
        // An item's result is durable as soon as it ends, so a resumed run starts only the
        // items that had not; the items that end while this commits join the next group.
        self.flush().await.map_err(|e| StepError::fatal(ErrorKind::Store, e.message))?;
        result
    }

    /// Runs the pipeline that `file` (as written in this plan) names, for step `step` (and
    /// `foreach` item `item`), as a sub-pipeline run of this one, and returns its output.
    pub(crate) async fn run_child(
        &self,
        step: &PlanStep,
        file: &str,
        input: Value,
        item: Option<usize>,
        log: &NestedLog,
        attempt: &TraceContext,
    ) -> Result<Value, StepError> {
        let Some(child) = self.tree.bundle.child(self.plan_id, file) else {
            return Err(StepError::fatal(
                ErrorKind::Config,
                format!("pipeline file \"{file}\" was not loaded"),
            ));
        };
        let prior = self.prior.and_then(|p| p.step(step.id())).and_then(|s| s.runs.get(&item));
        let (run_id, seed, prior) = match prior {
            // It succeeded before the interruption: its output stands.
            Some(PriorRun::Succeeded { run_id, output }) => {
                let report = NestedReport {
                    item,
                    run_id: Some(run_id.clone()),
                    status: Status::Succeeded,
                    attempts: 1,
                    duration: Duration::ZERO,
                    error: None,
                };
                log.lock().unwrap_or_else(|e| e.into_inner()).push(report);
                return Ok(output.clone());
            }
            Some(PriorRun::Unfinished(prior)) => (prior.run_id.as_str().into(), prior.seed, Some(&**prior)),
            None => (new_run_id(self.clock()).into(), mix(self.seed, step.id(), item), None),
        };
        let run_id: Arc<str> = run_id;
        let parent = Arc::new(Parent { run_id: self.run_id.clone(), step: step.id().to_owned(), item });
        let mut guard = NestedGuard {
            env: self,
            log,
            item,
            run_id: Some(run_id.clone()),
            at: None,
            started: self.clock().now(),
            done: false,
        };
        let span = Span { trace: attempt.child(), parent: Some(attempt.span_id) };
        let run = Box::pin(self.tree.run(child, input, run_id, seed, Some(parent), span, prior));
        let (status, result) = match run.await {
            Err(e) => (Status::Failed, Err(StepError::fatal(ErrorKind::Config, format!("{file}: {e}")))),
            Ok(report) => match report.status {
                Status::Succeeded => (Status::Succeeded, Ok(report.output)),
                status => {
                    let why = report.error.as_ref().map_or_else(|| status.to_string(), ToString::to_string);
                    let kind = match (status, &report.error) {
                        (Status::Cancelled, _) => ErrorKind::Cancelled,
                        (_, Some(failure)) => failure.kind.nested(),
                        (_, None) => ErrorKind::Nested,
                    };
                    (status, Err(StepError::new(kind, format!("pipeline {file} {status}: {why}"))))
                }
            },
        };
        guard.finish(status, &result, 1);
        result
    }
}

/// A `foreach` item that ended before the run was interrupted: its result stands, without
/// events (it has its terminal event already).
fn restore_item(ended: &Ended, index: usize, log: &NestedLog) -> Result<Value, StepError> {
    let (status, attempts, duration, result) = match ended {
        Ended::Succeeded { output, attempts, duration } => {
            (Status::Succeeded, *attempts, *duration, Ok(output.clone()))
        }
        Ended::Failed { error, attempts, duration } => {
            (Status::Failed, *attempts, *duration, Err(error.clone()))
        }
        Ended::Skipped => (Status::Skipped, 0, Duration::ZERO, Ok(Value::Null)),
    };
    let error = result.as_ref().err().cloned();
    let report = NestedReport { item: Some(index), run_id: None, status, attempts, duration, error };
    log.lock().unwrap_or_else(|e| e.into_inner()).push(report);
    result
}

/// Records one piece of nested work (a `foreach` item, a sub-pipeline run) in its step's log when
/// it ends — and when its future is dropped first (another item failed, the step timed out, the
/// run was cancelled), as cancelled. An item of a nested step also gets its terminal event here;
/// a sub-pipeline run reports its own.
struct NestedGuard<'g, 'a> {
    env: &'g RunEnv<'a>,
    log: &'g NestedLog,
    item: Option<usize>,
    run_id: Option<Arc<str>>,
    /// The step the item's events name; none for a sub-pipeline run.
    at: Option<&'g StepAt>,
    started: Duration,
    done: bool,
}

impl NestedGuard<'_, '_> {
    /// Ends the item or run with `result` after `attempts`.
    fn finish(&mut self, status: Status, result: &Result<Value, StepError>, attempts: u32) {
        self.done = true;
        if let Some(at) = self.at {
            let (at, duration) = (at.clone(), self.elapsed());
            self.env.emit(match result {
                Ok(output) => EventKind::StepSucceeded { at, attempts, output: output.clone(), duration },
                Err(e) => EventKind::StepFailed {
                    at,
                    attempts,
                    error: e.message.clone(),
                    error_kind: e.kind,
                    on_error: "fail".into(),
                    duration,
                },
            });
        }
        self.record(status, attempts, result.as_ref().err().cloned());
    }

    fn elapsed(&self) -> Duration {
        self.env.clock().now().saturating_sub(self.started)
    }

    fn record(&self, status: Status, attempts: u32, error: Option<StepError>) {
        let run_id = self.run_id.as_ref().map(ToString::to_string);
        let report =
            NestedReport { item: self.item, run_id, status, attempts, duration: self.elapsed(), error };
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(report);
    }
}

impl Drop for NestedGuard<'_, '_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(at) = self.at {
            self.env.emit(EventKind::StepCancelled { at: at.clone() });
        }
        self.record(Status::Cancelled, 0, None);
    }
}

/// Runs the attempts of one step: timeout per attempt, retries with backoff (jitter drawn from
/// `seed`). Returns the result, how many attempts were made, and what the last attempt ran
/// (`foreach` items, sub-pipeline runs).
/// `started` counts the attempts begun, for a report of a step cancelled mid-attempt. Each
/// attempt's span is a child of `parent`.
#[allow(clippy::too_many_arguments)] // The attempt loop's inputs, each from a different owner.
pub(crate) async fn attempts(
    env: &RunEnv<'_>,
    step: &PlanStep,
    at: &StepAt,
    with: Value,
    scope: Val,
    seed: u64,
    started: &AtomicU32,
    parent: &TraceContext,
) -> (Result<Value, StepError>, u32, Vec<NestedReport>) {
    let Some(kind) = env.tree.engine.registry.get(step.kind()) else {
        let e = StepError::fatal(ErrorKind::Config, format!("unknown step kind \"{}\"", step.kind()));
        return (Err(e), 0, Vec::new());
    };
    // A resumed step goes on after the attempts it began, and makes at least one more.
    let first = env.prior.and_then(|p| p.step(&at.step)).map_or(0, |s| match at.item {
        None => s.begun,
        Some(i) => s.items_begun.get(&i).copied().unwrap_or(0),
    }) + 1;
    let max = step.retry().map_or(1, |r| r.attempts.max(1)).max(first);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut with = Some(with);
    for attempt in first..=max {
        started.store(attempt, Ordering::Relaxed);
        let trace = parent.child();
        env.emit(EventKind::StepStarted {
            at: at.clone(),
            attempt,
            span: trace.span_id,
            parent_span: parent.span_id,
        });
        // The last attempt takes the config; earlier ones copy it.
        let config =
            if attempt == max { with.take().unwrap_or_default() } else { with.clone().unwrap_or_default() };
        let log = NestedLog::default();
        let cx = StepCx { env, step, at, with: config, attempt, scope: scope.clone(), log: &log, trace };
        let result = within_timeout(env, step, kind.run(cx)).await;
        match (result, step.retry()) {
            // A store failure ends the run, not the attempt: no retry could be recorded.
            (Err(e), Some(retry)) if e.retryable && e.kind != ErrorKind::Store && attempt < max => {
                let delay = backoff(retry, attempt, &mut rng);
                let (error, error_kind) = (e.message, e.kind);
                env.emit(EventKind::StepRetrying { at: at.clone(), attempt, error, error_kind, delay });
                env.clock().sleep(delay).await;
            }
            (result, _) => {
                let mut nested = log.into_inner().unwrap_or_else(|e| e.into_inner());
                nested.sort_by_key(|n| n.item);
                return (result, attempt, nested);
            }
        }
    }
    (Err(StepError::fatal(ErrorKind::Config, "no attempt was made")), 0, Vec::new())
}

/// `step`'s `with` block evaluated in `scope`, within the step's `timeout`; what its expressions
/// say is logged as `at`'s.
pub(crate) async fn render(
    env: &RunEnv<'_>,
    step: &PlanStep,
    at: &StepAt,
    scope: &Val,
) -> Result<Value, StepError> {
    if let Template::Lit(with) = step.with() {
        return Ok(with.clone());
    }
    let with = async {
        let with = crate::eval::render(env, at, step, scope).await;
        with.map_err(|e| StepError::fatal(ErrorKind::Expression, e.to_string()))
    };
    within_timeout(env, step, with).await
}

/// `work`, failed with a timeout error if it takes longer than `step`'s `timeout`. Dropping `work`
/// stops it, expressions on their own threads included.
pub(crate) async fn within_timeout<T>(
    env: &RunEnv<'_>,
    step: &PlanStep,
    work: impl Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    let Some(limit) = step.timeout() else { return work.await };
    match select(std::pin::pin!(work), env.clock().sleep(limit.0)).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(StepError::new(ErrorKind::Timeout, format!("timed out after {limit}"))),
    }
}

/// The wait after failed attempt `attempt` (1-based): `initial * factor^(attempt-1)`, at most
/// `max`; with jitter, a uniformly random point between half of that and all of it.
pub(crate) fn backoff(retry: &Retry, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
    let b = &retry.backoff;
    let exp = b.factor.powi(attempt.saturating_sub(1).min(1000) as i32);
    let secs = (b.initial.0.as_secs_f64() * exp).min(b.max.0.as_secs_f64());
    let secs = if b.jitter { secs * (0.5 + rng.f64() * 0.5) } else { secs };
    Duration::from_secs_f64(secs)
}

/// The jitter seed of a step (and item) of a run, from the run's seed: distinct per step and per
/// item, so failing items do not retry in lockstep, and reproducible from the run's seed.
pub(crate) fn mix(seed: u64, step: &str, item: Option<usize>) -> u64 {
    let h = step.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let item = item.map_or(u64::MAX, |i| i as u64);
    splitmix(seed ^ splitmix(h ^ splitmix(item)))
}

/// SplitMix64's finaliser: spreads every input bit over the output.
fn splitmix(x: u64) -> u64 {
    let x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
