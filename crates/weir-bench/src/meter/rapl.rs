//! Linux powercap/RAPL: the energy counters Intel (and recent AMD) CPUs keep per package, with
//! subzones for the cores, the uncore and DRAM.
//!
//! The class directory lists every zone flat: `intel-rapl:0` (a package), `intel-rapl:0:0` (its
//! `core` subzone), `intel-rapl:1` (`psys` on client parts: the whole platform), and on some
//! machines `intel-rapl-mmio:0`, the same package counter read through MMIO. The total counts
//! top-level zones only: a subzone is part of its package, `psys` contains the packages, and an
//! MMIO zone that repeats an MSR zone's name is the same counter twice. Those are reported as
//! domains (except the MMIO repeat) and left out of the total.

use super::files::{entries_named, file_name, read_int, read_text};
use super::{DomainReading, EnergyMeter, Files, Unavailable};
use std::path::{Path, PathBuf};
use weir_api::bench::Quality;

/// One powercap zone's counter and what has been counted from it so far.
struct Zone {
    /// `rapl:package-0`, `rapl:package-0/core`, …
    domain: String,
    energy_uj: PathBuf,
    /// The counter's range: it wraps to 0 after this many microjoules.
    max_uj: u64,
    last_uj: u64,
    counted_uj: u128,
    in_total: bool,
}

/// The RAPL meter: every zone under the powercap root.
pub struct Rapl {
    files: Box<dyn Files>,
    zones: Vec<Zone>,
}

/// A zone's directory name split into its control type and its path of indices:
/// `intel-rapl:0:1` is `("intel-rapl", [0, 1])`.
fn zone_id(dir: &str) -> Option<(&str, Vec<&str>)> {
    let mut parts = dir.split(':');
    let kind = parts.next()?;
    let indices: Vec<&str> = parts.collect();
    (!indices.is_empty()).then_some((kind, indices))
}

impl Rapl {
    /// Opens every zone under `root`: `Ok(None)` when there is none (no powercap, no RAPL), an
    /// error when a zone exists and its counter cannot be read.
    pub fn open(root: &Path, files: Box<dyn Files>) -> Result<Option<Rapl>, Unavailable> {
        let mut dirs = entries_named(files.as_ref(), root, "");
        dirs.retain(|d| zone_id(file_name(d)).is_some() && files.read_to_string(&d.join("name")).is_ok());
        // MSR zones first, so an MMIO zone is recognised as the repeat, never the original.
        dirs.sort_by_key(|d| (file_name(d).contains("mmio"), file_name(d).to_owned()));
        let mut zones: Vec<Zone> = Vec::new();
        for dir in &dirs {
            if let Some(zone) = open_zone(files.as_ref(), dir, &zones)? {
                zones.push(zone);
            }
        }
        Ok((!zones.is_empty()).then_some(Rapl { files, zones }))
    }
}

/// Opens one zone, or `None` for an MMIO repeat of a zone already open.
fn open_zone(files: &dyn Files, dir: &Path, open: &[Zone]) -> Result<Option<Zone>, Unavailable> {
    let Some((kind, indices)) = zone_id(file_name(dir)) else { return Ok(None) };
    let name = read_text(files, &dir.join("name"))?;
    let domain = match indices.as_slice() {
        [_] => format!("rapl:{name}"),
        [package, ..] => format!("rapl:{}/{name}", package_name(files, dir, kind, package)),
        [] => return Ok(None),
    };
    if kind.contains("mmio") && open.iter().any(|z| z.domain == domain) {
        return Ok(None);
    }
    let energy_uj = dir.join("energy_uj");
    let last_uj = read_int(files, &energy_uj)?;
    let max_uj = read_int(files, &dir.join("max_energy_range_uj"))?;
    let in_total = indices.len() == 1 && name != "psys";
    Ok(Some(Zone { domain, energy_uj, max_uj, last_uj, counted_uj: 0, in_total }))
}

/// The name of a subzone's package (`package-0`), or its index when the package has no name.
fn package_name(files: &dyn Files, dir: &Path, kind: &str, package: &str) -> String {
    let parent = dir.with_file_name(format!("{kind}:{package}"));
    read_text(files, &parent.join("name")).unwrap_or_else(|_| format!("zone{package}"))
}

/// Microjoules counted from `last` to `now`, across one wrap of a counter whose range is `max`.
fn delta_uj(last: u64, now: u64, max: u64) -> u64 {
    if now >= last { now - last } else { max.saturating_sub(last) + now }
}

impl EnergyMeter for Rapl {
    fn name(&self) -> &str {
        "rapl"
    }

