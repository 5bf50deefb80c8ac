//! weir's own plots, as inline SVG: a histogram, a CDF, time series and comparison bars. No
//! plotting crate: the few shapes a report needs are a frame (axes, 1-2-5 ticks, grid, labels,
//! a legend) and paths in it.
//!
//! Size is bounded whatever the number of samples: a histogram has at most 60 bins, a CDF at
//! most [`MAX_POINTS`] points (evenly spaced ranks, min and max kept), and a time series longer
//! than [`MAX_POINTS`] is drawn as the median of [`BUCKETS`] consecutive buckets with their
//! min–max band. So a report of 100,000 samples renders plots of a few tens of kilobytes.
//!
//! Every plot carries its colours as attributes (it reads the same outside the page) and a
//! `<title>`, so a screen reader names it; all text is text.

use super::html::escape;
use super::units;
use std::fmt::Write as _;
use weir_api::bench::{MetricComparison, PowerSample, Verdict};

/// The most points one line of a plot has.
pub(super) const MAX_POINTS: usize = 2000;
/// The buckets of a downsampled time series (each drawn as a median and a band).
pub(super) const BUCKETS: usize = 500;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 300.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', sans-serif";
const TEXT: &str = "#334155";
const MUTED: &str = "#64748b";
const GRID: &str = "#e2e8f0";
const AXIS: &str = "#94a3b8";
/// Series colours, told apart by people with the common colour-vision deficiencies.
pub(super) const PALETTE: [&str; 4] = ["#4f46e5", "#d97706", "#0891b2", "#db2777"];

/// A mapping from data to pixels along one axis, linear or logarithmic.
#[derive(Clone, Copy, Debug)]
struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    from: f64,
    to: f64,
}

impl Scale {
    fn new((lo, hi): (f64, f64), log: bool, from: f64, to: f64) -> Scale {
        Scale { lo, hi, log, from, to }
    }

    fn at(&self, v: f64) -> f64 {
        let t = |x: f64| if self.log { x.max(f64::MIN_POSITIVE).log10() } else { x };
        let span = t(self.hi) - t(self.lo);
        let frac = if span > 0.0 { (t(v) - t(self.lo)) / span } else { 0.5 };
        self.from + frac * (self.to - self.from)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log { log_ticks(self.lo, self.hi) } else { nice_ticks(self.lo, self.hi, 6) }
    }
}

/// A log axis when the values span more than two decades: otherwise a tail of a few slow
/// samples squeezes the bulk of them into one bin.
pub(super) fn wants_log(lo: f64, hi: f64) -> bool {
    lo > 0.0 && hi / lo > 100.0
}

/// A step of 1, 2 or 5 times a power of ten giving about `count` ticks between `lo` and `hi`.
pub(super) fn nice_step(lo: f64, hi: f64, count: usize) -> f64 {
    let raw = (hi - lo).abs() / count.max(1) as f64;
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    let m = raw / power;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// Ticks at multiples of a 1-2-5 step within `[lo, hi]`.
pub(super) fn nice_ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let step = nice_step(lo, hi, count);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last.min(first + 50)).map(|i| i as f64 * step).collect()
}

/// Ticks of a log axis: every decade, and 2 and 5 within each when there are few decades.
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mantissas: &[f64] = if b - a <= 3 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    (a..=b)
        .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
        .filter(|v| *v >= lo * 0.999 && *v <= hi * 1.001)
        .collect()
}

/// A tick's label: as few digits as tell it apart, no trailing zeros.
fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let text = if v.abs() >= 1.0 { format!("{:.2}", v) } else { units::sig(v, 2) };
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() { format!("{}", r as i64) } else { format!("{r:.1}") }
}

/// The plotting area and its axes.
struct Frame {
    x: Scale,
    y: Scale,
    svg: String,
}

struct Axes<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x: (f64, f64),
    y: (f64, f64),
    x_log: bool,
    y_log: bool,
}

const LEFT: f64 = 64.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 52.0;
const BOTTOM: f64 = 46.0;

