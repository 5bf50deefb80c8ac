//! The estimate used when no meter can be read: the package's TDP times the share of the
//! machine the measured work kept busy.
//!
//! `watts = tdp × utilisation`, with `utilisation = (user_s + sys_s) / wall_s / cores` clamped
//! to [0, 1], and `joules = watts × wall_s`. The CPU time is the measured work's own (the caller
//! passes it), not the machine's from `/proc/stat`: a busy neighbour should not be billed to the
//! benchmark, and the figure is the same on every OS. It counts no idle power, no memory, no GPU:
//! it is a model, reported as `estimated`, and comparable only with estimates made on the same
//! machine with the same TDP.

use super::CpuUse;
use weir_api::bench::{EnergyDomain, Quality};

/// The default TDP per logical CPU, in watts, when the caller gives none (`--tdp`). A loaded
/// hardware thread draws about this much across current parts: a 28 W laptop chip with 8
/// threads, a 125 W desktop chip with 32, a 205 W server chip with 56 are 3.5, 3.9 and 3.7 W.
pub const WATTS_PER_CPU: f64 = 4.0;

/// The package TDP: the caller's, or [`WATTS_PER_CPU`] for each of `cores`.
pub fn tdp_watts(given: Option<f64>, cores: u32) -> f64 {
    given.unwrap_or(WATTS_PER_CPU * f64::from(cores.max(1)))
}

/// The `estimate:cpu` domain for work that used `cpu` on `cores` logical CPUs of a package of
/// `tdp_watts`; `None` when there is no wall time to spread it over.
pub fn cpu_domain(tdp_watts: f64, cores: u32, cpu: CpuUse) -> Option<EnergyDomain> {
    if !(cpu.wall_s > 0.0 && cpu.wall_s.is_finite() && tdp_watts.is_finite()) {
        return None;
    }
    let busy = (cpu.user_s + cpu.sys_s).max(0.0);
    let utilisation = (busy / cpu.wall_s / f64::from(cores.max(1))).clamp(0.0, 1.0);
    let mean_watts = tdp_watts.max(0.0) * utilisation;
    Some(EnergyDomain {
        name: "estimate:cpu".into(),
        quality: Quality::Estimated,
        joules: mean_watts * cpu.wall_s,
        mean_watts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(tdp: f64, cores: u32, cpu: CpuUse, expected_watts: Option<f64>) {
        let domain = cpu_domain(tdp, cores, cpu);
        assert_eq!(domain.as_ref().map(|d| d.mean_watts), expected_watts);
        if let Some(d) = domain {
            assert_eq!(d.quality, Quality::Estimated);
            assert_eq!(d.joules, d.mean_watts * cpu.wall_s);
        }
    }

    #[test]
    fn one_busy_core_of_four_is_a_quarter_of_the_tdp() {
        check(40.0, 4, CpuUse { user_s: 1.5, sys_s: 0.5, wall_s: 2.0 }, Some(10.0));
    }

    #[test]
    fn utilisation_never_exceeds_the_machine() {
        check(40.0, 2, CpuUse { user_s: 10.0, sys_s: 0.0, wall_s: 1.0 }, Some(40.0));
    }

    #[test]
    fn no_wall_time_is_no_estimate() {
        check(40.0, 2, CpuUse { user_s: 1.0, sys_s: 0.0, wall_s: 0.0 }, None);
    }

    #[test]
    fn the_default_tdp_scales_with_the_cpus() {
        assert_eq!(tdp_watts(None, 8), 32.0);
        assert_eq!(tdp_watts(Some(15.0), 8), 15.0);
    }
}
