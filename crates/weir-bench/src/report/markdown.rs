//! GitHub-flavoured Markdown for a pull request comment: a table of the benchmarks, a table per
//! comparison with plain-word verdicts, the warnings, and the machine folded away. Every string
//! from the report is escaped, so a command line cannot open a link, an image or a tag.

use super::units;
use std::io::Write;
use weir_api::bench::{BenchReport, Benchmark, Comparison, Environment, Verdict};

pub(super) fn write(report: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    let mut doc = heading(report);
    doc.push_str(&benchmarks(&report.benchmarks));
    for c in &report.comparisons {
        doc.push_str(&comparison(c));
    }
    let warnings: Vec<String> = report
        .benchmarks
        .iter()
        .flat_map(|b| b.warnings.iter().map(move |w| (Some(&b.name), w)))
        .chain(report.warnings.iter().map(|w| (None, w)))
        .map(|(name, w)| {
            let of = name.map(|n| format!(" ({})", escape(n))).unwrap_or_default();
            format!("- `{}`{of}: {}\n", w.code, escape(&w.message))
        })
        .collect();
    if !warnings.is_empty() {
        doc.push_str(&format!("\n**Warnings**\n\n{}", warnings.concat()));
    }
    doc.push_str(&environment(&report.environment));
    out.write_all(doc.as_bytes())
}

fn heading(r: &BenchReport) -> String {
    let name = r.name.as_deref().map(|n| format!(": {}", escape(n))).unwrap_or_default();
    format!(
        "## weir bench {}{name}\n\n{} benchmark(s), {} in all, started {}.\n\n",
        mode(r),
        r.benchmarks.len(),
        units::seconds(r.duration_s),
        units::timestamp(r.started_at)
    )
}

fn mode(r: &BenchReport) -> &'static str {
    match r.mode {
        weir_api::bench::BenchMode::Run => "run",
        weir_api::bench::BenchMode::Cmd => "cmd",
        weir_api::bench::BenchMode::Http => "http",
        weir_api::bench::BenchMode::Ab => "ab",
    }
}

fn benchmarks(list: &[Benchmark]) -> String {
    let mut t = String::from(
        "| benchmark | median | 95% CI | p95 | p99 | max | throughput | CPU | peak RSS | energy |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for b in list {
        t.push_str(&format!("| {} | {} |\n", escape(&b.name), figures(b).join(" | ")));
    }
    t
}

fn figures(b: &Benchmark) -> Vec<String> {
    let mut cells = match b.metrics.iter().find(|m| m.name == "latency") {
        Some(m) => {
            let s = &m.summary;
            let scale = units::scale(&m.unit, s.median);
            let ci = format!(
                "{} – {}",
                units::scaled(s.median_ci.lo, &scale),
                units::scaled(s.median_ci.hi, &scale)
            );
            let mut cells = vec![units::scaled(s.median, &scale), ci];
            cells.extend([s.p95, s.p99, s.max].map(|v| units::scaled(v, &scale)));
            cells
        }
        None => vec![String::new(); 5],
    };
    cells.push(units::rate(b.throughput.per_s));
    match &b.resources {
        Some(r) => cells.extend([units::seconds(r.cpu_user_s + r.cpu_sys_s), units::bytes(r.peak_rss_bytes)]),
        None => cells.extend([String::new(), String::new()]),
    }
    cells.push(
        b.energy
            .as_ref()
            .map(|e| {
                format!(
                    "{} per iteration ({})",
                    units::joules(e.joules_per_iteration),
                    units::quality(e.quality)
                )
            })
            .unwrap_or_default(),
    );
    cells
}

fn comparison(c: &Comparison) -> String {
    let mut t = format!(
        "\n**{}** against **{}**\n\n| metric | base | new | change | ratio [95% CI] | p (Holm) | verdict |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
        escape(&c.new),
        escape(&c.base)
    );
    for m in &c.metrics {
        let scale = units::scale(&m.unit, m.base_median);
        let verdict = match m.verdict {
            Verdict::Unchanged => "unchanged".to_string(),
            v => format!("**{}**", units::verdict(v)),
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} [{}, {}] | {} | {verdict} |\n",
            escape(&m.metric),
            units::scaled(m.base_median, &scale),
            units::scaled(m.new_median, &scale),
            units::change(m.ratio),
            units::ratio(m.ratio),
            units::ratio(m.ratio_ci.lo),
            units::ratio(m.ratio_ci.hi),
            units::p_value(m.p_adjusted),
        ));
    }
    if !c.counters.is_empty() {
        t.push_str("\n| counter | base | new | change | verdict |\n| --- | ---: | ---: | ---: | --- |\n");
        for k in &c.counters {
            let verdict = match k.verdict {
                Verdict::Unchanged => "unchanged".to_string(),
                v => format!("**{}**", units::verdict(v)),
            };
            let change = k.ratio.map_or("from 0".to_string(), units::change);
            t.push_str(&format!(
                "| {} per {} | {} | {} | {change} | {verdict} |\n",
                escape(&k.name),
                escape(&k.per),
                units::sig(k.base, 4),
                units::sig(k.new, 4),
            ));
        }
    }
    t
}

fn environment(e: &Environment) -> String {
    let rows = units::environment(e);
    let body: String = rows.iter().map(|(k, v)| format!("| {k} | {} |\n", escape(v))).collect();
    format!("\n<details><summary>Environment</summary>\n\n| | |\n| --- | --- |\n{body}\n</details>\n")
}

/// Text that Markdown and the HTML GitHub allows in it show as typed: punctuation that could
/// start emphasis, code, a link or a table cell is backslash-escaped, `<`, `>` and `&` become
/// entities, and a line break becomes a space so that a cell stays one cell.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
