//! Two sets of samples judged against each other: the ratio of their medians with its bootstrap
//! interval, a Mann-Whitney U test, Holm's correction across the metrics compared, and a
//! three-state verdict. Lower is better for every metric compared.
//!
//! The verdict ([`verdict`]) needs two things at once: that the difference is unlikely to be
//! noise (`p_adjusted <` [`ALPHA`]) and that it matters (the ratio of medians beyond the
//! threshold). Significance alone would flag a 0.3% change once enough samples are taken;
//! size alone would flag noise in a short run. The ratio's interval is reported but not
//! required to clear the threshold: with a 2% threshold, a real 5% slowdown has a point ratio
//! near 1.05 and is caught, whereas requiring the whole interval above 1.02 would miss it
//! whenever the interval is wider than ±3%. Two runs of the same code are flagged only when the
//! test errs (at most [`ALPHA`] of the time) and the medians also differ by the threshold.

use crate::bootstrap;
use fastrand::Rng;
use std::cmp::Ordering;
use weir_api::bench::{
    Benchmark, Comparison, Counter, CounterComparison, Interval, Metric, MetricComparison, Verdict,
};

/// The significance level of a comparison, after Holm's correction.
pub const ALPHA: f64 = 0.05;

/// The relative change within which a difference counts as none, unless the user asks otherwise.
pub const DEFAULT_THRESHOLD: f64 = 0.02;

/// Up to this many samples on both sides, and no ties, the p-value comes from the exact
/// distribution of U; beyond it the normal approximation is accurate to well under 1%.
pub const EXACT_MAX_LEN: usize = 20;

/// The two-sided p-value of the Mann-Whitney U test that `a` and `b` come from the same
/// distribution; 1 when either is empty.
///
/// Exact for small samples without ties ([`EXACT_MAX_LEN`]); otherwise the normal approximation
/// with the tie correction of the variance and a continuity correction of ½, as
/// `scipy.stats.mannwhitneyu` computes them.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let ranks = Ranks::of(a, b);
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let u1 = ranks.sum_a - n1 * (n1 + 1.0) / 2.0;
    let u = u1.max(n1 * n2 - u1);
    let exact = a.len() <= EXACT_MAX_LEN && b.len() <= EXACT_MAX_LEN && ranks.ties == 0.0;
    let p = if exact { 2.0 * exact_sf(u, a.len(), b.len()) } else { normal_p(u, n1, n2, ranks.ties) };
    p.min(1.0)
}

/// The pooled samples' ranks as the test needs them.
struct Ranks {
    /// The sum of `a`'s ranks (1-based, ties given their mean rank).
    sum_a: f64,
    /// Σ(t³ − t) over groups of t tied values: what ties take from U's variance.
    ties: f64,
}

impl Ranks {
    fn of(a: &[f64], b: &[f64]) -> Ranks {
        let mut pooled: Vec<(f64, bool)> =
            a.iter().map(|&x| (x, true)).chain(b.iter().map(|&x| (x, false))).collect();
        pooled.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
        let (mut sum_a, mut ties, mut start) = (0.0, 0.0, 0);
        for group in pooled.chunk_by(|x, y| x.0 == y.0) {
            let t = group.len() as f64;
            let mean_rank = start as f64 + (t + 1.0) / 2.0;
            sum_a += mean_rank * group.iter().filter(|x| x.1).count() as f64;
            ties += t * t * t - t;
            start += group.len();
        }
        Ranks { sum_a, ties }
    }
}

/// P(U ≥ u) under the null hypothesis, from the exact distribution of U for samples of `n1`
/// and `n2` without ties.
///
/// The number of arrangements with U = k is the coefficient of qᵏ in the Gaussian binomial
/// coefficient [n1 + n2 choose n1]_q = Π (1 − q^(n2+i)) / (1 − q^i) for i in 1..=n1; each factor
/// is applied in place. Every count is an integer below C(40, 20) < 2⁵³, so f64 holds it exactly.
fn exact_sf(u: f64, n1: usize, n2: usize) -> f64 {
    let top = n1 * n2;
    let mut counts = vec![0.0; top + 1];
    counts[0] = 1.0;
    for i in 1..=n1 {
        for k in (n2 + i..=top).rev() {
            counts[k] -= counts[k - n2 - i];
        }
        for k in i..=top {
            counts[k] += counts[k - i];
        }
    }
    let total: f64 = counts.iter().sum();
    let from = (u.ceil() as usize).min(top + 1);
    counts[from..].iter().sum::<f64>() / total
}

