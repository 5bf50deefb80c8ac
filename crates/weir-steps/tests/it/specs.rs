//! What the kinds' specs tell the validator, checked against the schemas that document them.

use serde_json::Value;
use std::collections::BTreeSet;
use weir_pipeline::Catalog;
use weir_pipeline::kind::NESTED_STEP_KEYS;

/// The property names of the schema `at`, through the first `$ref` in it (an optional value is
/// an `anyOf` of the reference and null).
fn properties<'s>(root: &'s Value, at: &'s Value) -> BTreeSet<&'s str> {
    let target = match at.get("$ref").and_then(Value::as_str) {
        Some(r) => root.pointer(r.trim_start_matches('#')).unwrap_or(&Value::Null),
        None => {
            let options = at.get("anyOf").and_then(Value::as_array).into_iter().flatten();
            return options.map(|o| properties(root, o)).find(|p| !p.is_empty()).unwrap_or_default();
        }
    };
    target
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect()
}

#[test]
fn a_nested_step_is_documented_with_the_keys_the_validator_reads() {
    let registry = weir_steps::builtin();
    let mut checked = Vec::new();
    for kind in registry.kinds() {
        let Some(key) = kind.nested_step else { continue };
        let schema = (kind.schema)().to_value();
        let documented = properties(&schema, &schema["properties"][key]);
        let read: BTreeSet<&str> = NESTED_STEP_KEYS.iter().copied().collect();
        assert_eq!(documented, read, "`with.{key}` of `{}`: its schema against NESTED_STEP_KEYS", kind.name);
        checked.push(kind.name);
    }
    assert!(checked.contains(&"foreach"), "kinds with a nested step: {checked:?}");
}
