//! Node tree -> format types, reporting every problem instead of stopping at the first.
//!
//! serde stops at the first error, so the structs are decoded field by field here: each field
//! that is wrong gets its own diagnostic at its own position, and decoding goes on with the rest.

use crate::code::Code;
use crate::diag::{Diagnostic, Diagnostics};
use crate::duration::Duration;
use crate::model::{Backoff, Expect, OnError, Pipeline, Retry, Status, Step, TestCase};
use crate::node::{Key, Node, NodeValue};
use crate::suggest::did_you_mean;
use serde_json::{Map, Value};

pub(crate) const PIPELINE_KEYS: &[&str] =
    &["name", "version", "description", "input", "env", "concurrency", "steps", "output", "tests"];
pub(crate) const STEP_KEYS: &[&str] =
    &["id", "description", "uses", "needs", "if", "with", "timeout", "retry", "on_error"];
/// Keys of a nested step (`foreach.step`): no id, needs, condition or error routing of its own.
/// A kind's schema for its `nested_step` key describes exactly these.
pub const NESTED_STEP_KEYS: &[&str] = &["uses", "with", "timeout", "retry"];
pub(crate) const RETRY_KEYS: &[&str] = &["attempts", "backoff"];
pub(crate) const BACKOFF_KEYS: &[&str] = &["initial", "factor", "max", "jitter"];
pub(crate) const TEST_KEYS: &[&str] = &["name", "input", "mock", "allow_external", "expect"];
pub(crate) const EXPECT_KEYS: &[&str] = &["output", "status", "error", "steps"];

/// The keys of a mapping node, checked against the keys a block may have.
pub(crate) struct Fields<'n> {
    entries: &'n [(Key, Node)],
    node: &'n Node,
}

impl<'n> Fields<'n> {
    /// Reports a node that is not a mapping, and every key not in `known`.
    pub(crate) fn new(node: &'n Node, known: &[&str], what: &str, d: &mut Diagnostics) -> Option<Self> {
        let Some(entries) = node.as_map() else {
            d.error(
                Code::NotAMapping,
                node.span,
                format!("{what} must be a mapping, found {}", node.type_name()),
            );
            return None;
        };
        for (key, _) in entries {
            if !known.contains(&key.name.as_str()) {
                let hint = did_you_mean(&key.name, known.iter().copied())
                    .unwrap_or_else(|| format!("{what} may have: {}", known.join(", ")));
                d.push(
                    Diagnostic::new(
                        Code::UnknownKey,
                        key.span,
                        format!("unknown key \"{}\" in {what}", key.name),
                    )
                    .with_hint(hint),
                );
            }
        }
        Some(Self { entries, node })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    pub(crate) fn required(&self, key: &str, what: &str, d: &mut Diagnostics) -> Option<&'n Node> {
        let found = self.get(key);
        if found.is_none() {
            d.error(Code::MissingKey, self.node.span, format!("{what} is missing required key \"{key}\""));
        }
        found
    }

    pub(crate) fn string(&self, key: &str, d: &mut Diagnostics) -> Option<String> {
        self.get(key).and_then(|n| string(n, key, d))
    }

    pub(crate) fn duration(&self, key: &str, d: &mut Diagnostics) -> Option<Duration> {
        let node = self.get(key)?;
        let text = string(node, key, d)?;
        Duration::parse(&text)
            .map_err(|e| d.error(Code::BadDuration, node.span, format!("`{key}`: {e}")))
            .ok()
    }

    pub(crate) fn integer(&self, key: &str, min: u64, d: &mut Diagnostics) -> Option<u32> {
        let node = self.get(key)?;
        match &node.value {
            NodeValue::Number(n) if n.as_u64().is_some_and(|v| v >= min && v <= u64::from(u32::MAX)) => {
                n.as_u64().map(|v| v as u32)
            }
            _ => {
                d.error(
                    Code::WrongType,
                    node.span,
                    format!("`{key}` must be a whole number of at least {min}, found {}", describe(node)),
                );
                None
            }
        }
    }

