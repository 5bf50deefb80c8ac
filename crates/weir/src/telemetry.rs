//! What the runs of this process tell besides the CLI's own output: their metrics, served to
//! Prometheus with `--metrics-addr` (`weir run`, `weir worker`). The events go to
//! `weir_telemetry::Telemetry` beside the command's own sink, and the store is timed.

use crate::exit::Failure;
use anyhow::Result;
use std::sync::Arc;
use weir_engine::{Event, EventSink, RunStore};
use weir_telemetry::Telemetry;
use weir_telemetry::metrics::{Metrics, TimedStore};

/// `--metrics-addr`, of `weir run` and `weir worker`.
#[derive(clap::Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at `http://ADDR/metrics` while the command runs (`127.0.0.1:9464`;
    /// port 0 picks a free one, printed on stderr). docs/metrics.md lists them.
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
    /// Starts serving the metrics when `args` asks for it, on `runtime`. An address that cannot
    /// be listened on is an unavailable infrastructure (exit 3), one that is not an address a
    /// usage error.
    pub fn serve(args: &MetricsArgs, runtime: &tokio::runtime::Runtime) -> Result<Observer> {
        let Some(addr) = &args.metrics_addr else { return Ok(Observer::default()) };
        let exporter = runtime.block_on(weir_telemetry::exposition::Exporter::bind(addr)).map_err(|e| {
            let weir_telemetry::exposition::Error::Bind { source, .. } = &e;
            match source.kind() {
                std::io::ErrorKind::InvalidInput => anyhow::Error::new(e),
                _ => Failure::Infrastructure.wrap(anyhow::Error::new(e)),
            }
        })?;
        let addr = Some(exporter.local_addr()?);
        let metrics = Arc::new(Metrics::new());
        runtime.spawn(exporter.serve(metrics.clone()));
        let telemetry = Arc::new(Telemetry::new().with_metrics(metrics.clone()));
        Ok(Observer { telemetry: Some(telemetry), metrics: Some(metrics), addr })
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
}