impl Frame {
    fn new(a: &Axes<'_>, height: f64) -> Frame {
        let x = Scale::new(a.x, a.x_log, LEFT, WIDTH - RIGHT);
        let y = Scale::new(a.y, a.y_log, height - BOTTOM, TOP);
        let mut svg = open(a.title, height);
        grid(&mut svg, &x, &y);
        labels(&mut svg, a, height);
        Frame { x, y, svg }
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

fn open(title: &str, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
         role=\"img\" font-family=\"{FONT}\" font-size=\"11\" fill=\"{TEXT}\"><title>{t}</title>\
         <text x=\"{LEFT}\" y=\"20\" font-size=\"13\" font-weight=\"600\">{t}</text>",
        w = WIDTH,
        h = num(height),
        t = escape(title)
    )
}

fn grid(svg: &mut String, x: &Scale, y: &Scale) {
    for t in x.ticks() {
        let px = num(x.at(t));
        let _ = write!(
            svg,
            "<line x1=\"{px}\" x2=\"{px}\" y1=\"{}\" y2=\"{}\" stroke=\"{GRID}\"/>\
             <text x=\"{px}\" y=\"{}\" text-anchor=\"middle\" fill=\"{MUTED}\">{}</text>",
            num(y.to),
            num(y.from + 4.0),
            num(y.from + 16.0),
            tick_label(t)
        );
    }
    for t in y.ticks() {
        let py = num(y.at(t));
        let _ = write!(
            svg,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{py}\" y2=\"{py}\" stroke=\"{GRID}\"/>\
             <text x=\"{}\" y=\"{py}\" dy=\"0.32em\" text-anchor=\"end\" fill=\"{MUTED}\">{}</text>",
            num(x.from - 4.0),
            num(x.to),
            num(x.from - 8.0),
            tick_label(t)
        );
    }
    let _ = write!(
        svg,
        "<path d=\"M{x0} {y1}V{y0}H{x1}\" fill=\"none\" stroke=\"{AXIS}\"/>",
        x0 = num(x.from),
        x1 = num(x.to),
        y0 = num(y.from),
        y1 = num(y.to)
    );
}

fn labels(svg: &mut String, a: &Axes<'_>, height: f64) {
    let mid_x = (LEFT + WIDTH - RIGHT) / 2.0;
    let mid_y = (TOP + height - BOTTOM) / 2.0;
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        num(mid_x),
        num(height - 10.0),
        escape(a.x_label),
        num(mid_y),
        escape(a.y_label)
    );
}

/// A legend on a row of its own under the title: a swatch and a name per entry.
fn legend(svg: &mut String, entries: &[(&str, String)]) {
    let mut x = LEFT;
    for (color, name) in entries {
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"29\" width=\"10\" height=\"10\" rx=\"2\" fill=\"{color}\"/>\
             <text x=\"{}\" y=\"38\" fill=\"{MUTED}\">{}</text>",
            num(x),
            num(x + 14.0),
            escape(name)
        );
        x += 30.0 + 6.0 * name.chars().count() as f64;
    }
}

fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A linear range widened to nice ticks at both ends, never empty.
fn padded((lo, hi): (f64, f64), from_zero: bool) -> (f64, f64) {
    let lo = if from_zero { lo.min(0.0) } else { lo };
    let (lo, hi) =
        if hi > lo { (lo, hi) } else { (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0)) };
    let step = nice_step(lo, hi, 6);
    ((lo / step).floor() * step, (hi / step).ceil() * step)
}

/// A log range widened to the nearest 1, 2 or 5 times a power of ten at each end, so that the
/// data fill the plot and the ends are ticks.
fn log_padded((lo, hi): (f64, f64)) -> (f64, f64) {
    let steps = |v: f64| {
        let p = 10f64.powf(v.log10().floor());
        [p, 2.0 * p, 5.0 * p, 10.0 * p]
    };
    let lo = steps(lo).into_iter().rev().find(|s| *s <= lo * 1.000_001).unwrap_or(lo);
    let hi = steps(hi).into_iter().find(|s| *s >= hi * 0.999_999).unwrap_or(hi);
    (lo, hi)
}

fn axis_range(r: (f64, f64), log: bool, from_zero: bool) -> (f64, f64) {
    if log { log_padded(r) } else { padded(r, from_zero) }
}

