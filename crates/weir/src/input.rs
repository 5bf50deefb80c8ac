//! The run input from `-i JSON`, `-i @file.json`, `-i @-` (stdin), `--set key=JSON` and
//! `--set-str key=TEXT`.

use anyhow::{Context, Result, bail};
use clap::{Arg, ArgAction, ArgMatches};
use serde_json::{Map, Value};
use std::io::Read;

/// The input flags shared by the commands that run a pipeline.
///
/// `--set` and `--set-str` apply in the order they are given, whichever flag each is, so
/// `--set a='{"b": 1}' --set-str a.c=x` builds on the object. Derived arguments would give two
/// lists and lose that order, so the flags are declared by hand and read with their positions.
pub struct InputArgs {
    input: Option<String>,
    sets: Vec<Set>,
}

/// One `--set` or `--set-str`, as written (`key=value`).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Set {
    /// `--set`: the value is JSON.
    Json(String),
    /// `--set-str`: the value is text, taken as it is.
    Text(String),
}

impl InputArgs {
    pub fn value(&self) -> Result<Value> {
        build(self.input.as_deref(), &self.sets)
    }

    /// Whether the input is read from stdin (`-i @-`).
    pub fn reads_stdin(&self) -> bool {
        self.input.as_deref() == Some("@-")
    }
}

impl clap::Args for InputArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.arg(
            Arg::new("input")
                .short('i')
                .long("input")
                .value_name("JSON")
                .help("The run input: JSON text, `@file.json`, or `@-` to read stdin. Default: `{}`."),
        )
        .arg(Arg::new("set").long("set").value_name("KEY=JSON").action(ArgAction::Append).help(
            "Set one input field to a JSON value, e.g. `--set order=7`, `--set vip=true` or \
                     `--set 'name=\"Ada\"'`; `a.b=…` sets a nested field. A value that is not JSON is \
                     refused: use --set-str for text. Repeatable; applied after --input.",
        ))
        .arg(
            Arg::new("set-str").long("set-str").value_name("KEY=TEXT").action(ArgAction::Append).help(
                "Set one input field to text, as written, e.g. `--set-str name=Ada` or \
                     `--set-str customer.tier=gold`. Repeatable; applied with --set, in command-line order.",
            ),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for InputArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut sets: Vec<(usize, Set)> = positioned(matches, "set", Set::Json);
        sets.extend(positioned(matches, "set-str", Set::Text));
        sets.sort_by_key(|(at, _)| *at);
        Ok(Self {
            input: matches.get_one::<String>("input").cloned(),
            sets: sets.into_iter().map(|(_, set)| set).collect(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// The values of flag `id`, each with its position on the command line.
fn positioned(matches: &ArgMatches, id: &str, set: fn(String) -> Set) -> Vec<(usize, Set)> {
    let (Some(at), Some(values)) = (matches.indices_of(id), matches.get_many::<String>(id)) else {
        return Vec::new();
    };
    at.zip(values.cloned().map(set)).collect()
}

/// Builds the input: `-i` (default `{}`), then each `--set` and `--set-str` on top of it.
fn build(input: Option<&str>, sets: &[Set]) -> Result<Value> {
    let mut value = match input {
        None => Value::Object(Map::new()),
        Some(text) => parse_input(text)?,
    };
    for set in sets {
        let (flag, written) = match set {
            Set::Json(s) => ("--set", s),
            Set::Text(s) => ("--set-str", s),
        };
        let (path, raw) =
            written.split_once('=').with_context(|| format!("{flag} \"{written}\": expected key=value"))?;
        if path.is_empty() {
            bail!("{flag} \"{written}\": the key is empty");
        }
        let parsed = match set {
            Set::Json(_) => json_value(path, raw)?,
            Set::Text(_) => Value::String(raw.to_owned()),
        };
        insert(&mut value, path, parsed).with_context(|| format!("{flag} \"{written}\""))?;
    }
    Ok(value)
}

/// The value of a `--set`. Text that is not JSON is refused rather than taken as a string: a
/// typo such as `--set n=1O` or `--set ok=ture` would otherwise run with the wrong type.
fn json_value(path: &str, raw: &str) -> Result<Value> {
    serde_json::from_str(raw).map_err(|e| {
        anyhow::anyhow!(
            "--set \"{path}={raw}\": the value is not JSON ({e}); for text, use `--set-str {path}={raw}` \
             or quote it as JSON: `--set '{path}=\"{raw}\"'`"
        )
    })
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

    fn json(set: &str) -> Set {
        Set::Json(set.into())
    }

    fn text(set: &str) -> Set {
        Set::Text(set.into())
    }

    #[test]
    fn sets_nested_keys_with_typed_values() {
        let sets = [json("a.y=2"), text("b=hello"), json("c.d=true"), text("n=7")];
        let v = build(Some(r#"{"a": {"x": 1}}"#), &sets).unwrap();
        assert_eq!(v, json!({"a": {"x": 1, "y": 2}, "b": "hello", "c": {"d": true}, "n": "7"}));
    }

    #[test]
    fn a_set_value_that_is_not_json_is_refused_with_both_fixes() {
        let err = build(None, &[json("name=Ada")]).unwrap_err().to_string();
        assert!(err.contains("--set \"name=Ada\": the value is not JSON"), "{err}");
        assert!(err.contains("--set-str name=Ada") && err.contains(r#"--set 'name="Ada"'"#), "{err}");
        assert_eq!(build(None, &[json(r#"name="Ada""#)]).unwrap(), json!({"name": "Ada"}));
    }

    #[test]
    fn sets_apply_in_command_line_order_across_both_flags() {
        let args = <InputArgs as clap::Args>::augment_args(clap::Command::new("t"));
        let matches =
            args.get_matches_from(["t", "--set-str", "a=x", "--set", r#"a={"b": 1}"#, "--set-str", "a.c=y"]);
        let input = <InputArgs as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        assert_eq!(input.value().unwrap(), json!({"a": {"b": 1, "c": "y"}}));
    }

    #[test]
    fn rejects_malformed_sets_and_input() {
        assert!(build(None, &[json("novalue")]).is_err());
        assert!(
            build(None, &[text("=x")])
                .unwrap_err()
                .to_string()
                .contains("--set-str \"=x\": the key is empty")
        );
        assert!(build(Some("{"), &[]).unwrap_err().to_string().contains("not valid JSON"));
        assert!(build(Some("1"), &[json("a=1")]).is_err());
    }
}
