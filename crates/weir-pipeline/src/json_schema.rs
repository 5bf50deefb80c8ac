//! JSON Schemas that values are checked against: a pipeline's `input`, and the answers to an
//! `approval` step. One way to compile them (formats checked, as users expect of `format`), so
//! a schema that validation accepts checks values the same way at run time.

use serde_json::Value;

/// `schema` compiled, or why it cannot be: it is not a valid JSON Schema, or names what cannot
/// be resolved.
pub(crate) fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    if let Err(e) = jsonschema::meta::validate(schema) {
        let at = e.instance_path().as_str().to_owned();
        return Err(if at.is_empty() { e.to_string() } else { format!("at {at}: {e}") });
    }
    jsonschema::options().should_validate_formats(true).build(schema).map_err(|e| e.to_string())
}

/// Why `schema` cannot check values, if it cannot.
pub fn unusable(schema: &Value) -> Option<String> {
    compile(schema).err()
}

/// Where `value` breaks `schema`: a JSON Pointer into the value (empty for the whole) and what is
/// wrong there, for each problem. An unusable schema is the error.
pub fn mismatches(schema: &Value, value: &Value) -> Result<Vec<(String, String)>, String> {
    let validator = compile(schema)?;
    Ok(validator.iter_errors(value).map(|e| (e.instance_path().as_str().to_owned(), e.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_and_bad_schemas_named() {
        let schema = json!({"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}});
        assert_eq!(mismatches(&schema, &json!({"ok": true})).unwrap(), vec![]);
        let wrong = mismatches(&schema, &json!({"ok": 1})).unwrap();
        assert_eq!(wrong.len(), 1);
        assert_eq!(wrong[0].0, "/ok");
        assert!(unusable(&json!({"type": "nope"})).is_some());
        assert!(unusable(&schema).is_none());
    }
}