/// The latency histogram: counts in bins of equal width (of equal ratio on a log axis), the
/// median marked.
pub(super) fn histogram(
    title: &str,
    samples: &[f64],
    unit: &str,
    (median, p99): (f64, f64),
) -> Option<String> {
    let (lo, hi) = range(samples.iter().copied())?;
    let scale = units::scale(unit, median);
    let log = wants_log(lo, hi);
    let (counts, edges) = bins(samples, (lo, hi), log);
    let edge = |i: usize| edges[i] * scale.0;
    let max_count = counts.iter().copied().max().unwrap_or(1) as f64;
    let x_label = format!("latency ({}){}", scale.1, if log { ", log scale" } else { "" });
    let axes = Axes {
        title,
        x_label: &x_label,
        y_label: "samples",
        x: axis_range((lo * scale.0, hi * scale.0), log, false),
        y: padded((0.0, max_count * 1.15), true),
        x_log: log,
        y_log: false,
    };
    let mut f = Frame::new(&axes, HEIGHT);
    let mut d = String::new();
    for (i, c) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
        let (x0, x1) = (f.x.at(edge(i)), f.x.at(edge(i + 1)));
        let (y0, y1) = (f.y.at(0.0), f.y.at(*c as f64));
        let _ = write!(
            d,
            "M{} {}H{}V{}H{}Z",
            num(x0 + 0.5),
            num(y0),
            num((x1 - 0.5).max(x0 + 1.0)),
            num(y1),
            num(x0 + 0.5)
        );
    }
    let _ = write!(f.svg, "<path d=\"{d}\" fill=\"{}\" fill-opacity=\"0.85\"/>", PALETTE[0]);
    marker(&mut f, median * scale.0, "median", "start");
    marker(&mut f, p99 * scale.0, "p99", "end");
    Some(f.finish())
}

/// Counts in √n bins (10 to 60) of equal width, or of equal ratio on a log axis, and the bins'
/// edges (one more than the bins).
fn bins(samples: &[f64], (lo, hi): (f64, f64), log: bool) -> (Vec<u64>, Vec<f64>) {
    let n = ((samples.len() as f64).sqrt().ceil() as usize).clamp(10, 60);
    let t = |v: f64| if log { v.log10() } else { v };
    let (tl, th) = (t(lo), t(hi).max(t(lo) + 1e-12));
    let mut counts = vec![0u64; n];
    for v in samples.iter().filter(|v| v.is_finite()) {
        let i = (((t(*v) - tl) / (th - tl)) * n as f64) as usize;
        counts[i.min(n - 1)] += 1;
    }
    let edges = (0..=n)
        .map(|i| {
            let e = tl + (th - tl) * i as f64 / n as f64;
            if log { 10f64.powf(e) } else { e }
        })
        .collect();
    (counts, edges)
}

/// A dashed vertical line with a label at its top, on the side `anchor` says.
fn marker(f: &mut Frame, x: f64, label: &str, anchor: &str) {
    let px = num(f.x.at(x));
    let _ = write!(
        f.svg,
        "<line x1=\"{px}\" x2=\"{px}\" y1=\"{}\" y2=\"{}\" stroke=\"{TEXT}\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{px}\" y=\"{}\" dx=\"{}\" text-anchor=\"{anchor}\" fill=\"{TEXT}\">{}</text>",
        num(f.y.from),
        num(f.y.to),
        num(f.y.to + 10.0),
        if anchor == "end" { -4 } else { 4 },
        escape(label)
    );
}

/// A distribution to draw as a CDF: its name (for the legend) and its samples in any order.
pub(super) struct Distribution<'a> {
    pub name: &'a str,
    pub samples: &'a [f64],
}

