//! Reading pipeline files: validation of a file and of every file it runs, diagnostics on
//! stderr, and the bundle of plans a run needs (the engine reads no file).

use crate::settings::Settings;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weir_engine::Registry;
use weir_pipeline::{Bundle, Code, Diagnostic, Plan, Severity, Source};

/// Diagnostics of one file.
pub struct Checked {
    pub source: Source,
    pub diagnostics: Vec<Diagnostic>,
    pub plan: Option<Arc<Plan>>,
    /// The files its steps run, as written, with their index in the list `check_tree` returns.
    pub links: Vec<(String, usize)>,
}

impl Checked {
    pub fn errors(&self, strict: bool) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.is_error() || (strict && d.severity == Severity::Warning))
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning).count()
    }
}

/// The file name that means stdin, as with most command-line tools.
pub const STDIN: &str = "-";

/// How diagnostics name a pipeline read from stdin. Its directory, for the files it runs by
/// relative path, is the current one: `parent_dir` of this name is `.`.
const STDIN_NAME: &str = "<stdin>";

/// Reads and validates one file (`-` reads stdin).
pub fn check_file(path: &Path, registry: &Registry) -> Result<Checked> {
    Ok(check(read(path)?, registry))
}

/// Validates one pipeline's text.
fn check(source: Source, registry: &Registry) -> Checked {
    let loaded = weir_pipeline::load(source.clone(), registry);
    Checked { source, diagnostics: loaded.diagnostics, plan: loaded.plan.map(Arc::new), links: Vec::new() }
}

/// The text of a pipeline file, named as diagnostics will name it. This is the only place a
/// pipeline is read from, so `-` means stdin for every command that takes a file.
fn read(path: &Path) -> Result<Source> {
    if path.as_os_str() == STDIN {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("cannot read the pipeline from stdin")?;
        return Ok(Source::new(STDIN_NAME, text));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Source::new(path.display().to_string(), text))
}

/// A file that cannot be read, as a checked file with one error saying why, for commands that
/// check many files: the others are still checked and reported, and the run of the command still
/// fails.
pub fn unreadable(path: &Path, error: &anyhow::Error) -> Checked {
    let diagnostic = Diagnostic::new(Code::MissingFile, None, format!("{error:#}"))
        .with_hint("check the path, and that the file is readable");
    Checked {
        source: Source::new(path.display().to_string(), String::new()),
        diagnostics: vec![diagnostic],
        plan: None,
        links: Vec::new(),
    }
}

