//! The HTML report of the committed fixture, opened in Chromium by `tests/browser/check.mjs`:
//! no console errors, every plot drawn, the hostile name inert, and a screenshot within a small
//! tolerance of `tests/browser/reference.png`. It needs `node`, Chromium and the script's
//! `node_modules` (`npm ci --prefix crates/weir-bench/tests/browser`, as `.ci/run` does); without
//! them it says what is missing and passes, so that a machine without a browser can still run
//! the other tests. `UPDATE_SCREENSHOT=1` rewrites the reference.

use crate::{crate_dir, fixture};
use std::path::{Path, PathBuf};
use std::process::Command;
use weir_bench::report::{self, Format};

/// Why the check cannot run here, if it cannot.
fn missing(script_dir: &Path, chromium: &Path) -> Option<String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Some("`node` is not on PATH".into());
    }
    if !chromium.exists() {
        return Some(format!("no Chromium at {} (set CHROMIUM)", chromium.display()));
    }
    if !script_dir.join("node_modules/playwright-core").exists() {
        return Some(format!("no node_modules: run `npm ci --prefix {}`", script_dir.display()));
    }
    None
}

#[test]
fn html_report_in_a_browser() {
    let script_dir = crate_dir().join("tests/browser");
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if let Some(why) = missing(&script_dir, &chromium) {
        eprintln!("skipped the browser check of the HTML report: {why}");
        return;
    }
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-report-browser");
    std::fs::create_dir_all(&out_dir).expect("a directory for the report");
    let html = out_dir.join("report.html");
    let mut page = Vec::new();
    report::write(Format::Html, &fixture(), &mut page).expect("rendered");
    std::fs::write(&html, page).expect("written");
    let output = Command::new("node")
        .arg(script_dir.join("check.mjs"))
        .args([html, script_dir.join("reference.png"), out_dir])
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser check failed:\n{text}");
    eprintln!("{text}");
}