/// The empirical CDF of one or more distributions, each downsampled to [`MAX_POINTS`] ranks.
pub(super) fn cdf(title: &str, series: &[Distribution<'_>], unit: &str) -> Option<String> {
    let (lo, hi) = range(series.iter().flat_map(|s| s.samples.iter().copied()))?;
    let scale = units::scale(unit, (lo + hi) / 2.0);
    let log = wants_log(lo, hi);
    let x_label = format!("latency ({}){}", scale.1, if log { ", log scale" } else { "" });
    let axes = Axes {
        title,
        x_label: &x_label,
        y_label: "fraction of samples ≤ x",
        x: axis_range((lo * scale.0, hi * scale.0), log, false),
        y: (0.0, 1.0),
        x_log: log,
        y_log: false,
    };
    let mut f = Frame::new(&axes, HEIGHT);
    for (i, s) in series.iter().enumerate() {
        let points = cdf_points(s.samples);
        let d = polyline(points.iter().map(|(v, q)| (f.x.at(v * scale.0), f.y.at(*q))));
        let _ = write!(
            f.svg,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\"/>",
            PALETTE[i % PALETTE.len()]
        );
    }
    if series.len() > 1 {
        let entries: Vec<(&str, String)> =
            series.iter().enumerate().map(|(i, s)| (PALETTE[i % PALETTE.len()], short(s.name, 28))).collect();
        legend(&mut f.svg, &entries);
    }
    Some(f.finish())
}

/// At most [`MAX_POINTS`] (value, fraction) pairs at evenly spaced ranks of the sorted samples.
pub(super) fn cdf_points(samples: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let k = n.min(MAX_POINTS);
    (0..k)
        .map(|j| {
            let rank = if k == 1 { n - 1 } else { j * (n - 1) / (k - 1) };
            (sorted[rank], (rank + 1) as f64 / n as f64)
        })
        .collect()
}

fn polyline(points: impl Iterator<Item = (f64, f64)>) -> String {
    let mut d = String::new();
    for (i, (x, y)) in points.enumerate() {
        let _ = write!(d, "{}{} {}", if i == 0 { "M" } else { "L" }, num(x), num(y));
    }
    d
}

/// A small square per point, all in one path: samples, unlike power, are not continuous, and a
/// line between two of them would draw values never measured.
fn squares(points: impl Iterator<Item = (f64, f64)>) -> String {
    let mut d = String::new();
    for (x, y) in points {
        let _ = write!(d, "M{} {}h2v2h-2Z", num(x - 1.0), num(y - 1.0));
    }
    d
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).chain(['…']).collect() }
}

/// A series over time: raw when short, else per bucket its median and its min–max band.
pub(super) struct Series {
    pub median: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
}

/// Downsamples `(x, y)` points in order to at most [`MAX_POINTS`]: kept as they are when fewer,
/// else [`BUCKETS`] buckets of consecutive points, each its middle x, median y and y range.
pub(super) fn downsample(points: &[(f64, f64)]) -> Series {
    if points.len() <= MAX_POINTS {
        return Series { median: points.to_vec(), band: Vec::new() };
    }
    let size = points.len().div_ceil(BUCKETS);
    let (mut median, mut band) = (Vec::new(), Vec::new());
    for chunk in points.chunks(size) {
        let x = chunk[chunk.len() / 2].0;
        let mut ys: Vec<f64> = chunk.iter().map(|p| p.1).collect();
        ys.sort_by(f64::total_cmp);
        median.push((x, ys[ys.len() / 2]));
        band.push((x, ys[0], ys[ys.len() - 1]));
    }
    Series { median, band }
}

/// Latency over the measurement, against seconds when start times were recorded.
pub(super) fn latency_series(
    title: &str,
    samples: &[f64],
    at_s: &[f64],
    unit: &str,
    median: f64,
) -> Option<String> {
    let timed = at_s.len() == samples.len();
    let points: Vec<(f64, f64)> = if timed {
        at_s.iter().copied().zip(samples.iter().copied()).collect()
    } else {
        samples.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect()
    };
    let scale = units::scale(unit, median);
    let y_label = format!("latency ({})", scale.1);
    let x_label = if timed { "time since start (s)" } else { "iteration" };
    let series = downsample(&points);
    let chart = LineChart {
        title,
        x_label,
        y_label: &y_label,
        y_factor: scale.0,
        name: None,
        color: PALETTE[0],
        dots: true,
    };
    line_chart(&chart, &series)
}

/// Power over the measurement, its quality in the legend.
pub(super) fn power_series(title: &str, series: &[PowerSample], quality: &str) -> Option<String> {
    let points: Vec<(f64, f64)> = series.iter().map(|p| (p.at_s, p.watts)).collect();
    let name = format!("power, {quality}");
    let chart = LineChart {
        title,
        x_label: "time since start (s)",
        y_label: "power (W)",
        y_factor: 1.0,
        name: Some(&name),
        color: PALETTE[1],
        dots: false,
    };
    line_chart(&chart, &downsample(&points))
}

/// How a series over time is drawn.
struct LineChart<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    /// Turns the series' values into the unit of `y_label`.
    y_factor: f64,
    /// The series' name in the legend; none for a lone series.
    name: Option<&'a str>,
    color: &'a str,
    /// Raw points as dots rather than joined (latency samples are not continuous; power is).
    dots: bool,
}

