//! Where a series of saved results shifts level: the change points `weir bench history` marks.
//! The series holds one median per saved result, oldest first.
//!
//! Binary segmentation: the series is split where two levels fit it best, if that split clears
//! both a statistical and a practical bar, and each side is searched again the same way. A
//! history has the odd result measured on a busy machine, so the levels are medians and the fit
//! is the sum of absolute deviations from them. The noise comes from the differences between
//! successive results within each side, which a level shift hardly moves; an odd result inflates
//! it, which makes the test more cautious, never less. A split is a change when
//!
//! - both sides hold at least [`MIN_SEGMENT`] results, so one odd result is never a level;
//! - the later level differs from the earlier by more than [`MIN_SHIFT`], so drift too small to
//!   matter is not flagged however steady the series;
//! - the difference is at least [`MIN_SCORE`] standard errors, so noise is seldom flagged however
//!   large it is.

use crate::bootstrap;

/// The fewest results either side of a change.
pub const MIN_SEGMENT: usize = 2;

/// The smallest shift of level that counts, relative to the earlier level.
pub const MIN_SHIFT: f64 = 0.05;

/// How many standard errors apart the levels either side of a change must be (the noise times
/// `√(1/n₁ + 1/n₂)`, as for a difference of two means). The split is the
/// best of every place, so the bar sits above the usual two: at four, flat histories with a few
/// percent of noise are flagged in under 5% of cases even at six results, while a 10% step
/// under 2% noise is found at its place in nine cases of ten from ten results on.
pub const MIN_SCORE: f64 = 4.0;

/// The indices at which a new level starts, in increasing order; none for fewer than
/// `2 ×` [`MIN_SEGMENT`] results.
pub fn change_points(series: &[f64]) -> Vec<usize> {
    let mut found = Vec::new();
    segment(series, 0, &mut found);
    found.sort_unstable();
    found
}

/// Finds the change points of `series`, which starts at `offset` in the whole series.
fn segment(series: &[f64], offset: usize, found: &mut Vec<usize>) {
    let Some(k) = best_split(series) else { return };
    found.push(offset + k);
    segment(&series[..k], offset, found);
    segment(&series[k..], offset + k, found);
}

/// The split that fits the series best, if it is a change. The place is where the two levels
/// leave the least absolute deviation (a robust least-squares: a misplaced split pays for every
/// result put on the wrong side); whether it is a change is then for [`score`] to say.
fn best_split(series: &[f64]) -> Option<usize> {
    let splits = MIN_SEGMENT..=series.len().saturating_sub(MIN_SEGMENT);
    let cost = |k: usize| deviation(&series[..k]) + deviation(&series[k..]);
    let best = splits.min_by(|&a, &b| cost(a).total_cmp(&cost(b)))?;
    score(series, best).filter(|s| *s >= MIN_SCORE).map(|_| best)
}

/// The spread of the results about their levels, from the successive differences within each
/// side (`E|xᵢ₊₁ − xᵢ| = 2σ/√π` for normal noise): the step tested does not count, and another
/// step counts only once, which can only make the test more cautious.
fn noise(before: &[f64], after: &[f64]) -> f64 {
    let steps = |side: &[f64]| side.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>();
    let count = before.len() + after.len() - 2;
    0.886227 * (steps(before) + steps(after)) / count as f64
}

/// The sum of absolute deviations from the median.
fn deviation(values: &[f64]) -> f64 {
    let level = median(values);
    values.iter().map(|x| (x - level).abs()).sum()
}

/// How many standard errors (see [`MIN_SCORE`]) apart the medians before and after `k` are; none when they differ
/// by no more than [`MIN_SHIFT`]. A noiseless step scores infinity.
fn score(series: &[f64], k: usize) -> Option<f64> {
    let (before, after) = series.split_at(k);
    let (level_before, level_after) = (median(before), median(after));
    let shift = (level_after - level_before).abs();
    if shift <= MIN_SHIFT * level_before.abs() {
        return None;
    }
    let noise = noise(before, after);
    let standard_error = noise * (1.0 / before.len() as f64 + 1.0 / after.len() as f64).sqrt();
    Some(if standard_error > 0.0 { shift / standard_error } else { f64::INFINITY })
}

fn median(values: &[f64]) -> f64 {
    bootstrap::median_in_place(&mut values.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastrand::Rng;

    fn noisy(levels: &[(usize, f64)], cv: f64, seed: u64) -> Vec<f64> {
        let mut rng = Rng::with_seed(seed);
        let mut normal = || {
            let (u, v) = (1.0 - rng.f64(), rng.f64());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        levels
            .iter()
            .flat_map(|&(n, level)| (0..n).map(|_| level * (1.0 + cv * normal())).collect::<Vec<_>>())
            .collect()
    }

    fn series(levels: &[(usize, f64)]) -> Vec<f64> {
        levels.iter().flat_map(|&(n, level)| std::iter::repeat_n(level, n)).collect()
    }

    #[test]
    fn a_clear_step_is_found_where_the_new_level_starts() {
        let steps = [100.0, 101.0, 99.0, 100.0, 100.0, 120.0, 121.0, 119.0, 120.0, 120.0];
        assert_eq!(change_points(&steps), [5]);
        assert_eq!(change_points(&series(&[(6, 100.0), (6, 130.0), (6, 90.0)])), [6, 12]);
        assert_eq!(change_points(&series(&[(2, 10.0), (2, 5.0)])), [2]);
    }

    #[test]
    fn a_step_in_noise_is_found_at_its_place() {
        for seed in 0..10 {
            assert_eq!(change_points(&noisy(&[(10, 100.0), (10, 110.0)], 0.01, seed)), [10], "seed {seed}");
            let three = noisy(&[(8, 100.0), (8, 80.0), (8, 95.0)], 0.01, seed);
            assert_eq!(change_points(&three), [8, 16], "seed {seed}");
        }
    }

    #[test]
    fn noise_without_a_step_is_not_a_change() {
        for seed in 0..20 {
            for (n, cv) in [(30, 0.02), (30, 0.05), (10, 0.02), (100, 0.03)] {
                let flat = noisy(&[(n, 100.0)], cv, seed);
                assert!(change_points(&flat).is_empty(), "seed {seed}, {n} results, cv {cv}: {flat:?}");
            }
        }
    }

    #[test]
    fn a_shift_below_five_percent_is_not_a_change() {
        assert!(change_points(&series(&[(10, 100.0), (10, 104.0)])).is_empty());
    }

    #[test]
    fn one_odd_result_is_not_a_change() {
        let mut spiky = noisy(&[(20, 100.0)], 0.01, 3);
        spiky[4] = 200.0;
        spiky[18] = 180.0;
        assert!(change_points(&spiky).is_empty(), "{spiky:?}");
    }

    #[test]
    fn short_series_have_no_change_points() {
        for short in [&[][..], &[1.0], &[1.0, 100.0], &[1.0, 1.0, 100.0]] {
            assert!(change_points(short).is_empty(), "{short:?}");
        }
    }
}
