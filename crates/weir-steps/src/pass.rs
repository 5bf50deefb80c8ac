//! `pass`: outputs a given value.

use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use weir_engine::{StepCx, StepError, StepKind};
use weir_pipeline::{Effects, KindSpec};

/// Outputs `value` (null if absent). Useful as a join point, a constant, or a placeholder.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassConfig {
    /// The output; may be built with `${{ }}`.
    #[serde(default)]
    value: Value,
}

pub struct Pass;

static SPEC: KindSpec = KindSpec {
    name: "pass",
    summary: "output a given value (null if absent)",
    schema: crate::schema::<PassConfig>,
    programs: &[],
    nested_step: None,
    files: &[],
    effects: Effects::None,
    check: weir_pipeline::kind::no_rules,
};

impl StepKind for Pass {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move { Ok(cx.config::<PassConfig>()?.value) })
    }
}
