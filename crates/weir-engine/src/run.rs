//! Running a plan: the scheduler, the attempt loop, sub-pipelines.
//!
//! One run is one future. The scheduler polls the running steps' futures itself (no task per
//! step), evaluates conditions and `with` templates between polls, and keeps the run context as
//! a jq value that it alone updates.

use crate::cancel::Cancel;
use crate::clock::Clock;
use crate::context::{self, Keys};
use crate::event::{Event, EventKind, EventSink, NullSink};
use crate::kind::{Registry, StepCx, StepError};
use crate::report::{InputError, RunFailure, RunReport, StepReport};
use futures_util::future::{BoxFuture, Either, select};
use futures_util::stream::{FuturesUnordered, StreamExt};
use jaq_json::Val;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use weir_pipeline::expr::{is_truthy, to_json};
use weir_pipeline::model::Retry;
use weir_pipeline::{Effects, Plan, PlanStep, Route, Status};

/// How deep pipelines may run pipelines before a run is stopped as runaway recursion.
const MAX_PIPELINE_DEPTH: u32 = 32;

/// Loads the pipeline files that `pipeline` and `foreach` steps run.
pub trait PipelineLoader: Send + Sync {
    /// Loads `file`, relative to the file of `parent`.
    fn load(&self, parent: &Plan, file: &str) -> Result<Arc<Plan>, String>;
}

/// A loader for embedders that run no sub-pipelines.
#[derive(Debug)]
pub struct NoLoader;

impl PipelineLoader for NoLoader {
    fn load(&self, _: &Plan, file: &str) -> Result<Arc<Plan>, String> {
        Err(format!("cannot load \"{file}\": this engine runs no sub-pipelines"))
    }
}

/// Runs plans. Cheap to share: one per process is enough.
pub struct Engine {
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    loader: Arc<dyn PipelineLoader>,
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
    /// Step outputs to use instead of running those steps (test cases, `--mock`).
    pub mocks: HashMap<String, Value>,
    /// Mock every step with external effects (null output unless in `mocks`).
    pub dry_run: bool,
    /// Seed for retry jitter; random when absent.
    pub seed: Option<u64>,
    pub cancel: Cancel,
}

