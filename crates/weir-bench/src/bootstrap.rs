//! The percentile bootstrap of a median, shared by a metric's summary and a comparison's ratio.
//!
//! A plain bootstrap costs resamples × samples: two thousand resamples of 100,000 samples would
//! take seconds. Above [`MAX_RESAMPLE_LEN`] samples each resample therefore draws only that many
//! (the m-out-of-n bootstrap), and its median's distance from the full sample's median is shrunk
//! by √(m/n), the ratio of the two medians' standard errors. Below the cap this is exactly the
//! percentile bootstrap; above it the interval keeps the width the full sample's median has, at a
//! cost that no longer grows with the sample.

use fastrand::Rng;
use weir_api::bench::Interval;

/// The confidence level of every interval weir reports.
pub const LEVEL: f64 = 0.95;

/// Enough resamples that the 2.5th and 97.5th percentiles of the resampled medians are stable.
pub const RESAMPLES: usize = 2_000;

/// The most samples one resample draws; see the module's documentation.
pub const MAX_RESAMPLE_LEN: usize = 1_000;

/// The finite samples, sorted: what every statistic here starts from.
pub fn sorted_finite(samples: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    sorted
}

/// The median of sorted samples (the mean of the middle two for an even count); 0 for none.
pub fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The median of unsorted samples, reordering them; 0 for none.
pub fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    let (below, middle, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *middle;
    if n % 2 == 1 {
        return upper;
    }
    let lower = below.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
    (lower + upper) / 2.0
}

/// [`RESAMPLES`] bootstrap medians of `sorted`, each as far from the sample's median as a
/// median of all the samples would be; none for no samples.
pub fn medians(sorted: &[f64], rng: &mut Rng) -> Vec<f64> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let m = n.min(MAX_RESAMPLE_LEN);
    let center = median_of_sorted(sorted);
    let shrink = (m as f64 / n as f64).sqrt();
    let mut resample = vec![0.0; m];
    (0..RESAMPLES)
        .map(|_| {
            resample.iter_mut().for_each(|x| *x = sorted[rng.usize(..n)]);
            center + (median_in_place(&mut resample) - center) * shrink
        })
        .collect()
}

/// The central [`LEVEL`] interval of bootstrap statistics; all zeros for none.
pub fn percentile_interval(mut statistics: Vec<f64>) -> Interval {
    if statistics.is_empty() {
        return Interval::default();
    }
    statistics.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - LEVEL) / 2.0;
    Interval { lo: quantile(&statistics, tail), hi: quantile(&statistics, 1.0 - tail), level: LEVEL }
}

/// The `q` quantile of non-empty sorted values, interpolated between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (below, fraction) = (position.floor() as usize, position.fract());
    match sorted.get(below + 1) {
        Some(above) if fraction > 0.0 => sorted[below] + (above - sorted[below]) * fraction,
        _ => sorted[below],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median_of_sorted(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median_of_sorted(&[1.0, 2.0, 4.0, 10.0]), 3.0);
        assert_eq!(median_in_place(&mut [10.0, 1.0, 4.0, 2.0]), 3.0);
        assert_eq!(median_in_place(&mut [10.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut []), 0.0);
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[0.0, 10.0], 0.25), 2.5);
        assert_eq!(quantile(&[5.0], 0.975), 5.0);
    }
}
