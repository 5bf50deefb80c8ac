//! CSV (RFC 4180: comma-separated, CRLF line ends, fields quoted when they hold a comma, a quote
//! or a line break). The summary has one row per benchmark and metric; the raw samples, far
//! longer, are a separate table ([`write_samples_csv`]) so that a spreadsheet opens either.
//! Numbers keep every digit (Rust's shortest round-trip form).

use std::io::Write;
use weir_api::bench::{BenchReport, Metric};

const SUMMARY_HEADER: [&str; 19] = [
    "benchmark",
    "metric",
    "unit",
    "n",
    "mean",
    "stddev",
    "cv",
    "min",
    "median",
    "median_ci_lo",
    "median_ci_hi",
    "p50",
    "p90",
    "p95",
    "p99",
    "p999",
    "max",
    "outliers",
    "throughput_per_s",
];

pub(super) fn write(report: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    row(out, SUMMARY_HEADER.map(String::from))?;
    for benchmark in &report.benchmarks {
        for metric in &benchmark.metrics {
            row(out, summary_row(&benchmark.name, metric, benchmark.throughput.per_s))?;
        }
    }
    Ok(())
}

fn summary_row(benchmark: &str, metric: &Metric, per_s: f64) -> [String; 19] {
    let s = &metric.summary;
    let n = |v: f64| v.to_string();
    [
        benchmark.to_string(),
        metric.name.clone(),
        metric.unit.clone(),
        s.n.to_string(),
        n(s.mean),
        n(s.stddev),
        n(s.cv),
        n(s.min),
        n(s.median),
        n(s.median_ci.lo),
        n(s.median_ci.hi),
        n(s.p50),
        n(s.p90),
        n(s.p95),
        n(s.p99),
        n(s.p999),
        n(s.max),
        metric.outliers.len().to_string(),
        n(per_s),
    ]
}

/// Every sample of every metric as `benchmark,metric,index,at_s,value`, `at_s` empty where the
/// metric recorded no start times.
pub fn write_samples_csv(report: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    row(out, ["benchmark", "metric", "index", "at_s", "value"].map(String::from))?;
    for benchmark in &report.benchmarks {
        let name = field(&benchmark.name);
        for metric in &benchmark.metrics {
            let prefix = format!("{name},{}", field(&metric.name));
            for (i, value) in metric.samples.iter().enumerate() {
                let at = metric.at_s.get(i).map(f64::to_string).unwrap_or_default();
                write!(out, "{prefix},{i},{at},{value}\r\n")?;
            }
        }
    }
    Ok(())
}

fn row<const N: usize>(out: &mut dyn Write, fields: [String; N]) -> std::io::Result<()> {
    let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
    write!(out, "{}\r\n", line.join(","))
}

/// One field, quoted (quotes doubled) when it holds what would end it otherwise.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