impl Engine {
    pub fn new(registry: Arc<Registry>, clock: Arc<dyn Clock>, loader: Arc<dyn PipelineLoader>) -> Self {
        Self { registry, clock, loader }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Validates `input` against the plan's input schema, then runs the plan to the end.
    pub async fn run(
        &self,
        plan: &Arc<Plan>,
        input: Value,
        opts: &RunOptions,
        sink: &dyn EventSink,
    ) -> Result<RunReport, InputError> {
        self.run_at_depth(plan, input, opts, sink, 0).await
    }

    async fn run_at_depth(
        &self,
        plan: &Arc<Plan>,
        input: Value,
        opts: &RunOptions,
        sink: &dyn EventSink,
        depth: u32,
    ) -> Result<RunReport, InputError> {
        check_input(plan, &input)?;
        let env = RunEnv {
            engine: self,
            plan,
            opts,
            sink,
            run_id: opts.run_id.clone().unwrap_or_else(|| new_run_id(&*self.clock)).into(),
            seq: AtomicU64::new(0),
            seed: opts.seed.unwrap_or_else(|| fastrand::u64(..)),
            depth,
        };
        Ok(Scheduler::new(&env, &input).run().await)
    }
}

fn check_input(plan: &Plan, input: &Value) -> Result<(), InputError> {
    let Some(schema) = &plan.input_schema else {
        return Ok(());
    };
    let problems: Vec<(String, String)> =
        schema.0.iter_errors(input).map(|e| (e.instance_path().as_str().to_owned(), e.to_string())).collect();
    if problems.is_empty() { Ok(()) } else { Err(InputError { problems }) }
}

/// A sortable, unique run id: milliseconds since the epoch, then randomness (UUIDv7 layout).
fn new_run_id(clock: &dyn Clock) -> String {
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

/// What every future of one run shares. Immutable but for the event counter.
pub(crate) struct RunEnv<'a> {
    engine: &'a Engine,
    pub(crate) plan: &'a Arc<Plan>,
    opts: &'a RunOptions,
    sink: &'a dyn EventSink,
    run_id: Arc<str>,
    seq: AtomicU64,
    seed: u64,
    /// How many pipelines up this run was started from.
    depth: u32,
}

impl RunEnv<'_> {
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.engine.clock
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.sink.emit(&Event { seq, at: self.clock().wall(), run_id: self.run_id.clone(), kind });
    }

    /// Whether a step runs for real, or a mock stands in (with this output).
    fn mock(&self, step: &PlanStep) -> Option<Value> {
        if let Some(v) = self.opts.mocks.get(&step.id) {
            return Some(v.clone());
        }
        (self.opts.dry_run && step.effects == Effects::External).then_some(Value::Null)
    }

    /// Runs a nested step once (one `foreach` item), with its own retry and timeout.
    pub(crate) async fn run_nested(&self, step: &PlanStep, scope: Val) -> Result<Value, StepError> {
        let with = step
            .with
            .render(&self.plan.programs, &scope)
            .map_err(|e| StepError::fatal(format!("`with`: {e}")))?;
        if let Some(output) = self.mock(step) {
            self.emit(EventKind::StepMocked { step: step.id.clone(), kind: step.kind.clone(), config: with });
            return Ok(output);
        }
        attempts(self, step, with, scope, false).await.0
    }

    /// Runs another pipeline file to its end and returns its output.
    pub(crate) async fn run_child(&self, file: &str, input: Value) -> Result<Value, StepError> {
        if self.depth >= MAX_PIPELINE_DEPTH {
            return Err(StepError::fatal(format!(
                "pipelines nest deeper than {MAX_PIPELINE_DEPTH} levels (a pipeline that runs itself?)"
            )));
        }
        let child = self.engine.loader.load(self.plan, file).map_err(StepError::fatal)?;
        let opts = RunOptions {
            dry_run: self.opts.dry_run,
            seed: Some(self.seed),
            cancel: self.opts.cancel.clone(),
            ..RunOptions::default()
        };
        let run = Box::pin(self.engine.run_at_depth(&child, input, &opts, &NullSink, self.depth + 1));
        let report = run.await.map_err(|e| StepError::fatal(format!("{file}: {e}")))?;
        match report.status {
            Status::Succeeded => Ok(report.output),
            status => {
                let why = report.error.map_or_else(|| status.to_string(), |e| e.to_string());
                Err(StepError::new(format!("pipeline {file} {status}: {why}")))
            }
        }
    }
}

