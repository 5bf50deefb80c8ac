//! Evaluating a run's expressions so that none can stall the run or outlive its interest in it.
//!
//! An expression first runs inline, on the run's task, within a budget of [`INLINE_STEPS`]
//! steps (a turn of a loop is a step; see `weir_pipeline::expr::Budget`) and a small stack that
//! any runtime's threads have: ordinary expressions finish in far fewer and cost no more than
//! before. One that runs out of either starts over on a thread of its own with a large stack (jq
//! is pure, so starting over gives the same value), and the run goes on: its
//! timers, its cancellation and its other steps. When the run no longer wants the value — the
//! step timed out, the run was cancelled, another step failed it — the future is dropped, which
//! sets the thread's stop flag, and the evaluation halts at its next step.
//!
//! What cannot be stopped: a single built-in call that takes long without a loop of jq's (e.g.
//! `sort` or `indices` on a value near the limits). Its thread is abandoned: it runs to the end of
//! that call, then stops; its value is dropped.

use crate::event::{EventKind, LogLevel, StepAt};
use crate::run::RunEnv;
use jaq_json::Val;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use weir_pipeline::expr::{
    Budget, EvalError, Interrupted, Log, Message, ProgramId, Programs, Said, is_truthy,
};
use weir_pipeline::{Plan, PlanStep};

/// How many steps an expression may take inline before it moves to a thread of its own: about
/// a millisecond of jq work.
pub(crate) const INLINE_STEPS: u64 = 100_000;

/// The stack of an expression's thread, as large as the binary gives its runtime's workers
/// (more than `weir_pipeline::expr::MAX_STACK`).
const STACK: usize = 256 << 20;

/// Evaluates with `inline` on the caller's task; if that runs out of steps, again with the work
/// `owned` makes (which owns what it needs) on a thread of its own, until done or dropped. Each
/// try says what it says to a [`Log`] of its own, so what comes back with the value is what the
/// try that gave it said (an interrupted inline try's messages are said again by the next).
pub(crate) async fn eval<T, W>(
    plan: &Arc<Plan>,
    inline: impl FnOnce(&Budget, &Log) -> Result<T, EvalError>,
    owned: impl FnOnce() -> W,
) -> (Result<T, EvalError>, Vec<Message>)
where
    T: Send + 'static,
    W: FnOnce(&Plan, &Budget, &Log) -> Result<T, EvalError> + Send + 'static,
{
    let (budget, log) = (Budget::steps(INLINE_STEPS), Log::default());
    let result = inline(&budget, &log);
    if !matches!(budget.interrupted(), Some(Interrupted::OutOfSteps | Interrupted::TooDeep)) {
        return (result, log.into_messages());
    }
    let work = owned();
    let plan = plan.clone();
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let flag = stop.0.clone();
    // Carries the value and the messages back; a dropped receiver (the run moved on) makes the
    // send a no-op.
    let (send, receive) = tokio::sync::oneshot::channel();
    let thread =
        std::thread::Builder::new().name("weir-expression".into()).stack_size(STACK).spawn(move || {
            let (budget, log) = (Budget::until(&flag), Log::default());
            let result = work(&plan, &budget, &log);
            let _ = send.send((result, log.into_messages()));
        });
    if let Err(e) = thread {
        let e = EvalError(format!("the expression needs a thread of its own and none could start: {e}"));
        return (Err(e), Vec::new());
    }
    receive.await.unwrap_or_else(|_| {
        (Err(EvalError("the expression's thread ended without a value".into())), Vec::new())
    })
}

/// Stops the evaluation on its thread when the future waiting for it is dropped (or done).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Whether condition `id` holds in `scope` (jq truthiness), logging what it says as `at`'s.
pub(crate) async fn condition(
    env: &RunEnv<'_>,
    at: &StepAt,
    id: ProgramId,
    scope: &Val,
) -> Result<bool, EvalError> {
    program(env, Some(at), id, scope, Programs::eval_one).await.map(|v| is_truthy(&v))
}

/// The value of expression `id` in `scope`, as JSON, logging what it says as `at`'s (the run's
/// `output` expression belongs to no step, and what it says is not logged).
pub(crate) async fn json(
    env: &RunEnv<'_>,
    at: Option<&StepAt>,
    id: ProgramId,
    scope: &Val,
) -> Result<Value, EvalError> {
    program(env, at, id, scope, Programs::eval_json).await
}

/// One of `Programs`' evaluations (`eval_one`, `eval_json`).
type Evaluation<T> = fn(&Programs, ProgramId, Val, &Val, &Budget, &Log) -> Result<T, EvalError>;

/// The value of expression `id` in `scope`, as one of `Programs`' evaluations (`run`) gives it.
async fn program<T: Send + 'static>(
    env: &RunEnv<'_>,
    at: Option<&StepAt>,
    id: ProgramId,
    scope: &Val,
    run: Evaluation<T>,
) -> Result<T, EvalError> {
    let vars = &env.env;
    let inline = |budget: &Budget, log: &Log| run(env.plan.programs(), id, scope.clone(), vars, budget, log);
    let owned = || {
        let (scope, vars) = (scope.clone(), vars.clone());
        move |plan: &Plan, budget: &Budget, log: &Log| run(plan.programs(), id, scope, &vars, budget, log)
    };
    logged(env, at, eval(env.plan, inline, owned).await)
}

/// `step`'s `with` block with its `${{ }}` expressions evaluated in `scope`, logging what they
/// say as `at`'s.
pub(crate) async fn render(
    env: &RunEnv<'_>,
    at: &StepAt,
    step: &PlanStep,
    scope: &Val,
) -> Result<Value, EvalError> {
    let vars = &env.env;
    let inline =
        |budget: &Budget, log: &Log| step.with().render(env.plan.programs(), scope, vars, budget, log);
    let owned = || {
        let (with, scope, vars) = (step.with().clone(), scope.clone(), vars.clone());
        move |plan: &Plan, budget: &Budget, log: &Log| {
            with.render(plan.programs(), &scope, &vars, budget, log)
        }
    };
    logged(env, Some(at), eval(env.plan, inline, owned).await)
}

/// Emits an evaluation's messages as `at`'s log lines (before its value is used, so they come
/// before the step's end), and returns its value.
fn logged<T>(
    env: &RunEnv<'_>,
    at: Option<&StepAt>,
    (result, messages): (Result<T, EvalError>, Vec<Message>),
) -> Result<T, EvalError> {
    let Some(at) = at else { return result };
    for Message { said, text } in messages {
        let level = match said {
            Said::Debug => LogLevel::Debug,
            Said::Stderr => LogLevel::Info,
            Said::Dropped => LogLevel::Warn,
        };
        env.emit(EventKind::StepLog { at: at.clone(), level, message: text });
    }
    result
}
