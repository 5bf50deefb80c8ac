//! The scheduler of one run: readiness, skips, conditions, concurrency, error routing, output.
//!
//! One run is one future. The scheduler polls the running steps' futures itself (no task per
//! step) and is the only writer of the run's results, so there are no locks on the hot path. A
//! step's future evaluates its condition and `with` template, then runs its attempts; a step
//! whose expressions finish at once completes in its first poll (a long expression moves to a
//! thread of its own: see `eval`).

use crate::context::Context;
use crate::error::{ErrorKind, StepError};
use crate::event::{EventKind, StepAt};
use crate::report::{NestedReport, RunFailure, RunReport, StepReport};
use crate::resume::Ended;
use crate::run::{RunEnv, attempts, mix, render, within_timeout};
use futures_util::future::{BoxFuture, Either, select};
use futures_util::stream::{FuturesUnordered, StreamExt};
use jaq_json::Val;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;
use weir_pipeline::expr::to_val;
use weir_pipeline::{Plan, PlanStep, Route, Status, StepReads};

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
    error: Option<StepError>,
    nested: Vec<NestedReport>,
    /// Succeeded or failed, and not committed to the store since.
    unstored: bool,
    /// It ended before the run was resumed: its result stands, and it has its terminal event.
    restored: bool,
}

/// A running step's future: its index and how it ended.
type Running<'e> = BoxFuture<'e, (usize, Outcome)>;

/// How a started step ended.
enum Outcome {
    /// Its condition was false.
    Skipped,
    /// Its result, the attempts made and what its last attempt ran.
    Done(Result<Value, StepError>, u32, Vec<NestedReport>),
}

pub(crate) struct Scheduler<'e, 'a> {
    env: &'e RunEnv<'a>,
    plan: &'e Plan,
    /// The finished steps' results, from which each step's context is built.
    cx: Context,
    steps: Vec<StepState>,
    /// Steps whose needs are all finished, in the order they became ready.
    ready: VecDeque<usize>,
    failure: Option<RunFailure>,
    started: Duration,
    /// Whether the run reached its end; a scheduler dropped before that was cancelled.
    done: bool,
    /// Attempts begun per step, written by the running steps' futures: a step cancelled midway
    /// still reports the attempts it started.
    begun: Arc<[AtomicU32]>,
    /// The steps that concluded since the last commit to the store.
    unstored: Vec<usize>,
}

impl<'e, 'a> Scheduler<'e, 'a> {
    pub(crate) fn new(env: &'e RunEnv<'a>, input: Value) -> Self {
        let plan: &Plan = env.plan;
        let started_at = env
            .prior
            .map_or_else(|| env.clock().wall(), |p| p.started_at)
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let run = json!({"id": &*env.run_id, "pipeline": plan.name(), "started_at": started_at});
        let cx = Context::new(plan.steps().iter().map(|s| s.id()), &input, &run);
        let steps = plan
            .steps()
            .iter()
            .map(|s| StepState {
                status: Status::Pending,
                attempts: 0,
                continued: false,
                remaining: s.needs().len(),
                triggered: false,
                started: None,
                duration: None,
                error: None,
                nested: Vec::new(),
                unstored: false,
                restored: false,
            })
            .collect();
        let ready = (0..plan.steps().len())
            .filter(|&i| plan.steps()[i].needs().is_empty() && !plan.steps()[i].is_handler())
            .collect();
        let (pipeline, digest) = (plan.name().to_owned(), plan.digest().to_owned());
        let (trace, parent_span) = (env.span.trace, env.span.parent);
        env.emit(match env.prior {
            Some(_) => EventKind::RunResumed { pipeline, digest, trace, parent_span },
            None => EventKind::RunStarted { pipeline, digest, input, seed: env.seed, trace, parent_span },
        });
        let started = env.clock().now();
        let begun = plan.steps().iter().map(|_| AtomicU32::new(0)).collect();
        Self { env, plan, cx, steps, ready, failure: None, started, done: false, begun, unstored: Vec::new() }
    }

