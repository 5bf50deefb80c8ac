//! The typed events of a run. The CLI renders them; persistence and telemetry consume them too.
//! Invariant: every step of a run gets exactly one terminal event (succeeded, failed, skipped or
//! cancelled), and `RunFinished` comes last.

use serde::Serialize;
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use weir_pipeline::Status;

/// One thing that happened in a run.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Position in the run's event stream, from 0.
    pub seq: u64,
    /// Wall-clock time, in milliseconds since the Unix epoch.
    #[serde(serialize_with = "unix_millis")]
    pub at: SystemTime,
    pub run_id: std::sync::Arc<str>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted {
        pipeline: String,
    },
    StepStarted {
        step: String,
        attempt: u32,
    },
    /// An attempt failed and the step will be tried again after `delay_ms`.
    StepRetrying {
        step: String,
        attempt: u32,
        error: String,
        #[serde(rename = "delay_ms", serialize_with = "millis")]
        delay: Duration,
    },
    /// The step was not run: a mock or a dry run gave its output. `config` is its resolved `with`.
    StepMocked {
        step: String,
        kind: String,
        config: Value,
    },
    StepSucceeded {
        step: String,
        attempts: u32,
        output: Value,
        #[serde(rename = "duration_ms", serialize_with = "millis")]
        duration: Duration,
    },
    StepFailed {
        step: String,
        attempts: u32,
        error: String,
        /// What the run does about it: `fail`, `continue` or the handler's id.
        on_error: String,
        #[serde(rename = "duration_ms", serialize_with = "millis")]
        duration: Duration,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    StepCancelled {
        step: String,
    },
    /// A `log` step's message.
    StepLog {
        step: String,
        level: LogLevel,
        message: String,
    },
    RunFinished {
        status: Status,
        output: Value,
        error: Option<String>,
        #[serde(rename = "duration_ms", serialize_with = "millis")]
        duration: Duration,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

fn unix_millis<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64))
}

/// Receives a run's events as they happen. Called from the run's task; keep it quick.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &Event);
}

/// Drops every event.
#[derive(Debug, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _: &Event) {}
}

/// Keeps every event, for tests and for rendering after the fact.
#[derive(Debug, Default)]
pub struct Collector(Mutex<Vec<Event>>);

impl Collector {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl EventSink for Collector {
    fn emit(&self, event: &Event) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event.clone());
    }
}