fn line_chart(c: &LineChart<'_>, s: &Series) -> Option<String> {
    let x = range(s.median.iter().map(|p| p.0))?;
    let y = range(s.median.iter().map(|p| p.1).chain(s.band.iter().flat_map(|b| [b.1, b.2])))?;
    let y = (y.0 * c.y_factor, y.1 * c.y_factor);
    let log = wants_log(y.0, y.1);
    let label = format!("{}{}", c.y_label, if log { ", log scale" } else { "" });
    let axes = Axes {
        title: c.title,
        x_label: c.x_label,
        y_label: &label,
        // Time axes end where the measurement did, not at the next round number.
        x: if x.1 > x.0 { x } else { padded(x, false) },
        y: axis_range(y, log, true),
        x_log: false,
        y_log: log,
    };
    let mut f = Frame::new(&axes, HEIGHT);
    draw_series(&mut f, c, s);
    let mut entries: Vec<(&str, String)> = c.name.iter().map(|n| (c.color, n.to_string())).collect();
    if !s.band.is_empty() {
        let line = c.name.unwrap_or("median");
        entries =
            vec![(c.color, format!("{line} (bucket median)")), (light(c.color), "bucket min–max".into())];
    }
    if !entries.is_empty() {
        legend(&mut f.svg, &entries);
    }
    Some(f.finish())
}

fn draw_series(f: &mut Frame, c: &LineChart<'_>, s: &Series) {
    let (color, k) = (c.color, c.y_factor);
    if !s.band.is_empty() {
        let upper = s.band.iter().map(|b| (f.x.at(b.0), f.y.at(b.2 * k)));
        let lower = s.band.iter().rev().map(|b| (f.x.at(b.0), f.y.at(b.1 * k)));
        let d = polyline(upper.chain(lower));
        let _ = write!(f.svg, "<path d=\"{d}Z\" fill=\"{color}\" fill-opacity=\"0.18\"/>");
    }
    let points = s.median.iter().map(|p| (f.x.at(p.0), f.y.at(p.1 * k)));
    if c.dots && s.band.is_empty() {
        let _ = write!(f.svg, "<path d=\"{}\" fill=\"{color}\" fill-opacity=\"0.7\"/>", squares(points));
    } else {
        let d = polyline(points);
        let _ = write!(
            f.svg,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/>"
        );
    }
}

/// The pale tint of a series colour, for its band's swatch in the legend.
fn light(color: &str) -> &'static str {
    match color {
        "#4f46e5" => "#c7d2fe",
        "#d97706" => "#fde68a",
        _ => "#e2e8f0",
    }
}

pub(super) fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "#16a34a",
        Verdict::Regressed => "#dc2626",
        Verdict::Unchanged => "#64748b",
    }
}

/// A bar per metric from 1.0 to its ratio, the 95% interval as whiskers, the band within which a
/// change counts as none shaded, coloured by verdict. Lower is better for every metric.
pub(super) fn comparison_bars(title: &str, metrics: &[MetricComparison]) -> Option<String> {
    let first = metrics.first()?;
    let row = 30.0;
    let height = TOP + 8.0 + row * metrics.len() as f64 + BOTTOM;
    let values =
        metrics.iter().flat_map(|m| [m.ratio_ci.lo, m.ratio_ci.hi, 1.0 - m.threshold, 1.0 + m.threshold]);
    let x = padded(range(values)?, false);
    let mut f = bars_frame(title, x, height);
    let threshold = first.threshold;
    let (b0, b1) = (f.x.at(1.0 - threshold), f.x.at(1.0 + threshold));
    let _ = write!(
        f.svg,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#94a3b8\" fill-opacity=\"0.18\"/>",
        num(b0),
        num(TOP),
        num(b1 - b0),
        num(f.y.from - TOP)
    );
    for (i, m) in metrics.iter().enumerate() {
        bar(&mut f, m, TOP + 8.0 + row * i as f64, row);
    }
    let one = num(f.x.at(1.0));
    let _ = write!(
        f.svg,
        "<line x1=\"{one}\" x2=\"{one}\" y1=\"{}\" y2=\"{}\" stroke=\"{TEXT}\" stroke-width=\"1.2\"/>",
        num(TOP),
        num(f.y.from)
    );
    legend(
        &mut f.svg,
        &[
            (verdict_color(Verdict::Improved), "improved".into()),
            (verdict_color(Verdict::Regressed), "regressed".into()),
            (verdict_color(Verdict::Unchanged), "unchanged".into()),
            ("#dfe3ea", format!("±{}% no change", units::sig(threshold * 100.0, 2))),
        ],
    );
    Some(f.finish())
}

