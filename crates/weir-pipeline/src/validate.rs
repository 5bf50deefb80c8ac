//! Semantic validation: ids, needs, cycles, kinds and their configuration, expressions and the
//! steps they read, error handlers, the input schema and test cases. Every problem is reported in
//! one pass; a [`Plan`] comes out only when there is no error.

use crate::ancestry::{self, Links};
use crate::code::Code;
use crate::decode::{self, NESTED_STEP_KEYS};
use crate::diag::{Diagnostic, Diagnostics};
use crate::duration::Duration;
use crate::expr::{self, ExprError, ProgramId, Programs, ProgramsBuilder, StepRef, Unproven};
use crate::kind::{Catalog, Effects, KindSpec, With};
use crate::model::{OnError, Pipeline, Status, Step};
use crate::node::{Node, NodeValue, Seg};
use crate::plan::{Import, InputSchema, Plan, PlanStep, Route, StepReads};
use crate::source::{Source, Span};
use crate::suggest::did_you_mean;
use crate::template::{self, Part, Piece, Template};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The result of loading a pipeline: a plan when there is no error, and every diagnostic.
#[derive(Debug)]
pub struct Loaded {
    pub plan: Option<Plan>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses, decodes and validates a pipeline file.
pub fn load(source: Source, catalog: &dyn Catalog) -> Loaded {
    let (root, problems) = match crate::node::read(&source) {
        Ok(parsed) => (parsed.root, parsed.problems),
        Err(diagnostics) => {
            return Loaded { plan: None, diagnostics };
        }
    };
    let mut d = Diagnostics::default();
    for problem in problems {
        d.push(problem);
    }
    let Some(pipeline) = decode::pipeline(&root, &mut d) else {
        return Loaded { plan: None, diagnostics: d.into_vec() };
    };
    let v = Validator {
        source: &source,
        root: &root,
        catalog,
        pipeline: &pipeline,
        d,
        programs: ProgramsBuilder::default(),
        origins: Vec::new(),
        index: HashMap::new(),
        links: Links::default(),
        read: Vec::new(),
        step_reads: Vec::new(),
        unproven: Vec::new(),
        schemas: HashMap::new(),
        kinds: HashSet::new(),
        imports: Vec::new(),
        suggestions: 0,
    };
    v.run(source.clone(), pipeline.clone())
}

/// Where an expression's text stands in the file, to turn offsets inside it into file spans.
struct Origin {
    span: Span,
    /// Where the expression is, for messages: ` in step "fetch"`, ` in \`output\``.
    place: String,
    /// Whether the text in the file is byte-for-byte the expression (no escapes, one line).
    exact: bool,
    /// Offset of the expression inside the string (for `${{ }}` pieces).
    base: usize,
}

impl Origin {
    fn span(&self, offset: usize, len: usize) -> Span {
        if self.exact { self.span.sub(self.base + offset, len.max(1)) } else { self.span }
    }
}

struct Validator<'a> {
    source: &'a Source,
    root: &'a Node,
    catalog: &'a dyn Catalog,
    pipeline: &'a Pipeline,
    d: Diagnostics,
    programs: ProgramsBuilder,
    origins: Vec<Origin>,
    /// Step id -> index of its first definition.
    index: HashMap<&'a str, usize>,
    /// Needs and handlers by index, for the `.steps.X` checks.
    links: Links,
    /// Steps whose output some expression reads.
    read: Vec<bool>,
    /// What each step's expressions read.
    step_reads: Vec<StepReads>,
    /// Expressions whose reads of `.steps` the analysis cannot follow: the program, and the step
    /// it belongs to (none for the run's `output`). Reported once the programs compile.
    unproven: Vec<(ProgramId, Option<usize>, Vec<Unproven>)>,
    /// Compiled `with` schemas by kind name.
    schemas: HashMap<&'static str, Option<jsonschema::Validator>>,
    /// The kinds' names, each shared by the steps of that kind.
    kinds: HashSet<Arc<str>>,
    imports: Vec<Import>,
    /// "did you mean" hints given for step ids.
    suggestions: usize,
}

/// Which context an expression runs in, for the `.steps.X` checks.
#[derive(Clone, Copy)]
enum Scope {
    /// Inside step `i`: may read its ancestors only.
    Step(usize),
    /// The run's `output`: may read any step.
    Output,
}