    fn read(&mut self, _at_s: f64) -> Result<Vec<DomainReading>, Unavailable> {
        let mut readings = Vec::with_capacity(self.zones.len());
        for zone in &mut self.zones {
            let now: u64 = read_int(self.files.as_ref(), &zone.energy_uj)?;
            zone.counted_uj += u128::from(delta_uj(zone.last_uj, now, zone.max_uj));
            zone.last_uj = now;
            readings.push(DomainReading {
                name: zone.domain.clone(),
                quality: Quality::Measured,
                joules: zone.counted_uj as f64 / 1e6,
                in_total: zone.in_total,
            });
        }
        Ok(readings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::Disk;
    use crate::meter::files::testing::{Denying, Tree};

    /// A zone directory with its name, counter and range.
    fn zone(tree: &Tree, dir: &str, name: &str, energy_uj: u64, max_uj: u64) {
        tree.write(&format!("{dir}/name"), &format!("{name}\n"));
        tree.write(&format!("{dir}/energy_uj"), &format!("{energy_uj}\n"));
        tree.write(&format!("{dir}/max_energy_range_uj"), &format!("{max_uj}\n"));
    }

    fn set_energy(tree: &Tree, dir: &str, energy_uj: u64) {
        tree.write(&format!("{dir}/energy_uj"), &format!("{energy_uj}\n"));
    }

    /// The domains read after the counters moved, as (name, joules, in_total).
    fn check(tree: &Tree, files: Box<dyn Files>) -> Vec<(String, f64, bool)> {
        let mut rapl = Rapl::open(&tree.root, files).expect("open").expect("zones present");
        let moved =
            [("intel-rapl:0", 3_000_000), ("intel-rapl:0:0", 1_000_000), ("intel-rapl-mmio:0", 3_000_000)];
        for (dir, uj) in moved {
            if tree.root.join(dir).exists() {
                set_energy(tree, dir, uj);
            }
        }
        let readings = rapl.read(1.0).expect("read");
        readings.into_iter().map(|r| (r.name, r.joules, r.in_total)).collect()
    }

    #[test]
    fn total_counts_the_package_not_its_subzone_nor_its_mmio_repeat() {
        let tree = Tree::new("rapl-nest");
        tree.write("intel-rapl/enabled", "1\n");
        zone(&tree, "intel-rapl:0", "package-0", 1_000_000, 262_143_328_850);
        zone(&tree, "intel-rapl:0:0", "core", 500_000, 262_143_328_850);
        zone(&tree, "intel-rapl-mmio:0", "package-0", 1_000_000, 262_143_328_850);
        let domains = check(&tree, Box::new(Disk));
        assert_eq!(
            domains,
            vec![("rapl:package-0".into(), 2.0, true), ("rapl:package-0/core".into(), 0.5, false)]
        );
    }

    #[test]
    fn a_counter_that_wraps_counts_across_the_wrap() {
        let tree = Tree::new("rapl-wrap");
        zone(&tree, "intel-rapl:0", "package-0", 999_000_000, 1_000_000_000);
        let mut rapl = Rapl::open(&tree.root, Box::new(Disk)).expect("open").expect("zone");
        set_energy(&tree, "intel-rapl:0", 2_000_000);
        let readings = rapl.read(1.0).expect("read");
        assert_eq!(readings[0].joules, 3.0, "1 J up to the wrap and 2 J after it");
    }

    #[test]
    fn psys_is_reported_but_not_added_to_the_packages() {
        let tree = Tree::new("rapl-psys");
        zone(&tree, "intel-rapl:0", "package-0", 0, 1 << 40);
        zone(&tree, "intel-rapl:1", "psys", 0, 1 << 40);
        let rapl = Rapl::open(&tree.root, Box::new(Disk)).expect("open").expect("zones");
        let totals: Vec<_> = rapl.zones.iter().map(|z| (z.domain.as_str(), z.in_total)).collect();
        assert_eq!(totals, [("rapl:package-0", true), ("rapl:psys", false)]);
    }

    #[test]
    fn an_unreadable_counter_is_unavailable_with_its_path() {
        let tree = Tree::new("rapl-denied");
        zone(&tree, "intel-rapl:0", "package-0", 1_000_000, 1 << 40);
        let files = Denying { denied: ["intel-rapl:0/energy_uj".to_owned()].into() };
        let error = Rapl::open(&tree.root, Box::new(files)).err().expect("denied");
        let path = tree.root.join("intel-rapl:0/energy_uj");
        assert_eq!(error.to_string(), format!("permission denied reading {}", path.display()));
    }

    #[test]
    fn no_powercap_is_no_meter() {
        let tree = Tree::new("rapl-none");
        let missing = tree.root.join("powercap");
        assert!(Rapl::open(&missing, Box::new(Disk)).expect("absent is not an error").is_none());
    }
}