    pub(crate) async fn run(mut self) -> RunReport {
        let limit = self.plan.pipeline().concurrency.map_or(usize::MAX, |c| c as usize);
        let mut running: FuturesUnordered<Running<'e>> = FuturesUnordered::new();
        let mut cancelled = pin!(self.env.cancel().cancelled());
        let mut was_cancelled = false;
        // A run exists in the store before its first step does anything — a sub-pipeline run
        // too, so that resuming its parent continues it (the same id, so the same idempotency
        // keys) instead of starting another.
        if let Err(e) = self.env.flush().await {
            self.failure = Some(store_failure(e));
        }
        loop {
            while running.len() < limit && self.failure.is_none() {
                let Some(i) = self.ready.pop_front() else { break };
                if self.conclude_earlier(i) {
                    continue;
                }
                if self.needs_commit(i)
                    && let Err(e) = self.commit().await
                {
                    self.failure = Some(store_failure(e));
                    break;
                }
                let Some(mut future) = self.start(i) else { continue };
                // Steps that finish without waiting (`pass`, `transform`) complete right here,
                // without a trip through the set of running futures. A future left pending is
                // polled again by that set with its real waker, as the Future contract allows.
                match future.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
                    Poll::Ready((i, outcome)) => self.conclude(i, outcome),
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
                Either::Left((Some((i, outcome)), _)) => self.conclude(i, outcome),
                Either::Left((None, _)) => {}
                Either::Right(_) => {
                    was_cancelled = true;
                    break;
                }
            }
        }
        // Dropping the futures cancels whatever is still running.
        drop(running);
        let mut output = None;
        if !was_cancelled && self.failure.is_none() {
            match select(pin!(self.output()), cancelled.as_mut()).await {
                Either::Left((value, _)) => output = Some(value),
                Either::Right(_) => was_cancelled = true,
            }
        }
        let env = self.env;
        let mut report = self.finish(was_cancelled, output);
        // The run's end is durable before it returns. A store failure that stopped the run
        // already is the one to report.
        if let Err(e) = env.flush().await
            && report.error.as_ref().is_none_or(|f| f.kind != ErrorKind::Store)
        {
            report.status = Status::Failed;
            report.error = Some(store_failure(e));
        }
        report
    }

    /// Whether what step `i` may see is not all durable yet: a need of it (or, for a handler,
    /// any step) concluded since the last commit.
    fn needs_commit(&self, i: usize) -> bool {
        let step = &self.plan.steps()[i];
        if step.is_handler() {
            return !self.unstored.is_empty();
        }
        step.needs().iter().any(|&n| self.steps[n].unstored)
    }

    /// Commits every event of the tree so far, in one transaction; the steps that concluded in
    /// this turn of the scheduler (a fan-out) go together.
    async fn commit(&mut self) -> Result<(), crate::store::StoreError> {
        self.env.flush().await?;
        for i in std::mem::take(&mut self.unstored) {
            self.steps[i].unstored = false;
        }
        Ok(())
    }

    /// How step `i` ended before the run was resumed, if it did.
    fn ended_before(&self, i: usize) -> Option<Ended> {
        self.env.prior?.step(self.plan.steps()[i].id())?.ended.clone()
    }

    /// Concludes step `i` without running it when it ended before: in the run being resumed (it
    /// keeps the terminal event it had) or in the run this one replays (`RunOptions::reuse`: it
    /// gets a terminal event of this run, with no attempts, committed before its dependents
    /// start). Whether it did.
    fn conclude_earlier(&mut self, i: usize) -> bool {
        if let Some(ended) = self.ended_before(i) {
            self.restore(i, ended);
            return true;
        }
        let Some(ended) = self.env.reused(self.plan.steps()[i].id()).cloned() else { return false };
        if self.env.stores() {
            self.steps[i].unstored = true;
            self.unstored.push(i);
        }
        match ended {
            Ended::Succeeded { output, .. } => self.succeed(i, output, 0, Duration::ZERO),
            Ended::Failed { error, .. } => self.fail(i, error, 0, Duration::ZERO),
            Ended::Skipped => self.skip(i, "it was skipped in the run this one replays".into()),
        }
        true
    }