/// How many misspelt step ids get a "did you mean" hint. Each looks through every id, so a
/// generated file with thousands of unknown names would take quadratic time; past this many,
/// the problems are still reported, without hints.
const STEP_SUGGESTIONS: usize = 64;

impl<'a> Validator<'a> {
    /// "did you mean" the step id closest to `name`, while the budget lasts.
    fn suggest_step(&mut self, name: &str) -> Option<String> {
        if self.suggestions >= STEP_SUGGESTIONS {
            return None;
        }
        self.suggestions += 1;
        did_you_mean(name, self.pipeline.steps.iter().map(|s| s.id.as_str()))
    }

    fn step_node(&self, i: usize) -> &'a Node {
        self.root.at(&[Seg::Key("steps"), Seg::Index(i)])
    }

    fn run(mut self, source: Source, pipeline: Pipeline) -> Loaded {
        self.check_header();
        self.check_ids();
        let needs = self.resolve_needs();
        let acyclic = self.check_cycles(&needs);
        let routes = self.resolve_handlers(&needs);
        let mut steps: Vec<PlanStep> = Vec::with_capacity(self.pipeline.steps.len());
        self.read = vec![false; self.pipeline.steps.len()];
        self.step_reads = vec![StepReads::Only(Vec::new()); self.pipeline.steps.len()];
        for (i, step) in self.pipeline.steps.iter().enumerate() {
            let node = self.step_node(i);
            let planned = self.plan_step(step, node, Scope::Step(i), acyclic);
            steps.push(PlanStep { needs: needs[i].clone(), on_error: routes[i], ..planned });
        }
        for (i, reads) in std::mem::take(&mut self.step_reads).into_iter().enumerate() {
            steps[i].reads = reads;
            steps[i].handled = std::mem::take(&mut self.links.handled[i]);
            for n in steps[i].needs.clone() {
                steps[n].dependents.push(i);
            }
        }
        let output = self.pipeline.output.as_deref().and_then(|code| {
            let node = self.root.get("output")?;
            self.expression(code, node, 0, Scope::Output, acyclic)
        });
        let input_schema = self.check_input_schema();
        self.check_tests();
        let programs = self.compile();
        self.check_unread_outputs(&steps, output.is_some());
        let plan = match programs {
            Some(programs) if !self.d.has_errors() => {
                Some(Plan::new(source, pipeline, steps, programs, output, input_schema, self.imports))
            }
            _ => None,
        };
        Loaded { plan, diagnostics: self.d.into_vec() }
    }

    /// Compiles every expression; reports undefined filters, then the unprovable reads of the
    /// expressions that compiled (one that does not compile never runs).
    fn compile(&mut self) -> Option<Programs> {
        let (programs, failed) = match std::mem::take(&mut self.programs).build() {
            Ok(p) => (Some(p), Vec::new()),
            Err(errs) => {
                let mut failed = Vec::new();
                for (id, e) in errs {
                    let origin = &self.origins[id.0 as usize];
                    let message = format!("jq: {}{}", e.message, origin.place);
                    let mut diag = Diagnostic::new(e.code, origin.span(e.offset, e.len), message);
                    if let Some(hint) = e.hint {
                        diag = diag.with_hint(hint);
                    }
                    self.d.push(diag);
                    failed.push(id);
                }
                (None, failed)
            }
        };
        self.unproven.retain(|(id, _, _)| !failed.contains(id));
        let unproven = std::mem::take(&mut self.unproven);
        for (id, from, reads) in &unproven {
            if let Some(from) = *from {
                self.unproven_reads(from, reads, *id);
            }
        }
        self.unproven = unproven;
        programs
    }

    fn check_header(&mut self) {
        let p = self.pipeline;
        if let Some(node) = self.root.get("name")
            && node.as_str().is_some()
            && !valid_name(&p.name)
        {
            self.d.push(
                Diagnostic::new(Code::BadName, node.span, format!("invalid pipeline name \"{}\"", p.name))
                    .with_hint(
                        "use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit",
                    ),
            );
        }
        if let (Some(v), Some(node)) = (&p.version, self.root.get("version"))
            && !v.is_empty()
            && let Err(e) = semver::Version::parse(v)
        {
            self.d.push(
                Diagnostic::new(Code::BadVersion, node.span, format!("invalid version \"{v}\": {e}"))
                    .with_hint("use a semantic version such as 1.2.0"),
            );
        }
        if p.steps.is_empty()
            && let Some(node) = self.root.get("steps")
            && matches!(node.value, NodeValue::Seq(_))
        {
            self.d.error(Code::NoSteps, node.span, "the pipeline has no steps");
        }
    }

    fn check_ids(&mut self) {
        for (i, step) in self.pipeline.steps.iter().enumerate() {
            let Some(node) = self.step_node(i).get("id").filter(|n| n.as_str().is_some()) else {
                continue;
            };
            if !valid_id(&step.id) {
                self.d.push(
                    Diagnostic::new(Code::BadId, node.span, format!("invalid step id \"{}\"", step.id))
                        .with_hint("use lowercase letters, digits and `_`, starting with a letter (ids are used in jq paths like `.steps.my_step`)"),
                );
            }
            match self.index.get(step.id.as_str()) {
                Some(&first) => {
                    let line = self.source.line_col(self.step_node(first).span.start).line;
                    self.d.push(
                        Diagnostic::new(
                            Code::DuplicateId,
                            node.span,
                            format!("duplicate step id \"{}\"", step.id),
                        )
                        .with_hint(format!("the first step with this id is on line {line}")),
                    );
                }
                None => {
                    self.index.insert(&step.id, i);
                }
            }
        }
    }

    fn resolve_needs(&mut self) -> Vec<Vec<usize>> {
        let mut all = Vec::with_capacity(self.pipeline.steps.len());
        for (i, step) in self.pipeline.steps.iter().enumerate() {
            let node = self.step_node(i).get("needs");
            let mut needs: Vec<usize> = Vec::with_capacity(step.needs.len());
            for (k, need) in step.needs.iter().enumerate() {
                let span = node.map(|n| n.at(&[Seg::Index(k)]).span);
                match self.index.get(need.as_str()) {
                    None => {
                        let mut diag = Diagnostic::new(
                            Code::UnknownNeed,
                            span,
                            format!("unknown need \"{need}\" in step \"{}\"", step.id),
                        );
                        if let Some(hint) = self.suggest_step(need) {
                            diag = diag.with_hint(hint);
                        }
                        self.d.push(diag);
                    }
                    Some(&n) if n == i => {
                        self.d.error(Code::SelfNeed, span, format!("step \"{}\" needs itself", step.id));
                    }
                    Some(&n) if needs.contains(&n) => {
                        self.d.error(
                            Code::SelfNeed,
                            span,
                            format!("step \"{}\" lists \"{need}\" twice in `needs`", step.id),
                        );
                    }
                    Some(&n) => needs.push(n),
                }
            }
            all.push(needs);
        }
        self.links = Links { needs: all.clone(), handled: vec![Vec::new(); all.len()] };
        all
    }

    /// Reports every cycle (one per strongly connected component) with its path.
    fn check_cycles(&mut self, needs: &[Vec<usize>]) -> bool {
        let mut acyclic = true;
        for component in strongly_connected(needs) {
            if component.len() < 2 {
                continue;
            }
            acyclic = false;
            let path = cycle_path(needs, &component);
            let names: Vec<&str> = path.iter().map(|&i| self.pipeline.steps[i].id.as_str()).collect();
            let first = path[0];
            let span = self.step_node(first).get("needs").map_or(self.step_node(first).span, |n| n.span);
            self.d.push(
                Diagnostic::new(
                    Code::Cycle,
                    span,
                    format!("steps depend on each other in a cycle: {}", names.join(" -> ")),
                )
                .with_hint("remove one of these needs; to repeat work, use `foreach`"),
            );
        }
        acyclic
    }

    fn resolve_handlers(&mut self, needs: &[Vec<usize>]) -> Vec<Route> {
        let mut routes = Vec::with_capacity(needs.len());
        for (i, step) in self.pipeline.steps.iter().enumerate() {
            let route = match &step.on_error {
                OnError::Fail => Route::Fail,
                OnError::Continue => Route::Continue,
                OnError::Handler(h) => {
                    let span = self.step_node(i).get("on_error").map(|n| n.span);
                    match self.index.get(h.as_str()).copied() {
                        None => {
                            let hint = self.suggest_step(h).unwrap_or_else(|| {
                                "use `fail`, `continue` or the id of a handler step".into()
                            });
                            self.d.push(
                                Diagnostic::new(
                                    Code::BadHandler,
                                    span,
                                    format!("`on_error` names unknown step \"{h}\""),
                                )
                                .with_hint(hint),
                            );
                            Route::Fail
                        }
                        Some(hi) if hi == i => {
                            self.d.error(
                                Code::BadHandler,
                                span,
                                format!("step \"{}\" cannot handle its own errors", step.id),
                            );
                            Route::Fail
                        }
                        Some(hi) if !needs[hi].is_empty() => {
                            self.d.push(
                                Diagnostic::new(
                                    Code::BadHandler,
                                    span,
                                    format!("handler step \"{h}\" has `needs`"),
                                )
                                .with_hint(
                                    "a handler runs when a step that names it fails; remove its `needs`",
                                ),
                            );
                            Route::Fail
                        }
                        Some(hi) => {
                            self.links.handled[hi].push(i);
                            Route::Handler(hi)
                        }
                    }
                }
            };
            routes.push(route);
        }
        routes
    }

    /// The shared name of kind `uses`.
    fn kind_name(&mut self, uses: &str) -> Arc<str> {
        if let Some(name) = self.kinds.get(uses) {
            return name.clone();
        }
        let name: Arc<str> = uses.into();
        self.kinds.insert(name.clone());
        name
    }

    fn plan_step(&mut self, step: &Step, node: &'a Node, scope: Scope, acyclic: bool) -> PlanStep {
        let kind = self.kind_of(step, node);
        let condition = match (&step.condition, node.get("if")) {
            (Some(code), Some(n)) => self.expression(code, n, 0, scope, acyclic),
            _ => None,
        };
        let mut planned = PlanStep {
            id: step.id.as_str().into(),
            kind: self.kind_name(&step.uses),
            effects: kind.map_or(Effects::External, |k| k.effects),
            needs: Vec::new(),
            dependents: Vec::new(),
            condition,
            with: Template::Lit(Value::Object(Default::default())),
            programs: Vec::new(),
            nested: None,
            timeout: step.timeout,
            retry: step.retry.clone(),
            on_error: Route::Fail,
            handled: Vec::new(),
            reads: StepReads::Only(Vec::new()),
        };
        if let Some(kind) = kind {
            // A step without `with` has an empty one: its kind's required keys are reported at the step.
            self.check_config(kind, step, node.get("with").unwrap_or(node));
            self.check_rules(kind, step, node);
        }
        if let Some(with_node) = node.get("with") {
            self.plan_with(&mut planned, kind, with_node, scope, acyclic);
        }
        planned
    }

    /// Runs the kind's rules across `with` keys. Each problem points at the last written of the
    /// keys it names, else at `with` (or, without one, at the step).
    fn check_rules(&mut self, kind: &KindSpec, step: &Step, node: &Node) {
        let with_node = node.get("with");
        let at = with_node.unwrap_or(node);
        if with_node.is_some_and(|w| w.as_map().is_none()) {
            // Reported as a wrong type already; the rules would only repeat it.
            return;
        }
        let entries = with_node.and_then(Node::as_map).unwrap_or_default();
        for problem in (kind.check)(With::new(&step.with)) {
            let last = entries.iter().rev().find(|(k, _)| problem.keys.contains(&k.name.as_str()));
            let span = last.map_or(at.span, |(k, _)| k.span);
            let mut diag = Diagnostic::new(Code::BadConfig, span, problem.message);
            if let Some(hint) = problem.hint {
                diag = diag.with_hint(hint);
            }
            self.d.push(diag);
        }
    }

    /// The step's kind; an unknown one is reported.
    fn kind_of(&mut self, step: &Step, node: &Node) -> Option<&'a KindSpec> {
        let kind = self.catalog.kind(&step.uses);
        if kind.is_none() && !step.uses.is_empty() {
            let names: Vec<&str> = self.catalog.kinds().iter().map(|k| k.name).collect();
            let hint = match self.catalog.unavailable(&step.uses) {
                Some(how) => how.to_owned(),
                None => did_you_mean(&step.uses, names.iter().copied())
                    .unwrap_or_else(|| format!("available kinds: {}", names.join(", "))),
            };
            let message = format!("unknown step kind \"{}\"", step.uses);
            self.d.push(
                Diagnostic::new(Code::UnknownKind, node.get("uses").map(|n| n.span), message).with_hint(hint),
            );
        }
        kind
    }

    /// Compiles a `with` block: `${{ }}` templates, and the kind's program, nested-step and file
    /// keys (kept as written too, so the kind's config type sees every key).
    fn plan_with(
        &mut self,
        planned: &mut PlanStep,
        kind: Option<&'a KindSpec>,
        with_node: &'a Node,
        scope: Scope,
        acyclic: bool,
    ) {
        let Some(items) = with_node.as_map() else { return };
        let mut entries = Vec::with_capacity(items.len());
        for (key, value) in items {
            let name = key.name.as_str();
            let template = match kind {
                Some(k) if k.programs.contains(&name) => {
                    let field = k.programs.iter().copied().find(|p| *p == name).unwrap_or_default();
                    if let Some(id) =
                        value.as_str().and_then(|code| self.expression(code, value, 0, scope, acyclic))
                    {
                        planned.programs.push((field, id));
                    }
                    Template::Lit(value.to_value())
                }
                Some(k) if k.nested_step == Some(name) => {
                    let inner = decode::step(value, NESTED_STEP_KEYS, &mut self.d);
                    let nested = self.plan_step(&inner, value, scope, acyclic);
                    planned.nested =
                        Some(Box::new(PlanStep { id: format!("{}[item]", planned.id).into(), ..nested }));
                    Template::Lit(value.to_value())
                }
                Some(k) if k.files.contains(&name) => {
                    self.import(name, value);
                    Template::Lit(value.to_value())
                }
                _ => self.template(value, scope, acyclic),
            };
            entries.push((key.name.clone(), template));
        }
        planned.with = Template::obj(entries);
    }

    /// Records a pipeline file a step runs; it must be written out to be checked before the run.
    fn import(&mut self, key: &str, value: &Node) {
        match value.as_str() {
            Some(file) if !file.contains("${{") => self.imports.push(Import { file: file.to_owned(), span: value.span }),
            _ => self.d.error(
                Code::BadConfig,
                value.span,
                format!("`{key}` must be a file path written out (no `${{{{ }}}}`), so it can be checked before the run"),
            ),
        }
    }

    /// Checks a `with` block against its kind's schema. Values that are `${{ }}` expressions
    /// cannot be checked before the run and are let through.
    fn check_config(&mut self, kind: &KindSpec, step: &Step, with_node: &Node) {
        let validator = self.schemas.entry(kind.name).or_insert_with(|| {
            let schema = (kind.schema)();
            jsonschema::options().should_validate_formats(false).build(schema.as_value()).ok()
        });
        let Some(validator) = validator else { return };
        let value = Value::Object(step.with.clone());
        let mut found = Vec::new();
        for error in validator.iter_errors(&value) {
            let pointer = error.instance_path().as_str().to_owned();
            let segs = pointer_segments(&pointer);
            let path: Vec<Seg<'_>> = segs.iter().map(|s| s.as_seg()).collect();
            let target = with_node.at(&path);
            if target.as_str().is_some_and(|s| s.contains("${{")) {
                continue;
            }
            let at = if pointer.is_empty() {
                "`with`".to_owned()
            } else {
                format!("`with{}`", pointer.replace('/', "."))
            };
            let (span, message, hint) = match error.kind() {
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for key in unexpected {
                        let props = schema_properties(&(kind.schema)(), &segs);
                        let hint = did_you_mean(key, props.iter().map(String::as_str))
                            .unwrap_or_else(|| format!("`{}` takes: {}", kind.name, props.join(", ")));
                        found.push((
                            target.key_span(key),
                            format!("unknown key \"{key}\" in {at} of {}", step_phrase(step, kind)),
                            Some(hint),
                        ));
                    }
                    continue;
                }
                jsonschema::error::ValidationErrorKind::Required { property } => (
                    target.span,
                    format!("{at} of {} is missing required key {property}", step_phrase(step, kind)),
                    None,
                ),
                _ if is_duration(schema_at(&(kind.schema)(), &segs)) => (
                    target.span,
                    format!("{at} of {}: {}", step_phrase(step, kind), not_a_duration(target)),
                    None,
                ),
                _ => (target.span, format!("{at} of {}: {error}", step_phrase(step, kind)), None),
            };
            found.push((span, message, hint));
        }
        for (span, message, hint) in found {
            let mut diag = Diagnostic::new(Code::BadConfig, span, message);
            if let Some(hint) = hint {
                diag = diag.with_hint(hint);
            }
            self.d.push(diag);
        }
    }

    /// Compiles a `with` value's `${{ }}` strings.
    fn template(&mut self, node: &Node, scope: Scope, acyclic: bool) -> Template {
        match &node.value {
            NodeValue::String(s, _) if s.contains("${{") => {
                let pieces = match template::split(s) {
                    Ok(p) => p,
                    Err(e) => {
                        let origin = self.origin(node, 0);
                        self.d.error(Code::ExprSyntax, origin.span(e.offset, e.len), e.message);
                        return Template::Lit(Value::Null);
                    }
                };
                let whole = matches!(&pieces[..], [Piece::Expr { .. }]) && s.trim() == s;
                let mut parts = Vec::with_capacity(pieces.len());
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => parts.push(Part::Text(t)),
                        Piece::Expr { code, offset } => {
                            match self.expression(code, node, offset, scope, acyclic) {
                                Some(id) => parts.push(Part::Expr(id)),
                                None => return Template::Lit(Value::Null),
                            }
                        }
                    }
                }
                match (whole, &parts[..]) {
                    (true, [Part::Expr(id)]) => Template::Expr(*id),
                    _ => Template::Concat(parts),
                }
            }
            NodeValue::Seq(items) => {
                Template::arr(items.iter().map(|n| self.template(n, scope, acyclic)).collect())
            }
            NodeValue::Map(entries) => Template::obj(
                entries.iter().map(|(k, v)| (k.name.clone(), self.template(v, scope, acyclic))).collect(),
            ),
            _ => Template::Lit(node.to_value()),
        }
    }

    fn origin(&self, node: &Node, base: usize) -> Origin {
        let span = node.content_span();
        let exact = node.as_str().is_some_and(|s| self.source.slice(span) == s);
        Origin { span, exact, base, place: String::new() }
    }

    /// Parses an expression, checks the steps it reads and queues it for compilation.
    fn expression(
        &mut self,
        code: &str,
        node: &Node,
        base: usize,
        scope: Scope,
        acyclic: bool,
    ) -> Option<ProgramId> {
        let mut origin = self.origin(node, base);
        origin.place = match scope {
            Scope::Step(i) => format!(" in step \"{}\"", self.pipeline.steps[i].id),
            Scope::Output => " in `output`".to_owned(),
        };
        let reads = match expr::analyze(code) {
            Ok(reads) => reads,
            Err(ExprError { message, offset, len, hint, code: kind }) => {
                let hint = hint.unwrap_or_else(|| format!("in expression `{}`", code.trim()));
                self.d.push(
                    Diagnostic::new(kind, origin.span(offset, len), format!("jq: {message}{}", origin.place))
                        .with_hint(hint),
                );
                return None;
            }
        };
        for r in &reads.steps {
            self.step_ref(r, &origin, scope, acyclic);
        }
        self.origins.push(origin);
        let id = self.programs.add(code);
        if !reads.unproven.is_empty() {
            let from = match scope {
                Scope::Step(from) => {
                    self.step_reads[from] = StepReads::Visible;
                    Some(from)
                }
                Scope::Output => None,
            };
            self.unproven.push((id, from, reads.unproven));
        }
        Some(id)
    }

    /// Checks one `.steps.X` read and records it for the step's context.
    fn step_ref(&mut self, r: &StepRef, origin: &Origin, scope: Scope, acyclic: bool) {
        let span = origin.span(r.offset, r.len);
        let Some(&target) = self.index.get(r.name.as_str()) else {
            let mut diag = Diagnostic::new(
                Code::UnknownStepRef,
                span,
                format!("`.steps.{}` names a step that does not exist", r.name),
            );
            if let Some(hint) = self.suggest_step(&r.name) {
                diag = diag.with_hint(hint);
            }
            self.d.push(diag);
            return;
        };
        self.read[target] = true;
        let Scope::Step(from) = scope else { return };
        if let StepReads::Only(targets) = &mut self.step_reads[from]
            && !targets.contains(&target)
        {
            targets.push(target);
        }
        if !acyclic || (target != from && ancestry::sees(&self.links, from, target)) {
            return;
        }
        let from_id = &self.pipeline.steps[from].id;
        let hint = if target == from {
            "a step cannot read its own output".to_owned()
        } else if !self.links.handled[from].is_empty() {
            format!(
                "a handler sees only what every step that names it in `on_error` sees; \"{}\" is not among them",
                r.name
            )
        } else {
            format!("add \"{}\" to the `needs` of \"{from_id}\" (directly or through another step)", r.name)
        };
        self.d.push(
            Diagnostic::new(
                Code::NotAncestor,
                span,
                format!("step \"{from_id}\" reads `.steps.{}`, which is not guaranteed to have finished before it", r.name),
            )
            .with_hint(hint),
        );
    }

    /// Reports reads of step results that cannot be proven; the step then sees every step that
    /// has finished before it.
    fn unproven_reads(&mut self, from: usize, unproven: &[Unproven], program: ProgramId) {
        let id = &self.pipeline.steps[from].id;
        for u in unproven {
            self.d.push(
                Diagnostic::new(
                    Code::UnprovenRead,
                    self.origins[program.0 as usize].span(u.offset, u.len),
                    format!("step \"{id}\" reads step results in a way that cannot be checked: {}", u.what),
                )
                .with_hint("the step sees the results of all its ancestors; name the steps it reads as `.steps.<id>` to have them checked"),
            );
        }
    }

    fn check_input_schema(&mut self) -> Option<InputSchema> {
        let schema = self.pipeline.input.as_ref()?;
        let node = self.root.get("input")?;
        if let Err(e) = jsonschema::meta::validate(schema) {
            let at = node.at(&pointer_segments(e.instance_path().as_str())
                .iter()
                .map(|s| s.as_seg())
                .collect::<Vec<_>>());
            self.d.error(Code::BadInputSchema, at.span, format!("`input` is not a valid JSON Schema: {e}"));
            return None;
        }
        match crate::json_schema::compile(schema) {
            Ok(v) => Some(InputSchema(v)),
            Err(e) => {
                self.d.error(
                    Code::BadInputSchema,
                    node.span,
                    format!("`input` is not a usable JSON Schema: {e}"),
                );
                None
            }
        }
    }

    fn check_tests(&mut self) {
        let Some(NodeValue::Seq(cases)) = self.root.get("tests").map(|n| &n.value) else {
            return;
        };
        for case in cases {
            let mock = case.get("mock").and_then(Node::as_map).unwrap_or_default();
            let steps =
                case.get("expect").and_then(|e| e.get("steps")).and_then(Node::as_map).unwrap_or_default();
            for (key, _) in mock.iter().chain(steps) {
                if !self.index.contains_key(key.name.as_str()) {
                    let mut diag = Diagnostic::new(
                        Code::BadTest,
                        key.span,
                        format!("test case names step \"{}\", which does not exist", key.name),
                    );
                    if let Some(hint) = self.suggest_step(&key.name) {
                        diag = diag.with_hint(hint);
                    }
                    self.d.push(diag);
                }
            }
            for (key, value) in steps {
                if value.as_str().and_then(Status::parse).is_none() {
                    self.d.push(
                        Diagnostic::new(
                            Code::BadTest,
                            value.span,
                            format!("expected status of \"{}\" is not a status", key.name),
                        )
                        .with_hint("use succeeded, failed, skipped or cancelled"),
                    );
                }
            }
        }
    }

    /// Warns about steps without side effects whose output nothing can observe.
    fn check_unread_outputs(&mut self, steps: &[PlanStep], explicit_output: bool) {
        if !self.unproven.is_empty() {
            return;
        }
        let sinks = steps.iter().filter(|s| s.dependents.is_empty() && !s.is_handler()).count();
        for (i, step) in steps.iter().enumerate() {
            let default_output =
                !explicit_output && step.dependents.is_empty() && !step.is_handler() && sinks > 0;
            if step.effects == Effects::None && !self.read[i] && step.dependents.is_empty() && !default_output
            {
                let span = self.step_node(i).get("id").map_or(self.step_node(i).span, |n| n.span);
                self.d.push(
                    Diagnostic::new(
                        Code::UnusedOutput,
                        span,
                        format!("nothing reads the output of step \"{}\"", step.id),
                    )
                    .with_hint("read it in `output` or another step's expression, or remove the step"),
                );
            }
        }
    }
}

