//! Rendering a run's events on stderr: live progress on a terminal, JSON lines with `--events`,
//! and, whatever the mode, the messages of `log` steps. Work inside a step (`foreach` items,
//! sub-pipeline runs) is labelled by where it runs: `fetch[2]`, `sub › load`.

use crate::settings::{Style, paint};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;
use weir_engine::{Event, EventKind, EventSink};

/// How events are shown.
pub enum Progress {
    /// One JSON object per line.
    Json,
    /// A progress line and a line per finished step (a terminal).
    Live(Live),
    /// Only `log` step messages.
    Quiet,
}

pub struct Live {
    bar: ProgressBar,
    color: bool,
    /// Ids of the steps running now, shown on the progress line.
    running: Mutex<BTreeSet<String>>,
}

impl Progress {
    pub fn live(steps: usize, color: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} steps {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress::Live(Live { bar, color, running: Mutex::new(BTreeSet::new()) })
    }

    /// Clears the progress line. A run that finishes clears it itself, but one that fails to
    /// start, or a process that exits on a second signal, must too: the line would otherwise stay
    /// on the terminal under the shell's prompt. Clearing twice is harmless.
    pub fn finish(&self) {
        if let Progress::Live(live) = self {
            live.bar.finish_and_clear();
        }
    }

    /// A line from weir itself about the run (not an event): above the progress line on a
    /// terminal, on stderr when piped, and nowhere with `--events`, whose stderr is JSON lines.
    pub fn note(&self, text: &str) {
        match self {
            Progress::Json => {}
            Progress::Live(live) => live.bar.println(format!("  {}", paint(text, Style::Dim, live.color))),
            Progress::Quiet => eprintln!("{text}"),
        }
    }
}

impl EventSink for Progress {
    fn emit(&self, event: &Event) {
        match self {
            Progress::Json => {
                if let Ok(line) = serde_json::to_string(&weir_api::Event::from(event)) {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
            Progress::Quiet => match &event.kind {
                EventKind::StepLog { level, message, .. } => {
                    eprintln!("[{}] {}: {message}", level_name(*level), label(event));
                }
                // Whoever started the run must learn that it waits, and how to answer.
                EventKind::ApprovalRequested { .. } => {
                    for line in waiting(event, false) {
                        eprintln!("{}", line.trim_start());
                    }
                }
                _ => {}
            },
            Progress::Live(live) => live.emit(event),
        }
    }
}

pub fn level_name(level: weir_engine::LogLevel) -> &'static str {
    match level {
        weir_engine::LogLevel::Debug => "debug",
        weir_engine::LogLevel::Info => "info",
        weir_engine::LogLevel::Warn => "warn",
        weir_engine::LogLevel::Error => "error",
    }
}

/// A duration the way people read them: `850µs`, `12ms`, `1.4s`.
pub fn human(d: Duration) -> String {
    let us = d.as_micros();
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..10_000 => format!("{:.1}ms", us as f64 / 1e3),
        10_000..1_000_000 => format!("{}ms", us / 1000),
        _ => format!("{:.2}s", d.as_secs_f64()),
    }
}

impl Live {
    fn emit(&self, event: &Event) {
        // The bar counts the pipeline's own steps; nested work shows on the running list.
        let own = is_own(event);
        match &event.kind {
            EventKind::StepStarted { .. } => self.set_running(label(event), true),
            EventKind::StepSucceeded { .. }
            | EventKind::StepFailed { .. }
            | EventKind::StepSkipped { .. }
            | EventKind::StepCancelled { .. } => {
                self.set_running(label(event), false);
                if own {
                    self.bar.inc(1);
                }
            }
            EventKind::RunFinished { .. } if event.parent.is_none() => self.bar.finish_and_clear(),
            _ => {}
        }
        for line in waiting(event, self.color) {
            self.bar.println(line);
        }
        let shown =
            own || !matches!(event.kind, EventKind::StepSucceeded { .. } | EventKind::StepSkipped { .. });
        if shown && let Some(line) = line(&event.kind, &label(event), self.color) {
            self.bar.println(line);
        }
    }

    fn set_running(&self, label: String, on: bool) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            running.insert(label);
        } else {
            running.remove(&label);
        }
        self.bar.set_message(running_message(&running));
    }
}