    /// Concludes step `i` as it ended before the run was resumed, without a second terminal
    /// event: its dependents, handler and the run's failure follow from it as they did then.
    fn restore(&mut self, i: usize, ended: Ended) {
        self.steps[i].restored = true;
        match ended {
            Ended::Succeeded { output, attempts, duration } => {
                (self.steps[i].attempts, self.steps[i].duration) = (attempts, Some(duration));
                self.succeed(i, output, attempts, duration);
            }
            Ended::Failed { error, attempts, duration } => {
                (self.steps[i].attempts, self.steps[i].duration) = (attempts, Some(duration));
                self.fail(i, error, attempts, duration);
            }
            Ended::Skipped => self.skip(i, String::new()),
        }
    }

    /// Emits a terminal event of step `i`, unless it has one from before the run was resumed.
    fn emit_end(&self, i: usize, kind: EventKind) {
        if !self.steps[i].restored {
            self.env.emit(kind);
        }
    }

    fn at(&self, i: usize) -> StepAt {
        let (step, kind) = self.plan.steps()[i].names();
        StepAt { step: step.clone(), kind: kind.clone(), item: None }
    }

    /// The context step `i`'s expressions see: the results it reads, or every result it may see.
    fn scope(&self, i: usize) -> Val {
        let step = &self.plan.steps()[i];
        if !step.has_expressions() {
            return Val::Null;
        }
        match step.reads() {
            StepReads::Only(steps) => self.cx.scope(steps.iter().copied()),
            StepReads::Visible => self.cx.scope(self.plan.visible(i)),
        }
    }

