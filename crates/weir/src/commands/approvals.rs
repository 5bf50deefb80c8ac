//! `weir approvals`, `weir approve` and `weir reject`: the questions of `approval` steps that wait
//! for a person, and their answers. The store keeps both (`weir_store::Store::answer` takes an
//! answer at most once); a waiting `weir run` reads the answer from there, so these commands can
//! run in any process, on any machine that reaches the store.

use super::runs::{PROMISE, lookup_failure, no_such_run, now_ms, open, store_failure};
use crate::exit::EXIT_INVALID;
use crate::input::InputArgs;
use crate::settings::{EnvVars, Settings, Style, paint};
use anyhow::Result;
use std::process::ExitCode;
use weir_api::StoredApproval;
use weir_pipeline::Status;
use weir_store::{ApprovalKey, Durability, Given, Store};

/// List the approvals that wait for an answer
///
/// Each is an `approval` step of a run that is `waiting` for a person: `weir approve` or `weir
/// reject` answers it. An approval whose timeout has passed is settled first, by its
/// `on_timeout`, and is no longer listed.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  weir approvals\n  weir approvals --json")]
pub struct ListArgs {
    /// Print a JSON array of `{run_id, pipeline, run_status, step, item, prompt, schema,
    /// assignees, on_timeout, requested_at, deadline, decision, answer, by, decided_at, reason,
    /// timed_out}`.
    #[arg(long)]
    json: bool,
}

/// Approve a waiting `approval` step
///
/// The answer's value (`-i`, `--set`; `{}` by default) must match the step's `schema`, and the
/// one answering (`--as`, else $USER) must be one of its `assignees` when it names any. An
/// approval is answered once: a second answer, or one after its timeout settled it, is refused.
/// The `weir run` waiting on it goes on within a second; if no process runs it any more
/// (stopped with Ctrl-C), a `weir worker` or `weir resume RUN` continues it with the answer.
///
/// Exit codes: 0 taken, 2 refused (no such run or approval, already answered, an answer that
/// does not match the schema, not an assignee), 3 the store cannot be opened.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir approve 019ae5c2 review\n  weir approve 019ae5c2 review -i '{\"ok\": true, \"note\": \"ship it\"}'\n  \
    weir approve 019ae5c2 review --set ok=true --as ada\n  weir approve 019ae5c2 check --item 3"
)]
pub struct ApproveArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    answer: InputArgs,
}

/// Reject a waiting `approval` step
///
/// The step fails with the error kind `rejected` and the reason, so its `on_error` applies
/// (`continue`, a handler step, or failing the run). Refused as `weir approve` is: once answered,
/// an approval stays answered.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  weir reject 019ae5c2 review --reason 'the totals do not add up'\n  \
    weir reject 019ae5c2 review --reason 'not now' --as ada")]
