//! `foreach`: runs a step, or a pipeline, once per item of a list.

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use weir_engine::{ErrorKind, StepCx, StepError, StepKind};
use weir_pipeline::kind::{Problem, With};
use weir_pipeline::{Effects, KindSpec};

/// Runs `step` (or the pipeline file `pipeline`) once per item of `items`; outputs the results
/// as a list in item order. The first item that fails fails the step and stops the others.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForeachConfig {
    /// jq program over the run context that gives the list of items.
    #[allow(dead_code)] // Evaluated through `StepCx::eval`.
    items: String,
    /// Most items in flight at once.
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1))]
    concurrency: usize,
    /// The step to run per item: `uses`, `with`, `timeout`, `retry`. Its expressions see the run
    /// context plus `item` and `index`.
    #[serde(default)]
    #[allow(dead_code)] // Run through `StepCx::run_nested`.
    step: Option<NestedStep>,
    /// A pipeline file (relative to this one) to run per item, with the item as its input.
    #[serde(default)]
    pipeline: Option<String>,
}

/// A step run once per item.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)] // Compiled by the validator; described here for the schema.
struct NestedStep {
    /// The step kind.
    uses: String,
    /// The kind's configuration; `${{ .item }}` and `${{ .index }}` are the current item.
    #[serde(default)]
    with: serde_json::Map<String, Value>,
    /// Longest time one attempt may take (it also bounds the evaluation of its `with`).
    #[serde(default)]
    timeout: Option<weir_pipeline::Duration>,
    /// Retry policy of each item.
    #[serde(default)]
    retry: Option<weir_pipeline::model::Retry>,
}

fn default_concurrency() -> usize {
    16
}

pub struct Foreach;

static SPEC: KindSpec = KindSpec {
    name: "foreach",
    summary: "run a step or a pipeline once per item of a list, with bounded concurrency",
    schema: crate::schema::<ForeachConfig>,
    programs: &["items"],
    nested_step: Some("step"),
    files: &["pipeline"],
    effects: Effects::Nested,
    check,
};

/// A `foreach` runs either a step or a pipeline per item, so exactly one of them must be given.
fn check(with: With<'_>) -> Vec<Problem> {
    const KEYS: &[&str] = &["step", "pipeline"];
    match (with.has("step"), with.has("pipeline")) {
        (true, true) => vec![
            Problem::new(KEYS, "a `foreach` step takes `step` or `pipeline`, not both")
                .with_hint("remove `pipeline` to run the step per item, or `step` to run the pipeline file"),
        ],
        (false, false) => {
            vec![Problem::new(KEYS, "a `foreach` step needs `step` or `pipeline` in `with`").with_hint(
                "add `step` (a step to run per item) or `pipeline` (a pipeline file to run per item)",
            )]
        }
        _ => Vec::new(),
    }
}

impl StepKind for Foreach {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let config: ForeachConfig = cx.config()?;
            let items = match cx.eval("items").await? {
                Value::Array(items) => items,
                other => {
                    let message = format!("`items` must give a list, it gave {}", type_name(&other));
                    return Err(StepError::fatal(ErrorKind::Expression, message));
                }
            };
            let cx = &cx;
            // The validator lets through exactly one of `step` and `pipeline`.
            let pipeline = config.pipeline.as_deref();
            let count = items.len();
            let results = stream::iter(items.into_iter().enumerate())
                .map(|(index, item)| async move {
                    let result = match pipeline {
                        Some(file) => cx.run_pipeline(file, item, Some(index)).await,
                        None => cx.run_nested(item, index).await,
                    };
                    // Items as people count them, and the index that `.index` gives.
                    let item = format!("item {} of {count} (index {index})", index + 1);
                    result.map_err(|e| StepError {
                        kind: e.kind.nested(),
                        message: format!("{item}: {}", e.message),
                        ..e
                    })
                })
                .buffered(config.concurrency.max(1))
                .try_collect::<Vec<Value>>()
                .await?;
            Ok(Value::Array(results))
        })
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
