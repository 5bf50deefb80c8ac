//! `transform`: computes a value with jq.

use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use weir_engine::{StepCx, StepError, StepKind};
use weir_pipeline::{Effects, KindSpec};

/// Computes the step's output with a jq program over the run context.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Read by the engine through `StepCx::eval`, not by field.
pub struct TransformConfig {
    /// jq program over the run context (`{input, steps, run}`); its single result is the output.
    expr: String,
}

pub struct Transform;

static SPEC: KindSpec = KindSpec {
    name: "transform",
    summary: "compute a value with a jq program over the run context",
    schema: crate::schema::<TransformConfig>,
    programs: &["expr"],
    nested_step: None,
    files: &[],
    effects: Effects::None,
    check: weir_pipeline::kind::no_rules,
};

impl StepKind for Transform {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move { cx.eval("expr").await })
    }
}
