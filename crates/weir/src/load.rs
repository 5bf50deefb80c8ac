//! Reading pipeline files: validation of a file and of every file it runs, diagnostics on
//! stderr, and the loader the engine uses for sub-pipelines.

use crate::settings::Settings;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use weir_engine::{PipelineLoader, Registry};
use weir_pipeline::{Code, Diagnostic, Plan, Severity, Source};

/// Diagnostics of one file.
pub struct Checked {
    pub source: Source,
    pub diagnostics: Vec<Diagnostic>,
    pub plan: Option<Arc<Plan>>,
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

/// Reads and validates one file.
pub fn check_file(path: &Path, registry: &Registry) -> Result<Checked> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let source = Source::new(path.display().to_string(), text);
    let loaded = weir_pipeline::load(source.clone(), registry);
    Ok(Checked { source, diagnostics: loaded.diagnostics, plan: loaded.plan.map(Arc::new) })
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
        let imports = out[at].plan.as_ref().map(|p| p.imports.clone()).unwrap_or_default();
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
        if seen.contains_key(&key) {
            continue;
        }
        match check_file(&target, registry) {
            Ok(checked) => {
                out.push(checked);
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

/// Loads a file for running: validation errors (in it or the files it runs) are printed and
/// make it an error. Warnings are printed and let through.
pub fn plan_for_run(path: &Path, registry: &Registry, settings: &Settings) -> Result<Option<Arc<Plan>>> {
    let checked = check_tree(path, registry)?;
    if report(&checked, false, settings) > 0 {
        return Ok(None);
    }
    Ok(checked.into_iter().next().and_then(|c| c.plan))
}

/// Expands directories into the pipeline files under them (`.yaml`, `.yml`, `.json`), sorted.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found).with_context(|| format!("cannot list {}", path.display()))?;
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

/// Loads sub-pipelines for the engine, once per file.
pub struct FsLoader {
    registry: Arc<Registry>,
    /// Loaded plans by canonical path, so a `foreach` over a pipeline parses it once.
    cache: Mutex<HashMap<PathBuf, Arc<Plan>>>,
}

impl FsLoader {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry, cache: Mutex::new(HashMap::new()) }
    }
}

impl PipelineLoader for FsLoader {
    fn load(&self, parent: &Plan, file: &str) -> Result<Arc<Plan>, String> {
        let path = resolve(parent.source.name(), file);
        let key = canonical(&path);
        if let Some(plan) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(plan.clone());
        }
        let checked = check_file(&path, &self.registry).map_err(|e| format!("{e:#}"))?;
        let plan = checked.plan.clone().ok_or_else(|| {
            let first = checked.diagnostics.iter().find(|d| d.is_error());
            let why = first.map_or_else(String::new, |d| format!(": {} [{}]", d.message, d.code.as_str()));
            format!("{} is not a valid pipeline{why}", path.display())
        })?;
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, plan.clone());
        Ok(plan)
    }
}
