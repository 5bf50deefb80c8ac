//! The exporters on a small report built here: one `render` helper calls them, the snapshots
//! hold what they write.

use weir_api::bench::*;
use weir_bench::report::{self, Format, ReadError, TableOptions};

/// The name a user could give: a command line with a comma, quotes and a line break.
const AWKWARD: &str = "sh -c \"echo a,b\"\nnext";
const HOSTILE: &str = "</script><img src=x onerror=alert(1)>";

fn metric(name: &str, samples: &[f64], timed: bool) -> Metric {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let at_s = if timed { (0..samples.len()).map(|i| i as f64 * 0.5).collect() } else { Vec::new() };
    Metric {
        name: name.into(),
        unit: "ms".into(),
        summary: Summary {
            n: samples.len() as u64,
            mean: samples.iter().sum::<f64>() / samples.len() as f64,
            stddev: 0.5,
            cv: 0.05,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            median,
            median_ci: Interval { lo: median - 0.25, hi: median + 0.5, level: 0.95 },
            p50: median,
            p90: sorted[sorted.len() * 9 / 10],
            p95: sorted[sorted.len() - 2],
            p99: sorted[sorted.len() - 1],
            p999: sorted[sorted.len() - 1],
        },
        samples: samples.to_vec(),
        at_s,
        outliers: vec![samples.len() - 1],
    }
}

fn benchmark(name: &str, scale: f64) -> Benchmark {
    let latency: Vec<f64> = [10.0, 10.5, 9.75, 11.0, 10.25, 10.0, 12.5, 10.75].map(|v| v * scale).to_vec();
    let step: Vec<f64> = latency.iter().map(|v| v * 0.4).collect();
    Benchmark {
        name: name.into(),
        iterations: 8,
        warmup: 2,
        concurrency: 1,
        wall_s: 0.09,
        failures: 0,
        metrics: vec![metric("latency", &latency, true), metric("step.fetch", &step, false)],
        throughput: Throughput { per_s: 88.9, items_per_s: None },
        resources: Some(Resources { cpu_user_s: 0.05, cpu_sys_s: 0.01, peak_rss_bytes: 12 * 1024 * 1024 }),
        energy: Some(Energy {
            quality: Quality::Estimated,
            joules: 1.25,
            joules_per_iteration: 0.156,
            mean_watts: 13.9,
            domains: vec![EnergyDomain {
                name: "estimate:cpu".into(),
                quality: Quality::Estimated,
                joules: 1.25,
                mean_watts: 13.9,
            }],
            series: vec![PowerSample { at_s: 0.0, watts: 13.0 }, PowerSample { at_s: 0.05, watts: 14.5 }],
            unavailable: vec!["rapl: permission denied".into()],
        }),
        thermal: Vec::new(),
        breakdown: None,
        counters: vec![Counter { name: "allocations".into(), value: 1200.0, per: "run".into() }],
        http: None,
        warnings: vec![Warning {
            code: "too_short".into(),
            message: "8 iterations are too few to trust the p99".into(),
        }],
    }
}

fn small_report() -> BenchReport {
    BenchReport {
        schema_version: BENCH_SCHEMA_VERSION,
        mode: BenchMode::Cmd,
        name: None,
        started_at: 1_735_732_800_000,
        duration_s: 0.25,
        environment: Environment {
            cores: 2,
            os: "linux".into(),
            arch: "x86_64".into(),
            profile: "release".into(),
            weir_version: "0.4.0".into(),
            ..Environment::default()
        },
        benchmarks: vec![benchmark(AWKWARD, 1.0), benchmark(HOSTILE, 0.8)],
        comparisons: vec![Comparison {
            base: AWKWARD.into(),
            new: HOSTILE.into(),
            metrics: vec![
                comparison("latency", 0.8, Verdict::Improved),
                comparison("step.fetch", 1.01, Verdict::Unchanged),
            ],
            counters: Vec::new(),
        }],
        warnings: vec![Warning {
            code: "debug_build".into(),
            message: "weir was built without optimisations".into(),
        }],
    }
}

fn comparison(metric: &str, ratio: f64, verdict: Verdict) -> MetricComparison {
    MetricComparison {
        metric: metric.into(),
        unit: "ms".into(),
        base_median: 10.25,
        new_median: 10.25 * ratio,
        ratio,
        ratio_ci: Interval { lo: ratio - 0.03, hi: ratio + 0.02, level: 0.95 },
        p_value: 0.0004,
        p_adjusted: 0.0008,
        threshold: 0.02,
        verdict,
    }
}

