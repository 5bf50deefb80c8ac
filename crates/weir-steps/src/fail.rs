//! `fail`: fails on purpose, to exercise error handling.

use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use weir_engine::{ErrorKind, StepCx, StepError, StepKind};
use weir_pipeline::{Effects, KindSpec};

/// Fails with `message`. With `times: N`, only the first N attempts fail and later ones return
/// `output`: combine it with `retry` to see retries work.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailConfig {
    /// The error message.
    #[serde(default = "default_message")]
    message: String,
    /// Fail only the first N attempts of the step.
    #[serde(default)]
    #[schemars(range(min = 0))]
    times: Option<u32>,
    /// The output once the failing attempts are used up.
    #[serde(default)]
    output: Value,
}

fn default_message() -> String {
    "failed on purpose".into()
}

pub struct Fail;

static SPEC: KindSpec = KindSpec {
    name: "fail",
    summary: "fail on purpose (the first N attempts with `times`), to test error handling",
    schema: crate::schema::<FailConfig>,
    programs: &[],
    nested_step: None,
    files: &[],
    effects: Effects::None,
    check: weir_pipeline::kind::no_rules,
};

impl StepKind for Fail {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let config: FailConfig = cx.config()?;
            match config.times {
                Some(n) if cx.attempt() > n => Ok(config.output),
                _ => Err(StepError::new(ErrorKind::Step, config.message)),
            }
        })
    }
}
