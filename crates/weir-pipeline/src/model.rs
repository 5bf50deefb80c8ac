//! The pipeline file format, version 1, as types. These types are the format's single source of
//! truth: `weir schema` is generated from them, and every doc comment here is user documentation.

use crate::duration::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A weir pipeline: a DAG of steps, defined in YAML or JSON.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "weir pipeline (format version 1)")]
pub struct Pipeline {
    /// Name of the pipeline: lowercase letters, digits, `-`, `_` and `.`.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9\-_.]*$"))]
    pub name: String,
    /// Semantic version of the pipeline, e.g. `1.2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What the pipeline does, in a sentence or two (shown by `weir docs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema that every run's input is validated against before the run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Environment variables the pipeline's expressions may read (as `env.NAME` or `$ENV.NAME`),
    /// e.g. `[API_TOKEN]`. Nothing else of the environment is visible, and these only when the
    /// operator allows them (`WEIR_ENV_ALLOW`); their values are hidden in logs and events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Most steps running at once in one run (default: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub concurrency: Option<u32>,
    /// The steps. Order does not matter for execution: `needs` does.
    pub steps: Vec<Step>,
    /// jq expression over the run context that gives the run's output.
    /// Default: the output of the single step nothing depends on (with several, an object keyed by their ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Test cases run by `weir test`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestCase>,
}

/// One step of a pipeline.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id of the step: lowercase letters, digits and `_`, starting with a letter.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub id: String,
    /// What the step does, in a sentence (shown by `weir docs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The step kind, e.g. `transform`, `http`, `sleep`.
    pub uses: String,
    /// Steps that must finish before this one starts. The step runs when all of them finished,
    /// at least one succeeded and none failed; it is skipped when all of them were skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// jq condition over the run context; when it is false or null the step is skipped.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Configuration of the step kind. Any string may hold `${{ jq }}`: a whole-string expression
    /// gives a typed JSON value, an embedded one is spliced in as text.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub with: Map<String, Value>,
    /// Longest time one attempt may take before it is cancelled and counted as failed; it also
    /// bounds the evaluation of the step's `if` and `with` expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Re-run the step when an attempt fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// What the run does when the step fails: `fail` (default) ends the run; `continue` records the
    /// failure and lets dependents run; a step id runs that handler step instead.
    #[serde(default, skip_serializing_if = "OnError::is_fail")]
    pub on_error: OnError,
}

/// Retry policy of a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// How many attempts in all, the first included.
    #[schemars(range(min = 1))]
    pub attempts: u32,
    /// Wait between attempts.
    #[serde(default)]
    pub backoff: Backoff,
}

/// Exponential backoff: the wait before retry `n` is `initial * factor^(n-1)`, at most `max`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// Wait before the first retry.
    #[serde(default = "Backoff::default_initial")]
    pub initial: Duration,
    /// Multiplier applied to the wait after each retry.
    #[serde(default = "Backoff::default_factor")]
    #[schemars(range(min = 1.0))]
    pub factor: f64,
    /// Longest wait between two attempts.
    #[serde(default = "Backoff::default_max")]
    pub max: Duration,
    /// Randomise each wait to between half and all of it, so many retrying runs do not stampede.
    #[serde(default)]
    pub jitter: bool,
}

impl Backoff {
    fn default_initial() -> Duration {
        Duration::from_millis(100)
    }

    fn default_factor() -> f64 {
        2.0
    }

    fn default_max() -> Duration {
        Duration::from_millis(30_000)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Self::default_initial(),
            factor: Self::default_factor(),
            max: Self::default_max(),
            jitter: false,
        }
    }
}

/// What a failure of the step does to the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// The run fails (default).
    #[default]
    Fail,
    /// The failure is recorded and dependents run.
    Continue,
    /// The named handler step runs; the failed step's dependents are skipped.
    Handler(String),
}

impl OnError {
    pub fn is_fail(&self) -> bool {
        *self == OnError::Fail
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "fail" => OnError::Fail,
            "continue" => OnError::Continue,
            id => OnError::Handler(id.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            OnError::Fail => "fail",
            OnError::Continue => "continue",
            OnError::Handler(id) => id,
        }
    }
}

impl Serialize for OnError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OnError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(OnError::parse(&String::deserialize(d)?))
    }
}

impl JsonSchema for OnError {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OnError".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`fail` (default), `continue`, or the id of a handler step.",
            "anyOf": [
                { "enum": ["fail", "continue"] },
                { "type": "string", "pattern": "^[a-z][a-z0-9_]*$" }
            ]
        })
    }
}

/// A test case run by `weir test`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the case checks.
    pub name: String,
    /// The run input.
    #[serde(default)]
    pub input: Value,
    /// Step outputs to use instead of running those steps.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub mock: Map<String, Value>,
    /// Let steps that reach outside the process (`http`) run for real when not mocked. By
    /// default `weir test` refuses such a call and fails the case, so a test never depends on a
    /// service being up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_external: bool,
    /// What the run must produce.
    pub expect: Expect,
}

/// Expectations of a test case; every field given must match.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The run's output, compared as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The run's final status (default: `succeeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Text that the run's error message must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Final status of given steps.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schemars(with = "std::collections::BTreeMap<String, Status>")]
    pub steps: Map<String, Value>,
}

/// Status of a step or a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Running,
    /// Paused until a person acts.
    Waiting,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::Running,
        Status::Waiting,
        Status::Succeeded,
        Status::Failed,
        Status::Skipped,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the status is final.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Skipped | Status::Cancelled)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
