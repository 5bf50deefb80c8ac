//! The statistics of one metric's samples: the summary a report shows, the outliers it flags and
//! the warnings that say which figures to distrust. Pure functions of the samples; the harness
//! measures, this module only judges.
//!
//! Samples are finite values in the metric's unit; a non-finite one (which no measurement
//! produces) is left out of every statistic so a report stays writable as JSON.

use crate::bootstrap;
use fastrand::Rng;
use hdrhistogram::Histogram;
use weir_api::bench::{Metric, Summary, Warning};

/// Significant decimal digits HdrHistogram keeps: a percentile is within 0.1% of a sample.
const SIGNIFICANT_DIGITS: u8 = 3;

/// What the largest sample is scaled to before HdrHistogram records it as an integer. Scaling by
/// the largest sample rather than by a fixed factor works for any unit: every sample down to a
/// millionth of a millionth of the largest keeps three significant digits.
const SCALED_MAX: f64 = 1e12;

/// Modified z-scores beyond this are outliers (Iglewicz and Hoaglin's recommendation).
pub const OUTLIER_Z: f64 = 3.5;

/// A coefficient of variation above this makes a benchmark's figures noisy.
pub const MAX_CV: f64 = 0.10;

/// Fewer samples than this give a median and percentiles that are mostly chance.
pub const MIN_SAMPLES: u64 = 10;

/// A measurement shorter than this (seconds) sees too little of the machine's fluctuations
/// (frequency changes, timer interrupts, background jobs) to average over them.
pub const MIN_WALL_S: f64 = 1.0;

/// A first sample this many times the median, and an outlier, points at cold caches.
pub const SLOW_FIRST_FACTOR: f64 = 1.5;

/// More outliers than this share of the samples points at interference.
pub const MAX_OUTLIER_SHARE: f64 = 0.05;

/// Percentiles of a set of samples, read from an HdrHistogram (three significant digits).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// The p50, p90, p95, p99, p99.9 and maximum of the samples, all zero for none.
///
/// HdrHistogram keeps magnitudes: a negative sample counts as zero. Each percentile is clamped
/// to the samples' exact range, so rounding to three digits never reports a value above the
/// largest sample.
pub fn percentiles(samples: &[f64]) -> Percentiles {
    let finite = || samples.iter().copied().filter(|x| x.is_finite());
    let Some(max) = finite().reduce(f64::max) else { return Percentiles::default() };
    let min = finite().fold(max, f64::min);
    let scale = if max > 0.0 { SCALED_MAX / max } else { 1.0 };
    let mut histogram = Histogram::<u64>::new_with_bounds(1, SCALED_MAX as u64, SIGNIFICANT_DIGITS)
        .expect("constant bounds and three significant digits are within HdrHistogram's limits");
    finite().for_each(|x| histogram.saturating_record((x.max(0.0) * scale).round() as u64));
    let at = |q: f64| (histogram.value_at_quantile(q) as f64 / scale).clamp(min, max);
    Percentiles { p50: at(0.50), p90: at(0.90), p95: at(0.95), p99: at(0.99), p999: at(0.999), max }
}

/// The summary of a metric: moments, the exact median with its 95% bootstrap interval (see
/// `bootstrap` for how 100,000 samples stay cheap), and HdrHistogram's percentiles.
///
/// No samples give a summary of zeros with `n = 0`; one sample gives a zero spread and an
/// interval of that sample alone. The same samples and seed always give the same interval.
pub fn summarize(samples: &[f64], seed: u64) -> Summary {
    let sorted = bootstrap::sorted_finite(samples);
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else { return Summary::default() };
    let (mean, stddev) = mean_and_stddev(&sorted);
    let p = percentiles(&sorted);
    let resampled = bootstrap::medians(&sorted, &mut Rng::with_seed(seed));
    Summary {
        n: sorted.len() as u64,
        mean,
        stddev,
        cv: if mean != 0.0 { stddev / mean.abs() } else { 0.0 },
        min,
        max,
        median: bootstrap::median_of_sorted(&sorted),
        median_ci: bootstrap::percentile_interval(resampled),
        p50: p.p50,
        p90: p.p90,
        p95: p.p95,
        p99: p.p99,
        p999: p.p999,
    }
}

/// The mean and the sample standard deviation (zero for fewer than two samples).
fn mean_and_stddev(samples: &[f64]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    if samples.len() < 2 {
        return (mean, 0.0);
    }
    let squares: f64 = samples.iter().map(|x| (x - mean).powi(2)).sum();
    (mean, (squares / (n - 1.0)).sqrt())
}

