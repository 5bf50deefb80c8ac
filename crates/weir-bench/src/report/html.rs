//! One self-contained HTML page: styles inline, plots as inline SVG drawn by [`super::svg`], no
//! script, font or image from anywhere, so that it opens offline and can be attached to an issue.
//! A Content-Security-Policy forbids scripts outright, and every string of the report is escaped
//! ([`escape`]): benchmark names are command lines, paths and URLs typed by someone.

use super::{svg, units};
use std::fmt::Write as _;
use std::io::Write;
use weir_api::bench::{BenchReport, Benchmark, Comparison, Environment, Metric, Warning};

const STYLE: &str = include_str!("report.css");

/// Text safe in an HTML element or a quoted attribute (and in SVG): the five characters that
/// could end one or start markup become references.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn write(report: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    let mut page = head(report);
    page.push_str(&header(report));
    page.push_str(&warnings(&report.warnings));
    page.push_str(&summary(&report.benchmarks));
    for c in &report.comparisons {
        page.push_str(&comparison(c));
    }
    page.push_str(&overlay(&report.benchmarks));
    for (i, b) in report.benchmarks.iter().enumerate() {
        page.push_str(&benchmark(i, b));
    }
    page.push_str(&environment(&report.environment));
    let _ = writeln!(
        page,
        "<footer>weir {} · report schema version {}</footer></main></body></html>",
        escape(&report.environment.weir_version),
        report.schema_version
    );
    out.write_all(page.as_bytes())
}

fn head(r: &BenchReport) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\n",
        escape(&title(r))
    )
}