/// Runs the attempts of one step: timeout per attempt, retries with backoff.
/// Returns the result and how many attempts were made.
async fn attempts(
    env: &RunEnv<'_>,
    step: &PlanStep,
    with: Value,
    scope: Val,
    events: bool,
) -> (Result<Value, StepError>, u32) {
    let Some(kind) = env.engine.registry.get(&step.kind) else {
        return (Err(StepError::fatal(format!("unknown step kind \"{}\"", step.kind))), 0);
    };
    let max = step.retry.as_ref().map_or(1, |r| r.attempts.max(1));
    let mut rng = fastrand::Rng::with_seed(env.seed ^ fxhash(&step.id));
    let mut with = Some(with);
    for attempt in 1..=max {
        if events {
            env.emit(EventKind::StepStarted { step: step.id.clone(), attempt });
        }
        // The last attempt takes the config; earlier ones copy it.
        let config =
            if attempt == max { with.take().unwrap_or_default() } else { with.clone().unwrap_or_default() };
        let cx = StepCx { env, step, with: config, attempt, scope: scope.clone() };
        let run = kind.run(cx);
        let result = match step.timeout {
            Some(limit) => match select(run, env.clock().sleep(limit.0)).await {
                Either::Left((result, _)) => result,
                Either::Right(_) => Err(StepError::new(format!("timed out after {limit}"))),
            },
            None => run.await,
        };
        match (result, &step.retry) {
            (Ok(output), _) => return (Ok(output), attempt),
            (Err(e), Some(retry)) if e.retryable && attempt < max => {
                let delay = backoff(retry, attempt, &mut rng);
                if events {
                    env.emit(EventKind::StepRetrying {
                        step: step.id.clone(),
                        attempt,
                        error: e.message,
                        delay,
                    });
                }
                env.clock().sleep(delay).await;
            }
            (Err(e), _) => return (Err(e), attempt),
        }
    }
    (Err(StepError::fatal("no attempt was made")), 0)
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

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

struct StepState {
    status: Status,
    attempts: u32,
    /// Failed, but `on_error: continue` lets dependents run.
    continued: bool,
    /// Needs not finished yet.
    remaining: usize,
    /// A step it handles failed: the handler may run.
    triggered: bool,
    started: Option<Duration>,
    duration: Option<Duration>,
    error: Option<String>,
}

type Running<'e> = BoxFuture<'e, (usize, Result<Value, StepError>, u32)>;

struct Scheduler<'e, 'a> {
    env: &'e RunEnv<'a>,
    plan: &'e Plan,
    keys: Keys,
    /// The run context expressions see.
    ctx: Val,
    steps: Vec<StepState>,
    /// Steps whose needs are all finished, in the order they became ready.
    ready: VecDeque<usize>,
    failure: Option<RunFailure>,
    started: Duration,
}

impl<'e, 'a> Scheduler<'e, 'a> {
    fn new(env: &'e RunEnv<'a>, input: &Value) -> Self {
        let plan: &Plan = env.plan;
        let keys = Keys::new(plan.steps.iter().map(|s| s.id.as_str()));
        let started_at = env
            .clock()
            .wall()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let run = json!({"id": &*env.run_id, "pipeline": plan.name(), "started_at": started_at});
        let ctx = context::new(&keys, input, run);
        let steps = plan
            .steps
            .iter()
            .map(|s| StepState {
                status: Status::Pending,
                attempts: 0,
                continued: false,
                remaining: s.needs.len(),
                triggered: false,
                started: None,
                duration: None,
                error: None,
            })
            .collect();
        let ready = (0..plan.steps.len())
            .filter(|&i| plan.steps[i].needs.is_empty() && !plan.steps[i].handler)
            .collect();
        Self { env, plan, keys, ctx, steps, ready, failure: None, started: env.clock().now() }
    }

    async fn run(mut self) -> RunReport {
        self.env.emit(EventKind::RunStarted { pipeline: self.plan.name().to_owned() });
        let limit = self.plan.pipeline.concurrency.map_or(usize::MAX, |c| c as usize);
        let mut running: FuturesUnordered<Running<'e>> = FuturesUnordered::new();
        let mut cancelled = pin!(self.env.opts.cancel.cancelled());
        let mut was_cancelled = false;
        loop {
            while running.len() < limit && self.failure.is_none() {
                let Some(i) = self.ready.pop_front() else { break };
                let Some(mut future) = self.start(i) else { continue };
                // Steps that finish without waiting (`pass`, `transform`) complete right here,
                // without a trip through the set of running futures. A future left pending is
                // polled again by that set with its real waker, as the Future contract allows.
                match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready((i, result, attempts)) => self.complete(i, result, attempts),
                    Poll::Pending => running.push(future),
                }
            }
            if self.failure.is_some() {
                break;
            }
            if running.is_empty() {
                if self.skip_next_untriggered_handler() {
                    continue;
                }
                break;
            }
            match select(running.next(), cancelled.as_mut()).await {
                Either::Left((Some((i, result, attempts)), _)) => self.complete(i, result, attempts),
                Either::Left((None, _)) => {}
                Either::Right(_) => {
                    was_cancelled = true;
                    break;
                }
            }
        }
        // Dropping the futures cancels whatever is still running.
        drop(running);
        self.finish(was_cancelled)
    }

    /// Decides what to do with a ready step: skip it, fail it, mock it, or start it.
    fn start(&mut self, i: usize) -> Option<Running<'e>> {
        let plan = self.plan;
        let step = &plan.steps[i];
        if let Some(reason) = self.blocked(i) {
            self.skip(i, reason);
            return None;
        }
        self.steps[i].started = Some(self.env.clock().now());
        if let Some(cond) = step.condition {
            match plan.programs.eval_one(cond, self.ctx.clone()) {
                Ok(v) if !is_truthy(&v) => {
                    self.skip(i, "condition is false".into());
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.complete(i, Err(StepError::fatal(format!("`if`: {e}"))), 0);
                    return None;
                }
            }
        }
        let with = match step.with.render(&plan.programs, &self.ctx) {
            Ok(with) => with,
            Err(e) => {
                self.complete(i, Err(StepError::fatal(format!("`with`: {e}"))), 0);
                return None;
            }
        };
        self.steps[i].status = Status::Running;
        if let Some(output) = self.env.mock(step) {
            self.env.emit(EventKind::StepMocked {
                step: step.id.clone(),
                kind: step.kind.clone(),
                config: with,
            });
            self.complete(i, Ok(output), 0);
            return None;
        }
        // Only kinds that evaluate their own programs hold on to the context.
        let scope =
            if step.programs.is_empty() && step.nested.is_none() { Val::Null } else { self.ctx.clone() };
        let env = self.env;
        Some(Box::pin(async move {
            let (result, n) = attempts(env, step, with, scope, true).await;
            (i, result, n)
        }))
    }

    /// Why a step whose needs all finished must not run, if it must not.
    fn blocked(&self, i: usize) -> Option<String> {
        let step = &self.plan.steps[i];
        if step.needs.is_empty() {
            return None;
        }
        if let Some(&n) =
            step.needs.iter().find(|&&n| self.steps[n].status == Status::Failed && !self.steps[n].continued)
        {
            return Some(format!("need \"{}\" failed", self.plan.steps[n].id));
        }
        if step.needs.iter().all(|&n| self.steps[n].status == Status::Skipped) {
            return Some("all needs were skipped".into());
        }
        None
    }

    fn complete(&mut self, i: usize, result: Result<Value, StepError>, attempts: u32) {
        let now = self.env.clock().now();
        let duration = now.saturating_sub(self.steps[i].started.unwrap_or(now));
        self.steps[i].attempts = attempts;
        self.steps[i].duration = Some(duration);
        match result {
            Ok(output) => self.succeed(i, output, attempts, duration),
            Err(e) => self.fail(i, e, attempts, duration),
        }
    }

    fn succeed(&mut self, i: usize, output: Value, attempts: u32, duration: Duration) {
        self.steps[i].status = Status::Succeeded;
        let val = weir_pipeline::expr::to_val(&output);
        context::finish(&mut self.ctx, &self.keys, i, Status::Succeeded, val, None, attempts);
        let step = self.plan.steps[i].id.clone();
        self.env.emit(EventKind::StepSucceeded { step, attempts, output, duration });
        self.release(i);
    }

    /// Records a failed step and routes the failure by its `on_error`.
    fn fail(&mut self, i: usize, e: StepError, attempts: u32, duration: Duration) {
        let step = &self.plan.steps[i];
        self.steps[i].status = Status::Failed;
        self.steps[i].error = Some(e.message.clone());
        context::finish(&mut self.ctx, &self.keys, i, Status::Failed, Val::Null, Some(&e.message), attempts);
        let on_error = match step.on_error {
            Route::Handler(h) => self.plan.steps[h].id.clone(),
            Route::Continue => "continue".into(),
            Route::Fail => "fail".into(),
        };
        let error = e.message.clone();
        self.env.emit(EventKind::StepFailed { step: step.id.clone(), attempts, error, on_error, duration });
        match step.on_error {
            Route::Continue => {
                self.steps[i].continued = true;
                self.release(i);
            }
            // A handler already running (or run) for another failure handles this one too.
            Route::Handler(h) if self.steps[h].triggered || self.steps[h].status == Status::Pending => {
                self.release(i);
                if !self.steps[h].triggered {
                    self.steps[h].triggered = true;
                    self.ready.push_back(h);
                }
            }
            // No handler left to run (it was skipped), or none asked for: the run fails.
            Route::Handler(_) | Route::Fail => {
                self.failure = Some(RunFailure { step: Some(step.id.clone()), message: e.message, attempts });
            }
        }
    }

    fn skip(&mut self, i: usize, reason: String) {
        self.steps[i].status = Status::Skipped;
        context::finish(&mut self.ctx, &self.keys, i, Status::Skipped, Val::Null, None, 0);
        self.env.emit(EventKind::StepSkipped { step: self.plan.steps[i].id.clone(), reason });
        self.release(i);
    }

    /// A step finished: its dependents with no other unfinished need become ready.
    fn release(&mut self, i: usize) {
        for &d in &self.plan.steps[i].dependents {
            let state = &mut self.steps[d];
            state.remaining -= 1;
            if state.remaining == 0 {
                self.ready.push_back(d);
            }
        }
    }

    /// Once nothing else can run, a handler that no failure triggered is skipped (which may
    /// release steps that need it). One at a time, so a handler skipped here cannot have been
    /// needed by a failure that the previous one's dependents cause.
    fn skip_next_untriggered_handler(&mut self) -> bool {
        let next = (0..self.steps.len()).find(|&h| {
            self.plan.steps[h].handler && !self.steps[h].triggered && self.steps[h].status == Status::Pending
        });
        match next {
            Some(h) => {
                self.skip(h, "no step it handles failed".into());
                true
            }
            None => false,
        }
    }

    fn finish(mut self, was_cancelled: bool) -> RunReport {
        for i in 0..self.steps.len() {
            if !self.steps[i].status.is_finished() {
                self.steps[i].status = Status::Cancelled;
                self.env.emit(EventKind::StepCancelled { step: self.plan.steps[i].id.clone() });
            }
        }
        let mut status = if was_cancelled {
            Status::Cancelled
        } else if self.failure.is_some() {
            Status::Failed
        } else {
            Status::Succeeded
        };
        let mut output = Value::Null;
        if status == Status::Succeeded {
            match self.output() {
                Ok(v) => output = v,
                Err(message) => {
                    status = Status::Failed;
                    self.failure = Some(RunFailure { step: None, message, attempts: 0 });
                }
            }
        }
        if was_cancelled {
            self.failure =
                Some(RunFailure { step: None, message: "the run was cancelled".into(), attempts: 0 });
        }
        let duration = self.env.clock().now().saturating_sub(self.started);
        let error = self.failure.as_ref().map(ToString::to_string);
        self.env.emit(EventKind::RunFinished { status, output: output.clone(), error, duration });
        RunReport {
            run_id: self.env.run_id.to_string(),
            pipeline: self.plan.name().to_owned(),
            status,
            output,
            error: self.failure,
            duration,
            steps: self
                .plan
                .steps
                .iter()
                .zip(self.steps)
                .map(|(s, st)| StepReport {
                    id: s.id.clone(),
                    status: st.status,
                    attempts: st.attempts,
                    duration: st.duration,
                    error: st.error,
                })
                .collect(),
        }
    }

    /// The run's output: the `output` expression, or the single sink's output (an object of
    /// them, by id, when there are several).
    fn output(&self) -> Result<Value, String> {
        if let Some(id) = self.plan.output {
            return self
                .plan
                .programs
                .eval_one(id, self.ctx.clone())
                .map(|v| to_json(&v))
                .map_err(|e| format!("`output`: {e}"));
        }
        let output_of = |i: usize| -> Value {
            match &self.ctx {
                Val::Obj(root) => root
                    .get(&weir_pipeline::expr::key("steps"))
                    .and_then(|s| match s {
                        Val::Obj(steps) => steps.get(&self.keys.ids[i]),
                        _ => None,
                    })
                    .and_then(|e| match e {
                        Val::Obj(entry) => entry.get(&weir_pipeline::expr::key("output")).map(to_json),
                        _ => None,
                    })
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            }
        };
        Ok(match &self.plan.sinks[..] {
            [] => Value::Null,
            [one] => output_of(*one),
            many => {
                Value::Object(many.iter().map(|&i| (self.plan.steps[i].id.clone(), output_of(i))).collect())
            }
        })
    }
}