pub struct RejectArgs {
    #[command(flatten)]
    target: Target,
    /// Why: the step's error message, as `rejected by NAME: REASON`.
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

/// Which approval an answer is for, and who gives it.
#[derive(clap::Args)]
struct Target {
    /// The run's id, or enough of its start to name one run (`weir approvals` lists them).
    run: String,
    /// The id of the `approval` step.
    step: String,
    /// The `foreach` item, for an approval that is a `foreach` step's nested step.
    #[arg(long, value_name = "N")]
    item: Option<usize>,
    /// Who answers (checked against the step's `assignees`).
    #[arg(long = "as", value_name = "NAME", env = EnvVars::USER)]
    by: Option<String>,
    /// Print the approval as `weir approvals --json` prints each, once answered.
    #[arg(long)]
    json: bool,
}

pub fn list(args: ListArgs, settings: &Settings) -> Result<ExitCode> {
    let runtime = super::runtime(super::Threads::One)?;
    runtime.block_on(async {
        let store = open(settings, Durability::Normal).await?;
        let pending = store.pending_approvals(now_ms()).await.map_err(store_failure)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&pending)?);
            return Ok(ExitCode::SUCCESS);
        }
        if pending.is_empty() {
            if !settings.quiet {
                eprintln!("no approval is waiting (store: {})", store.location());
            }
            return Ok(ExitCode::SUCCESS);
        }
        outln!(
            "{:<36}  {:<20}  {:<16}  {:<9}  {:<12}  prompt",
            "run",
            "pipeline",
            "step",
            "waiting",
            "timeout"
        );
        for a in &pending {
            outln!(
                "{:<36}  {:<20}  {:<16}  {:<9}  {:<12}  {}{}",
                a.run_id,
                a.pipeline,
                step_label(&a.step, a.item),
                since(a.requested_at),
                a.deadline.map_or_else(|| "none".to_owned(), |d| format!("{} {}", left(d), a.on_timeout)),
                a.prompt,
                assignees(&a.assignees),
            );
        }
        if settings.interactive() {
            let first = &pending[0];
            eprintln!(
                "{}",
                paint(
                    &format!(
                        "answer with `weir approve {} {}` or `weir reject {} {} --reason TEXT`",
                        first.run_id,
                        target_args(&first.step, first.item),
                        first.run_id,
                        target_args(&first.step, first.item),
                    ),
                    Style::Dim,
                    settings.stderr_color
                )
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn approve(args: ApproveArgs, settings: &Settings) -> Result<ExitCode> {
    let value = args.answer.value()?;
    answer(&args.target, true, value, None, settings)
}

pub fn reject(args: RejectArgs, settings: &Settings) -> Result<ExitCode> {
    answer(&args.target, false, serde_json::Value::Null, Some(args.reason.clone()), settings)
}

/// Checks and records an answer; exits 2 with the reason when it is refused.
fn answer(
    target: &Target,
    approved: bool,
    value: serde_json::Value,
    reason: Option<String>,
    settings: &Settings,
) -> Result<ExitCode> {
    let runtime = super::runtime(super::Threads::One)?;
    runtime.block_on(async {
        let store = open(settings, PROMISE).await?;
        let question = match find(&store, target).await {
            Ok(question) => question,
            Err(refusal) => return refuse(&refusal, settings),
        };
        let by = match who(target, &question) {
            Ok(by) => by,
            Err(refusal) => return refuse(&refusal, settings),
        };
        if approved
            && let Some(schema) = &question.schema
            && let Err(refusal) = matches_schema(schema, &value)
        {
            return refuse(&refusal, settings);
        }
        let key = ApprovalKey { run_id: &question.run_id, step: &question.step, item: question.item };
        let given = Given { approved, value, by, reason, at_ms: now_ms() };
        let taken = store.answer(key, &given).await.map_err(store_failure)?;
        let answered = find(&store, target).await;
        if !taken {
            let refusal = match &answered {
                Ok(q) => already(q),
                Err(refusal) => refusal.clone(),
            };
            return refuse(&refusal, settings);
        }
        if target.json
            && let Ok(q) = &answered
        {
            outln!("{}", serde_json::to_string_pretty(q)?);
        }
        if !settings.quiet {
            let verb = if approved { "approved" } else { "rejected" };
            eprintln!(
                "{verb} step {} of run {}; {}",
                step_label(&question.step, question.item),
                question.run_id,
                what_next(&store, &question.run_id).await
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The approval `target` names, or why it cannot be answered (no such run or step, or it has
/// ended or been answered).
async fn find(store: &Store, target: &Target) -> Result<StoredApproval, String> {
    let run = match store.run(&target.run).await {
        Ok(Some(detail)) => detail.run,
        Ok(None) => return Err(no_such_run(&target.run, store).to_string()),
        Err(e) => return Err(format!("{:#}", lookup_failure(e))),
    };
    let approvals = store.approvals(&run.run_id, now_ms()).await.map_err(|e| e.to_string())?;
    let found = approvals.iter().find(|a| a.step == target.step && a.item == target.item);
    let Some(question) = found else {
        let asked: Vec<String> = approvals.iter().map(|a| target_args(&a.step, a.item)).collect();
        let which = step_label(&target.step, target.item);
        return Err(match asked.is_empty() {
            true => format!("run {} has no approval that asked for an answer", run.run_id),
            false => format!(
                "run {} has no approval at step {which}; its approvals are at: {}",
                run.run_id,
                asked.join(", ")
            ),
        });
    };
    if question.decision != "pending" {
        return Ok(question.clone());
    }
    if !matches!(question.run_status, Status::Waiting | Status::Running) {
        return Err(format!(
            "run {} is {}: no step waits for this answer any more",
            run.run_id, question.run_status
        ));
    }
    Ok(question.clone())
}

/// Why an answered approval cannot be answered again.
fn already(q: &StoredApproval) -> String {
    let by = q.by.as_deref().unwrap_or("?");
    let when = q.decided_at.map_or_else(String::new, |at| format!(" {}", since(at)));
    match (q.timed_out, q.decision.as_str()) {
        (true, decision) => format!(
            "the approval of step {} of run {} timed out{when} (on_timeout: {}, so it is {decision}); it cannot be answered now",
            step_label(&q.step, q.item),
            q.run_id,
            q.on_timeout
        ),
        (false, decision) => format!(
            "the approval of step {} of run {} was already answered: {decision} by {by}{when}",
            step_label(&q.step, q.item),
            q.run_id
        ),
    }
}

/// Who answers: `--as` or $USER, one of the step's assignees when it names any.
fn who(target: &Target, question: &StoredApproval) -> Result<String, String> {
    if question.decision != "pending" {
        return Err(already(question));
    }
    let Some(by) = target.by.clone().filter(|b| !b.trim().is_empty()) else {
        return Err(format!("who answers is not known: give --as NAME (or set {})", EnvVars::USER));
    };
    if !question.assignees.is_empty() && !question.assignees.contains(&by) {
        return Err(format!(
            "{by} may not answer step {} of run {}: its assignees are {}",
            step_label(&question.step, question.item),
            question.run_id,
            question.assignees.join(", ")
        ));
    }
    Ok(by)
}

/// The answer's value against the step's schema: every mismatch, named by where it is.
fn matches_schema(schema: &serde_json::Value, value: &serde_json::Value) -> Result<(), String> {
    let problems = weir_pipeline::json_schema::mismatches(schema, value).map_err(|e| {
        format!(
            "the step's `schema` cannot check answers ({e}); reject it, or fix the pipeline and run it again"
        )
    })?;
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|(at, what)| format!("  {}: {what}", if at.is_empty() { "the answer" } else { at }))
        .collect();
    Err(format!(
        "the answer {value} does not match the step's schema {schema}:\n{}\n(give the answer with -i JSON or --set KEY=JSON)",
        lines.join("\n")
    ))
}

fn refuse(refusal: &str, settings: &Settings) -> Result<ExitCode> {
    eprintln!("{}: {refusal}", paint("error", Style::Error, settings.stderr_color));
    Ok(ExitCode::from(EXIT_INVALID))
}

/// What happens to the run now: a live process goes on with it, or it waits for `weir resume`.
/// A process that read the answer may have finished the run and exited already, so a dead owner
/// is told apart from a run that went on by reading its status again.
async fn what_next(store: &Store, run_id: &str) -> String {
    let owner = match store.interrupted(run_id).await {
        Ok(Some(found)) => found.owner,
        _ => None,
    };
    match owner.as_deref().map(|o| (crate::owner::alive(o), crate::owner::pid(o))) {
        Some((Some(true), pid)) => format!("process {} goes on with it", pid.unwrap_or("?")),
        Some((Some(false), _)) => match store.run(run_id).await {
            Ok(Some(found)) if found.run.status != Status::Waiting => {
                format!("the process that waited on it went on (the run is now {})", found.run.status)
            }
            _ => format!(
                "no process runs it now: a `weir worker` or `weir resume {run_id}` continues it with the answer"
            ),
        },
        _ => {
            format!("the process that waits on it goes on; if none does, `weir resume {run_id}` continues it")
        }
    }
}

fn step_label(step: &str, item: Option<usize>) -> String {
    match item {
        Some(i) => format!("{step}[{i}]"),
        None => step.to_owned(),
    }
}

/// The step as `weir approve` takes it: `STEP`, or `STEP --item N`.
fn target_args(step: &str, item: Option<usize>) -> String {
    match item {
        Some(i) => format!("{step} --item {i}"),
        None => step.to_owned(),
    }
}

fn assignees(names: &[String]) -> String {
    if names.is_empty() { String::new() } else { format!(" (for {})", names.join(", ")) }
}

/// How long ago `at` (ms since the epoch) was, as `weir runs` says it.
fn since(at: u64) -> String {
    super::runs::ago(at)
}

/// How long until `at`: `in 45s`, `in 5m`, `in 3h`, `in 2d`; `now` once it has passed.
fn left(at: u64) -> String {
    let secs = at.saturating_sub(now_ms()) / 1000;
    match secs {
        0 => "now".into(),
        1..60 => format!("in {secs}s"),
        60..3600 => format!("in {}m", secs / 60),
        3600..86_400 => format!("in {}h", secs / 3600),
        _ => format!("in {}d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_that_breaks_the_schema_names_each_mismatch() {
        let schema = json!({"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}});
        assert!(matches_schema(&schema, &json!({"ok": true})).is_ok());
        let refusal = matches_schema(&schema, &json!({"ok": "yes"})).unwrap_err();
        assert!(refusal.contains("/ok: \"yes\" is not of type \"boolean\""), "{refusal}");
        let refusal = matches_schema(&schema, &json!({})).unwrap_err();
        assert!(refusal.contains("the answer: \"ok\" is a required property"), "{refusal}");
    }
}
