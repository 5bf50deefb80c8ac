//! Traces: the exporter's options and the span a run is a child of, from what `Settings` read
//! (the standard OpenTelemetry variables and `TRACEPARENT`), as every OpenTelemetry SDK reads
//! them. With no endpoint, no span is built.

use crate::settings::{Settings, Style, TraceEnv, paint};
use std::time::Duration;
use weir_telemetry::Telemetry;
use weir_telemetry::trace::{Options, Sampler};

/// How long a command that ran a run waits, at most, for its spans to be sent before it exits.
pub const FLUSH: Duration = Duration::from_secs(2);

/// `OTEL_EXPORTER_OTLP_TIMEOUT`'s default, as in the OTel specification.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The telemetry of this process's runs, exporting their spans when an endpoint is set and
/// traces are not disabled. A setting that cannot be used is reported on stderr and left out, as
/// OpenTelemetry SDKs do: traces never stop a run.
pub fn telemetry(settings: &Settings) -> Telemetry {
    let (options, problems) = options(&settings.traces);
    let mut problems = problems;
    let telemetry = match options {
        None => Telemetry::new(),
        Some(options) => Telemetry::new().with_traces(options).unwrap_or_else(|e| {
            problems.push(e);
            Telemetry::new()
        }),
    };
    for problem in problems {
        eprintln!("{}: traces: {problem}", paint("warning", Style::Warn, settings.stderr_color));
    }
    telemetry
}

/// The span `TRACEPARENT` names, which a run started by this process is a child of; an invalid
/// value is ignored, as W3C Trace Context says.
pub fn parent(settings: &Settings) -> Option<weir_engine::TraceContext> {
    settings.traces.traceparent.as_deref().and_then(weir_engine::TraceContext::parse_traceparent)
}

/// The exporter's options (none without an endpoint, or with `OTEL_SDK_DISABLED=true`), and
/// what was wrong with the settings, each left at its default.
fn options(env: &TraceEnv) -> (Option<Options>, Vec<String>) {
    let mut problems = Vec::new();
    let disabled = env.disabled.as_deref().is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let Some(url) =
        Options::url(env.endpoint.as_deref(), env.traces_endpoint.as_deref()).filter(|_| !disabled)
    else {
        return (None, problems);
    };
    let timeout = match env.timeout.as_deref().map(|t| t.trim().parse::<u64>()) {
        None => TIMEOUT,
        Some(Ok(ms)) => Duration::from_millis(ms),
        Some(Err(_)) => {
            problems.push(format!(
                "the timeout \"{}\" is not a number of milliseconds",
                env.timeout.as_deref().unwrap_or("")
            ));
            TIMEOUT
        }
    };
    let sampler = match &env.sampler {
        None => Sampler::default(),
        Some(name) => Sampler::parse(name, env.sampler_arg.as_deref()).unwrap_or_else(|e| {
            problems.push(e);
            Sampler::default()
        }),
    };
    let mut resource = env.resource_attributes.as_deref().map(Options::pairs).unwrap_or_default();
    if let Some(name) = &env.service_name {
        resource.retain(|(k, _)| k != "service.name");
        resource.insert(0, ("service.name".to_owned(), name.clone()));
    }
    let headers = env.headers.as_deref().map(Options::pairs).unwrap_or_default();
    (Some(Options { url, headers, timeout, resource, sampler }), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_sent_only_to_an_endpoint_and_not_when_disabled() {
        let endpoint = TraceEnv { endpoint: Some("http://c:4318".into()), ..TraceEnv::default() };
        let (sent, problems) = options(&endpoint);
        let sent = sent.unwrap();
        assert_eq!((sent.url.as_str(), sent.timeout), ("http://c:4318/v1/traces", TIMEOUT));
        assert!(problems.is_empty());
        assert!(options(&TraceEnv::default()).0.is_none());
        let disabled = TraceEnv { disabled: Some("TRUE".into()), ..endpoint.clone() };
        assert!(options(&disabled).0.is_none());
    }

    #[test]
    fn a_setting_that_cannot_be_used_is_reported_and_left_at_its_default() {
        let env = TraceEnv {
            endpoint: Some("http://c:4318".into()),
            timeout: Some("soon".into()),
            sampler: Some("sometimes".into()),
            service_name: Some("billing".into()),
            resource_attributes: Some("service.name=other,team=core".into()),
            ..TraceEnv::default()
        };
        let (sent, problems) = options(&env);
        let sent = sent.unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(sent.sampler, Sampler::default());
        let resource = [("service.name".to_owned(), "billing".to_owned()), ("team".into(), "core".into())];
        assert_eq!(sent.resource, resource);
    }
}
