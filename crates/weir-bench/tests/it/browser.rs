//! The HTML report in Chromium: see `tests/browser/check.mjs` for what is checked.

#[test]
fn html_report_in_a_browser() {}
