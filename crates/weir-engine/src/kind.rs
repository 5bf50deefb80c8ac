//! The contract between the engine and step kinds.

use crate::approval::{Answer, ApprovalRequest};
use crate::clock::Clock;
use crate::error::{ErrorKind, StepError};
use crate::event::{EventKind, LogLevel, StepAt};
use crate::run::{NestedLog, RunEnv};
use futures_util::future::BoxFuture;
use jaq_json::Val;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use weir_pipeline::expr::ProgramId;
use weir_pipeline::{Catalog, KindSpec, PlanStep};

/// A step kind: its static description and how to run one attempt of a step.
pub trait StepKind: Send + Sync + 'static {
    fn spec(&self) -> &'static KindSpec;

    /// Runs one attempt. Retries, timeouts and cancellation are the engine's: the future is
    /// dropped when the attempt times out or the run is cancelled.
    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>>;
}

/// The kinds an engine can run; also the [`Catalog`] pipelines are validated against.
#[derive(Default)]
pub struct Registry {
    kinds: Vec<Arc<dyn StepKind>>,
    /// Kinds left out of this build, each with what it takes to have it.
    without: Vec<(&'static str, &'static str)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.iter().map(|k| k.spec().name)).finish()
    }
}

impl Registry {
    pub fn with(mut self, kind: impl StepKind) -> Self {
        self.kinds.push(Arc::new(kind));
        self
    }

    /// Names a kind this registry leaves out and what it takes to have it, for the diagnostic of
    /// a step that uses it.
    pub fn without(mut self, name: &'static str, how: &'static str) -> Self {
        self.without.push((name, how));
        self
    }

    pub fn get(&self, name: &str) -> Option<&dyn StepKind> {
        self.kinds.iter().find(|k| k.spec().name == name).map(|k| &**k)
    }
}

impl Catalog for Registry {
    fn kind(&self, name: &str) -> Option<&KindSpec> {
        self.get(name).map(StepKind::spec)
    }

    fn kinds(&self) -> Vec<&KindSpec> {
        self.kinds.iter().map(|k| k.spec()).collect()
    }

    fn unavailable(&self, name: &str) -> Option<&str> {
        self.without.iter().find(|(n, _)| *n == name).map(|(_, how)| *how)
    }
}

/// What an attempt sees: its resolved configuration and the engine's services.
pub struct StepCx<'a> {
    pub(crate) env: &'a RunEnv<'a>,
    pub(crate) step: &'a PlanStep,
    /// Which step events name: a nested step reports as its `foreach` step, with the item.
    pub(crate) at: &'a StepAt,
    /// The resolved `with` block: `${{ }}` already evaluated.
    pub(crate) with: Value,
    pub(crate) attempt: u32,
    /// The step's context, for the kind's own jq programs and nested step.
    pub(crate) scope: Val,
    /// Where the items and sub-pipeline runs of this attempt are recorded.
    pub(crate) log: &'a NestedLog,
    /// The attempt's span.
    pub(crate) trace: crate::trace::TraceContext,
}

