//! The environment variables a run may show its pipelines: those they declare in `env:` and the
//! operator allows in `WEIR_ENV_ALLOW`, nothing else. Their values are treated as secrets: what
//! weir prints about a run (events, progress, `log` messages, the dry-run walk) shows `***`.

use crate::settings;
use anyhow::{Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use weir_engine::{Event, EventKind, EventSink};
use weir_pipeline::Bundle;

/// The variables the run's pipelines declare, with their values. A declared variable that is not
/// allowed (`run.env_allow`, the names `allowed` lists) stops the run before it starts; one that
/// is allowed but unset is absent (`null`).
pub fn for_run(bundle: &Bundle, allowed: &[String]) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for plan in bundle.plans() {
        for name in &plan.pipeline().env {
            if !allowed.contains(name) {
                bail!(
                    "pipeline \"{}\" reads the environment variable {name}, which is not allowed here; \
                     allow it with {}={name} (a comma-separated list) or `env_allow` in [run] of weir.toml",
                    plan.name(),
                    settings::EnvVars::WEIR_ENV_ALLOW
                );
            }
            if let Some(value) = settings::env_value(name) {
                values.insert(name.clone(), value);
            }
        }
    }
    Ok(values)
}

/// Hides the values of a run's variables in what is printed about it.
#[derive(Clone, Debug, Default)]
pub struct Redact {
    secrets: Vec<String>,
}

impl Redact {
    /// Values shorter than this are left alone: hiding every `1` or `true` would hide more than
    /// secrets and protect nothing.
    const SHORTEST: usize = 4;

    pub fn new(env: &BTreeMap<String, String>) -> Self {
        let mut secrets: Vec<String> = env.values().filter(|v| v.len() >= Self::SHORTEST).cloned().collect();
        // Longest first, so a secret that contains another is hidden whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    pub fn text(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |t, s| t.replace(s.as_str(), "***"))
    }

    /// Hides secrets in every string of a JSON value (keys included).
    pub fn json(&self, value: &mut Value) {
        if self.secrets.is_empty() {
            return;
        }
        match value {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.json(&mut v);
                    map.insert(self.text(&k), v);
                }
            }
            _ => {}
        }
    }
}

/// An event sink that hides a run's secrets before the events reach `inner`.
pub struct Redacted {
    pub inner: std::sync::Arc<dyn EventSink>,
    pub redact: Redact,
}

impl EventSink for Redacted {
    fn emit(&self, event: &Event) {
        if self.redact.secrets.is_empty() {
            return self.inner.emit(event);
        }
        let mut event = event.clone();
        self.redact.event(&mut event.kind);
        self.inner.emit(&event);
    }

    fn yielded(&self) {
        self.inner.yielded();
    }
}

impl Redact {
    /// Hides secrets in the values and messages an event carries.
    fn event(&self, kind: &mut EventKind) {
        match kind {
            EventKind::RunStarted { input, .. } => self.json(input),
            EventKind::StepMocked { config, .. } => self.json(config),
            EventKind::StepSucceeded { output, .. } => self.json(output),
            EventKind::RunFinished { output, error, .. } => {
                self.json(output);
                if let Some(e) = error {
                    *e = self.text(e);
                }
            }
            EventKind::StepRetrying { error, .. } | EventKind::StepFailed { error, .. } => {
                *error = self.text(error)
            }
            EventKind::StepLog { message, .. } => *message = self.text(message),
            EventKind::ApprovalRequested { request, .. } => request.prompt = self.text(&request.prompt),
            EventKind::RunResumed { .. }
            | EventKind::StepStarted { .. }
            | EventKind::StepSkipped { .. }
            | EventKind::StepCancelled { .. }
            | EventKind::ApprovalAnswered { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_hidden_in_text_and_json() {
        let env =
            BTreeMap::from([("TOKEN".to_owned(), "s3cr3t-xyz".to_owned()), ("N".to_owned(), "1".to_owned())]);
        let redact = Redact::new(&env);
        assert_eq!(redact.text("Bearer s3cr3t-xyz, n=1"), "Bearer ***, n=1");
        let mut v =
            json!({"headers": {"authorization": "Bearer s3cr3t-xyz"}, "s3cr3t-xyz": [1, "s3cr3t-xyz"]});
        redact.json(&mut v);
        assert_eq!(v, json!({"headers": {"authorization": "Bearer ***"}, "***": [1, "***"]}));
    }
}
