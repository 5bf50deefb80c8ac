//! What `weir validate` prints for invalid pipelines, as snapshots: one file per group of rules
//! under `tests/diagnostics/`, each reporting all of its problems in one pass.

use crate::{root, stderr, weir};

#[test]
#[cfg_attr(not(feature = "http"), ignore = "the snapshots have `http` steps")]
fn validate_reports_every_problem_with_location_code_and_hint() {
    let dir = root().join("tests/diagnostics");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("tests/diagnostics").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert!(files.len() >= 5);
    for file in files {
        let name = file.file_name().expect("name").to_string_lossy().into_owned();
        let out = weir(&dir, &["validate", &name]);
        assert_eq!(out.status.code(), Some(2), "{name} is invalid");
        insta::assert_snapshot!(name, stderr(&out));
    }
}
