//! What the runs of this process tell besides the CLI's own output: log lines (`[log]`, the
//! global `--log-*` flags), and metrics served to Prometheus with `--metrics-addr` or sent to
//! StatsD (`weir run`, `weir worker`), and spans exported to an OTLP collector (`[traces]`,
//! `crate::traces`). The events go to `weir_telemetry::Telemetry` beside the command's own sink,
//! and the store is timed.

use crate::config::{Config, LogFormat, Origin};
use crate::exit::Failure;
use crate::settings::Settings;
use anyhow::{Context, Result};
use std::sync::Arc;
use weir_engine::{Event, EventSink, RunStore};
use weir_telemetry::Telemetry;
use weir_telemetry::metrics::{Metrics, TimedStore};

/// `--metrics-addr`, of `weir run` and `weir worker`.
#[derive(clap::Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at `http://ADDR/metrics` while the command runs [config
    /// metrics.addr, env WEIR_METRICS_ADDR]
    ///
    /// `127.0.0.1:9464`, say; port 0 picks a free one. The address is printed on stderr as
    /// `metrics: http://ADDR/metrics`. docs/metrics.md lists the metrics.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<String>,
}

/// Where the runs of this process report, besides the command's own sink; nothing by default.
#[derive(Clone, Default)]
pub struct Observer {
    telemetry: Option<Arc<Telemetry>>,
    metrics: Option<Arc<Metrics>>,
    /// Where the metrics are served, for the command to say.
    pub addr: Option<std::net::SocketAddr>,
}

impl Observer {
    /// What the runs of `weir run` and `weir worker` report: the metrics, served when
    /// `--metrics-addr` (or `metrics.addr`) says where, on `runtime`, and sent to StatsD when
    /// `metrics.statsd` says where; their log lines when a subscriber is installed. An address
    /// that cannot be listened on is an unavailable infrastructure (exit 3), one that is not an
    /// address a usage error.
    pub fn serve(args: &MetricsArgs, config: &Config, runtime: &tokio::runtime::Runtime) -> Result<Observer> {
        let addr = args.metrics_addr.as_ref().or(config.metrics.addr.as_ref());
        let mut observer = Observer::default();
        let (mut telemetry, traced) = traced(config);
        if let Some(addr) = addr {
            let exporter =
                runtime.block_on(weir_telemetry::exposition::Exporter::bind(addr)).map_err(|e| {
                    let weir_telemetry::exposition::Error::Bind { source, .. } = &e;
                    match source.kind() {
                        std::io::ErrorKind::InvalidInput => anyhow::Error::new(e),
                        _ => Failure::Infrastructure.wrap(anyhow::Error::new(e)),
                    }
                })?;
            observer.addr = Some(exporter.local_addr()?);
            let metrics = Arc::new(Metrics::new());
            runtime.spawn(exporter.serve(metrics.clone()));
            telemetry = telemetry.with_metrics(metrics.clone());
            observer.metrics = Some(metrics);
        }
        if let Some(statsd) = config.metrics.statsd.as_ref() {
            let options = weir_telemetry::statsd::Options {
                addr: statsd.clone(),
                prefix: config.metrics.statsd_prefix.value.clone(),
            };
            let statsd = weir_telemetry::statsd::Statsd::connect(&options)
                .with_context(|| format!("cannot send StatsD to {}", options.addr))?;
            telemetry = telemetry.with_statsd(statsd);
        }
        let measured = observer.metrics.is_some() || config.metrics.statsd.is_some();
        observer.telemetry =
            (measured || traced || weir_telemetry::log::enabled()).then(|| Arc::new(telemetry));
        Ok(observer)
    }

    /// The runs' log lines, when a subscriber is installed, and their spans, when `[traces]`
    /// exports them (what `weir resume` and `weir replay` report).
    pub fn logs(config: &Config) -> Observer {
        let (telemetry, traced) = traced(config);
        let telemetry = (traced || weir_telemetry::log::enabled()).then(|| Arc::new(telemetry));
        Observer { telemetry, metrics: None, addr: None }
    }

    /// Waits, at most [`crate::traces::FLUSH`], for the spans of the runs that ended to be sent:
    /// what a command does before it exits.
    pub fn flush(&self) {
        if let Some(telemetry) = &self.telemetry {
            telemetry.flush(crate::traces::FLUSH);
        }
    }

    /// `inner`, and the telemetry after it.
    pub fn sink(&self, inner: Arc<dyn EventSink>) -> Arc<dyn EventSink> {
        match &self.telemetry {
            Some(telemetry) => Arc::new(Tee { inner, telemetry: telemetry.clone() }),
            None => inner,
        }
    }

    /// `store`, timed into the metrics.
    pub fn store(&self, store: Arc<dyn RunStore>) -> Arc<dyn RunStore> {
        match &self.metrics {
            Some(metrics) => Arc::new(TimedStore { inner: store, metrics: metrics.clone() }),
            None => store,
        }
    }
}

/// A telemetry exporting the runs' spans as `[traces]` says, and whether it does.
fn traced(config: &Config) -> (Telemetry, bool) {
    let mut telemetry = Telemetry::new();
    let traced = crate::traces::export(&mut telemetry, &config.traces);
    (telemetry, traced)
}

/// Both sinks, the command's first.
struct Tee {
    inner: Arc<dyn EventSink>,
    telemetry: Arc<Telemetry>,
}

impl EventSink for Tee {
    fn emit(&self, event: &Event) {
        self.inner.emit(event);
        self.telemetry.emit(event);
    }

    fn yielded(&self) {
        self.inner.yielded();
        self.telemetry.yielded();
    }
}

/// Installs the log subscriber that `[log]` and the `--log-*` flags describe; none when no
/// lines are to be written. No command writes log lines unless a level or a file is given:
/// what each prints on stderr already says what its runs' lines would (progress, the summary
/// and errors of `weir run`; a line per run claimed and ended by `weir worker`, JSON objects
/// with `--json`, which a second kind of line would break for whoever reads them).
pub fn logs(settings: &Settings) -> Result<Option<weir_telemetry::log::Guard>> {
    let log = &settings.config.log;
    if log.level.origin == Origin::Default && log.file.is_none() {
        return Ok(None);
    }
    let level = log.level.value.clone();
    let file = log.file.as_ref().map(|path| weir_telemetry::log::File {
        path: path.clone(),
        rotation: *log.rotation,
        max_size: *log.max_size,
        retention: *log.retention as usize,
    });
    // A person reads a terminal; a file or a pipe is read by programs.
    let format = match *log.format {
        LogFormat::Text => weir_telemetry::log::Format::Text,
        LogFormat::Json => weir_telemetry::log::Format::Json,
        LogFormat::Auto if settings.stderr_tty && file.is_none() => weir_telemetry::log::Format::Text,
        LogFormat::Auto => weir_telemetry::log::Format::Json,
    };
    let options = weir_telemetry::log::Options { level, format, color: settings.stderr_color, file };
    Ok(Some(weir_telemetry::log::init(&options)?))
}
