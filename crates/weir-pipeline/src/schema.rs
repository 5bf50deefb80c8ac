//! The JSON Schema of the pipeline format, with each step kind's `with` block described too
//! (editors then complete and check `with` by `uses`).

use crate::kind::Catalog;
use crate::model::Pipeline;
use serde_json::{Map, Value, json};

/// The pipeline format's JSON Schema for the kinds of `catalog`.
pub fn pipeline_schema(catalog: &dyn Catalog) -> Value {
    let mut root = schemars::schema_for!(Pipeline).to_value();
    let mut kinds = catalog.kinds();
    kinds.sort_by_key(|k| k.name);
    let mut branches = Vec::new();
    for kind in &kinds {
        let mut with = (kind.schema)().to_value();
        // Hoist the kind's definitions next to the pipeline's; same-named ones come from the
        // same Rust types (durations, retry policies).
        if let Some(Value::Object(defs)) = with.as_object_mut().and_then(|o| o.remove("$defs")) {
            let root_defs = root
                .as_object_mut()
                .and_then(|o| o.entry("$defs").or_insert_with(|| json!({})).as_object_mut());
            if let Some(root_defs) = root_defs {
                for (name, def) in defs {
                    root_defs.entry(name).or_insert(def);
                }
            }
        }
        if let Some(o) = with.as_object_mut() {
            o.remove("$schema");
            o.remove("title");
        }
        allow_expressions(&mut with, kind.programs);
        branches.push(json!({
            "if": { "properties": { "uses": { "const": kind.name } }, "required": ["uses"] },
            "then": { "properties": { "with": with } }
        }));
    }
    if let Some(defs) = root.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.insert(
            "Expression".into(),
            json!({
                "description": "A `${{ jq }}` expression, evaluated when the step starts; it may give any JSON value.",
                "type": "string",
                "pattern": "^\\s*\\$\\{\\{[\\s\\S]*\\}\\}\\s*$"
            }),
        );
    }
    if let Some(step) = root.pointer_mut("/$defs/Step").and_then(Value::as_object_mut) {
        let names: Vec<Value> = kinds.iter().map(|k| json!(k.name)).collect();
        let descriptions: Vec<String> =
            kinds.iter().map(|k| format!("`{}`: {}", k.name, k.summary)).collect();
        if let Some(uses) =
            step.get_mut("properties").and_then(|p| p.get_mut("uses")).and_then(Value::as_object_mut)
        {
            uses.insert("enum".into(), Value::Array(names));
            let doc = format!("The step kind. {}", descriptions.join("; "));
            uses.insert("description".into(), Value::String(doc));
        }
        step.insert("allOf".into(), Value::Array(branches));
    }
    sort_defs(&mut root);
    root
}

/// Orders `$defs` by name, so the generated file does not change with catalogue order.
fn sort_defs(root: &mut Value) {
    if let Some(Value::Object(defs)) = root.get_mut("$defs") {
        let mut entries: Vec<(String, Value)> = std::mem::take(defs).into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        *defs = entries.into_iter().collect::<Map<_, _>>();
    }
}

/// Lets every value of a `with` schema also be a `${{ }}` expression (whose type is only known
/// when the step runs), except the kind's jq program fields, which are plain jq.
fn allow_expressions(schema: &mut Value, programs: &[&str]) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(props)) = object.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            if !programs.contains(&name.as_str()) {
                allow_expressions(prop, &[]);
                or_expression(prop);
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = object.get_mut(key).filter(|v| v.is_object()) {
            allow_expressions(inner, &[]);
            or_expression(inner);
        }
    }
}

/// `schema` becomes "schema, or an expression", keeping its description on top.
fn or_expression(schema: &mut Value) {
    if schema.get("type") == Some(&json!("string")) {
        return;
    }
    let mut inner = std::mem::take(schema);
    let description = inner.as_object_mut().and_then(|o| o.remove("description"));
    let mut wrapped = json!({ "anyOf": [inner, { "$ref": "#/$defs/Expression" }] });
    if let Some(d) = description {
        wrapped["description"] = d;
    }
    *schema = wrapped;
}
