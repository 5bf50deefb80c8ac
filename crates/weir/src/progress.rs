//! Rendering a run's events on stderr: live progress on a terminal, JSON lines with `--events`,
//! and, whatever the mode, the messages of `log` steps.

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
}

impl EventSink for Progress {
    fn emit(&self, event: &Event) {
        match self {
            Progress::Json => {
                if let Ok(line) = serde_json::to_string(event) {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
            Progress::Quiet => {
                if let EventKind::StepLog { step, level, message } = &event.kind {
                    eprintln!("[{}] {step}: {message}", level_name(*level));
                }
            }
            Progress::Live(live) => live.emit(event),
        }
    }
}

fn level_name(level: weir_engine::LogLevel) -> &'static str {
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
        let c = self.color;
        let line = match &event.kind {
            EventKind::StepStarted { step, .. } => {
                self.set_running(step, true);
                None
            }
            EventKind::StepRetrying { step, attempt, error, delay } => Some(format!(
                "  {} {step} attempt {attempt} failed: {error} {}",
                paint("↻", Style::Warn, c),
                paint(&format!("(retrying in {})", human(*delay)), Style::Dim, c)
            )),
            EventKind::StepMocked { step, .. } => {
                Some(format!("  {} {step} {}", paint("◇", Style::Dim, c), paint("mocked", Style::Dim, c)))
            }
            EventKind::StepSucceeded { step, duration, .. } => {
                self.done(step);
                Some(format!(
                    "  {} {step} {}",
                    paint("✓", Style::Ok, c),
                    paint(&human(*duration), Style::Dim, c)
                ))
            }
            EventKind::StepFailed { step, attempts, error, on_error, .. } => {
                self.done(step);
                let after = if *attempts > 1 { format!(" after {attempts} attempts") } else { String::new() };
                let then = match on_error.as_str() {
                    "fail" => String::new(),
                    "continue" => paint(" (continuing)", Style::Dim, c),
                    handler => paint(&format!(" (handled by {handler})"), Style::Dim, c),
                };
                Some(format!("  {} {step} failed{after}: {error}{then}", paint("✗", Style::Error, c)))
            }
            EventKind::StepSkipped { step, reason } => {
                self.done(step);
                Some(paint(&format!("  - {step} skipped: {reason}"), Style::Dim, c))
            }
            EventKind::StepCancelled { step } => {
                self.done(step);
                Some(paint(&format!("  ⊘ {step} cancelled"), Style::Dim, c))
            }
            EventKind::StepLog { step, level, message } => {
                Some(format!("  [{}] {step}: {message}", level_name(*level)))
            }
            EventKind::RunFinished { .. } => {
                self.bar.finish_and_clear();
                None
            }
            EventKind::RunStarted { .. } => None,
        };
        if let Some(line) = line {
            self.bar.println(line);
        }
    }

    fn done(&self, step: &str) {
        self.set_running(step, false);
        self.bar.inc(1);
    }

    fn set_running(&self, step: &str, on: bool) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            running.insert(step.to_owned());
        } else {
            running.remove(step);
        }
        let shown: Vec<&str> = running.iter().take(4).map(String::as_str).collect();
        let more = running.len().saturating_sub(shown.len());
        let msg = match (shown.is_empty(), more) {
            (true, _) => String::new(),
            (false, 0) => format!("· {}", shown.join(", ")),
            (false, n) => format!("· {} +{n}", shown.join(", ")),
        };
        self.bar.set_message(msg);
    }
}
