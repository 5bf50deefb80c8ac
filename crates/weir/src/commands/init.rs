//! `weir init`: writes a new pipeline file from a template. The templates are files under
//! `crates/weir/templates/`, embedded in the binary; each is a working pipeline whose `tests:`
//! block passes, so a new user starts from something that runs and shows how to test it.

use crate::settings::Settings;
use anyhow::{Context, Result, bail};
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use weir_pipeline::Source;

/// Create a pipeline file from a template, ready to run and test
///
/// Writes `NAME.yaml` (in the current directory, or `--dir`) with the pipeline's `name:` set to
/// NAME. An existing file is never overwritten. Every template carries a `tests:` block, so
/// `weir test NAME.yaml` passes from the start: change the steps, then the tests.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir init hello && weir run hello.yaml\n  weir init route-orders --template branching\n  weir init fetch-user --template http --dir pipelines/"
)]
pub struct Args {
    /// Name of the pipeline and of its file: lowercase letters, digits, `-`, `_` and `.`.
    name: String,
    /// What the pipeline starts as.
    #[arg(short, long, value_enum, default_value_t = Template::Basic)]
    template: Template,
    /// Directory to write `NAME.yaml` in, created when missing. Default: the current directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// A starting point for a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// An input schema, two `transform` steps and an `output`.
    Basic,
    /// `if` conditions choose one of two branches; a step that needs both merges them.
    Branching,
    /// An `http` request with `retry`, backoff and `timeout`; tests mock it and run offline.
    Http,
    /// `foreach` over a list from the input with bounded concurrency, then a step that aggregates.
    Fanout,
}

impl Template {
    fn name(self) -> &'static str {
        match self {
            Template::Basic => "basic",
            Template::Branching => "branching",
            Template::Http => "http",
            Template::Fanout => "fanout",
        }
    }

    /// The template's file, whose first line is `name: <template>`.
    fn text(self) -> &'static str {
        match self {
            Template::Basic => include_str!("../../templates/basic.yaml"),
            Template::Branching => include_str!("../../templates/branching.yaml"),
            Template::Http => include_str!("../../templates/http.yaml"),
            Template::Fanout => include_str!("../../templates/fanout.yaml"),
        }
    }

    /// Arguments of a first `weir run` that gives the pipeline the input it needs.
    fn run_args(self) -> &'static str {
        match self {
            Template::Basic => " --set-str who=weir",
            Template::Branching => " --set total=90",
            Template::Http => " --set-str user=ada",
            Template::Fanout => r#" -i '{"lines": [{"sku": "apple", "price": 2, "qty": 3}]}'"#,
        }
    }

    /// What to know before running the new pipeline, if anything.
    fn note(self) -> Option<&'static str> {
        match self {
            Template::Http => Some(
                "The URL is a placeholder: point `url` in step `fetch` at your API before `weir run`.\n\
                 `weir test` mocks the request, so the tests pass offline.",
            ),
            _ => None,
        }
    }
}

pub fn run(args: Args, _: &Settings) -> Result<ExitCode> {
    check_name(&args.name)?;
    let file = format!("{}.yaml", args.name);
    let path = args.dir.map_or_else(|| PathBuf::from(&file), |dir| dir.join(&file));
    write_new(&path, &render(args.template, &args.name))?;
    print_next(&path, args.template);
    Ok(ExitCode::SUCCESS)
}

/// Rejects a name that validation would reject, before anything is written. Since a name cannot
/// hold `/`, the file also cannot land outside `--dir`.
fn check_name(name: &str) -> Result<()> {
    if weir_pipeline::valid_name(name) {
        return Ok(());
    }
    let suggestion = name.trim().to_lowercase().replace([' ', '/'], "-");
    let hint = if weir_pipeline::valid_name(&suggestion) {
        format!(", e.g. \"{suggestion}\"")
    } else {
        String::new()
    };
    bail!(
        "invalid pipeline name \"{name}\": use lowercase letters, digits, `-`, `_` and `.`, \
         starting with a letter or a digit{hint}"
    )
}

/// The template's text with its `name:` line set to `name`.
fn render(template: Template, name: &str) -> String {
    let text = template.text();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    debug_assert!(first.starts_with("name: "), "templates start with their name");
    format!("name: {}\n{rest}", yaml_string(name))
}

/// `name` as a YAML scalar: plain when YAML reads it back as that string, double-quoted when it
/// would read as something else (`123`, `1.5`, `true`, `null`). Valid names hold no character
/// that needs escaping.
fn yaml_string(name: &str) -> String {
    let reads_back =
        weir_pipeline::node::parse(&Source::new("name", name)).is_ok_and(|node| node.as_str() == Some(name));
    if reads_back { name.to_owned() } else { format!("\"{name}\"") }
}

/// Writes a file that must not exist yet; `create_new` makes the check and the creation one step.
fn write_new(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    let mut file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => bail!(
            "{} already exists; not overwriting it (choose another name, or another directory with --dir)",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

fn print_next(path: &Path, template: Template) {
    let path = path.display();
    outln!("Wrote {path} (template: {}).", template.name());
    if let Some(note) = template.note() {
        outln!("\n{note}");
    }
    outln!("\nNext:");
    outln!("  weir test {path}");
    outln!("  weir run {path}{}", template.run_args());
    outln!("  weir validate --strict {path}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// Renders `template` as `name`, validates it with every built-in kind and runs its test cases.
    fn check(template: Template, name: &str) {
        let text = render(template, name);
        let loaded = weir_pipeline::load(Source::new(format!("{name}.yaml"), text), &weir_steps::builtin());
        assert!(loaded.diagnostics.is_empty(), "{template:?}: {:#?}", loaded.diagnostics);
        let bundle = weir_pipeline::Bundle::single(loaded.plan.expect("a plan without diagnostics")).unwrap();
        let plan = bundle.root();
        assert_eq!(plan.name(), name);
        assert!(!plan.pipeline().tests.is_empty(), "{template:?} has test cases");
        let registry = crate::commands::registry();
        let runtime = crate::commands::runtime(crate::commands::Threads::One).unwrap();
        for case in &plan.pipeline().tests {
            // Hermetic, as `weir test` runs them: a template's tests must pass offline.
            let problems = crate::commands::test::run_case(&registry, &runtime, &bundle, case, false);
            assert!(problems.is_empty(), "{template:?} › {}: {problems:#?}", case.name);
        }
    }

    #[test]
    fn every_template_is_valid_and_passes_its_tests() {
        // The `http` template needs the `http` kind.
        let templates =
            Template::value_variants().iter().filter(|t| cfg!(feature = "http") || **t != Template::Http);
        for &template in templates {
            check(template, "my-pipeline.v2");
        }
    }

    #[test]
    fn names_that_yaml_reads_as_numbers_or_booleans_are_quoted() {
        for name in ["123", "1.5", "true", "null", "0x1f"] {
            check(Template::Basic, name);
        }
        assert!(render(Template::Basic, "hello").starts_with("name: hello\n"));
    }

    #[test]
    fn invalid_names_are_refused_with_a_hint() {
        for name in ["", "Hello", "-x", "a b", "../up", "x/y"] {
            assert!(check_name(name).is_err(), "{name:?}");
        }
        let err = check_name("My Pipeline").unwrap_err().to_string();
        assert!(err.contains("lowercase letters") && err.contains("\"my-pipeline\""), "{err}");
    }
}
