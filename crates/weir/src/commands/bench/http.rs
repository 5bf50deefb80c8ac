//! `weir bench http`: load on an HTTP server, at a fixed arrival rate or from a fixed number of
//! connections.

use super::{ReportArgs, SEED, parse_duration};
use crate::exit::{EXIT_RUN_FAILED, Failure};
use crate::settings::Settings;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use weir_api::bench::{BenchMode, Warning};
use weir_bench::load::{LoadConfig, LoadError, LoadResult};

/// Load an HTTP server: requests at a fixed rate (open model), or back to back from N
/// connections (closed model)
///
/// With `--rate`, request i is due at i/rate seconds whatever the server does, and its latency
/// counts from when it was due: a server that stalls makes every request queued behind it late,
/// and the figures show it (no coordinated omission). `latency.uncorrected` — from when each
/// request was actually sent — is beside it, the server's own view. Requests sent more than a
/// millisecond late are counted as `late`; those never sent because every connection stayed
/// busy, as `dropped`.
///
/// Without `--rate`, each of `--connections` sends its next request when the last is answered.
///
/// Exit codes: 0 measured, 1 some requests failed or got a 5xx, 2 invalid arguments, 3 the
/// server cannot be reached.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir bench http http://127.0.0.1:8080/health --rate 1000 --duration 30s\n  weir bench http http://127.0.0.1:8080/predict -m POST -H 'content-type: application/json' --body @row.json --rate 200 --duration 1m\n  weir bench http http://127.0.0.1:8080/ --connections 16 --duration 10s -o load.html"
)]
pub struct Args {
    /// The URL (http://).
    url: String,
    /// The request method.
    #[arg(short = 'm', long, value_name = "METHOD", default_value = "GET")]
    method: String,
    /// A request header, `NAME: VALUE`. Repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// The request body: text, or @FILE for a file's bytes.
    #[arg(long, value_name = "BODY")]
    body: Option<String>,
    /// Requests per second (the open model); without it, the closed model.
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// How long to measure.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    duration: Duration,
    /// Load before the measurement, not recorded.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    warmup: Option<Duration>,
    /// Keep-alive connections (default: 10; with --rate, enough for the rate, at least 10).
    #[arg(short = 'c', long, value_name = "N")]
    connections: Option<u32>,
    /// How long one request may take before it counts as an error.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    #[command(flatten)]
    report: ReportArgs,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let config = config(&args)?;
    let environment = weir_bench::fingerprint::environment(&super::build());
    let cores = environment.cores;
    let started_at = super::super::runs::now_ms();
    let began = Instant::now();
    let bar = super::Bar::new(settings, &args.url);
    let total = config.warmup + config.duration;
    let result = weir_bench::load::run_blocking(config, |p| {
        bar.fraction(p.elapsed.as_secs_f64() / total.as_secs_f64().max(1e-9));
    });
    bar.finish();
    let result = result.map_err(failure)?;
    let errors = result.errors;
    let server_errors: u64 = result.status_counts.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum();
    let benchmark = benchmark(&args.url, result, cores);
    let report = super::report(BenchMode::Http, environment, started_at, began.elapsed(), vec![benchmark]);
    super::emit(report, &args.report, settings)?;
    Ok(if errors + server_errors > 0 { ExitCode::from(EXIT_RUN_FAILED) } else { ExitCode::SUCCESS })
}

fn config(args: &Args) -> Result<LoadConfig> {
    let headers = args
        .headers
        .iter()
        .map(|h| weir_bench::load::parse_header(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(failure)?;
    let body = match args.body.as_deref() {
        Some(text) => Some(match text.strip_prefix('@') {
            Some(path) => std::fs::read(path).with_context(|| format!("cannot read the body from {path}"))?,
            None => text.as_bytes().to_vec(),
        }),
        None => None,
    };
    let connections = args.connections.unwrap_or(match args.rate {
        // Enough connections that a 100 ms response at the rate does not make requests late.
        Some(rate) => ((rate / 10.0).ceil() as u32).clamp(10, 1_000),
        None => 10,
    });
    Ok(LoadConfig {
        url: args.url.clone(),
        method: args.method.clone(),
        headers,
        body,
        rate: args.rate,
        duration: args.duration,
        connections,
        timeout: args.timeout,
        warmup: args.warmup.unwrap_or(Duration::ZERO),
    })
}

/// What the load saw, as a report's benchmark: `latency` (from when each request was due) and
/// `latency.uncorrected`.
fn benchmark(url: &str, result: LoadResult, cores: u32) -> weir_api::bench::Benchmark {
    let wall = result.wall;
    let error_samples = result.error_samples.clone();
    let (stats, samples) = result.into_parts();
    let latency = samples.corrected.iter().zip(&samples.at_s).map(|(ms, at)| weir_bench::harness::Sample {
        index: 0,
        at: Duration::from_secs_f64(at.max(0.0)),
        elapsed: Duration::from_secs_f64(ms / 1e3),
        ok: true,
    });
    let mut samples_in_order: Vec<_> = latency.collect();
    for (i, s) in samples_in_order.iter_mut().enumerate() {
        s.index = i as u64;
    }
    let measured = weir_bench::measure::Measured {
        name: url.to_owned(),
        concurrency: stats.connections,
        samples: samples_in_order,
        wall,
        extra: vec![("latency.uncorrected".into(), "ms".into(), samples.uncorrected)],
        ..Default::default()
    };
    let mut benchmark = weir_bench::measure::benchmark(measured, cores, SEED);
    benchmark.failures = stats.errors;
    if stats.late > 0 || stats.dropped > 0 {
        benchmark.warnings.push(Warning {
            code: "late_requests".into(),
            message: format!(
                "{} requests were sent late and {} never sent: the load fell behind its rate (more --connections, or a server that cannot keep up)",
                stats.late, stats.dropped
            ),
        });
    }
    if let Some(first) = error_samples.first() {
        benchmark.warnings.push(Warning {
            code: "failures".into(),
            message: format!("{} requests got no response; the first error: {first}", stats.errors),
        });
    }
    benchmark.http = Some(stats);
    benchmark
}

/// A load that cannot start: the arguments' fault (2) or the server's (3).
fn failure(e: LoadError) -> anyhow::Error {
    let unreachable = matches!(
        e,
        LoadError::Resolve { .. } | LoadError::Connect { .. } | LoadError::Runtime(_) | LoadError::Task(_)
    );
    let kind = if unreachable { Failure::Infrastructure } else { Failure::Invalid };
    kind.wrap(anyhow::Error::new(e))
}