fn title(r: &BenchReport) -> String {
    let mode = mode(r);
    match &r.name {
        Some(name) => format!("weir bench {mode}: {name}"),
        None => format!("weir bench {mode}"),
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

fn header(r: &BenchReport) -> String {
    let e = &r.environment;
    let facts = [
        units::timestamp(r.started_at),
        format!("{} in all", units::seconds(r.duration_s)),
        format!("{} benchmark{}", r.benchmarks.len(), if r.benchmarks.len() == 1 { "" } else { "s" }),
        format!("{} {} · {} cores", e.os, e.arch, e.cores),
        format!("{} build", e.profile),
    ];
    let facts: String = facts.iter().map(|f| format!("<span>{}</span>", escape(f))).collect();
    format!("<header><h1>{}</h1><p class=\"facts\">{facts}</p></header>\n", escape(&title(r)))
}

fn warnings(list: &[Warning]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let items: String = list
        .iter()
        .map(|w| format!("<li><code>{}</code> {}</li>", escape(&w.code), escape(&w.message)))
        .collect();
    format!("<aside class=\"warnings\"><strong>Warnings</strong><ul>{items}</ul></aside>\n")
}

/// A table from cells that are already HTML; the columns marked numeric align right.
fn table(head: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> String {
    let class = |i: usize| if numeric.get(i).copied().unwrap_or(false) { " class=\"num\"" } else { "" };
    let mut t = String::from("<div class=\"scroll\"><table><thead><tr>");
    for (i, h) in head.iter().enumerate() {
        let _ = write!(t, "<th{}>{}</th>", class(i), escape(h));
    }
    t.push_str("</tr></thead><tbody>");
    t.push_str(&body(&class, rows));
    t.push_str("</tbody></table></div>\n");
    t
}

/// A two-column table of names and values, without a header.
fn key_values(rows: &[Vec<String>]) -> String {
    format!("<table class=\"kv\"><tbody>{}</tbody></table>\n", body(&|_| "", rows))
}

fn body(class: &dyn Fn(usize) -> &'static str, rows: &[Vec<String>]) -> String {
    let mut t = String::new();
    for row in rows {
        t.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let _ = write!(t, "<td{}>{cell}</td>", class(i));
        }
        t.push_str("</tr>");
    }
    t
}

fn latency(b: &Benchmark) -> Option<&Metric> {
    b.metrics.iter().find(|m| m.name == "latency")
}

fn summary(list: &[Benchmark]) -> String {
    let head = [
        "benchmark",
        "median",
        "95% CI",
        "p50",
        "p95",
        "p99",
        "max",
        "throughput",
        "CPU",
        "peak RSS",
        "energy",
    ];
    let numeric = [false, true, true, true, true, true, true, true, true, true, false];
    let rows: Vec<Vec<String>> = list.iter().map(summary_row).collect();
    format!("<section><h2>Summary</h2>{}</section>\n", table(&head, &numeric, &rows))
}

fn summary_row(b: &Benchmark) -> Vec<String> {
    let mut row = vec![format!("<code class=\"name\">{}</code>", escape(&b.name))];
    match latency(b) {
        Some(m) => {
            let s = &m.summary;
            let scale = units::scale(&m.unit, s.median);
            let f = |v: f64| escape(&units::scaled(v, &scale));
            row.push(format!("<strong>{}</strong>", f(s.median)));
            row.push(format!("{} – {}", f(s.median_ci.lo), f(s.median_ci.hi)));
            row.extend([s.p50, s.p95, s.p99, s.max].map(f));
        }
        None => row.extend(std::iter::repeat_n(String::new(), 6)),
    }
    row.push(escape(&units::rate(b.throughput.per_s)));
    match &b.resources {
        Some(r) => {
            row.push(escape(&units::seconds(r.cpu_user_s + r.cpu_sys_s)));
            row.push(escape(&units::bytes(r.peak_rss_bytes)));
        }
        None => row.extend([String::new(), String::new()]),
    }
    row.push(b.energy.as_ref().map(|e| energy_cell(e.joules_per_iteration, e.quality)).unwrap_or_default());
    row
}

/// Energy per iteration with its quality as a badge, so an estimate is never read as a reading.
fn energy_cell(joules: f64, q: weir_api::bench::Quality) -> String {
    let quality = units::quality(q);
    format!("{} <span class=\"badge {quality}\">{quality}</span>", escape(&units::joules(joules)))
}

fn comparison(c: &Comparison) -> String {
    let head = ["metric", "base", "new", "change", "ratio", "95% CI", "p", "p (Holm)", "verdict"];
    let numeric = [false, true, true, true, true, true, true, true, false];
    let rows: Vec<Vec<String>> = c
        .metrics
        .iter()
        .map(|m| {
            let scale = units::scale(&m.unit, m.base_median);
            let verdict = units::verdict(m.verdict);
            vec![
                format!("<code>{}</code>", escape(&m.metric)),
                escape(&units::scaled(m.base_median, &scale)),
                escape(&units::scaled(m.new_median, &scale)),
                escape(&units::change(m.ratio)),
                escape(&units::ratio(m.ratio)),
                format!("{} – {}", units::ratio(m.ratio_ci.lo), units::ratio(m.ratio_ci.hi)),
                escape(&units::p_value(m.p_value)),
                escape(&units::p_value(m.p_adjusted)),
                format!("<span class=\"verdict {verdict}\">{verdict}</span>"),
            ]
        })
        .collect();
    let plot =
        svg::comparison_bars("Ratio of medians, new / base, with 95% CI", &c.metrics).unwrap_or_default();
    format!(
        "<section><h2>Comparison</h2><p class=\"pair\"><span>base</span> <code class=\"name\">{}</code><br>\
         <span>new</span> <code class=\"name\">{}</code></p>{}<figure class=\"wide\">{plot}</figure>{}</section>\n",
        escape(&c.base),
        escape(&c.new),
        table(&head, &numeric, &rows),
        counter_comparisons(c)
    )
}

/// The deterministic counters both benchmarks have, compared exactly.
fn counter_comparisons(c: &Comparison) -> String {
    if c.counters.is_empty() {
        return String::new();
    }
    let head = ["counter", "base", "new", "change", "verdict"];
    let numeric = [false, true, true, true, false];
    let rows: Vec<Vec<String>> = c
        .counters
        .iter()
        .map(|k| {
            let verdict = units::verdict(k.verdict);
            vec![
                format!("<code>{}</code> per {}", escape(&k.name), escape(&k.per)),
                escape(&units::sig(k.base, 4)),
                escape(&units::sig(k.new, 4)),
                escape(&k.ratio.map_or("from 0".to_string(), units::change)),
                format!("<span class=\"verdict {verdict}\">{verdict}</span>"),
            ]
        })
        .collect();
    format!("<h3>Counters</h3>{}", table(&head, &numeric, &rows))
}

/// The latency CDFs of all benchmarks on one plot, when there are several to set side by side.
fn overlay(list: &[Benchmark]) -> String {
    if list.len() < 2 {
        return String::new();
    }
    let series: Vec<svg::Distribution<'_>> = list
        .iter()
        .filter_map(|b| latency(b).map(|m| svg::Distribution { name: &b.name, samples: &m.samples }))
        .collect();
    let unit = list.iter().find_map(latency).map_or("ms", |m| m.unit.as_str());
    let plot = svg::cdf("Latency CDF, all benchmarks", &series, unit).unwrap_or_default();
    format!("<section><h2>Distributions</h2><figure class=\"wide\">{plot}</figure></section>\n")
}

fn benchmark(index: usize, b: &Benchmark) -> String {
    let mut s = format!(
        "<section class=\"bench\" id=\"benchmark-{index}\"><h2><code class=\"name\">{}</code></h2>\n",
        escape(&b.name)
    );
    s.push_str(&cards(b));
    s.push_str(&warnings(&b.warnings));
    s.push_str(&plots(b));
    s.push_str(&steps(b));
    s.push_str(&details(b));
    s.push_str("</section>\n");
    s
}

/// The headline figures of a benchmark as large numbers.
fn cards(b: &Benchmark) -> String {
    let mut cards = Vec::new();
    if let Some(m) = latency(b) {
        let s = &m.summary;
        let scale = units::scale(&m.unit, s.median);
        let half = (s.median_ci.hi - s.median_ci.lo) / 2.0;
        cards.push((
            "median latency",
            units::scaled(s.median, &scale),
            format!("± {}", units::scaled(half, &scale)),
        ));
        cards.push(("p99", units::scaled(s.p99, &scale), format!("max {}", units::scaled(s.max, &scale))));
    }
    cards.push(("throughput", units::rate(b.throughput.per_s), format!("{} iterations", b.iterations)));
    cards.push((
        "failures",
        b.failures.to_string(),
        format!("{} warm-up, concurrency {}", b.warmup, b.concurrency),
    ));
    if let Some(e) = &b.energy {
        cards.push((
            "energy per iteration",
            units::joules(e.joules_per_iteration),
            format!("{} W, {}", units::sig(e.mean_watts, 3), units::quality(e.quality)),
        ));
    }
    let body: String = cards
        .iter()
        .map(|(label, value, note)| {
            format!(
                "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"note\">{}</div></div>",
                escape(label),
                escape(value),
                escape(note)
            )
        })
        .collect();
    format!("<div class=\"cards\">{body}</div>\n")
}

fn plots(b: &Benchmark) -> String {
    let mut figures = Vec::new();
    if let Some(m) = latency(b) {
        let median = m.summary.median;
        figures.extend(svg::histogram("Latency histogram", &m.samples, &m.unit, (median, m.summary.p99)));
        let one = [svg::Distribution { name: &b.name, samples: &m.samples }];
        figures.extend(svg::cdf("Latency CDF", &one, &m.unit));
        figures.extend(svg::latency_series("Latency over time", &m.samples, &m.at_s, &m.unit, median));
    }
    if let Some(e) = b.energy.as_ref().filter(|e| !e.series.is_empty()) {
        figures.extend(svg::power_series("Power over time", &e.series, units::quality(e.quality)));
    }
    let body: String = figures.iter().map(|f| format!("<figure>{f}</figure>")).collect();
    format!("<div class=\"plots\">{body}</div>\n")
}

fn steps(b: &Benchmark) -> String {
    let rows: Vec<Vec<String>> = b
        .metrics
        .iter()
        .filter(|m| m.name.starts_with("step."))
        .map(|m| {
            let s = &m.summary;
            let scale = units::scale(&m.unit, s.median);
            let mut row = vec![format!("<code>{}</code>", escape(m.name.trim_start_matches("step.")))];
            row.extend([s.median, s.p95, s.p99, s.max].map(|v| escape(&units::scaled(v, &scale))));
            row.push(format!("{:.1}%", s.cv * 100.0));
            row
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let head = ["step", "median", "p95", "p99", "max", "CV"];
    format!("<h3>Steps</h3>{}", table(&head, &[false, true, true, true, true, true], &rows))
}

/// What else the benchmark recorded: where a run's time went, counters, HTTP, heat, meters.
fn details(b: &Benchmark) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut add = |k: &str, v: String| rows.push(vec![escape(k), escape(&v)]);
    if let Some(br) = &b.breakdown {
        add("queue wait", units::quantity(br.queue_wait_ms, "ms"));
        add("execution", units::quantity(br.execution_ms, "ms"));
        add("transitions", units::quantity(br.transition_ms, "ms"));
    }
    for c in &b.counters {
        add(&c.name, format!("{} per {}", units::sig(c.value, 4), c.per));
    }
    if let Some(h) = &b.http {
        add(
            "requests",
            format!(
                "{} {} sent, {} completed, {} errors, {} dropped, {} late",
                h.method, h.sent, h.completed, h.errors, h.dropped, h.late
            ),
        );
        let statuses: Vec<String> = h.status_counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        add("statuses", statuses.join(", "));
    }
    if let Some(e) = &b.energy {
        energy_rows(e, &mut add);
    }
    for t in &b.thermal {
        add(&format!("{} at {}", t.kind, units::seconds(t.at_s)), format!("{}: {}", t.source, t.detail));
    }
    if rows.is_empty() {
        return String::new();
    }
    format!("<h3>Details</h3>{}", key_values(&rows))
}

/// Each meter's domain with its quality, and the meters that could not be read.
fn energy_rows(e: &weir_api::bench::Energy, add: &mut dyn FnMut(&str, String)) {
    for d in &e.domains {
        let figure = format!("{} ({} W)", units::joules(d.joules), units::sig(d.mean_watts, 3));
        add(&format!("energy {}", d.name), format!("{figure} {}", units::quality(d.quality)));
    }
    for u in &e.unavailable {
        add("meter unavailable", u.clone());
    }
}

fn environment(e: &Environment) -> String {
    let rows = units::environment(e);
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(k, v)| vec![escape(k), escape(&v)]).collect();
    format!("<section><h2>Environment</h2>{}</section>\n", key_values(&rows))
}