fn render(format: Format, report: &BenchReport) -> String {
    let mut out = Vec::new();
    report::write(format, report, &mut out).expect("writing to memory succeeds");
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn table() {
    insta::assert_snapshot!(render(Format::Table, &small_report()));
}

#[test]
fn table_in_colour() {
    let mut out = Vec::new();
    report::write_table(&small_report(), &TableOptions { color: true, width: 100 }, &mut out)
        .expect("written");
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(text.contains("\x1b[1;32mimproved\x1b[0m"), "{text}");
    assert!(!render(Format::Table, &small_report()).contains('\x1b'));
}

#[test]
fn table_lines_fit_100_columns() {
    let text = render(Format::Table, &crate::fixture());
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 100, "a line of {widest} columns:\n{text}");
}

#[test]
fn json() {
    insta::assert_snapshot!(render(Format::Json, &small_report()));
}

#[test]
fn csv() {
    insta::assert_snapshot!(render(Format::Csv, &small_report()));
}

#[test]
fn samples_csv() {
    let mut out = Vec::new();
    report::write_samples_csv(&small_report(), &mut out).expect("written");
    insta::assert_snapshot!(String::from_utf8(out).expect("UTF-8"));
}

#[test]
fn csv_quotes_names_with_commas_quotes_and_line_breaks() {
    let csv = render(Format::Csv, &small_report());
    let row = csv.split("\r\n").nth(1).expect("a first row");
    assert!(row.starts_with("\"sh -c \"\"echo a,b\"\"\nnext\",latency,ms,8,"), "{row:?}");
    assert!(
        csv.contains(&format!("\r\n{HOSTILE},latency,")),
        "a name without a comma, quote or break stays bare"
    );
}

#[test]
fn bmf() {
    insta::assert_snapshot!(render(Format::Bmf, &small_report()));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(render(Format::Markdown, &small_report()));
}

#[test]
fn html() {
    insta::assert_snapshot!(render(Format::Html, &small_report()));
}

#[test]
fn html_shows_a_hostile_name_as_text() {
    let html = render(Format::Html, &small_report());
    assert!(!html.contains("<img") && !html.contains("</script>") && !html.contains("<script"));
    assert!(html.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));
    let markdown = render(Format::Markdown, &small_report());
    assert!(!markdown.contains("<img"), "{markdown}");
}

#[test]
fn html_of_100k_samples_stays_small() {
    let mut r = small_report();
    let samples: Vec<f64> = (0..100_000)
        .map(|i| 10.0 + (i % 97) as f64 * 0.01 + if i % 1000 == 0 { 5000.0 } else { 0.0 })
        .collect();
    r.benchmarks[0].metrics[0] = metric("latency", &samples, true);
    let size = render(Format::Html, &r).len();
    assert!(size < 400_000, "{size} bytes");
}

#[test]
fn json_round_trips() {
    let report = small_report();
    let json = render(Format::Json, &report);
    assert_eq!(report::read(json.as_bytes()).expect("read back"), report);
}

#[test]
fn json_of_a_newer_version_is_refused_naming_both_versions() {
    let mut doc: serde_json::Value =
        serde_json::from_str(&render(Format::Json, &small_report())).expect("JSON");
    doc["schema_version"] = (BENCH_SCHEMA_VERSION + 1).into();
    doc["benchmarks"] = "changed shape".into();
    let err = report::read(doc.to_string().as_bytes()).expect_err("refused");
    assert!(matches!(err, ReadError::NewerVersion { found: 2, supported: 1 }));
    assert_eq!(
        err.to_string(),
        "the bench report is of schema version 2, newer than version 1, the newest this weir reads; \
         read it with a newer weir"
    );
}

#[test]
fn json_errors_say_where() {
    let err = report::read(b"{\n  \"schema_version\": 1,\n  \"mode\": oops\n}").expect_err("invalid");
    assert_eq!(err.to_string(), "invalid bench report at line 3, column 11 (at `mode`): expected value");
    let err = report::read(b"{\"schema_version\": 1, \"mode\": \"walk\"}").expect_err("invalid");
    assert!(err.to_string().contains("(at `mode`): unknown variant `walk`"), "{err}");
}

#[test]
fn formats_are_named_for_the_command_line() {
    for format in Format::ALL {
        assert_eq!(format.name().parse::<Format>(), Ok(format));
    }
    let err = "yaml".parse::<Format>().expect_err("no such format");
    assert_eq!(
        err.to_string(),
        "unknown report format `yaml`: expected one of table, json, csv, bmf, markdown, html"
    );
}
