//! Reference pages for pipelines, in Markdown: what `weir docs` prints.
//!
//! A page is built from the format type [`Pipeline`] alone (no plan, no step kinds), so it reads
//! like the file: description, input fields, steps, a Mermaid chart of the graph, the output and
//! the test cases. Text from the file lands in tables and code spans, escaped so that no `|`,
//! newline or backtick in it can break the page's structure.

use crate::graph::{self, Graph};
use crate::model::{Pipeline, Step};
use serde_json::Value;
use std::fmt::Write;

/// The Markdown page of a pipeline.
pub fn markdown(p: &Pipeline) -> String {
    let mut out = format!("# {}\n\n", p.name);
    if let Some(version) = &p.version {
        let _ = writeln!(out, "Version {}\n", code(version));
    }
    if let Some(description) = &p.description {
        let _ = writeln!(out, "{}\n", description.trim());
    }
    out.push_str(&input(p.input.as_ref()));
    out.push_str(&steps(p));
    let _ = writeln!(out, "## Graph\n\n{}", fence(&graph::mermaid(p), "mermaid"));
    out.push_str(&output(p));
    out.push_str(&tests(p));
    out
}

fn input(schema: Option<&Value>) -> String {
    let mut out = String::from("## Input\n\n");
    let Some(schema) = schema else {
        out.push_str("No input schema: any input is accepted.\n\n");
        return out;
    };
    match schema.get("properties").and_then(Value::as_object) {
        Some(properties) if !properties.is_empty() => {
            let required = required(schema);
            out.push_str("| name | type | required | description |\n| --- | --- | --- | --- |\n");
            for (name, property) in properties {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    cell(&code(name)),
                    cell(&type_of(property)),
                    if required.contains(&name.as_str()) { "yes" } else { "no" },
                    cell(property.get("description").and_then(Value::as_str).unwrap_or("")),
                );
            }
            out.push('\n');
        }
        _ => out.push_str("The input schema names no fields.\n\n"),
    }
    let json = serde_json::to_string_pretty(schema).unwrap_or_default();
    let _ = writeln!(
        out,
        "<details>\n<summary>Input JSON Schema</summary>\n\n{}\n</details>\n",
        fence(&json, "json")
    );
    out
}

fn required(schema: &Value) -> Vec<&str> {
    let names = schema.get("required").and_then(Value::as_array);
    names.into_iter().flatten().filter_map(Value::as_str).collect()
}

/// The `type` of a property (`a | b` for a list of types), or what else defines it.
fn type_of(property: &Value) -> String {
    match property.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ if property.get("enum").is_some() => "enum".into(),
        _ if property.get("$ref").is_some() => "reference".into(),
        _ => "any".into(),
    }
}

fn steps(p: &Pipeline) -> String {
    let mut out = String::from("## Steps\n\n");
    if p.steps.is_empty() {
        out.push_str("No steps.\n\n");
        return out;
    }
    out.push_str("| id | kind | needs | condition | on_error | description |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for step in &p.steps {
        out.push_str(&step_row(step));
    }
    out.push('\n');
    out
}

fn step_row(step: &Step) -> String {
    let needs: Vec<String> = step.needs.iter().map(|n| code(n)).collect();
    let on_error = if step.on_error.is_fail() { String::new() } else { code(step.on_error.as_str()) };
    let cells = [
        code(&step.id),
        code(&step.uses),
        needs.join(", "),
        step.condition.as_deref().map(code).unwrap_or_default(),
        on_error,
        step.description.clone().unwrap_or_default(),
    ];
    let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    format!("| {} |\n", cells.join(" | "))
}

fn output(p: &Pipeline) -> String {
    let mut out = String::from("## Output\n\n");
    if let Some(expr) = &p.output {
        let _ = writeln!(out, "The jq expression\n\n{}", fence(expr, "jq"));
        return out;
    }
    let g = Graph::new(p);
    let sinks: Vec<String> = g.sinks().into_iter().map(|i| code(g.nodes[i].id)).collect();
    let rule = match sinks.as_slice() {
        [] => "No step ends the pipeline, so there is no default output.".to_owned(),
        [one] => format!("The output of {one}, the only step that no other step needs."),
        many => format!(
            "An object keyed by step id with the outputs of the steps that no other step needs: {}.",
            many.join(", ")
        ),
    };
    let _ = writeln!(out, "{rule}\n");
    out
}

fn tests(p: &Pipeline) -> String {
    let mut out = String::from("## Tests\n\n");
    if p.tests.is_empty() {
        out.push_str("No test cases.\n");
    }
    for case in &p.tests {
        let _ = writeln!(out, "- {}", case.name.replace(['\n', '\r'], " "));
    }
    out
}

/// Text for a table cell: `|` would end the cell and a newline the row. GitHub Flavored
/// Markdown reads `\|` as a pipe even inside a code span.
fn cell(text: &str) -> String {
    text.trim().replace('|', "\\|").replace("\r\n", "<br>").replace(['\n', '\r'], "<br>")
}

/// A code span, delimited by more backticks than the longest run inside it.
fn code(text: &str) -> String {
    let ticks = "`".repeat(longest_backtick_run(text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// A fenced code block, its fence longer than any backtick run inside.
fn fence(text: &str, lang: &str) -> String {
    let ticks = "`".repeat(longest_backtick_run(text).max(2) + 1);
    format!("{ticks}{lang}\n{}\n{ticks}\n", text.trim_end())
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::branching;

    #[test]
    fn branching_pipeline() {
        insta::assert_snapshot!(markdown(&branching()));
    }

    #[test]
    fn without_input_schema_or_output_expression() {
        let mut p = branching();
        p.input = None;
        p.steps.truncate(4);
        let page = markdown(&p);
        assert!(page.contains("No input schema"));
        assert!(page.contains("An object keyed by step id with the outputs of the steps that no other step needs: `vip`, `regular`."));
    }

    #[test]
    fn cells_and_code_keep_the_page_structure() {
        assert_eq!(cell("a | b\nc"), "a \\| b<br>c");
        assert_eq!(code("x"), "`x`");
        assert_eq!(code("a ``b`` c"), "```a ``b`` c```");
        assert_eq!(code("`x"), "`` `x ``");
        assert!(fence("```\nno", "json").starts_with("````json\n"));
    }
}
