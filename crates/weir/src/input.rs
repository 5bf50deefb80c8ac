//! The run input from `-i JSON`, `-i @file.json`, `-i @-` (stdin) and `--set key=value`.

use anyhow::{Context, Result, bail};

/// The input flags shared by the commands that run a pipeline.
#[derive(clap::Args)]
pub struct InputArgs {
    /// The run input: JSON text, `@file.json`, or `@-` to read stdin. Default: `{}`.
    #[arg(short, long, value_name = "JSON")]
    input: Option<String>,
    /// Set one input field, e.g. `--set order=7` or `--set customer.tier=gold`. The value is
    /// JSON when it parses as JSON, text otherwise. Repeatable; applied after `--input`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

impl InputArgs {
    pub fn value(&self) -> Result<Value> {
        build(self.input.as_deref(), &self.sets)
    }
}
use serde_json::{Map, Value};
use std::io::Read;

/// Builds the input: `-i` (default `{}`), then each `--set` on top of it.
fn build(input: Option<&str>, sets: &[String]) -> Result<Value> {
    let mut value = match input {
        None => Value::Object(Map::new()),
        Some(text) => parse_input(text)?,
    };
    for set in sets {
        let (path, raw) =
            set.split_once('=').with_context(|| format!("--set \"{set}\": expected key=value"))?;
        if path.is_empty() {
            bail!("--set \"{set}\": the key is empty");
        }
        // A value that is valid JSON is taken as such (numbers, true, null, objects); other text is a string.
        let parsed = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        insert(&mut value, path, parsed).with_context(|| format!("--set \"{set}\""))?;
    }
    Ok(value)
}

fn parse_input(text: &str) -> Result<Value> {
    let (json, origin) = match text.strip_prefix('@') {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("cannot read the input from stdin")?;
            (s, "stdin".to_owned())
        }
        Some(file) => (
            std::fs::read_to_string(file).with_context(|| format!("cannot read input file {file}"))?,
            file.to_owned(),
        ),
        None => (text.to_owned(), "-i".to_owned()),
    };
    serde_json::from_str(&json).with_context(|| format!("the input from {origin} is not valid JSON"))
}

/// Sets `a.b.c` in an object, creating objects on the way.
fn insert(root: &mut Value, path: &str, value: Value) -> Result<()> {
    let mut at = root;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        let Value::Object(map) = at else { bail!("cannot set \"{key}\": its parent is not an object") };
        if keys.peek().is_none() {
            map.insert(key.to_owned(), value);
            return Ok(());
        }
        at = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_nested_keys_with_typed_values() {
        let v = build(Some(r#"{"a": {"x": 1}}"#), &["a.y=2".into(), "b=hello".into(), "c.d=true".into()])
            .unwrap();
        assert_eq!(v, json!({"a": {"x": 1, "y": 2}, "b": "hello", "c": {"d": true}}));
    }

    #[test]
    fn rejects_malformed_sets_and_input() {
        assert!(build(None, &["novalue".into()]).is_err());
        assert!(build(Some("{"), &[]).unwrap_err().to_string().contains("not valid JSON"));
        assert!(build(Some("1"), &["a=1".into()]).is_err());
    }
}