/// How a diagnostic names a step: `step "fetch" (`http`)`, or `a `http` step` for the nested step
/// of a `foreach`, which has no id of its own.
fn step_phrase(step: &Step, kind: &KindSpec) -> String {
    if step.id.is_empty() {
        format!("a `{}` step", kind.name)
    } else {
        format!("step \"{}\" (`{}`)", step.id, kind.name)
    }
}

/// Whether `name` is a valid pipeline name: lowercase letters, digits, `-`, `_` and `.`,
/// starting with a letter or a digit.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A JSON pointer segment, owned.
enum PSeg {
    Key(String),
    Index(usize),
}

impl PSeg {
    fn as_seg(&self) -> Seg<'_> {
        match self {
            PSeg::Key(k) => Seg::Key(k),
            PSeg::Index(i) => Seg::Index(*i),
        }
    }
}

fn pointer_segments(pointer: &str) -> Vec<PSeg> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| {
            let s = s.replace("~1", "/").replace("~0", "~");
            match s.parse() {
                Ok(i) => PSeg::Index(i),
                Err(_) => PSeg::Key(s),
            }
        })
        .collect()
}

/// The property names a schema allows at a path (for "did you mean" on unknown keys).
fn schema_properties(schema: &schemars::Schema, path: &[PSeg]) -> Vec<String> {
    let root = schema.as_value();
    resolve_ref(root, schema_at(schema, path))
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The part of a schema that describes the value at a path (null when the schema says nothing).
fn schema_at<'s>(schema: &'s schemars::Schema, path: &[PSeg]) -> &'s Value {
    let root = schema.as_value();
    let mut at = root;
    for seg in path {
        let resolved = resolve_ref(root, at);
        at = match seg {
            PSeg::Key(k) => resolved.get("properties").and_then(|p| p.get(k)).unwrap_or(&Value::Null),
            PSeg::Index(_) => resolved.get("items").unwrap_or(&Value::Null),
        };
    }
    at
}