    fn number(&self, key: &str, min: f64, d: &mut Diagnostics) -> Option<f64> {
        let node = self.get(key)?;
        match &node.value {
            NodeValue::Number(n) if n.as_f64().is_some_and(|v| v >= min) => n.as_f64(),
            _ => {
                d.error(
                    Code::WrongType,
                    node.span,
                    format!("`{key}` must be a number of at least {min}, found {}", describe(node)),
                );
                None
            }
        }
    }

    fn boolean(&self, key: &str, d: &mut Diagnostics) -> Option<bool> {
        let node = self.get(key)?;
        match node.value {
            NodeValue::Bool(b) => Some(b),
            _ => {
                d.error(
                    Code::WrongType,
                    node.span,
                    format!("`{key}` must be true or false, found {}", describe(node)),
                );
                None
            }
        }
    }

    fn object(&self, key: &str, d: &mut Diagnostics) -> Option<Map<String, Value>> {
        let node = self.get(key)?;
        match node.to_value() {
            Value::Object(map) => Some(map),
            _ => {
                d.error(
                    Code::WrongType,
                    node.span,
                    format!("`{key}` must be a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }
}

fn string(node: &Node, key: &str, d: &mut Diagnostics) -> Option<String> {
    match node.as_str() {
        Some(s) => Some(s.to_owned()),
        None => {
            d.error(
                Code::WrongType,
                node.span,
                format!("`{key}` must be a string, found {}", describe(node)),
            );
            None
        }
    }
}

/// A node's type, with its value when that is short, for "found …" messages.
pub(crate) fn describe(node: &Node) -> String {
    match &node.value {
        NodeValue::Number(n) => format!("the number {n}"),
        NodeValue::Bool(b) => format!("{b}"),
        NodeValue::String(s, _) if s.len() <= 40 => format!("the string \"{s}\""),
        _ => node.type_name().to_owned(),
    }
}

/// Decodes a whole pipeline. Fields that are wrong are reported and left at a default, so the
/// semantic checks that follow still see as much of the pipeline as possible.
pub(crate) fn pipeline(root: &Node, d: &mut Diagnostics) -> Option<Pipeline> {
    let f = Fields::new(root, PIPELINE_KEYS, "the pipeline", d)?;
    let name = f.required("name", "the pipeline", d).and_then(|n| string(n, "name", d)).unwrap_or_default();
    let steps = match f.required("steps", "the pipeline", d) {
        Some(node) => match &node.value {
            NodeValue::Seq(items) => items.iter().map(|n| step(n, STEP_KEYS, d)).collect(),
            _ => {
                d.error(
                    Code::WrongType,
                    node.span,
                    format!("`steps` must be a list of steps, found {}", node.type_name()),
                );
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let tests = f.get("tests").map_or_else(Vec::new, |node| match &node.value {
        NodeValue::Seq(items) => items.iter().filter_map(|n| test_case(n, d)).collect(),
        _ => {
            d.error(
                Code::WrongType,
                node.span,
                format!("`tests` must be a list of test cases, found {}", node.type_name()),
            );
            Vec::new()
        }
    });
    let input = f.get("input").map(|n| {
        if n.as_map().is_none() && !matches!(n.value, NodeValue::Bool(_)) {
            d.error(
                Code::BadInputSchema,
                n.span,
                format!("`input` must be a JSON Schema (a mapping), found {}", n.type_name()),
            );
        }
        n.to_value()
    });
    Some(Pipeline {
        name,
        version: match f.get("version") {
            // `version: 1.2` is a YAML number; say what is wrong rather than "wrong type".
            Some(n) if matches!(n.value, NodeValue::Number(_)) => {
                d.push(
                    Diagnostic::new(
                        Code::BadVersion,
                        n.span,
                        format!(
                            "`version` must be a semantic version string, found the number {}",
                            n.to_value()
                        ),
                    )
                    .with_hint("write all three parts, e.g. 1.2.0 (quote it if YAML reads it as a number)"),
                );
                None
            }
            _ => f.string("version", d),
        },
        description: f.string("description", d),
        input,
        env: env_names(f.get("env"), d),
        concurrency: f.integer("concurrency", 1, d),
        steps,
        output: f.string("output", d),
        tests,
    })
}

/// The `env` list: names of environment variables, as the shell writes them.
fn env_names(node: Option<&Node>, d: &mut Diagnostics) -> Vec<String> {
    let Some(node) = node else { return Vec::new() };
    let NodeValue::Seq(items) = &node.value else {
        d.error(
            Code::WrongType,
            node.span,
            format!("`env` must be a list of variable names, found {}", node.type_name()),
        );
        return Vec::new();
    };
    let valid = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    let mut names = Vec::new();
    for item in items {
        match string(item, "env", d) {
            Some(name) if valid(&name) => names.push(name),
            Some(name) => d.push(
                Diagnostic::new(
                    Code::WrongType,
                    item.span,
                    format!("invalid environment variable name \"{name}\""),
                )
                .with_hint(
                    "use uppercase letters, digits and `_`, starting with a letter or `_`, e.g. API_TOKEN",
                ),
            ),
            None => {}
        }
    }
    names
}

/// Decodes a step (or, with `NESTED_STEP_KEYS`, a nested step without an id).
pub(crate) fn step(node: &Node, keys: &[&str], d: &mut Diagnostics) -> Step {
    let what = if keys == STEP_KEYS { "a step" } else { "a nested step" };
    let Some(f) = Fields::new(node, keys, what, d) else {
        return empty_step();
    };
    let id = if keys == STEP_KEYS {
        f.required("id", what, d).and_then(|n| string(n, "id", d)).unwrap_or_default()
    } else {
        String::new()
    };
    let needs = match f.get("needs") {
        None => Vec::new(),
        Some(n) => match &n.value {
            NodeValue::String(s, _) => vec![s.clone()],
            NodeValue::Seq(items) => items.iter().filter_map(|i| string(i, "needs", d)).collect(),
            _ => {
                d.error(
                    Code::WrongType,
                    n.span,
                    format!("`needs` must be a list of step ids, found {}", n.type_name()),
                );
                Vec::new()
            }
        },
    };
    Step {
        uses: f.required("uses", what, d).and_then(|n| string(n, "uses", d)).unwrap_or_default(),
        id,
        description: f.string("description", d),
        needs,
        condition: f.string("if", d),
        with: f.object("with", d).unwrap_or_default(),
        timeout: f.duration("timeout", d),
        retry: f.get("retry").and_then(|n| retry(n, d)),
        on_error: f.string("on_error", d).map_or(OnError::Fail, |s| OnError::parse(&s)),
    }
}

fn empty_step() -> Step {
    Step {
        id: String::new(),
        description: None,
        uses: String::new(),
        needs: Vec::new(),
        condition: None,
        with: Map::new(),
        timeout: None,
        retry: None,
        on_error: OnError::Fail,
    }
}

fn retry(node: &Node, d: &mut Diagnostics) -> Option<Retry> {
    let f = Fields::new(node, RETRY_KEYS, "`retry`", d)?;
    // Both halves are decoded before giving up, so each reports its own problems.
    let attempts = f.required("attempts", "`retry`", d).and_then(|_| f.integer("attempts", 1, d));
    let backoff = match f.get("backoff") {
        None => Backoff::default(),
        Some(b) => {
            let fb = Fields::new(b, BACKOFF_KEYS, "`retry.backoff`", d)?;
            let default = Backoff::default();
            Backoff {
                initial: fb.duration("initial", d).unwrap_or(default.initial),
                factor: fb.number("factor", 1.0, d).unwrap_or(default.factor),
                max: fb.duration("max", d).unwrap_or(default.max),
                jitter: fb.boolean("jitter", d).unwrap_or(default.jitter),
            }
        }
    };
    Some(Retry { attempts: attempts?, backoff })
}

fn test_case(node: &Node, d: &mut Diagnostics) -> Option<TestCase> {
    let f = Fields::new(node, TEST_KEYS, "a test case", d)?;
    let name = f.required("name", "a test case", d).and_then(|n| string(n, "name", d)).unwrap_or_default();
    let expect = f.required("expect", "a test case", d).and_then(|n| {
        let fe = Fields::new(n, EXPECT_KEYS, "`expect`", d)?;
        let status = fe.get("status").and_then(|n| {
            let s = string(n, "status", d)?;
            let status = Status::parse(&s);
            if status.is_none() {
                d.error(
                    Code::WrongType,
                    n.span,
                    format!("unknown status \"{s}\": use succeeded, failed or cancelled"),
                );
            }
            status
        });
        Some(Expect {
            output: fe.get("output").map(Node::to_value),
            status,
            error: fe.string("error", d),
            steps: fe.object("steps", d).unwrap_or_default(),
        })
    })?;
    Some(TestCase {
        name,
        input: f.get("input").map_or(Value::Null, Node::to_value),
        mock: f.object("mock", d).unwrap_or_default(),
        allow_external: f.boolean("allow_external", d).unwrap_or(false),
        expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Keys only a step of the pipeline has: a nested step is named, placed and routed by the step
    /// that runs it.
    const TOP_LEVEL_ONLY: &[&str] = &["id", "description", "needs", "if", "on_error"];

    /// The property names of the format's schema at `pointer` (`""` for the pipeline itself).
    fn schema_keys(pointer: &str) -> BTreeSet<String> {
        let schema = schemars::schema_for!(Pipeline).to_value();
        let properties = schema.pointer(pointer).and_then(|d| d.get("properties")).and_then(Value::as_object);
        properties
            .unwrap_or_else(|| panic!("the schema has no properties at {pointer:?}"))
            .keys()
            .cloned()
            .collect()
    }

    /// Fails naming each key that one side has and the other lacks.
    fn assert_same(list: &str, keys: &[&str], schema: &BTreeSet<String>, pointer: &str) {
        let decoded: BTreeSet<String> = keys.iter().map(|k| k.to_string()).collect();
        let mut problems = Vec::new();
        for key in schema.difference(&decoded) {
            problems.push(format!(
                "the schema at {pointer:?} has `{key}`, which {list} lacks: the decoder rejects it"
            ));
        }
        for key in decoded.difference(schema) {
            problems.push(format!(
                "{list} has `{key}`, which the schema at {pointer:?} lacks: the model has no such field"
            ));
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_decoder_reads_exactly_the_keys_the_model_defines() {
        for (list, keys, pointer) in [
            ("PIPELINE_KEYS", PIPELINE_KEYS, ""),
            ("STEP_KEYS", STEP_KEYS, "/$defs/Step"),
            ("RETRY_KEYS", RETRY_KEYS, "/$defs/Retry"),
            ("BACKOFF_KEYS", BACKOFF_KEYS, "/$defs/Backoff"),
            ("TEST_KEYS", TEST_KEYS, "/$defs/TestCase"),
            ("EXPECT_KEYS", EXPECT_KEYS, "/$defs/Expect"),
        ] {
            assert_same(list, keys, &schema_keys(pointer), pointer);
        }
    }

    #[test]
    fn a_nested_step_has_every_step_key_but_the_top_level_ones() {
        let mut keys = schema_keys("/$defs/Step");
        keys.retain(|k| !TOP_LEVEL_ONLY.contains(&k.as_str()));
        assert_same("NESTED_STEP_KEYS", NESTED_STEP_KEYS, &keys, "/$defs/Step (less TOP_LEVEL_ONLY)");
    }
}
