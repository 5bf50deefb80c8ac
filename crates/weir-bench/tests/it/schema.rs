//! The committed JSON Schema describes the reports weir writes.

use crate::{crate_dir, fixture_path};

fn validate(instance: &serde_json::Value) -> Vec<String> {
    let path = crate_dir().join("../../schema/bench-report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the schema is committed")).expect("JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn the_fixture_report_validates_against_the_committed_schema() {
    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture_path()).expect("fixture")).expect("JSON");
    assert_eq!(validate(&fixture), Vec::<String>::new());
}

#[test]
fn the_schema_rejects_a_report_without_benchmarks() {
    let mut fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture_path()).expect("fixture")).expect("JSON");
    fixture.as_object_mut().expect("an object").remove("benchmarks");
    assert_eq!(validate(&fixture).len(), 1);
}
