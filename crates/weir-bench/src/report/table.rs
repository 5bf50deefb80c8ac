//! The console table: what a person reads after `weir bench` in a terminal. Per benchmark the
//! latency, its spread, throughput, cost and warnings; then the comparisons with their verdicts.
//! Lines fit the width asked for (names are shortened in the middle, warnings wrapped), and
//! control characters of names are shown escaped so that a name cannot drive the terminal.

use super::units;
use std::io::Write;
use weir_api::bench::{
    BenchReport, Benchmark, Breakdown, Comparison, Counter, CounterComparison, HttpStats, Metric,
    MetricComparison, Verdict, Warning,
};

/// How the table is drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableOptions {
    /// ANSI colours and bold: for a terminal, not for a pipe or a file.
    pub color: bool,
    /// The widest a line may be, in columns (at least 60 are used).
    pub width: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions { color: false, width: 100 }
    }
}

/// Colour when asked for, and plain text otherwise: one place decides so that no escape code
/// reaches a file.
struct Paint {
    color: bool,
}

impl Paint {
    fn code(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
    fn bold(&self, s: &str) -> String {
        self.code("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.code("2", s)
    }
    fn warn(&self, s: &str) -> String {
        self.code("33", s)
    }
    fn verdict(&self, v: Verdict) -> String {
        let word = units::verdict(v);
        match v {
            Verdict::Improved => self.code("1;32", word),
            Verdict::Regressed => self.code("1;31", word),
            Verdict::Unchanged => word.to_string(),
        }
    }
}

pub(super) fn write(
    report: &BenchReport,
    options: &TableOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let t = Table { paint: Paint { color: options.color }, width: options.width.max(60) };
    let mut lines = t.header(report);
    for b in &report.benchmarks {
        lines.push(String::new());
        lines.extend(t.benchmark(b));
    }
    for c in &report.comparisons {
        lines.push(String::new());
        lines.extend(t.comparison(c));
    }
    if !report.warnings.is_empty() {
        lines.push(String::new());
        lines.extend(t.warnings(&report.warnings, ""));
    }
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

struct Table {
    paint: Paint,
    width: usize,
}

impl Table {
    fn header(&self, r: &BenchReport) -> Vec<String> {
        let e = &r.environment;
        let mut first = format!("weir bench {}", mode(r));
        if let Some(name) = &r.name {
            first.push_str(&format!(" · {}", clean(name)));
        }
        first.push_str(&format!(
            " · {} benchmark{} · {} · {}",
            r.benchmarks.len(),
            if r.benchmarks.len() == 1 { "" } else { "s" },
            units::seconds(r.duration_s),
            units::timestamp(r.started_at)
        ));
        let mut machine = vec![format!("{} {}", e.os, e.arch), format!("{} cores", e.cores)];
        machine.extend(e.cpu_model.clone());
        machine.push(format!("{} build", e.profile));
        machine.push(format!("weir {}", e.weir_version));
        vec![
            self.paint.bold(&shorten(&first, self.width)),
            self.paint.dim(&shorten(&machine.join(" · "), self.width)),
        ]
    }

    fn benchmark(&self, b: &Benchmark) -> Vec<String> {
        let mut lines = vec![self.paint.bold(&shorten(&clean(&b.name), self.width))];
        let label = |l: &str| self.paint.dim(&format!("  {l:<12}"));
        if let Some(latency) = b.metrics.iter().find(|m| m.name == "latency") {
            lines.push(format!("{}{}", label("latency"), latency_line(latency, b)));
            lines.push(format!("{}{}", label("percentiles"), percentiles(latency)));
        }
        lines.push(format!("{}{}", label("throughput"), cost(b)));
        if let Some(e) = &b.energy {
            lines.push(format!("{}{}", label("energy"), units::energy(e)));
        }
        if let Some(split) = &b.breakdown {
            lines.push(format!("{}{}", label("a run"), breakdown(split)));
        }
        if let Some(http) = &b.http {
            lines.push(format!("{}{}", label("requests"), requests(http)));
        }
        if !b.counters.is_empty() {
            lines.push(format!("{}{}", label("counters"), counters(&b.counters)));
        }
        for event in &b.thermal {
            let text = format!(
                "{:.1} s {} {}: {}",
                event.at_s,
                clean(&event.source),
                event.kind,
                clean(&event.detail)
            );
            lines.push(format!("{}{}", label("thermal"), shorten(&text, self.width - 14)));
        }
        lines.extend(self.steps(b));
        lines.extend(self.warnings(&b.warnings, "  "));
        lines
    }

    fn steps(&self, b: &Benchmark) -> Vec<String> {
        let steps: Vec<&Metric> = b.metrics.iter().filter(|m| m.name.starts_with("step.")).collect();
        if steps.is_empty() {
            return Vec::new();
        }
        let head = format!("  {:<30}{:>12}{:>12}{:>12}{:>12}", "step", "median", "p95", "p99", "max");
        let mut lines = vec![self.paint.dim(&head)];
        for m in steps {
            let scale = units::scale(&m.unit, m.summary.median);
            let s = &m.summary;
            let [median, p95, p99, max] = [s.median, s.p95, s.p99, s.max].map(|v| units::scaled(v, &scale));
            let name = shorten(&clean(m.name.trim_start_matches("step.")), 28);
            lines.push(format!("  {name:<30}{median:>12}{p95:>12}{p99:>12}{max:>12}"));
        }
        lines
    }

    fn comparison(&self, c: &Comparison) -> Vec<String> {
        let name = |role: &str, n: &str| {
            format!("  {} {}", self.paint.dim(role), shorten(&clean(n), self.width - 8))
        };
        let mut lines =
            vec![self.paint.bold("Comparison"), name("base", &c.base), name("new ", &c.new), String::new()];
        let head = format!(
            "  {:<22}{:>11}{:>11}  {:<24}{:>10}  {}",
            "metric", "base", "new", "ratio [95% CI]", "p (Holm)", "verdict"
        );
        lines.push(self.paint.dim(&head));
        lines.extend(c.metrics.iter().map(|m| self.metric_comparison(m)));
        if !c.counters.is_empty() {
            let head =
                format!("  {:<30}{:>14}{:>14}  {:<10}  {}", "counter", "base", "new", "ratio", "verdict");
            lines.push(String::new());
            lines.push(self.paint.dim(&head));
            lines.extend(c.counters.iter().map(|k| self.counter_comparison(k)));
        }
        lines
    }

    fn counter_comparison(&self, k: &CounterComparison) -> String {
        let name = shorten(&format!("{} per {}", clean(&k.name), clean(&k.per)), 29);
        let ratio = k.ratio.map_or("from 0".to_owned(), units::ratio);
        format!(
            "  {name:<30}{:>14}{:>14}  {ratio:<10}  {}",
            units::sig(k.base, 4),
            units::sig(k.new, 4),
            self.paint.verdict(k.verdict)
        )
    }

    fn metric_comparison(&self, m: &MetricComparison) -> String {
        let scale = units::scale(&m.unit, m.base_median);
        let ratio = format!(
            "{} [{}, {}]",
            units::ratio(m.ratio),
            units::ratio(m.ratio_ci.lo),
            units::ratio(m.ratio_ci.hi)
        );
        format!(
            "  {:<22}{:>11}{:>11}  {:<24}{:>10}  {}",
            shorten(&clean(&m.metric), 21),
            units::scaled(m.base_median, &scale),
            units::scaled(m.new_median, &scale),
            ratio,
            units::p_value(m.p_adjusted),
            self.paint.verdict(m.verdict)
        )
    }

    fn warnings(&self, warnings: &[Warning], indent: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for w in warnings {
            let text = format!("{}: {}", w.code, clean(&w.message));
            for (i, part) in wrap(&text, self.width - indent.len() - 2).into_iter().enumerate() {
                let mark = if i == 0 { "! " } else { "  " };
                lines.push(format!("{indent}{}", self.paint.warn(&format!("{mark}{part}"))));
            }
        }
        lines
    }
}

fn mode(r: &BenchReport) -> &'static str {
    match r.mode {
        weir_api::bench::BenchMode::Run => "run",
        weir_api::bench::BenchMode::Cmd => "cmd",
        weir_api::bench::BenchMode::Http => "http",
        weir_api::bench::BenchMode::Ab => "ab",
    }
}

/// The median, the half-width of its interval, the interval itself, and how many samples.
fn latency_line(m: &Metric, b: &Benchmark) -> String {
    let s = &m.summary;
    let scale = units::scale(&m.unit, s.median);
    let half = (s.median_ci.hi - s.median_ci.lo) / 2.0;
    let failures = if b.failures > 0 { format!(", {} failed", b.failures) } else { String::new() };
    format!(
        "{} ± {}  ({:.0}% CI {} … {})  n {}{failures}",
        units::scaled(s.median, &scale),
        units::scaled(half, &scale),
        s.median_ci.level * 100.0,
        units::scaled(s.median_ci.lo, &scale),
        units::scaled(s.median_ci.hi, &scale),
        s.n
    )
}

fn percentiles(m: &Metric) -> String {
    let s = &m.summary;
    let scale = units::scale(&m.unit, s.median);
    [("p50", s.p50), ("p95", s.p95), ("p99", s.p99), ("max", s.max)]
        .map(|(name, v)| format!("{name} {:<10}", units::scaled(v, &scale)))
        .join(" ")
        .trim_end()
        .to_string()
}

/// Throughput, CPU time and peak memory on one line.
fn cost(b: &Benchmark) -> String {
    let mut parts = vec![units::rate(b.throughput.per_s)];
    if let Some(items) = b.throughput.items_per_s {
        parts.push(format!("{} items/s", units::sig(items, 3)));
    }
    if let Some(r) = &b.resources {
        parts.push(format!(
            "CPU {} user + {} sys",
            units::seconds(r.cpu_user_s),
            units::seconds(r.cpu_sys_s)
        ));
        parts.push(format!("peak RSS {}", units::bytes(r.peak_rss_bytes)));
    }
    parts.join("   ")
}

/// Where the mean run's time went.
fn breakdown(split: &Breakdown) -> String {
    let scale = units::scale("ms", split.queue_wait_ms + split.execution_ms + split.transition_ms);
    format!(
        "{} to the first step · {} steps executing · {} between steps",
        units::scaled(split.queue_wait_ms, &scale),
        units::scaled(split.execution_ms, &scale),
        units::scaled(split.transition_ms, &scale)
    )
}

/// What a load sent and got back.
fn requests(h: &HttpStats) -> String {
    let mut parts = vec![format!("{} sent", h.sent), format!("{} answered", h.completed)];
    for (name, n) in [("errors", h.errors), ("late", h.late), ("dropped", h.dropped)] {
        if n > 0 {
            parts.push(format!("{n} {name}"));
        }
    }
    let statuses: Vec<String> = h.status_counts.iter().map(|(code, n)| format!("{code}: {n}")).collect();
    if !statuses.is_empty() {
        parts.push(format!("status {}", statuses.join(", ")));
    }
    parts.join(" · ")
}

/// Deterministic counters, each with what it is counted per.
fn counters(counters: &[Counter]) -> String {
    counters
        .iter()
        .map(|c| format!("{} {}/{}", units::sig(c.value, 4), clean(&c.name), clean(&c.per)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A name with its control characters escaped (`\n`, `\u{1b}`), so that it stays on its line
/// and sends the terminal nothing.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// At most `width` characters: the start and the end kept, the middle elided, because both the
/// program and the last argument of a command tell benchmarks apart.
fn shorten(s: &str, width: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= width || width < 5 {
        return s.to_string();
    }
    let head = (width - 1) / 2;
    let tail = width - 1 - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Words into lines of at most `width` characters (a longer word gets a line of its own).
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in s.split_whitespace() {
        let Some(last) = lines.last_mut() else { break };
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}
