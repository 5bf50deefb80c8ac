//! The Bencher Metric Format (`bencher run --adapter json`): an object of benchmarks, each an
//! object of measures, each `{ "value", "lower_value", "upper_value" }`.
//!
//! The measures follow Bencher's built-in ones where they exist, in their units: `latency` is
//! the median in nanoseconds with its confidence interval (Bencher's Latency measure is in ns,
//! weir's in ms), `throughput` is iterations per second. The others are named by weir:
//! `latency-p99` (ns), `step.<id>` (the step's median, ns), `peak-rss` (bytes), `cpu-time` (s),
//! `energy` (joules per iteration) and each counter by its name.

use serde_json::{Map, Value, json};
use std::io::Write;
use weir_api::bench::{BenchReport, Benchmark};

pub(super) fn write(report: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    let doc: Map<String, Value> =
        report.benchmarks.iter().map(|b| (b.name.clone(), Value::Object(measures(b)))).collect();
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}

fn measures(b: &Benchmark) -> Map<String, Value> {
    let mut m = Map::new();
    for metric in &b.metrics {
        let Some(ns) = to_ns(&metric.unit) else { continue };
        let s = &metric.summary;
        let value = json!({
            "value": s.median * ns, "lower_value": s.median_ci.lo * ns, "upper_value": s.median_ci.hi * ns
        });
        if metric.name == "latency" || metric.name.starts_with("step.") {
            m.insert(metric.name.clone(), value);
        }
        if metric.name == "latency" {
            m.insert("latency-p99".into(), json!({ "value": s.p99 * ns }));
        }
    }
    m.insert("throughput".into(), json!({ "value": b.throughput.per_s }));
    extras(b, &mut m);
    m
}

fn extras(b: &Benchmark, m: &mut Map<String, Value>) {
    if let Some(r) = &b.resources {
        m.insert("peak-rss".into(), json!({ "value": r.peak_rss_bytes as f64 }));
        m.insert("cpu-time".into(), json!({ "value": r.cpu_user_s + r.cpu_sys_s }));
    }
    if let Some(e) = &b.energy {
        m.insert("energy".into(), json!({ "value": e.joules_per_iteration }));
    }
    for c in &b.counters {
        m.insert(c.name.clone(), json!({ "value": c.value }));
    }
}

/// Nanoseconds per unit of a time metric; none for a metric that is not a time.
fn to_ns(unit: &str) -> Option<f64> {
    match unit {
        "ns" => Some(1.0),
        "us" | "µs" => Some(1e3),
        "ms" => Some(1e6),
        "s" => Some(1e9),
        _ => None,
    }
}