/// Whether a schema is a duration (possibly optional), whose problems deserve the duration's own
/// message rather than the schema's regular expression.
fn is_duration(schema: &Value) -> bool {
    let names_duration = |s: &Value| s.get("$ref").and_then(Value::as_str) == Some("#/$defs/Duration");
    names_duration(schema)
        || ["anyOf", "oneOf"].iter().any(|k| {
            schema
                .get(k)
                .and_then(Value::as_array)
                .is_some_and(|alternatives| alternatives.iter().any(names_duration))
        })
}

/// What is wrong with a value that should be a duration, as `timeout:` says it.
fn not_a_duration(node: &Node) -> String {
    match node.as_str() {
        Some(text) => {
            Duration::parse(text).err().map_or_else(|| "invalid duration".to_owned(), |e| e.to_string())
        }
        None => format!("expected {}, found {}", crate::duration::EXPECTED, decode::describe(node)),
    }
}

fn resolve_ref<'v>(root: &'v Value, at: &'v Value) -> &'v Value {
    match at.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => root.pointer(pointer).unwrap_or(at),
        None => at,
    }
}

/// Tarjan's strongly connected components, iteratively (pipelines may have 10,000 steps).
pub(crate) fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut components, mut next) = (Vec::new(), Vec::new(), 0);
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        // Each frame is (node, position in its edge list).
        let mut frames = vec![(start, 0)];
        index[start] = next;
        low[start] = next;
        next += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut pos)) = frames.last_mut() {
            if let Some(&w) = edges[v].get(*pos) {
                *pos += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    frames.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            frames.pop();
            if let Some(&(parent, _)) = frames.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

/// A cycle through a strongly connected component, as step indices ending where it started,
/// following `needs` edges in reverse so it reads in execution order (a -> b means b needs a).
fn cycle_path(needs: &[Vec<usize>], component: &[usize]) -> Vec<usize> {
    let start = *component.iter().min().unwrap_or(&0);
    let in_component = |i: &usize| component.contains(i);
    let mut path = vec![start];
    let mut seen = vec![start];
    let mut at = start;
    while let Some(&next) = needs[at].iter().find(|n| in_component(n)) {
        if let Some(pos) = seen.iter().position(|&s| s == next) {
            path.drain(..pos);
            path.push(next);
            break;
        }
        seen.push(next);
        path.push(next);
        at = next;
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tarjan_finds_cycles_only_where_they_are() {
        // 0 <- 1 <- 2 <- 0 is a cycle; 3 needs 0.
        let needs = vec![vec![2], vec![0], vec![1], vec![0]];
        let comps: Vec<_> = strongly_connected(&needs).into_iter().filter(|c| c.len() > 1).collect();
        assert_eq!(comps.len(), 1);
        let path = cycle_path(&needs, &comps[0]);
        assert_eq!(path.first(), path.last());
        assert_eq!(path.len(), 4);
    }

    #[test]
    fn names_and_ids() {
        assert!(valid_name("score-order.v2") && !valid_name("Score") && !valid_name("-x"));
        assert!(valid_id("fetch_2") && !valid_id("2fetch") && !valid_id("fetch-x"));
    }
}