/// The indices of the samples whose modified z-score, `0.6745·(x − median) / MAD`, exceeds
/// [`OUTLIER_Z`] in absolute value (Iglewicz and Hoaglin).
///
/// When more than half the samples are equal the MAD is zero; the scale then falls back to the
/// mean absolute deviation (`1.253314·meanAD`, the same estimate of a normal spread), and when
/// that is zero too every sample is equal and none is an outlier.
pub fn outliers(samples: &[f64]) -> Vec<usize> {
    let mut sorted = bootstrap::sorted_finite(samples);
    if sorted.is_empty() {
        return Vec::new();
    }
    let median = bootstrap::median_of_sorted(&sorted);
    sorted.iter_mut().for_each(|x| *x = (*x - median).abs());
    let mean_deviation = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let mad = bootstrap::median_in_place(&mut sorted);
    let scale = if mad > 0.0 { mad / 0.6745 } else { 1.253314 * mean_deviation };
    if scale <= 0.0 {
        return Vec::new();
    }
    let is_outlier = |x: f64| x.is_finite() && ((x - median) / scale).abs() > OUTLIER_Z;
    samples.iter().enumerate().filter(|(_, x)| is_outlier(**x)).map(|(i, _)| i).collect()
}

/// A metric of the report: its samples, their summary and their outliers.
pub fn metric(name: &str, unit: &str, samples: Vec<f64>, at_s: Vec<f64>, seed: u64) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        summary: summarize(&samples, seed),
        outliers: outliers(&samples),
        samples,
        at_s,
    }
}

/// What [`warnings`] needs to know about a measurement beyond its latencies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WarnContext {
    /// Seconds the measured iterations took, end to end.
    pub wall_s: f64,
    /// The 1, 5 and 15 minute load averages just before and just after measuring, where the
    /// system tells.
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
    /// Logical CPUs this process may run on.
    pub cores: u32,
}

