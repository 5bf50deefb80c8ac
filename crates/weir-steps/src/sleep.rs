//! `sleep`: waits.

use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use weir_engine::{StepCx, StepError, StepKind};
use weir_pipeline::{Duration, Effects, KindSpec};

/// Waits for `duration`; outputs null.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepConfig {
    /// How long to wait, e.g. `250ms`, `5s`.
    duration: Duration,
}

pub struct Sleep;

static SPEC: KindSpec = KindSpec {
    name: "sleep",
    summary: "wait for a duration",
    schema: crate::schema::<SleepConfig>,
    programs: &[],
    nested_step: None,
    files: &[],
    effects: Effects::Local,
    check: weir_pipeline::kind::no_rules,
};

impl StepKind for Sleep {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let config: SleepConfig = cx.config()?;
            cx.clock().sleep(config.duration.0).await;
            Ok(Value::Null)
        })
    }
}
