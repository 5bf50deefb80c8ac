//! `approval`: waits for a person to approve or reject.

use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::UNIX_EPOCH;
use weir_engine::{ApprovalRequest, Decision, ErrorKind, OnTimeout, StepCx, StepError, StepKind};
use weir_pipeline::kind::{Problem, With};
use weir_pipeline::{Duration, Effects, KindSpec};

/// Pauses the run until a person answers: the run is `waiting`, `weir approvals` lists the
/// question, and `weir approve RUN STEP [-i JSON]` or `weir reject RUN STEP --reason TEXT`
/// answers it, from any process. The wait is durable: stopping `weir run` (Ctrl-C) leaves the run
/// `waiting`, and `weir resume` continues it — with the answer, if one came meanwhile. Outputs
/// `{approved: true, answer, by, at, timed_out}` (`answer` is the value given with `-i`, null
/// without; `at` is in milliseconds since the Unix epoch); a rejection fails the step with the
/// error kind `rejected`, so `on_error` applies. Runs need a store (not `--no-store`); `weir test`
/// refuses the step unless it is mocked, and `weir dry-run` mocks it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalConfig {
    /// What the person is asked, shown by `weir approvals` and by the waiting `weir run`.
    prompt: String,
    /// A JSON Schema the answer's value (`weir approve -i JSON`) must match; an answer that does
    /// not is refused, and the question keeps waiting. Without one, any value or none.
    #[serde(default)]
    schema: Option<Value>,
    /// Who may answer (user names, as `weir approve --as` or `$USER` gives them); anyone when
    /// empty.
    #[serde(default)]
    assignees: Vec<String>,
    /// How long to wait for an answer, e.g. `30m`, `24h`, counted from when the step first asked
    /// (a resumed run does not start it again); forever when absent. It is applied even if no
    /// process was running when it passed: by the next one that looks.
    #[serde(default)]
    timeout: Option<Duration>,
    /// What no answer within `timeout` means: `approve` (the output has `timed_out: true`),
    /// `reject` (the step fails, error kind `rejected`) or `fail` (the step fails, error kind
    /// `timeout`). Default `fail`.
    #[serde(default)]
    on_timeout: OnTimeoutConfig,
}

/// What no answer within `timeout` means.
#[derive(Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum OnTimeoutConfig {
    Approve,
    Reject,
    #[default]
    Fail,
}

impl From<OnTimeoutConfig> for OnTimeout {
    fn from(c: OnTimeoutConfig) -> OnTimeout {
        match c {
            OnTimeoutConfig::Approve => OnTimeout::Approve,
            OnTimeoutConfig::Reject => OnTimeout::Reject,
            OnTimeoutConfig::Fail => OnTimeout::Fail,
        }
    }
}

pub struct Approval;

static SPEC: KindSpec = KindSpec {
    name: "approval",
    summary: "wait for a person to approve or reject (weir approve / weir reject)",
    schema: crate::schema::<ApprovalConfig>,
    programs: &[],
    nested_step: None,
    files: &[],
    // A person outside the run: mocked in dry runs, refused by tests unless mocked.
    effects: Effects::External,
    check,
};

/// The answer schema must be one values can be checked against; `on_timeout` needs a `timeout`.
fn check(with: With<'_>) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(schema) = with.get("schema").filter(|s| !is_template(s))
        && let Some(why) = weir_pipeline::json_schema::unusable(schema)
    {
        problems.push(Problem::new(&["schema"], format!("`schema` is not a usable JSON Schema: {why}")));
    }
    if with.has("on_timeout") && !with.has("timeout") {
        problems.push(
            Problem::new(&["on_timeout"], "`on_timeout` has no effect without `timeout`")
                .with_hint("add a `timeout` such as `24h`, or remove `on_timeout`"),
        );
    }
    problems
}

/// A `${{ }}` string, which stands for a value known only at run time.
fn is_template(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.contains("${{"))
}

impl StepKind for Approval {
    fn spec(&self) -> &'static KindSpec {
        &SPEC
    }

    fn run<'a>(&'a self, cx: StepCx<'a>) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let config: ApprovalConfig = cx.config()?;
            if let Some(schema) = &config.schema
                && let Some(why) = weir_pipeline::json_schema::unusable(schema)
            {
                return Err(StepError::fatal(ErrorKind::Config, format!("`schema` is not usable: {why}")));
            }
            let request = ApprovalRequest {
                prompt: config.prompt,
                schema: config.schema,
                assignees: config.assignees,
                timeout: config.timeout.map(|t| t.0),
                on_timeout: config.on_timeout.into(),
            };
            let timeout = config.timeout;
            let answer = cx.ask(request).await?;
            let by = &answer.by;
            match answer.decision {
                Decision::Approved => {
                    let at = answer.at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
                    Ok(json!({
                        "approved": true,
                        "answer": answer.value,
                        "by": by,
                        "at": at,
                        "timed_out": answer.timed_out,
                    }))
                }
                Decision::Rejected if answer.timed_out => {
                    let within = timeout.map_or_else(String::new, |t| format!(" within {t}"));
                    Err(StepError::fatal(
                        ErrorKind::Rejected,
                        format!("no answer came{within} (on_timeout: reject)"),
                    ))
                }
                Decision::Rejected => {
                    let why = answer.reason.as_deref().map_or_else(String::new, |r| format!(": {r}"));
                    Err(StepError::fatal(ErrorKind::Rejected, format!("rejected by {by}{why}")))
                }
                Decision::Expired => {
                    let within = timeout.map_or_else(String::new, |t| format!(" within {t}"));
                    Err(StepError::fatal(
                        ErrorKind::Timeout,
                        format!("no answer came{within} (on_timeout: fail)"),
                    ))
                }
            }
        })
    }
}