    /// Skips a ready step whose needs forbid it to run, or starts it.
    fn start(&mut self, i: usize) -> Option<Running<'e>> {
        let step = &self.plan.steps()[i];
        if let Some(reason) = self.blocked(i) {
            self.skip(i, reason);
            return None;
        }
        self.steps[i].started = Some(self.env.clock().now());
        self.steps[i].status = Status::Running;
        let scope = self.scope(i);
        let env = self.env;
        let at = self.at(i);
        let seed = mix(env.seed, step.id(), None);
        let begun = self.begun.clone();
        Some(Box::pin(async move { (i, run_step(env, step, &at, scope, seed, &begun[i]).await) }))
    }

    fn conclude(&mut self, i: usize, outcome: Outcome) {
        match outcome {
            Outcome::Skipped => self.skip(i, "condition is false".into()),
            Outcome::Done(result, attempts, nested) => self.complete(i, result, attempts, nested),
        }
    }

    /// Why a step whose needs all finished must not run, if it must not.
    fn blocked(&self, i: usize) -> Option<String> {
        let step = &self.plan.steps()[i];
        if step.needs().is_empty() {
            return None;
        }
        if let Some(&n) =
            step.needs().iter().find(|&&n| self.steps[n].status == Status::Failed && !self.steps[n].continued)
        {
            return Some(format!("need \"{}\" failed", self.plan.steps()[n].id()));
        }
        if step.needs().iter().all(|&n| self.steps[n].status == Status::Skipped) {
            return Some("all needs were skipped".into());
        }
        None
    }

    fn complete(
        &mut self,
        i: usize,
        result: Result<Value, StepError>,
        attempts: u32,
        nested: Vec<NestedReport>,
    ) {
        let now = self.env.clock().now();
        let duration = now.saturating_sub(self.steps[i].started.unwrap_or(now));
        self.steps[i].attempts = attempts;
        self.steps[i].duration = Some(duration);
        self.steps[i].nested = nested;
        if self.env.stores() {
            self.steps[i].unstored = true;
            self.unstored.push(i);
        }
        match result {
            Ok(output) => self.succeed(i, output, attempts, duration),
            // Its nested work could not be recorded: the run stops as when its own commit
            // fails, and the step is cancelled with the rest (so a resumed run runs it again).
            Err(e) if e.kind == ErrorKind::Store => {
                self.steps[i].status = Status::Running;
                self.failure = Some(store_failure(crate::store::StoreError::new(e.message)));
            }
            Err(e) => self.fail(i, e, attempts, duration),
        }
    }

    fn succeed(&mut self, i: usize, output: Value, attempts: u32, duration: Duration) {
        self.steps[i].status = Status::Succeeded;
        self.cx.finish(i, Status::Succeeded, to_val(&output), None, attempts);
        self.emit_end(i, EventKind::StepSucceeded { at: self.at(i), attempts, output, duration });
        self.release(i);
    }

    /// Records a failed step and routes the failure by its `on_error`.
    fn fail(&mut self, i: usize, e: StepError, attempts: u32, duration: Duration) {
        let step = &self.plan.steps()[i];
        self.steps[i].status = Status::Failed;
        self.cx.finish(i, Status::Failed, Val::Null, Some(&e.message), attempts);
        let on_error = match step.on_error() {
            Route::Handler(h) => self.plan.steps()[h].id().to_owned(),
            Route::Continue => "continue".into(),
            Route::Fail => "fail".into(),
        };
        let (error, error_kind) = (e.message.clone(), e.kind);
        self.emit_end(
            i,
            EventKind::StepFailed { at: self.at(i), attempts, error, error_kind, on_error, duration },
        );
        self.steps[i].error = Some(e.clone());
        match step.on_error() {
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
                self.failure = Some(RunFailure {
                    step: Some(step.id().to_owned()),
                    kind: e.kind,
                    message: e.message,
                    attempts,
                });
            }
        }
    }

    fn skip(&mut self, i: usize, reason: String) {
        self.steps[i].status = Status::Skipped;
        self.cx.finish(i, Status::Skipped, Val::Null, None, 0);
        self.emit_end(i, EventKind::StepSkipped { at: self.at(i), reason });
        self.release(i);
    }

    /// A step finished: its dependents with no other unfinished need become ready.
    fn release(&mut self, i: usize) {
        for &d in self.plan.steps()[i].dependents() {
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
            self.plan.steps()[h].is_handler()
                && !self.steps[h].triggered
                && self.steps[h].status == Status::Pending
        });
        match next {
            Some(h) => {
                if !self.conclude_earlier(h) {
                    self.skip(h, "no step it handles failed".into());
                }
                true
            }
            None => false,
        }
    }

    /// Gives every unfinished step its terminal event; one that was running keeps the attempts
    /// it began and the time it ran.
    fn cancel_unfinished(&mut self) {
        let now = self.env.clock().now();
        for i in 0..self.steps.len() {
            let state = &mut self.steps[i];
            if !state.status.is_finished() {
                if state.status == Status::Running {
                    state.attempts = self.begun[i].load(Ordering::Relaxed);
                    state.duration = state.started.map(|s| now.saturating_sub(s));
                }
                state.status = Status::Cancelled;
                self.env.emit(EventKind::StepCancelled { at: self.at(i) });
            }
        }
    }

    /// Why a cancelled run ended, naming the steps it stopped.
    fn cancelled(&self) -> RunFailure {
        let running: Vec<String> = (0..self.steps.len())
            .filter(|&i| self.steps[i].status == Status::Running)
            .map(|i| format!("\"{}\"", self.plan.steps()[i].id()))
            .collect();
        let message = match &running[..] {
            [] => "cancelled".to_owned(),
            [one] => format!("cancelled while step {one} was running"),
            many => format!("cancelled while steps {} were running", many.join(", ")),
        };
        RunFailure { step: None, kind: ErrorKind::Cancelled, message, attempts: 0 }
    }

    /// Ends the run; `output` is the value of its output when it got that far.
    fn finish(mut self, was_cancelled: bool, output: Option<Result<Value, String>>) -> RunReport {
        self.done = true;
        let cancelled = was_cancelled.then(|| self.cancelled());
        self.cancel_unfinished();
        let mut status = if was_cancelled {
            Status::Cancelled
        } else if self.failure.is_some() {
            Status::Failed
        } else {
            Status::Succeeded
        };
        let mut value = Value::Null;
        if status == Status::Succeeded {
            match output.unwrap_or(Ok(Value::Null)) {
                Ok(v) => value = v,
                Err(message) => {
                    status = Status::Failed;
                    self.failure =
                        Some(RunFailure { step: None, kind: ErrorKind::Expression, message, attempts: 0 });
                }
            }
        }
        if let Some(cancelled) = cancelled {
            self.failure = Some(cancelled);
        }
        let duration = self.env.clock().now().saturating_sub(self.started);
        self.emit_finished(status, value.clone(), duration);
        RunReport {
            run_id: self.env.run_id.to_string(),
            pipeline: self.plan.name().to_owned(),
            status,
            output: value,
            error: self.failure.take(),
            duration,
            steps: self.plan.steps().iter().zip(std::mem::take(&mut self.steps)).map(step_report).collect(),
        }
    }

    fn emit_finished(&self, status: Status, output: Value, duration: Duration) {
        let error = self.failure.as_ref().map(ToString::to_string);
        let error_kind = self.failure.as_ref().map(|f| f.kind);
        self.env.emit(EventKind::RunFinished { status, output, error, error_kind, duration });
    }

    /// The run's output: the `output` expression, or the single sink's output (an object of
    /// them, by id, when there are several).
    async fn output(&self) -> Result<Value, String> {
        if let Some(id) = self.plan.output() {
            let all = self.cx.all();
            return crate::eval::json(self.env, None, id, &all).await.map_err(|e| format!("`output`: {e}"));
        }
        Ok(match self.plan.sinks() {
            [] => Value::Null,
            [one] => self.cx.output(*one),
            many => Value::Object(
                many.iter().map(|&i| (self.plan.steps()[i].id().to_owned(), self.cx.output(i))).collect(),
            ),
        })
    }
}