/// The two-sided p-value of U by the normal approximation with tie and continuity corrections.
fn normal_p(u: f64, n1: f64, n2: f64, ties: f64) -> f64 {
    let n = n1 + n2;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance.is_nan() || variance <= 0.0 {
        // Every value is equal: nothing tells the samples apart.
        return 1.0;
    }
    let z = (u - n1 * n2 / 2.0 - 0.5) / variance.sqrt();
    erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function, to a relative error below 1.2·10⁻⁷ (the Chebyshev fit of
/// Numerical Recipes' `erfcc`); the standard library's is not stable yet.
fn erfc(x: f64) -> f64 {
    const C: [f64; 10] = [
        -1.26551223,
        1.00002368,
        0.37409196,
        0.09678418,
        -0.18628806,
        0.27886807,
        -1.13520398,
        1.48851587,
        -0.82215223,
        0.17087277,
    ];
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let series = C.iter().rev().fold(0.0, |acc, c| c + t * acc);
    let tail = t * (-z * z + series).exp();
    if x >= 0.0 { tail } else { 2.0 - tail }
}

/// Holm-Bonferroni adjusted p-values, in the order given: the k-th smallest of m is multiplied
/// by m − k + 1, made monotone and capped at 1. A metric is significant when its adjusted value
/// is below [`ALPHA`], which keeps the chance of any false finding among them below it.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The 95% bootstrap interval of `median(new) / median(base)`, each side resampled on its own
/// (see `bootstrap` for how large samples stay cheap); all zeros when either side is empty.
pub fn ratio_ci(base: &[f64], new: &[f64], seed: u64) -> Interval {
    let (base, new) = (bootstrap::sorted_finite(base), bootstrap::sorted_finite(new));
    if base.is_empty() || new.is_empty() {
        return Interval::default();
    }
    let mut rng = Rng::with_seed(seed);
    let base_medians = bootstrap::medians(&base, &mut rng);
    let new_medians = bootstrap::medians(&new, &mut rng);
    let ratios = base_medians.iter().zip(&new_medians).map(|(b, n)| ratio(*n, *b)).collect();
    bootstrap::percentile_interval(ratios)
}

/// `new / base`, kept finite so a report can always be written: equal values are a ratio of 1,
/// and anything over a zero base is as large a ratio as there is.
fn ratio(new: f64, base: f64) -> f64 {
    match base.partial_cmp(&0.0) {
        Some(Ordering::Greater) => new / base,
        _ if new == base => 1.0,
        _ => f64::MAX,
    }
}

/// The verdict on one metric: `regressed` when the change is significant (`p_adjusted <`
/// [`ALPHA`]) and the ratio of medians exceeds `1 + threshold`, `improved` when it is
/// significant and below `1 − threshold`, `unchanged` otherwise. See the module's documentation
/// for why the point ratio and not its interval must clear the threshold.
pub fn verdict(p_adjusted: f64, ratio: f64, threshold: f64) -> Verdict {
    if p_adjusted >= ALPHA {
        Verdict::Unchanged
    } else if ratio > 1.0 + threshold {
        Verdict::Regressed
    } else if ratio < 1.0 - threshold {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    }
}

/// One metric of two benchmarks, judged alone (`p_adjusted` is the p-value itself; [`compare`]
/// corrects it across metrics).
pub fn compare_metric(base: &Metric, new: &Metric, threshold: f64, seed: u64) -> MetricComparison {
    let base_median = bootstrap::median_of_sorted(&bootstrap::sorted_finite(&base.samples));
    let new_median = bootstrap::median_of_sorted(&bootstrap::sorted_finite(&new.samples));
    let p_value = mann_whitney(&base.samples, &new.samples);
    let ratio = ratio(new_median, base_median);
    MetricComparison {
        metric: base.name.clone(),
        unit: base.unit.clone(),
        base_median,
        new_median,
        ratio,
        ratio_ci: ratio_ci(&base.samples, &new.samples, seed),
        p_value,
        p_adjusted: p_value,
        threshold,
        verdict: verdict(p_value, ratio, threshold),
    }
}

/// Two benchmarks, metric by metric: every metric of `base` that `new` has too, under the same
/// name and unit and with at least two samples on each side, in `base`'s order. The p-values
/// are corrected with [`holm`] across them before each [`verdict`]. The counters both have are
/// compared too, exactly ([`compare_counters`]).
pub fn compare(base: &Benchmark, new: &Benchmark, threshold: f64, seed: u64) -> Comparison {
    let comparable = |m: &Metric| m.samples.len() >= 2;
    let pairs = base.metrics.iter().filter(|b| comparable(b)).filter_map(|b| {
        new.metrics.iter().find(|n| n.name == b.name && n.unit == b.unit && comparable(n)).map(|n| (b, n))
    });
    let mut metrics: Vec<MetricComparison> = pairs
        .enumerate()
        .map(|(i, (b, n))| compare_metric(b, n, threshold, seed.wrapping_add(i as u64)))
        .collect();
    let adjusted = holm(&metrics.iter().map(|m| m.p_value).collect::<Vec<_>>());
    for (m, p) in metrics.iter_mut().zip(adjusted) {
        m.p_adjusted = p;
        m.verdict = verdict(p, m.ratio, threshold);
    }
    let counters = compare_counters(&base.counters, &new.counters, threshold);
    Comparison { base: base.name.clone(), new: new.name.clone(), metrics, counters }
}

/// The counters of `base` that `new` has too (same name and `per`), in `base`'s order. Counters
/// do not move with noise, so no statistics: `regressed` when `new > base·(1 + threshold)`,
/// `improved` when `new < base·(1 − threshold)`, `unchanged` otherwise.
pub fn compare_counters(base: &[Counter], new: &[Counter], threshold: f64) -> Vec<CounterComparison> {
    let pairs =
        base.iter().filter_map(|b| new.iter().find(|n| n.name == b.name && n.per == b.per).map(|n| (b, n)));
    pairs.map(|(b, n)| compare_counter(b, n, threshold)).collect()
}

fn compare_counter(base: &Counter, new: &Counter, threshold: f64) -> CounterComparison {
    let (b, n) = (base.value, new.value);
    let verdict = if n > b * (1.0 + threshold) {
        Verdict::Regressed
    } else if n < b * (1.0 - threshold) {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    };
    let ratio = if b != 0.0 { Some(n / b) } else { (n == 0.0).then_some(1.0) };
    CounterComparison {
        name: base.name.clone(),
        per: base.per.clone(),
        base: b,
        new: n,
        ratio,
        threshold,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats;
    use weir_api::bench::Throughput;

    /// Latency-like samples: a median of `median`, log-normally spread by 10%.
    fn latencies(n: usize, median: f64, rng: &mut Rng) -> Vec<f64> {
        let normal = |rng: &mut Rng| {
            let (u, v) = (1.0 - rng.f64(), rng.f64());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        (0..n).map(|_| median * (0.1 * normal(rng)).exp()).collect()
    }

    fn metric(name: &str, samples: Vec<f64>) -> Metric {
        stats::metric(name, "ms", samples, Vec::new(), 0)
    }

    fn benchmark(name: &str, metrics: Vec<Metric>) -> Benchmark {
        Benchmark {
            name: name.to_owned(),
            iterations: 0,
            warmup: 0,
            concurrency: 1,
            wall_s: 1.0,
            failures: 0,
            metrics,
            throughput: Throughput::default(),
            resources: None,
            energy: None,
            thermal: Vec::new(),
            breakdown: None,
            counters: Vec::new(),
            http: None,
            warnings: Vec::new(),
        }
    }

    /// The verdicts of 20 trials of 200 samples against 200 scaled by `factor`.
    fn verdicts(factor: f64) -> Vec<Verdict> {
        (0..20)
            .map(|seed| {
                let mut rng = Rng::with_seed(seed);
                let base = metric("latency", latencies(200, 10.0, &mut rng));
                let new = metric("latency", latencies(200, 10.0 * factor, &mut rng));
                compare_metric(&base, &new, DEFAULT_THRESHOLD, seed).verdict
            })
            .collect()
    }

    fn count(verdicts: &[Verdict], verdict: Verdict) -> usize {
        verdicts.iter().filter(|v| **v == verdict).count()
    }

    /// Two-sided p-values from `scipy.stats.mannwhitneyu` (scipy 1.17.1, continuity correction
    /// on), each case with the method this module uses for it.
    #[test]
    fn p_values_match_the_reference() {
        let cases: serde_json::Value =
            serde_json::from_str(include_str!("testdata/mann_whitney.json")).expect("valid test data");
        let numbers = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
        };
        for case in cases.as_array().expect("a list of cases") {
            let (a, b) = (numbers(&case["a"]), numbers(&case["b"]));
            let expected = case["p"].as_f64().expect("a p-value");
            let p = mann_whitney(&a, &b);
            assert!((p - expected).abs() <= 1e-6 * expected, "{}: {p} against {expected}", case["name"]);
            assert_eq!(p, mann_whitney(&b, &a), "{}: not symmetric", case["name"]);
        }
    }

    #[test]
    fn nothing_to_compare_is_no_evidence() {
        assert_eq!(mann_whitney(&[], &[1.0, 2.0]), 1.0);
        assert_eq!(mann_whitney(&[1.0], &[]), 1.0);
    }

    #[test]
    fn holm_on_the_textbook_example() {
        assert_eq!(holm(&[0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02]);
        assert_eq!(holm(&[0.5, 0.6]), [1.0, 1.0]);
        assert_eq!(holm(&[0.02]), [0.02]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn the_ratio_interval_holds_the_true_ratio_in_most_samples() {
        let hits = (0..50)
            .filter(|&seed| {
                let mut rng = Rng::with_seed(seed);
                let base = latencies(100, 10.0, &mut rng);
                let new = latencies(100, 10.5, &mut rng);
                let ci = ratio_ci(&base, &new, seed);
                ci.lo <= 1.05 && 1.05 <= ci.hi
            })
            .count();
        assert!(hits >= 44, "{hits} of 50");
    }

    #[test]
    fn the_same_distribution_is_unchanged() {
        let found = verdicts(1.0);
        assert!(count(&found, Verdict::Unchanged) >= 19, "{found:?}");
    }

    #[test]
    fn a_five_percent_slowdown_is_a_regression() {
        let found = verdicts(1.05);
        assert!(count(&found, Verdict::Regressed) >= 18, "{found:?}");
    }

    #[test]
    fn a_five_percent_speedup_is_an_improvement() {
        let found = verdicts(0.95);
        assert!(count(&found, Verdict::Improved) >= 18, "{found:?}");
    }

    #[test]
    fn a_significant_change_within_the_threshold_is_unchanged() {
        assert_eq!(verdict(1e-9, 1.01, DEFAULT_THRESHOLD), Verdict::Unchanged);
        assert_eq!(verdict(0.2, 1.5, DEFAULT_THRESHOLD), Verdict::Unchanged);
        assert_eq!(verdict(0.01, 1.03, DEFAULT_THRESHOLD), Verdict::Regressed);
    }

    #[test]
    fn compare_pairs_metrics_by_name_and_corrects_across_them() {
        let mut rng = Rng::with_seed(5);
        let base = benchmark(
            "old.yaml",
            vec![
                metric("latency", latencies(100, 10.0, &mut rng)),
                metric("step.a", latencies(100, 4.0, &mut rng)),
                metric("step.b", latencies(100, 6.0, &mut rng)),
                metric("step.once", vec![1.0]),
                metric("step.gone", latencies(10, 1.0, &mut rng)),
            ],
        );
        let new = benchmark(
            "new.yaml",
            vec![
                metric("step.b", latencies(100, 7.0, &mut rng)),
                metric("latency", latencies(100, 11.0, &mut rng)),
                metric("step.a", latencies(100, 4.0, &mut rng)),
                metric("step.once", vec![1.0, 1.0]),
            ],
        );
        let comparison = compare(&base, &new, DEFAULT_THRESHOLD, 1);
        assert_eq!((comparison.base.as_str(), comparison.new.as_str()), ("old.yaml", "new.yaml"));
        let names: Vec<&str> = comparison.metrics.iter().map(|m| m.metric.as_str()).collect();
        assert_eq!(names, ["latency", "step.a", "step.b"]);
        let raw: Vec<f64> = comparison.metrics.iter().map(|m| m.p_value).collect();
        let adjusted: Vec<f64> = comparison.metrics.iter().map(|m| m.p_adjusted).collect();
        assert_eq!(adjusted, holm(&raw));
        let found: Vec<Verdict> = comparison.metrics.iter().map(|m| m.verdict).collect();
        assert_eq!(found, [Verdict::Regressed, Verdict::Unchanged, Verdict::Regressed]);
        assert_eq!(comparison, compare(&base, &new, DEFAULT_THRESHOLD, 1));
    }

    #[test]
    fn counters_compare_exactly() {
        let counter =
            |name: &str, value: f64| Counter { name: name.to_owned(), value, per: "run".to_owned() };
        let base = [counter("allocations", 100.0), counter("store.commits", 3.0), counter("syncs", 0.0)];
        let new = [counter("store.commits", 2.0), counter("allocations", 101.0), counter("syncs", 1.0)];
        let found = compare_counters(&base, &new, DEFAULT_THRESHOLD);
        let summary: Vec<(&str, Option<f64>, Verdict)> =
            found.iter().map(|c| (c.name.as_str(), c.ratio, c.verdict)).collect();
        assert_eq!(
            summary,
            [
                ("allocations", Some(1.01), Verdict::Unchanged),
                ("store.commits", Some(2.0 / 3.0), Verdict::Improved),
                ("syncs", None, Verdict::Regressed),
            ]
        );
    }
}