/// Validates a file and, recursively, every pipeline file it runs. The root comes first.
/// A file that cannot be read is an error at the step that names it; so is a cycle of files.
pub fn check_tree(path: &Path, registry: &Registry) -> Result<Vec<Checked>> {
    let root = check_file(path, registry)?;
    let mut out = vec![root];
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    seen.insert(canonical(path), 0);
    // Depth-first over imports, tracking the chain of files for cycle detection.
    let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
    let mut chain: Vec<PathBuf> = vec![canonical(path)];
    while let Some(&mut (at, ref mut next)) = stack.last_mut() {
        let imports = out[at].plan.as_ref().map(|p| p.imports().to_vec()).unwrap_or_default();
        let Some(import) = imports.get(*next).cloned() else {
            stack.pop();
            chain.pop();
            continue;
        };
        *next += 1;
        let target = resolve(out[at].source.name(), &import.file);
        let key = canonical(&target);
        if let Some(pos) = chain.iter().position(|p| *p == key) {
            let names: Vec<String> =
                chain[pos..].iter().chain([&key]).map(|p| p.display().to_string()).collect();
            out[at].diagnostics.push(
                Diagnostic::new(
                    Code::ImportCycle,
                    import.span,
                    format!("pipeline files run each other in a cycle: {}", names.join(" -> ")),
                )
                .with_hint("a pipeline cannot (indirectly) run itself; repeat work with `foreach`"),
            );
            continue;
        }
        if let Some(&known) = seen.get(&key) {
            out[at].links.push((import.file, known));
            continue;
        }
        match check_file(&target, registry) {
            Ok(checked) => {
                out.push(checked);
                let index = out.len() - 1;
                out[at].links.push((import.file, index));
                seen.insert(key.clone(), out.len() - 1);
                stack.push((out.len() - 1, 0));
                chain.push(key);
            }
            Err(e) => {
                let hint = format!("paths are relative to {}", parent_dir(out[at].source.name()).display());
                out[at]
                    .diagnostics
                    .push(Diagnostic::new(Code::MissingFile, import.span, format!("{e:#}")).with_hint(hint));
            }
        }
    }
    Ok(out)
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

fn parent_dir(file: &str) -> PathBuf {
    Path::new(file)
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `file` relative to the directory of `from`.
fn resolve(from: &str, file: &str) -> PathBuf {
    let file = Path::new(file);
    if file.is_absolute() { file.to_path_buf() } else { parent_dir(from).join(file) }
}

/// Prints diagnostics to stderr, `--quiet` or not (they are the problems); returns how many
/// count as errors.
pub fn report(checked: &[Checked], strict: bool, settings: &Settings) -> usize {
    let color = settings.stderr_color;
    let mut errors = 0;
    for c in checked {
        for d in &c.diagnostics {
            let mut d = d.clone();
            if strict {
                d.severity = Severity::Error;
            }
            eprint!("{}", weir_pipeline::diag::render(&c.source, &d, color));
        }
        errors += c.errors(strict);
    }
    errors
}

/// Loads a file and every file it runs for running: validation errors are printed and make it
/// an error. Warnings are printed and let through.
pub fn bundle_for_run(path: &Path, registry: &Registry, settings: &Settings) -> Result<Option<Bundle>> {
    let checked = check_tree(path, registry)?;
    if report(&checked, false, settings) > 0 {
        return Ok(None);
    }
    bundle(checked).map(Some)
}

/// The bundle a stored run started with, validated again by this weir: the text of each version
/// as it was, named by the file it was read from. Diagnostics are printed as for a file; errors
/// (a kind this build lacks, a rule a newer weir added) make it `None`.
pub fn bundle_from_store(
    stored: &weir_store::StoredBundle,
    registry: &Registry,
    settings: &Settings,
) -> Result<Option<Bundle>> {
    let mut checked: Vec<Checked> =
        stored.plans.iter().map(|p| check(Source::new(p.file.clone(), p.text.clone()), registry)).collect();
    for (from, file, to) in &stored.links {
        if let Some(c) = checked.get_mut(*from) {
            c.links.push((file.clone(), *to));
        }
    }
    if report(&checked, false, settings) > 0 {
        return Ok(None);
    }
    bundle(checked).map(Some)
}

/// Loads a file for commands that show it: like [`bundle_for_run`], giving the file's plan.
pub fn plan_to_show(path: &Path, registry: &Registry, settings: &Settings) -> Result<Option<Arc<Plan>>> {
    Ok(bundle_for_run(path, registry, settings)?.map(|b| b.root().clone()))
}

/// The plans of a checked tree of files, with their links; every file must be valid.
fn bundle(checked: Vec<Checked>) -> Result<Bundle> {
    let mut links = Vec::new();
    let mut plans = Vec::with_capacity(checked.len());
    for (i, c) in checked.into_iter().enumerate() {
        let plan = c.plan.with_context(|| format!("{} is not a valid pipeline", c.source.name()))?;
        links.extend(c.links.into_iter().map(|(file, to)| (i, file, to)));
        plans.push(plan);
    }
    Ok(Bundle::new(plans, &links)?)
}

/// Expands directories into the pipeline files under them (`.yaml`, `.yml`, `.json`), sorted.
/// A directory without any is an error: checking or testing nothing would pass, and hide a
/// wrong path or a renamed folder.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found).with_context(|| format!("cannot list {}", path.display()))?;
            anyhow::ensure!(
                !found.is_empty(),
                "no pipeline files found under {} (looked for .yaml, .yml and .json)",
                path.display()
            );
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(path);
        }
    }
    Ok(())
}
