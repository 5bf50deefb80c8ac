//! The integration tests of weir-bench, one binary: the exporters on a small constructed report
//! (snapshots), the committed fixture against the committed schema, the HTML report in a real
//! browser, and the load generator against a server on 127.0.0.1.

mod browser;
#[cfg(feature = "http")]
mod load;
mod report;
mod schema;

use std::path::PathBuf;
use weir_api::bench::BenchReport;

/// The committed fixture: two benchmarks of 1,500 samples, a comparison, a hostile name.
fn fixture() -> BenchReport {
    let bytes = std::fs::read(fixture_path()).expect("the fixture report is committed");
    weir_bench::report::read(&bytes).expect("the fixture is a valid report")
}

fn fixture_path() -> PathBuf {
    crate_dir().join("tests/fixtures/report.json")
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
