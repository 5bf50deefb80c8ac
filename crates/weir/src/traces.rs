//! Traces: the exporter's options from `[traces]` of the configuration (which the standard
//! OpenTelemetry variables set, as every OpenTelemetry SDK reads them), and the span a run is a
//! child of, from `TRACEPARENT`. With no endpoint, no span is built.

use crate::config::{Origin, Traces};
use crate::settings::Settings;
use std::time::Duration;
use weir_telemetry::Telemetry;
use weir_telemetry::trace::{Options, Sampler};

/// How long a command that ran a run waits, at most, for its spans to be sent before it exits.
pub const FLUSH: Duration = Duration::from_secs(2);

/// Makes `telemetry` export the spans of runs when an endpoint is set and traces are enabled;
/// whether it does. A setting that cannot be used is reported on stderr and left at its default,
/// as OpenTelemetry SDKs do: traces never stop a run.
pub fn export(telemetry: &mut Telemetry, traces: &Traces) -> bool {
    let Some((options, mut problems)) = options(traces) else { return false };
    let exported = telemetry.export_traces(options).map_err(|e| problems.push(e)).is_ok();
    for problem in problems {
        eprintln!("warning: traces: {problem}");
    }
    exported
}

/// The span `TRACEPARENT` names, which a run started by this process is a child of; an invalid
/// value is ignored, as W3C Trace Context says.
pub fn parent(settings: &Settings) -> Option<weir_engine::TraceContext> {
    settings.traceparent.as_deref().and_then(weir_engine::TraceContext::parse_traceparent)
}

/// The exporter's options, with what was wrong with the sampler (left at its default); none
/// without an endpoint, or with traces disabled.
fn options(traces: &Traces) -> Option<(Options, Vec<String>)> {
    let url = Options::url(traces.endpoint.as_deref(), traces.traces_endpoint.as_deref())
        .filter(|_| *traces.enabled)?;
    let mut problems = Vec::new();
    let sampler = Sampler::parse(&traces.sampler, traces.sampler_arg.as_deref()).unwrap_or_else(|e| {
        problems.push(e);
        Sampler::default()
    });
    let mut resource: Vec<(String, String)> =
        traces.resource_attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // `service.name` of the resource attributes stands unless the service name was set itself.
    let named = resource.iter().any(|(k, _)| k == "service.name");
    if !named || traces.service_name.origin != Origin::Default {
        resource.retain(|(k, _)| k != "service.name");
        resource.insert(0, ("service.name".to_owned(), traces.service_name.value.clone()));
    }
    let headers = traces.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let timeout = *traces.timeout;
    Some((Options { url, headers, timeout, resource, sampler }, problems))
}