/// The reasons to distrust a benchmark's latencies, each with a stable code and a sentence that
/// says what to do:
///
/// - `high_variance`: the coefficient of variation exceeds [`MAX_CV`];
/// - `too_short`: fewer than [`MIN_SAMPLES`] samples, or under [`MIN_WALL_S`] seconds measured;
/// - `slow_first_run`: the first sample is an outlier above the median and more than
///   [`SLOW_FIRST_FACTOR`] times it;
/// - `busy_machine`: the 1-minute load average before or after exceeded the core count (the
///   load after includes this benchmark's own iterations, so it only fires when the machine
///   had more runnable work than cores);
/// - `outliers`: more than [`MAX_OUTLIER_SHARE`] of the samples are outliers.
pub fn warnings(latency: &Metric, context: &WarnContext) -> Vec<Warning> {
    [
        high_variance(latency),
        too_short(latency.summary.n, context.wall_s),
        slow_first_run(latency),
        busy_machine(context),
        many_outliers(latency),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn warning(code: &str, message: String) -> Warning {
    Warning { code: code.to_owned(), message }
}

fn high_variance(latency: &Metric) -> Option<Warning> {
    let cv = latency.summary.cv;
    (cv > MAX_CV).then(|| {
        warning(
            "high_variance",
            format!(
                "The {} varies a lot between iterations (coefficient of variation {:.1}%, above {:.0}%). \
                 Close other programs, set the CPU governor to `performance`, or measure for longer.",
                latency.name,
                cv * 100.0,
                MAX_CV * 100.0
            ),
        )
    })
}

fn too_short(n: u64, wall_s: f64) -> Option<Warning> {
    let message = if n < MIN_SAMPLES {
        format!("Only {n} iterations were measured; the statistics need at least {MIN_SAMPLES}.")
    } else if wall_s < MIN_WALL_S {
        format!(
            "The measurement took only {wall_s:.3} s, too short to average over the machine's fluctuations."
        )
    } else {
        return None;
    };
    let advice = " Measure more iterations, for at least a second.";
    Some(warning("too_short", message + advice))
}

fn slow_first_run(latency: &Metric) -> Option<Warning> {
    let (first, median) = (*latency.samples.first()?, latency.summary.median);
    let slow = latency.outliers.contains(&0) && first > median && first > SLOW_FIRST_FACTOR * median;
    slow.then(|| {
        warning(
            "slow_first_run",
            format!(
                "The first iteration was much slower than the rest ({first:.3} {unit} against a median of \
                 {median:.3} {unit}), probably because caches were cold. Use --warmup to run a few \
                 iterations before measuring.",
                unit = latency.unit
            ),
        )
    })
}

fn busy_machine(context: &WarnContext) -> Option<Warning> {
    let cores = f64::from(context.cores.max(1));
    let busy = |load: Option<[f64; 3]>| load.is_some_and(|[one, _, _]| one > cores);
    if !busy(context.load_before) && !busy(context.load_after) {
        return None;
    }
    let show = |load: Option<[f64; 3]>| load.map_or("unknown".to_owned(), |[one, _, _]| format!("{one:.2}"));
    Some(warning(
        "busy_machine",
        format!(
            "The machine was busy: a 1-minute load average of {} before and {} after, on {} cores. \
             Close other programs or measure on a quiet machine.",
            show(context.load_before),
            show(context.load_after),
            context.cores
        ),
    ))
}

fn many_outliers(latency: &Metric) -> Option<Warning> {
    let (count, n) = (latency.outliers.len(), latency.samples.len());
    (n > 0 && count as f64 > MAX_OUTLIER_SHARE * n as f64).then(|| {
        warning(
            "outliers",
            format!(
                "{count} of {n} iterations are statistical outliers. Re-run on a quiet machine without \
                 interference from other programs; --warmup may help if the outliers come first."
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exponential(n: usize, rng: &mut Rng) -> Vec<f64> {
        (0..n).map(|_| -(1.0 - rng.f64()).ln()).collect()
    }

    fn close(actual: f64, expected: f64, relative: f64) -> bool {
        (actual - expected).abs() <= relative * expected.abs()
    }

    /// A metric of quiet, steady latencies around 10 ms over two seconds.
    fn quiet() -> (Metric, WarnContext) {
        let samples: Vec<f64> = (0..100).map(|i| 10.0 + f64::from(i % 7) * 0.01).collect();
        let context = WarnContext { wall_s: 2.0, load_before: Some([0.5; 3]), load_after: None, cores: 4 };
        (metric("latency", "ms", samples, Vec::new(), 1), context)
    }

    fn codes(latency: &Metric, context: &WarnContext) -> Vec<String> {
        warnings(latency, context).into_iter().map(|w| w.code).collect()
    }

    #[test]
    fn no_samples_summarise_to_zeros_that_serialise() {
        let summary = summarize(&[], 7);
        assert_eq!(summary, Summary::default());
        let json = serde_json::to_string(&summary).expect("a summary serialises");
        assert!(!json.contains("null"), "{json}");
        assert_eq!(summarize(&[f64::NAN], 7).n, 0);
    }

    #[test]
    fn summary_of_one_to_a_hundred() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = summarize(&samples, 1);
        assert_eq!((s.n, s.min, s.max, s.mean, s.median), (100, 1.0, 100.0, 50.5, 50.5));
        assert!(close(s.stddev, 29.011492, 1e-6), "{}", s.stddev);
        assert!(close(s.cv, 29.011492 / 50.5, 1e-6), "{}", s.cv);
        for (actual, expected) in
            [(s.p50, 50.0), (s.p90, 90.0), (s.p95, 95.0), (s.p99, 99.0), (s.p999, 100.0)]
        {
            assert!(close(actual, expected, 1e-3), "{actual} for {expected}");
        }
        assert!(s.median_ci.lo < 50.5 && 50.5 < s.median_ci.hi && s.median_ci.level == 0.95);
    }

    #[test]
    fn percentiles_keep_three_digits_whatever_the_unit() {
        for unit in [1e-6, 1.0, 1e9] {
            let samples: Vec<f64> = (1..=1000).map(|i| f64::from(i) * unit).collect();
            let p = percentiles(&samples);
            assert!(close(p.p50, 500.0 * unit, 1e-3) && close(p.p999, 999.0 * unit, 1e-3), "{p:?}");
            assert_eq!(p.max, 1000.0 * unit);
        }
    }

    #[test]
    fn one_sample_has_no_spread() {
        let s = summarize(&[3.0], 1);
        assert_eq!((s.n, s.stddev, s.cv, s.median, s.p99), (1, 0.0, 0.0, 3.0, 3.0));
        assert_eq!((s.median_ci.lo, s.median_ci.hi), (3.0, 3.0));
    }

    #[test]
    fn a_seed_gives_the_same_summary() {
        let samples = exponential(500, &mut Rng::with_seed(3));
        assert_eq!(summarize(&samples, 9), summarize(&samples, 9));
        assert_ne!(summarize(&samples, 9).median_ci, summarize(&samples, 10).median_ci);
    }

    /// How often the interval holds the median of the exponential distribution (ln 2), and its
    /// mean width.
    fn coverage(n: usize, trials: u64) -> (u64, f64) {
        let (mut hits, mut width) = (0, 0.0);
        for seed in 0..trials {
            let ci = summarize(&exponential(n, &mut Rng::with_seed(seed)), seed).median_ci;
            hits += u64::from(ci.lo <= 2f64.ln() && 2f64.ln() <= ci.hi);
            width += (ci.hi - ci.lo) / trials as f64;
        }
        (hits, width)
    }

    #[test]
    fn the_median_interval_holds_the_true_median_in_most_samples() {
        let (hits, _) = coverage(200, 100);
        assert!(hits >= 88, "{hits} of 100");
    }

    #[test]
    fn a_large_sample_keeps_the_width_of_its_median_interval() {
        // The median of n exponential samples has a standard error of 1/√n: a 95% interval
        // about 3.92/√n wide. Resampling only 1,000 without shrinking would be √3 times wider.
        let (hits, width) = coverage(3_000, 30);
        assert!(hits >= 26, "{hits} of 30");
        let expected = 3.92 / 3_000f64.sqrt();
        assert!(close(width, expected, 0.2), "{width} against {expected}");
    }

    #[test]
    fn outliers_are_found_at_their_indices() {
        let mut samples: Vec<f64> = (0..40).map(|i| 10.0 + f64::from(i % 5) * 0.1).collect();
        samples[7] = 30.0;
        samples[31] = 1.0;
        assert_eq!(outliers(&samples), [7, 31]);
        assert_eq!(metric("latency", "ms", samples, Vec::new(), 1).outliers, [7, 31]);
    }

    #[test]
    fn outliers_fall_back_to_the_mean_deviation_when_most_samples_are_equal() {
        assert_eq!(outliers(&[5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 9.0]), [6]);
        assert!(outliers(&[5.0; 10]).is_empty());
        assert!(outliers(&[]).is_empty());
    }

    #[test]
    fn a_quiet_measurement_has_no_warnings() {
        let (latency, context) = quiet();
        assert!(warnings(&latency, &context).is_empty(), "{:?}", warnings(&latency, &context));
    }

    #[test]
    fn noisy_latencies_warn_of_their_variance() {
        let samples: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { 8.0 } else { 12.0 }).collect();
        let latency = metric("latency", "ms", samples, Vec::new(), 1);
        let found = warnings(&latency, &quiet().1);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, "high_variance");
        assert!(found[0].message.contains("20.1%"), "{}", found[0].message);
    }

    #[test]
    fn few_samples_or_a_short_wall_time_are_too_short() {
        let (latency, context) = quiet();
        assert_eq!(codes(&latency, &WarnContext { wall_s: 0.2, ..context.clone() }), ["too_short"]);
        let few = metric("latency", "ms", vec![10.0; 5], Vec::new(), 1);
        assert_eq!(codes(&few, &context), ["too_short"]);
    }

    #[test]
    fn a_slow_first_sample_suggests_warming_up() {
        let (mut latency, context) = quiet();
        latency.samples[0] = 16.0;
        let latency = metric("latency", "ms", latency.samples, Vec::new(), 1);
        let found = warnings(&latency, &context);
        assert_eq!(found.iter().map(|w| w.code.as_str()).collect::<Vec<_>>(), ["slow_first_run"]);
        assert!(found[0].message.contains("--warmup"));
    }

    #[test]
    fn a_load_above_the_cores_is_a_busy_machine() {
        let (latency, context) = quiet();
        let after = WarnContext { load_after: Some([4.5, 1.0, 1.0]), ..context.clone() };
        assert_eq!(codes(&latency, &after), ["busy_machine"]);
        let before = WarnContext { load_before: Some([4.5, 1.0, 1.0]), ..context.clone() };
        assert_eq!(codes(&latency, &before), ["busy_machine"]);
        let at_capacity = WarnContext { load_before: Some([4.0, 1.0, 1.0]), ..context };
        assert!(codes(&latency, &at_capacity).is_empty());
    }

    #[test]
    fn more_than_five_percent_outliers_are_reported() {
        let (latency, context) = quiet();
        let mut samples = latency.samples;
        [10, 30, 50, 70, 90, 95].iter().for_each(|&i| samples[i] = 25.0);
        let latency = metric("latency", "ms", samples, Vec::new(), 1);
        let found = warnings(&latency, &context);
        let outliers = found.iter().find(|w| w.code == "outliers").expect("an outliers warning");
        assert!(outliers.message.starts_with("6 of 100"), "{}", outliers.message);
    }
}