const BAR_LEFT: f64 = 150.0;

fn bars_frame(title: &str, x: (f64, f64), height: f64) -> Frame {
    let xs = Scale::new(x, false, BAR_LEFT, WIDTH - RIGHT);
    let ys = Scale::new((0.0, 1.0), false, height - BOTTOM, TOP);
    let mut svg = open(title, height);
    for t in xs.ticks() {
        let px = num(xs.at(t));
        let _ = write!(
            svg,
            "<line x1=\"{px}\" x2=\"{px}\" y1=\"{}\" y2=\"{}\" stroke=\"{GRID}\"/>\
             <text x=\"{px}\" y=\"{}\" text-anchor=\"middle\" fill=\"{MUTED}\">{}</text>",
            num(TOP),
            num(ys.from + 4.0),
            num(ys.from + 16.0),
            tick_label(t)
        );
    }
    let _ = write!(
        svg,
        "<path d=\"M{} {}H{}\" stroke=\"{AXIS}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">ratio new / base (lower is better)</text>",
        num(xs.from),
        num(ys.from),
        num(xs.to),
        num((BAR_LEFT + WIDTH - RIGHT) / 2.0),
        num(height - 10.0)
    );
    Frame { x: xs, y: ys, svg }
}

fn bar(f: &mut Frame, m: &MetricComparison, top: f64, row: f64) {
    let color = verdict_color(m.verdict);
    let (x1, xr) = (f.x.at(1.0), f.x.at(m.ratio));
    let (lo, hi) = (f.x.at(m.ratio_ci.lo), f.x.at(m.ratio_ci.hi));
    let mid = top + row / 2.0;
    let _ = write!(
        f.svg,
        "<text x=\"{}\" y=\"{}\" dy=\"0.32em\" text-anchor=\"end\">{}</text>\
         <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\" fill=\"{color}\" fill-opacity=\"0.75\"/>\
         <path d=\"M{lo} {mid}H{hi}M{lo} {a}V{b}M{hi} {a}V{b}\" stroke=\"{TEXT}\" stroke-width=\"1.5\"/>\
         <text x=\"{}\" y=\"{}\" dy=\"0.32em\" text-anchor=\"{anchor}\" fill=\"{MUTED}\">{}</text>",
        num(BAR_LEFT - 10.0),
        num(mid),
        escape(&short(&m.metric, 22)),
        num(x1.min(xr)),
        num(top + 6.0),
        num((xr - x1).abs().max(1.0)),
        num(row - 12.0),
        num(if m.ratio < 1.0 { lo - 6.0 } else { hi + 6.0 }),
        num(mid),
        units::ratio(m.ratio),
        anchor = if m.ratio < 1.0 { "end" } else { "start" },
        lo = num(lo),
        hi = num(hi),
        mid = num(mid),
        a = num(mid - 6.0),
        b = num(mid + 6.0),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_one_two_five() {
        assert_eq!(nice_ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_step(0.0, 0.7, 6), 0.2);
        assert_eq!(nice_step(3.0, 53.0, 6), 10.0);
        assert_eq!(
            log_ticks(1.0, 1000.0),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        assert_eq!(log_ticks(0.01, 1e4), vec![0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10_000.0]);
    }

    #[test]
    fn log_axes_are_for_more_than_two_decades() {
        assert!(!wants_log(1.0, 100.0));
        assert!(wants_log(1.0, 101.0));
        assert!(!wants_log(0.0, 1e6));
    }

    #[test]
    fn long_series_are_downsampled() {
        let points: Vec<(f64, f64)> = (0..100_000).map(|i| (i as f64, (i % 7) as f64)).collect();
        let s = downsample(&points);
        assert!(s.median.len() <= BUCKETS && s.band.len() == s.median.len());
        assert!(s.band.iter().all(|b| b.1 == 0.0 && b.2 == 6.0));
        let cdf = cdf_points(&points.iter().map(|p| p.0).collect::<Vec<_>>());
        assert_eq!(cdf.len(), MAX_POINTS);
        assert_eq!(cdf.first().map(|p| p.0), Some(0.0));
        assert_eq!(cdf.last(), Some(&(99_999.0, 1.0)));
    }
}