impl<'a> StepCx<'a> {
    pub fn step_id(&self) -> &str {
        self.step.id()
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Names this step's work in this run: `<run id>/<step>`, and `/<index>` for a `foreach`
    /// item. The same for every attempt and after the run is resumed, so a service that
    /// deduplicates by it (the `http` kind sends it as `Idempotency-Key`) sees a step that runs
    /// again — a retry, or a step that was in flight when its process died — as the call it
    /// already had. A sub-pipeline run's steps are named by that run's id.
    pub fn idempotency_key(&self) -> String {
        match self.at.item {
            Some(i) => format!("{}/{}/{i}", self.env.run_id, self.at.step),
            None => format!("{}/{}", self.env.run_id, self.at.step),
        }
    }

    /// The `traceparent` header value that makes a call this attempt makes a child of its span,
    /// for a kind that calls a service (the `http` kind sends it).
    pub fn traceparent(&self) -> String {
        self.trace.traceparent()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.env.clock()
    }

    pub fn with(&self) -> &Value {
        &self.with
    }

    /// The resolved `with` block as the kind's config type. A mismatch is a fatal error (the
    /// same configuration would fail every attempt) that names the key, what it should be and
    /// what it is: validation checked the `with` block as written, so a mismatch here is a value
    /// that a `${{ }}` expression gave.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        serde_path_to_error::deserialize(&self.with).map_err(|e| {
            let at = match e.path().to_string().as_str() {
                "." => "`with`".to_owned(),
                path => format!("`with.{path}`"),
            };
            let message = format!(
                "{at}: {} (a value a `${{{{ }}}}` expression gave; `weir dry-run` shows the resolved `with`)",
                describe_mismatch(&e.inner().to_string())
            );
            StepError::fatal(ErrorKind::Config, message)
        })
    }

    /// Runs the jq program of a program field (e.g. `transform.expr`) on the step's context and
    /// returns its single value. A long evaluation moves off the run's task (see `eval`) and stops
    /// when this future is dropped (the attempt timed out, the run was cancelled or failed).
    pub async fn eval(&self, field: &str) -> Result<Value, StepError> {
        let id = self.program(field)?;
        crate::eval::json(self.env, Some(self.at), id, &self.scope)
            .await
            .map_err(|e| StepError::fatal(ErrorKind::Expression, format!("`{field}`: {e}")))
    }

    fn program(&self, field: &str) -> Result<ProgramId, StepError> {
        self.step
            .program(field)
            .ok_or_else(|| StepError::fatal(ErrorKind::Config, format!("`{field}` is missing")))
    }

    /// Asks a person `request` and waits for the answer. The question is committed first, so
    /// other processes see it (`weir approvals`) and the run is `waiting`; the answer comes
    /// through the run's store. A resumed run asks only if the question has no answer yet. A
    /// run without a store cannot wait: that is a fatal error.
    pub async fn ask(&self, request: ApprovalRequest) -> Result<Answer, StepError> {
        let Some(store) = self.env.store() else {
            return Err(StepError::fatal(
                ErrorKind::Config,
                "an approval waits in the run store, and this run has none (`--no-store`)",
            ));
        };
        let stored = |e: crate::StoreError| StepError::fatal(ErrorKind::Store, e.message);
        // A resumed step may have been answered while no process ran it: it goes on at once.
        let before = match self.env.prior {
            Some(_) => store.answered(&self.env.run_id, self.at).await.map_err(stored)?,
            None => None,
        };
        let answer = match before {
            Some(answer) => answer,
            None => {
                self.env.emit(EventKind::ApprovalRequested { at: self.at.clone(), request });
                self.env.flush().await.map_err(stored)?;
                store.answer(&self.env.run_id, self.at).await.map_err(stored)?
            }
        };
        self.env.emit(EventKind::ApprovalAnswered {
            at: self.at.clone(),
            decision: answer.decision,
            by: answer.by.clone(),
            timed_out: answer.timed_out,
        });
        Ok(answer)
    }

    /// Emits a log line for this step.
    pub fn log(&self, level: LogLevel, message: String) {
        self.env.emit(EventKind::StepLog { at: self.at.clone(), level, message });
    }

    /// Runs the kind's nested step (see `KindSpec::nested_step`) once for item `index`, with
    /// `item` and `index` added to the context, applying the nested step's own retry and timeout.
    pub fn run_nested(&self, item: Value, index: usize) -> BoxFuture<'_, Result<Value, StepError>> {
        Box::pin(async move {
            let Some(nested) = self.step.nested() else {
                return Err(StepError::fatal(ErrorKind::Config, "this step has no nested step"));
            };
            let scope = crate::context::with_item(&self.scope, &item, index);
            self.env.run_item(self.step, nested, scope, index, self.log, &self.trace).await
        })
    }

    /// Runs another pipeline file (as written in this pipeline) with `input` and returns its
    /// output; `item` is the `foreach` item it runs for, if any (a nested step's run is its
    /// item's).
    pub fn run_pipeline(
        &self,
        file: &str,
        input: Value,
        item: Option<usize>,
    ) -> BoxFuture<'_, Result<Value, StepError>> {
        let file = file.to_owned();
        let item = item.or(self.at.item);
        Box::pin(
            async move { self.env.run_child(self.step, &file, input, item, self.log, &self.trace).await },
        )
    }
}

/// serde's "invalid type: integer `5`, expected a string" as "expected a string, found the
/// integer 5"; other messages as they are.
fn describe_mismatch(message: &str) -> String {
    let Some((found, expected)) =
        message.strip_prefix("invalid type: ").and_then(|rest| rest.split_once(", expected "))
    else {
        return message.to_owned();
    };
    let found = match found.split_once(' ') {
        Some(("integer", v)) => format!("the integer {}", v.trim_matches('`')),
        Some(("floating", v)) => format!("the number {}", v.trim_start_matches("point ").trim_matches('`')),
        Some(("boolean", v)) => v.trim_matches('`').to_owned(),
        Some(("string", v)) => format!("the string {v}"),
        _ => match found {
            "unit value" => "null".to_owned(),
            "sequence" => "a list".to_owned(),
            "map" => "an object".to_owned(),
            other => other.to_owned(),
        },
    };
    format!("expected {expected}, found {found}")
}

#[cfg(test)]
mod tests {
    use super::describe_mismatch;

    #[test]
    fn type_mismatches_say_what_was_expected_and_found() {
        let cases = [
            ("invalid type: integer `5`, expected a duration", "expected a duration, found the integer 5"),
            ("invalid type: floating point `1.5`, expected u32", "expected u32, found the number 1.5"),
            ("invalid type: string \"x\", expected a list", "expected a list, found the string \"x\""),
            ("invalid type: boolean `true`, expected a string", "expected a string, found true"),
            ("invalid type: unit value, expected a string", "expected a string, found null"),
            ("invalid type: map, expected a string", "expected a string, found an object"),
            ("missing field `url`", "missing field `url`"),
        ];
        for (serde, ours) in cases {
            assert_eq!(describe_mismatch(serde), ours);
        }
    }
}