/// Whether an event is about one of the pipeline's own steps (not an item or a sub-pipeline's).
fn is_own(event: &Event) -> bool {
    event.parent.is_none() && event.kind.step().is_some_and(|at| at.item.is_none())
}

/// How a step event names its step: `fetch`, an item `fetch[2]`, a sub-pipeline's step
/// `sub › load` or `each[2] › load`.
fn label(event: &Event) -> String {
    let parent = event.parent.as_deref().map(|p| (p.step.as_str(), p.item));
    place(parent, event.kind.step().map(|at| (&*at.step, at.item)))
}

/// Where work happened: a step (and item) of the run, or of the sub-pipeline run that a step
/// (and item) of it started: `load`, `load[2]`, `each[2] › load`.
pub fn place(parent: Option<(&str, Option<usize>)>, step: Option<(&str, Option<usize>)>) -> String {
    let name = |(step, item): (&str, Option<usize>)| match item {
        Some(i) => format!("{step}[{i}]"),
        None => step.to_owned(),
    };
    let inner = step.map(name).unwrap_or_default();
    match parent {
        Some(parent) => format!("{} › {inner}", name(parent)),
        None => inner,
    }
}

/// What a failed step's `on_error` does next, for the line that reports the failure; nothing
/// when the failure fails the run.
pub fn handling(on_error: &str) -> Option<String> {
    match on_error {
        "fail" => None,
        "continue" => Some("continuing".into()),
        handler => Some(format!("handled by {handler}")),
    }
}

/// What a run that waits for an answer says: the question, and the commands that answer it.
fn waiting(event: &Event, c: bool) -> Vec<String> {
    let EventKind::ApprovalRequested { at, request } = &event.kind else { return Vec::new() };
    let target = match at.item {
        Some(i) => format!("{} {} --item {i}", event.run_id, at.step),
        None => format!("{} {}", event.run_id, at.step),
    };
    let mut lines = vec![format!(
        "  {} {} waits for approval: {}",
        paint("⏸", Style::Warn, c),
        label(event),
        request.prompt
    )];
    if !request.assignees.is_empty() {
        lines.push(paint(&format!("    for {}", request.assignees.join(", ")), Style::Dim, c));
    }
    let with = if request.schema.is_some() { " -i JSON" } else { "" };
    lines.push(paint(
        &format!("    answer: weir approve {target}{with}   or   weir reject {target} --reason TEXT"),
        Style::Dim,
        c,
    ));
    lines
}

/// The line printed for an event on a terminal, if any; `step` is the event's label.
fn line(kind: &EventKind, step: &str, c: bool) -> Option<String> {
    Some(match kind {
        EventKind::StepRetrying { attempt, error, delay, .. } => format!(
            "  {} {step} attempt {attempt} failed: {error} {}",
            paint("↻", Style::Warn, c),
            paint(&format!("(retrying in {})", human(*delay)), Style::Dim, c)
        ),
        EventKind::StepMocked { .. } => {
            format!("  {} {step} {}", paint("◇", Style::Dim, c), paint("mocked", Style::Dim, c))
        }
        EventKind::StepSucceeded { duration, .. } => {
            format!("  {} {step} {}", paint("✓", Style::Ok, c), paint(&human(*duration), Style::Dim, c))
        }
        EventKind::StepFailed { attempts, error, on_error, .. } => {
            let after = if *attempts > 1 { format!(" after {attempts} attempts") } else { String::new() };
            let then =
                handling(on_error).map_or_else(String::new, |h| paint(&format!(" ({h})"), Style::Dim, c));
            format!("  {} {step} failed{after}: {error}{then}", paint("✗", Style::Error, c))
        }
        EventKind::StepSkipped { reason, .. } => {
            paint(&format!("  - {step} skipped: {reason}"), Style::Dim, c)
        }
        EventKind::StepCancelled { .. } => paint(&format!("  ⊘ {step} cancelled"), Style::Dim, c),
        EventKind::StepLog { level, message, .. } => format!("  [{}] {step}: {message}", level_name(*level)),
        EventKind::ApprovalAnswered { decision, by, .. } => {
            let mark = match decision {
                weir_engine::Decision::Approved => paint("✓", Style::Ok, c),
                weir_engine::Decision::Rejected | weir_engine::Decision::Expired => {
                    paint("✗", Style::Error, c)
                }
            };
            format!("  {mark} {step} {} by {by}", decision.as_str())
        }
        EventKind::ApprovalRequested { .. }
        | EventKind::RunStarted { .. }
        | EventKind::RunResumed { .. }
        | EventKind::StepStarted { .. }
        | EventKind::RunFinished { .. } => return None,
    })
}

