//! `pipeline`: runs another pipeline file.

use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use weir_engine::{StepCx, StepError, StepKind};
use weir_pipeline::{Effects, KindSpec};

/// Runs another pipeline and outputs its output. The step fails when that run fails.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Path of the pipeline file, relative to this pipeline's file.
    file: String,
    /// The input of the run (default: `{}`).
    #[serde(default)]
    input: Option<Value>,
}

pub struct Pipeline;

static SPEC: KindSpec = KindSpec {
    name: "pipeline",
    summary: "run another pipeline file and output its output",
    schema: crate::schema::<PipelineConfig>,
    programs: &[],
    nested_step: None,
    files: &["file"],
    effects: Effects::Nested,
    check: weir_pipeline::kind::no_rules,
};

impl StepKind for Pipeline {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let config: PipelineConfig = cx.config()?;
            let input = config.input.unwrap_or_else(|| Value::Object(Default::default()));
            cx.run_pipeline(&config.file, input, None).await
        })
    }
}
