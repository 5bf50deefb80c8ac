//! `log`: writes a message to the run's log.

use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use weir_engine::{LogLevel, StepCx, StepError, StepKind};
use weir_pipeline::{Effects, KindSpec};

/// Writes `message` to the run's log (stderr for `weir run`); outputs null.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The text; use `${{ }}` to include values.
    message: String,
    /// `debug`, `info` (default), `warn` or `error`.
    #[serde(default = "default_level")]
    #[schemars(with = "Level")]
    level: LogLevel,
}

/// Log levels, for the schema.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

fn default_level() -> LogLevel {
    LogLevel::Info
}

pub struct Log;

static SPEC: KindSpec = KindSpec {
    name: "log",
    summary: "write a message to the run's log",
    schema: crate::schema::<LogConfig>,
    programs: &[],
    nested_step: None,
    files: &[],
    effects: Effects::Local,
    check: weir_pipeline::kind::no_rules,
};

impl StepKind for Log {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let config: LogConfig = cx.config()?;
            cx.log(config.level, config.message);
            Ok(Value::Null)
        })
    }
}