/// The progress line's list of running steps: the first four, then how many more.
fn running_message(running: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = running.iter().take(4).map(String::as_str).collect();
    match (shown.is_empty(), running.len() - shown.len()) {
        (true, _) => String::new(),
        (false, 0) => format!("· {}", shown.join(", ")),
        (false, n) => format!("· {} +{n}", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_lines_say_what_happened_to_each_step() {
        let failed = EventKind::StepFailed {
            at: at("charge"),
            attempts: 3,
            error: "declined".into(),
            error_kind: weir_engine::ErrorKind::Step,
            on_error: "refund".into(),
            duration: Duration::from_millis(5),
        };
        assert_eq!(
            line(&failed, "charge", false).as_deref(),
            Some("  ✗ charge failed after 3 attempts: declined (handled by refund)")
        );
        let retrying = EventKind::StepRetrying {
            at: at("fetch"),
            attempt: 1,
            error: "HTTP 503".into(),
            error_kind: weir_engine::ErrorKind::HttpStatus,
            delay: Duration::from_millis(100),
        };
        assert_eq!(
            line(&retrying, "fetch[2]", false).as_deref(),
            Some("  ↻ fetch[2] attempt 1 failed: HTTP 503 (retrying in 100ms)")
        );
        let skipped = EventKind::StepSkipped { at: at("vip"), reason: "condition is false".into() };
        assert_eq!(line(&skipped, "vip", false).as_deref(), Some("  - vip skipped: condition is false"));
        let span = weir_engine::SpanId::random();
        let started = EventKind::StepStarted { at: at("a"), attempt: 1, span, parent_span: span };
        assert!(line(&started, "a", false).is_none());
        assert!(
            line(&skipped, "vip", true).is_some_and(|l| l.contains("\x1b[2m")),
            "colours on a colour terminal"
        );
    }

    fn at(step: &str) -> weir_engine::StepAt {
        weir_engine::StepAt { step: step.into(), kind: "k".into(), item: None }
    }

    #[test]
    fn nested_work_is_labelled_by_where_it_runs() {
        let event = |parent: Option<weir_engine::Parent>, item| Event {
            seq: 0,
            at: std::time::SystemTime::UNIX_EPOCH,
            run_id: "r".into(),
            parent: parent.map(std::sync::Arc::new),
            kind: EventKind::StepStarted {
                at: weir_engine::StepAt { step: "load".into(), kind: "k".into(), item },
                attempt: 1,
                span: weir_engine::SpanId::random(),
                parent_span: weir_engine::SpanId::random(),
            },
        };
        let parent = |item| Some(weir_engine::Parent { run_id: "p".into(), step: "each".into(), item });
        assert_eq!(label(&event(None, None)), "load");
        assert_eq!(label(&event(None, Some(2))), "load[2]");
        assert_eq!(label(&event(parent(Some(3)), None)), "each[3] › load");
        assert_eq!(label(&event(parent(None), None)), "each › load");
        assert!(
            is_own(&event(None, None))
                && !is_own(&event(None, Some(0)))
                && !is_own(&event(parent(None), None))
        );
    }

    #[test]
    fn the_progress_line_lists_running_steps() {
        let running: BTreeSet<String> = ["a", "b", "c", "d", "e", "f"].map(String::from).into();
        assert_eq!(running_message(&running), "· a, b, c, d +2");
        assert_eq!(running_message(&BTreeSet::new()), "");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_micros(850)), "850µs");
        assert_eq!(human(Duration::from_micros(4_300)), "4.3ms");
        assert_eq!(human(Duration::from_millis(23)), "23ms");
        assert_eq!(human(Duration::from_millis(1_400)), "1.40s");
    }
}