/// A run stopped because its store failed.
fn store_failure(e: crate::store::StoreError) -> RunFailure {
    let message = format!("the run's store failed: {e}");
    RunFailure { step: None, kind: ErrorKind::Store, message, attempts: 0 }
}

/// Runs a started step: its condition, its `with` block (both within its `timeout`), then its
/// attempts, unless a mock stands in or the run refuses what it would do.
async fn run_step(
    env: &RunEnv<'_>,
    step: &PlanStep,
    at: &StepAt,
    scope: Val,
    seed: u64,
    begun: &AtomicU32,
) -> Outcome {
    let failed = |e| Outcome::Done(Err(e), 0, Vec::new());
    if let Some(cond) = step.condition() {
        let holds = async {
            let holds = crate::eval::condition(env, at, cond, &scope).await;
            holds.map_err(|e| StepError::fatal(ErrorKind::Expression, format!("`if`: {e}")))
        };
        match within_timeout(env, step, holds).await {
            Ok(true) => {}
            Ok(false) => return Outcome::Skipped,
            Err(e) => return failed(e),
        }
    }
    let with = match render(env, step, at, &scope).await {
        Ok(with) => with,
        Err(e) => return failed(e),
    };
    if let Some(output) = env.mock(step) {
        env.emit(EventKind::StepMocked { at: at.clone(), config: with });
        return Outcome::Done(Ok(output), 0, Vec::new());
    }
    if let Some(e) = env.refusal(step, &with) {
        return failed(e);
    }
    let (result, attempts, nested) = attempts(env, step, at, with, scope, seed, begun, &env.span.trace).await;
    Outcome::Done(result, attempts, nested)
}

fn step_report((s, st): (&weir_pipeline::PlanStep, StepState)) -> StepReport {
    StepReport {
        id: s.id().to_owned(),
        kind: s.kind().to_owned(),
        status: st.status,
        attempts: st.attempts,
        duration: st.duration,
        error: st.error,
        nested: st.nested,
    }
}

/// A run whose future is dropped before its end (its `pipeline` step timed out, its `foreach`
/// item was stopped because another failed) still ends its event stream: its unfinished steps
/// are cancelled, and so is the run.
impl Drop for Scheduler<'_, '_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.failure = Some(self.cancelled());
        self.cancel_unfinished();
        let duration = self.env.clock().now().saturating_sub(self.started);
        self.emit_finished(Status::Cancelled, Value::Null, duration);
    }
}
