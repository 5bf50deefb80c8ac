//! How figures are written for people: three significant digits, a time or size unit chosen by
//! magnitude, dates in UTC. The machine formats (JSON, CSV, BMF) never go through here: they
//! keep every digit.

use weir_api::bench::{Energy, Environment, Quality, Verdict};

/// `v` with `digits` significant digits, without an exponent; `n/a` for what is not a number.
pub(super) fn sig(v: f64, digits: i32) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).clamp(0, 12) as usize;
    format!("{v:.decimals$}")
}

/// The factor that turns milliseconds into the unit that suits `ms`, and that unit's name, so
/// that a column or an axis is read in one unit.
pub(super) fn time_scale(ms: f64) -> (f64, &'static str) {
    let ms = ms.abs();
    if ms >= 1000.0 {
        (1e-3, "s")
    } else if ms >= 1.0 || ms == 0.0 || !ms.is_finite() {
        (1.0, "ms")
    } else if ms >= 1e-3 {
        (1e3, "µs")
    } else {
        (1e6, "ns")
    }
}

/// The factor that turns bytes into the binary unit that suits `bytes`, and its name.
pub(super) fn byte_scale(bytes: f64) -> (f64, &'static str) {
    let units = [(1.0, "B"), (1024.0, "KiB"), (1024.0 * 1024.0, "MiB"), (1024.0 * 1024.0 * 1024.0, "GiB")];
    let (size, name) = units.into_iter().rev().find(|(size, _)| bytes.abs() >= *size).unwrap_or(units[0]);
    (1.0 / size, name)
}

/// The factor and display unit for values of a metric's `unit`, chosen from a typical value, so
/// that `ms` and `s` read as `µs`, `ms` or `s`, and `bytes` as `KiB` or `MiB`.
pub(super) fn scale(unit: &str, typical: f64) -> (f64, String) {
    match unit {
        "ms" => as_owned(time_scale(typical)),
        "s" => {
            let (factor, name) = time_scale(typical * 1e3);
            (factor * 1e3, name.into())
        }
        "bytes" => as_owned(byte_scale(typical)),
        other => (1.0, other.into()),
    }
}

fn as_owned((factor, name): (f64, &str)) -> (f64, String) {
    (factor, name.to_string())
}

/// A value of a metric with its unit, scaled by its own magnitude: `12.3 ms`, `850 µs`.
pub(super) fn quantity(v: f64, unit: &str) -> String {
    let (factor, name) = scale(unit, v);
    with_unit(sig(v * factor, 3), &name)
}

/// A value scaled by a factor chosen elsewhere, so that the figures of one row share a unit.
pub(super) fn scaled(v: f64, (factor, name): &(f64, String)) -> String {
    with_unit(sig(v * factor, 3), name)
}

fn with_unit(number: String, unit: &str) -> String {
    match unit {
        "" | "count" => number,
        unit => format!("{number} {unit}"),
    }
}

pub(super) fn bytes(b: u64) -> String {
    quantity(b as f64, "bytes")
}

pub(super) fn seconds(s: f64) -> String {
    quantity(s, "s")
}

/// Iterations per second, named by what the report measured.
pub(super) fn rate(per_s: f64) -> String {
    format!("{}/s", sig(per_s, 3))
}

pub(super) fn joules(j: f64) -> String {
    if j.abs() < 1.0 && j != 0.0 { format!("{} mJ", sig(j * 1e3, 3)) } else { format!("{} J", sig(j, 3)) }
}

/// Energy in one line, its quality always beside it: a model's estimate never passes for a
/// meter's reading.
pub(super) fn energy(e: &Energy) -> String {
    format!(
        "{} ({} per iteration, {} W) {}",
        joules(e.joules),
        joules(e.joules_per_iteration),
        sig(e.mean_watts, 3),
        quality(e.quality)
    )
}

pub(super) fn quality(q: Quality) -> &'static str {
    match q {
        Quality::Measured => "measured",
        Quality::Estimated => "estimated",
    }
}

pub(super) fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Improved => "improved",
        Verdict::Regressed => "regressed",
        Verdict::Unchanged => "unchanged",
    }
}

pub(super) fn ratio(r: f64) -> String {
    if r.is_finite() { format!("{r:.3}") } else { "n/a".into() }
}

/// A ratio as a change: `0.875` is `-12.5%`.
pub(super) fn change(r: f64) -> String {
    if r.is_finite() { format!("{:+.1}%", (r - 1.0) * 100.0) } else { "n/a".into() }
}

/// A p-value to three decimals, and below what three decimals can show, a bound.
pub(super) fn p_value(p: f64) -> String {
    if p < 0.001 { "<0.001".into() } else { format!("{p:.3}") }
}

/// The environment fingerprint as label and value rows, the ones the machine did not tell left
/// out: what the HTML and Markdown reports list.
pub(super) fn environment(e: &Environment) -> Vec<(&'static str, String)> {
    let mut rows: Vec<(&str, String)> = vec![
        ("OS", format!("{} {}", e.os, e.arch)),
        ("logical CPUs", e.cores.to_string()),
        ("build profile", e.profile.clone()),
        ("weir", e.weir_version.clone()),
    ];
    let optional = [
        ("CPU", &e.cpu_model),
        ("frequency governor", &e.governor),
        ("kernel", &e.kernel),
        ("host", &e.hostname),
        ("rustc", &e.rustc),
        ("commit", &e.git_commit),
    ];
    rows.extend(optional.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k, v))));
    if let Some([a, b, c]) = e.load_average {
        rows.push(("load average", format!("{a:.2} {b:.2} {c:.2}")));
    }
    rows
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`, computed here because the
/// crate needs no calendar for anything else.
pub fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_in_a_unit_that_suits_them() {
        assert_eq!(quantity(12.345, "ms"), "12.3 ms");
        assert_eq!(quantity(0.85, "ms"), "850 µs");
        assert_eq!(quantity(1500.0, "ms"), "1.50 s");
        assert_eq!(quantity(3.0 * 1024.0 * 1024.0, "bytes"), "3.00 MiB");
        assert_eq!(quantity(42.0, "count"), "42.0");
        assert_eq!(sig(f64::NAN, 3), "n/a");
    }

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(timestamp(1_709_210_096_000), "2024-02-29 12:34:56 UTC");
    }
}
