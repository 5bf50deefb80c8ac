//! Which step results a jq expression reads, proven from its syntax.
//!
//! A step's expressions see the results of its ancestors only, so what they read never depends
//! on timing. Validation still wants to know *which* ancestors each step reads: reading a step
//! that is not an ancestor is a mistake worth an error, and a step whose reads are all known only
//! needs those results in its context. This module finds the reads by abstract interpretation:
//! it follows, through pipes, variables, definitions, `reduce`/`foreach`, conditionals and the
//! standard library's pass-through filters, where the run context (`.`) and its `.steps` object
//! flow. A `.steps.<literal>` on them is a proven read. Any other use of them (`.steps | keys`,
//! `.steps[$name]`, `tojson`, `..`, a recursive definition given them) is reported as
//! unprovable: the expression may read any step it is allowed to see.
//!
//! The analysis is sound, not complete: it never misses a read, but may call a harmless use
//! unprovable.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::path::Part;
use std::rc::Rc;

/// A static read of `.steps.<name>` found in an expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StepRef {
    pub name: String,
    /// Byte range of the name inside the expression's text.
    pub offset: usize,
    pub len: usize,
}

/// A use of the run context or of `.steps` that the analysis cannot turn into named reads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Unproven {
    /// What is used and how, e.g. "`.steps` is passed to `keys`".
    pub what: String,
    /// Byte range inside the expression's text (the whole expression when nothing narrower).
    pub offset: usize,
    pub len: usize,
}

/// What an expression reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Reads {
    pub steps: Vec<StepRef>,
    pub unproven: Vec<Unproven>,
}

/// How much of an expression is followed before it counts as unprovable (definitions are
/// expanded at each call, which a hostile expression could make exponential).
const BUDGET: u32 = 20_000;
/// How deeply terms and calls nest before the rest counts as unprovable.
const MAX_DEPTH: u32 = 256;

/// Finds the reads of a parsed expression whose input is the run context.
pub(crate) fn reads<'s>(code: &'s str, term: &Term<&'s str>) -> Reads {
    let mut a =
        Analysis { code, out: Reads::default(), budget: BUDGET, depth: 0, gave_up: false, calls: Vec::new() };
    a.eval(term, Abs::CTX, &None);
    a.out.steps.dedup_by(|x, y| x.name == y.name && x.offset == y.offset);
    a.out.unproven.dedup();
    a.out
}

/// The abstract value of a jq value: whether it may be the run context, or its `.steps` object.
/// A value that is neither is plain data: looking into it reveals no step result that was not
/// already counted as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Abs {
    ctx: bool,
    steps: bool,
}

impl Abs {
    const CTX: Abs = Abs { ctx: true, steps: false };
    const DATA: Abs = Abs { ctx: false, steps: false };

    fn join(self, other: Abs) -> Abs {
        Abs { ctx: self.ctx || other.ctx, steps: self.steps || other.steps }
    }

    fn is_data(self) -> bool {
        self == Abs::DATA
    }
}

/// The definitions and variables in scope, innermost first.
type Env<'t, 's> = Option<Rc<Scope<'t, 's>>>;

struct Scope<'t, 's> {
    bind: Bind<'t, 's>,
    next: Env<'t, 's>,
}

enum Bind<'t, 's> {
    Var(&'s str, Abs),
    /// A definition, with the scope it was defined in.
    Def(&'t Def<&'s str, Term<&'s str>>, Env<'t, 's>),
    /// A filter argument of a definition being expanded: the caller's term, in the caller's scope.
    Arg(&'s str, &'t Term<&'s str>, Env<'t, 's>),
}

fn bind<'t, 's>(env: &Env<'t, 's>, bind: Bind<'t, 's>) -> Env<'t, 's> {
    Some(Rc::new(Scope { bind, next: env.clone() }))
}

fn scopes<'e, 't, 's>(env: &'e Env<'t, 's>) -> impl Iterator<Item = &'e Scope<'t, 's>> {
    std::iter::successors(env.as_deref(), |s| s.next.as_deref())
}

fn var<'s>(env: &Env<'_, 's>, name: &str) -> Abs {
    scopes(env)
        .find_map(|s| match s.bind {
            Bind::Var(n, abs) if n == name => Some(abs),
            _ => None,
        })
        .unwrap_or(Abs::DATA)
}

/// What a call resolves to in scope; `None` is the standard library.
enum Callee<'e, 't, 's> {
    Def(&'t Def<&'s str, Term<&'s str>>, &'e Env<'t, 's>),
    Arg(&'t Term<&'s str>, &'e Env<'t, 's>),
}

fn callee<'e, 't, 's>(env: &'e Env<'t, 's>, name: &str, arity: usize) -> Option<Callee<'e, 't, 's>> {
    scopes(env).find_map(|s| match &s.bind {
        Bind::Def(def, defined_in) if def.name == name && def.args.len() == arity => {
            Some(Callee::Def(def, defined_in))
        }
        Bind::Arg(n, term, caller) if *n == name && arity == 0 => Some(Callee::Arg(term, caller)),
        _ => None,
    })
}

struct Analysis<'s> {
    code: &'s str,
    out: Reads,
    /// Terms left to follow.
    budget: u32,
    depth: u32,
    gave_up: bool,
    /// Definitions being expanded, to recognise recursion.
    calls: Vec<*const Def<&'s str, Term<&'s str>>>,
}

impl<'s> Analysis<'s> {
    /// The abstract value of `term`'s outputs for an input of abstract value `input`.
    fn eval<'t>(&mut self, term: &'t Term<&'s str>, input: Abs, env: &Env<'t, 's>) -> Abs {
        if self.gave_up {
            return Abs::DATA;
        }
        if self.budget == 0 || self.depth >= MAX_DEPTH {
            // Reads beyond this point would be missed: say so once, and follow nothing more.
            self.gave_up = true;
            self.unproven(anchor(term), "the expression is too large or too deeply nested to follow");
            return Abs::DATA;
        }
        self.budget -= 1;
        self.depth += 1;
        let out = self.eval_term(term, input, env);
        self.depth -= 1;
        out
    }

    fn eval_term<'t>(&mut self, term: &'t Term<&'s str>, input: Abs, env: &Env<'t, 's>) -> Abs {
        match term {
            Term::Id => input,
            Term::Recurse => self.consume(input, None, "is searched with `..`"),
            Term::Num(_) | Term::Break(_) => Abs::DATA,
            Term::Str(format, parts) => {
                for part in parts {
                    if let StrPart::Term(t) = part {
                        let v = self.eval(t, input, env);
                        self.consume(v, anchor(t), "is turned into text");
                    }
                }
                if let Some(f) = format
                    && parts.is_empty()
                {
                    self.consume(input, Some(f), &format!("is formatted with `{f}`"));
                }
                Abs::DATA
            }
            Term::Arr(inner) => {
                if let Some(t) = inner {
                    let v = self.eval(t, input, env);
                    self.consume(v, anchor(t), "is put into an array");
                }
                Abs::DATA
            }
            Term::Obj(entries) => {
                for (key, value) in entries {
                    self.object_entry(key, value.as_ref(), input, env);
                }
                Abs::DATA
            }
            Term::Neg(t) => {
                let v = self.eval(t, input, env);
                self.consume(v, anchor(t), "is negated")
            }
            Term::BinOp(l, op, r) => self.binop(l, op, r, input, env),
            Term::Label(_, body) => self.eval(body, input, env),
            Term::Fold(_, xs, pattern, args) => self.fold(xs, pattern, args, input, env),
            Term::TryCatch(body, catch) => {
                let v = self.eval(body, input, env);
                // An error value holds the run context only if `error` was given it, and that is
                // reported where it happens.
                catch.as_ref().map_or(v, |c| v.join(self.eval(c, Abs::DATA, env)))
            }
            Term::IfThenElse(branches, otherwise) => {
                let mut out = Abs::DATA;
                for (cond, then) in branches {
                    // Truthiness of the context reveals nothing: it is always an object.
                    self.eval(cond, input, env);
                    out = out.join(self.eval(then, input, env));
                }
                match otherwise {
                    Some(t) => out.join(self.eval(t, input, env)),
                    None => out.join(input),
                }
            }
            Term::Def(defs, body) => {
                let mut inner = env.clone();
                for def in defs {
                    let defined_in = inner.clone();
                    inner = bind(&inner, Bind::Def(def, defined_in));
                }
                self.eval(body, input, &inner)
            }
            Term::Call(name, args) => self.call(name, args, input, env),
            Term::Var(name) => var(env, name),
            Term::Path(base, path) => {
                let mut at = self.eval(base, input, env);
                for (part, _) in &path.0 {
                    at = self.path_part(part, at, input, env);
                }
                at
            }
        }
    }

    /// One part of a path (`.a`, `.[e]`, `.[]`, `.[a:b]`) applied to a value `at`; index
    /// expressions see the path's own input.
    fn path_part<'t>(
        &mut self,
        part: &'t Part<Term<&'s str>>,
        at: Abs,
        input: Abs,
        env: &Env<'t, 's>,
    ) -> Abs {
        match part {
            Part::Index(i) => match literal(i) {
                Some((key, slice)) => self.index(at, &key, slice),
                None => {
                    let k = self.eval(i, input, env);
                    self.consume(k, anchor(i), "is used as an index");
                    self.consume(at, anchor(i), "is indexed by a computed key")
                }
            },
            Part::Range(from, to) => {
                for t in from.iter().chain(to) {
                    let v = self.eval(t, input, env);
                    self.consume(v, anchor(t), "is used as an index");
                }
                let what = if from.is_none() && to.is_none() { "is iterated with `[]`" } else { "is sliced" };
                self.consume(at, None, what)
            }
        }
    }

    /// `at[key]` for a literal key.
    fn index(&mut self, at: Abs, key: &str, slice: Option<&'s str>) -> Abs {
        if at.steps {
            let (offset, len) = self.span(slice);
            self.out.steps.push(StepRef { name: key.to_owned(), offset, len });
        }
        Abs { ctx: false, steps: at.ctx && key == "steps" }
    }

    fn object_entry<'t>(
        &mut self,
        key: &'t Term<&'s str>,
        value: Option<&'t Term<&'s str>>,
        input: Abs,
        env: &Env<'t, 's>,
    ) {
        let v = match (key, value) {
            (_, Some(value)) => {
                let k = self.eval(key, input, env);
                self.consume(k, anchor(key), "is used as an object key");
                self.eval(value, input, env)
            }
            // `{$x}` is `{x: $x}`; `{a}` is `{a: .a}`.
            (Term::Var(name), None) => var(env, name),
            (_, None) => match literal(key) {
                Some((name, slice)) => self.index(input, &name, slice),
                None => {
                    let k = self.eval(key, input, env);
                    self.consume(k, anchor(key), "is used as an object key");
                    self.consume(input, anchor(key), "is indexed by a computed key")
                }
            },
        };
        self.consume(v, anchor(value.unwrap_or(key)), "is put into an object");
    }

    fn binop<'t>(
        &mut self,
        l: &'t Term<&'s str>,
        op: &'t BinaryOp<&'s str>,
        r: &'t Term<&'s str>,
        input: Abs,
        env: &Env<'t, 's>,
    ) -> Abs {
        match op {
            BinaryOp::Pipe(None) => {
                let mid = self.eval(l, input, env);
                self.eval(r, mid, env)
            }
            BinaryOp::Pipe(Some(pattern)) => {
                let value = self.eval(l, input, env);
                let inner = self.bind_pattern(pattern, value, input, env);
                self.eval(r, input, &inner)
            }
            BinaryOp::Comma
            | BinaryOp::Alt
            | BinaryOp::And
            | BinaryOp::Or
            | BinaryOp::Math(_)
            | BinaryOp::Cmp(_) => self.operators(l, op, r, input, env),
            // `l = r`, `l |= r`, `l += r`, …: the output is the input, changed.
            _ => {
                self.consume(input, anchor(l), "is updated");
                self.eval(l, input, env);
                let v = self.eval(r, input, env);
                self.consume(v, anchor(r), "is assigned")
            }
        }
    }

    /// A chain of operators (`a + b + …`, `[1, 2, …]`, `a // b`, `a and b`), followed without
    /// recursion: a generated list or sum of thousands of terms is a plausible expression.
    /// `,` and `//` pass their operands' values on; arithmetic and comparisons use them (so the
    /// context there is reported); `and` and `or` only test them.
    fn operators<'t>(
        &mut self,
        l: &'t Term<&'s str>,
        op: &'t BinaryOp<&'s str>,
        r: &'t Term<&'s str>,
        input: Abs,
        env: &Env<'t, 's>,
    ) -> Abs {
        #[derive(Clone, Copy)]
        enum Role {
            PassedOn,
            Used,
            Tested,
        }
        let role_under = |op: &BinaryOp<&'s str>, parent: Role| match op {
            BinaryOp::Comma | BinaryOp::Alt => Some(parent),
            BinaryOp::Math(_) | BinaryOp::Cmp(_) => Some(Role::Used),
            BinaryOp::And | BinaryOp::Or => Some(Role::Tested),
            _ => None,
        };
        let mut out = Abs::DATA;
        let first = role_under(op, Role::PassedOn).unwrap_or(Role::PassedOn);
        let mut todo: Vec<(&'t Term<&'s str>, Role)> = vec![(r, first), (l, first)];
        while let Some((term, role)) = todo.pop() {
            if let Term::BinOp(l, op, r) = term
                && let Some(inner) = role_under(op, role)
            {
                todo.extend([(&**r, inner), (&**l, inner)]);
                continue;
            }
            let v = self.eval(term, input, env);
            match role {
                Role::PassedOn => out = out.join(v),
                Role::Used => {
                    self.consume(v, anchor(term), "is an operand");
                }
                Role::Tested => {}
            }
        }
        out
    }

    /// Binds a destructuring pattern to a value; the parts of the run context are not followed.
    fn bind_pattern<'t>(
        &mut self,
        pattern: &'t Pattern<&'s str>,
        value: Abs,
        input: Abs,
        env: &Env<'t, 's>,
    ) -> Env<'t, 's> {
        match pattern {
            Pattern::Var(name) => bind(env, Bind::Var(name, value)),
            Pattern::Arr(items) => {
                self.consume(value, None, "is destructured");
                items.iter().fold(env.clone(), |e, p| self.bind_pattern(p, Abs::DATA, input, &e))
            }
            Pattern::Obj(entries) => {
                self.consume(value, None, "is destructured");
                let mut e = env.clone();
                for (key, p) in entries {
                    let k = self.eval(key, input, &e);
                    self.consume(k, anchor(key), "is used as an object key");
                    if let Term::Var(name) = key {
                        e = bind(&e, Bind::Var(name, Abs::DATA));
                    }
                    e = self.bind_pattern(p, Abs::DATA, input, &e);
                }
                e
            }
        }
    }

    /// `reduce xs as $x (init; update)` and `foreach xs as $x (init; update; extract)`: the
    /// accumulator is followed to a fixed point (the lattice has four points, so it comes fast).
    fn fold<'t>(
        &mut self,
        xs: &'t Term<&'s str>,
        pattern: &'t Pattern<&'s str>,
        args: &'t [Term<&'s str>],
        input: Abs,
        env: &Env<'t, 's>,
    ) -> Abs {
        let items = self.eval(xs, input, env);
        let inner = self.bind_pattern(pattern, items, input, env);
        let Some((init, rest)) = args.split_first() else { return Abs::DATA };
        let mut acc = self.eval(init, input, env);
        loop {
            let mut next = acc;
            let mut out = Abs::DATA;
            for t in rest {
                let v = self.eval(t, next, &inner);
                next = next.join(v);
                out = out.join(v);
            }
            if next == acc {
                // `reduce` gives the accumulator; `foreach` each extracted value.
                return if rest.len() > 1 { out } else { acc };
            }
            acc = next;
        }
    }

    fn call<'t>(&mut self, name: &'s str, args: &'t [Term<&'s str>], input: Abs, env: &Env<'t, 's>) -> Abs {
        match callee(env, name, args.len()) {
            Some(Callee::Arg(term, caller)) => {
                let caller = caller.clone();
                self.eval(term, input, &caller)
            }
            Some(Callee::Def(def, defined_in)) => {
                let defined_in = defined_in.clone();
                self.expand(def, args, input, env, &defined_in)
            }
            None => self.builtin(name, args, input, env),
        }
    }

    /// Follows a call to a definition by expanding its body with the arguments bound.
    fn expand<'t>(
        &mut self,
        def: &'t Def<&'s str, Term<&'s str>>,
        args: &'t [Term<&'s str>],
        input: Abs,
        env: &Env<'t, 's>,
        defined_in: &Env<'t, 's>,
    ) -> Abs {
        let ptr: *const Def<&'s str, Term<&'s str>> = def;
        if self.calls.contains(&ptr) {
            return self.recurse(def, args, input, defined_in);
        }
        // The body sees the definition itself (for recursion) and its arguments.
        let mut inner = bind(defined_in, Bind::Def(def, defined_in.clone()));
        for (param, arg) in def.args.iter().zip(args) {
            match param.strip_prefix('$') {
                Some(plain) => {
                    let v = self.eval(arg, input, env);
                    inner = bind(&inner, Bind::Var(param, v));
                    inner = bind(&inner, Bind::Arg(plain, arg, env.clone()));
                }
                None => inner = bind(&inner, Bind::Arg(param, arg, env.clone())),
            }
        }
        self.calls.push(ptr);
        let out = self.eval(&def.body, input, &inner);
        self.calls.pop();
        out
    }

    /// A recursive call. Expanding it again would not end; it is harmless when nothing it can
    /// reach holds the run context: plain input, no arguments, and only plain variables in the
    /// scope the definition was written in.
    fn recurse<'t>(
        &mut self,
        def: &'t Def<&'s str, Term<&'s str>>,
        args: &'t [Term<&'s str>],
        input: Abs,
        defined_in: &Env<'t, 's>,
    ) -> Abs {
        let plain_scope = scopes(defined_in).all(|s| match s.bind {
            Bind::Var(_, abs) => abs.is_data(),
            Bind::Arg(..) => false,
            Bind::Def(..) => true,
        });
        if !(input.is_data() && args.is_empty() && plain_scope) {
            self.unproven(
                Some(def.name),
                &format!("the recursive definition `{}` is not followed", def.name),
            );
        }
        Abs::DATA
    }

    /// A filter of jq's standard library. Filters that only pass values through or test them are
    /// followed; any other filter given the context counts as unprovable.
    fn builtin<'t>(
        &mut self,
        name: &'s str,
        args: &'t [Term<&'s str>],
        input: Abs,
        env: &Env<'t, 's>,
    ) -> Abs {
        match (name, args) {
            // Values that do not depend on the input; `not` and `empty` reveal nothing of it.
            (
                "null" | "true" | "false" | "nan" | "infinite" | "now" | "env" | "input" | "inputs"
                | "builtins" | "halt" | "empty" | "not",
                [],
            ) => Abs::DATA,
            // The first or last output of `f`, or up to n of them.
            ("first" | "last", [f]) => self.eval(f, input, env),
            ("limit", [n, f]) => {
                let v = self.eval(n, input, env);
                self.consume(v, anchor(n), "is used as a count");
                self.eval(f, input, env)
            }
            // The input, where `f` is true.
            ("select", [f]) => {
                self.eval(f, input, env);
                input
            }
            // Numbers from the arguments, or an error made of one: the input is not looked at.
            ("range", [_] | [_, _] | [_, _, _]) | ("error", [_]) => {
                for arg in args {
                    let v = self.eval(arg, input, env);
                    self.consume(v, anchor(arg), &format!("is passed to `{name}`"));
                }
                Abs::DATA
            }
            ("isempty", [f]) => {
                self.eval(f, input, env);
                Abs::DATA
            }
            ("getpath", [p]) if input.ctx || input.steps => match literal_path(p) {
                Some(keys) => keys.into_iter().fold(input, |at, (key, slice)| self.index(at, &key, slice)),
                None => {
                    let v = self.eval(p, input, env);
                    self.consume(v, anchor(p), "is used as a path");
                    self.consume(input, Some(name), "is read with a computed `getpath`")
                }
            },
            _ => {
                self.consume(input, Some(name), &format!("is passed to `{name}`"));
                for arg in args {
                    // The filter may run its argument on parts of its input, which are plain
                    // data (or the context, reported just above).
                    let v = self.eval(arg, Abs::DATA, env);
                    self.consume(v, anchor(arg), &format!("is passed to `{name}`"));
                }
                Abs::DATA
            }
        }
    }

    /// Reports a value that may be the run context or `.steps` being used in a way that is not
    /// followed. Returns plain data: what comes out is accounted for by the report.
    fn consume(&mut self, v: Abs, at: Option<&'s str>, how: &str) -> Abs {
        if v.steps {
            self.unproven(at, &format!("`.steps` {how}"));
        } else if v.ctx {
            self.unproven(at, &format!("the run context `.` {how}"));
        }
        Abs::DATA
    }

    fn unproven(&mut self, at: Option<&'s str>, what: &str) {
        let (offset, len) = self.span(at);
        self.out.unproven.push(Unproven { what: what.to_owned(), offset, len });
    }

    /// The byte range of a slice of the expression; the whole expression for anything else.
    fn span(&self, slice: Option<&str>) -> (usize, usize) {
        let start = self.code.as_ptr() as usize;
        match slice {
            Some(s)
                if (s.as_ptr() as usize) >= start
                    && (s.as_ptr() as usize) + s.len() <= start + self.code.len() =>
            {
                (s.as_ptr() as usize - start, s.len())
            }
            _ => (0, self.code.len()),
        }
    }
}

/// A string key written out (`.a`, `."a"`, `["a"]`, escapes included), and a slice of it for
/// positions.
fn literal<'s>(term: &Term<&'s str>) -> Option<(String, Option<&'s str>)> {
    let Term::Str(None, parts) = term else { return None };
    let mut text = String::new();
    let mut slice = None;
    for part in parts {
        match part {
            StrPart::Str(s) => {
                slice = slice.or(Some(*s));
                text.push_str(s);
            }
            StrPart::Char(c) => text.push(*c),
            StrPart::Term(_) => return None,
        }
    }
    Some((text, slice))
}

/// The keys of a `getpath` argument written out as an array of strings, e.g. `["steps", "a"]`.
fn literal_path<'s>(term: &Term<&'s str>) -> Option<Vec<(String, Option<&'s str>)>> {
    let Term::Arr(Some(items)) = term else { return None };
    let mut keys = Vec::new();
    let mut todo = vec![&**items];
    while let Some(t) = todo.pop() {
        match t {
            Term::BinOp(l, BinaryOp::Comma, r) => todo.extend([&**r, &**l]),
            other => keys.push(literal(other)?),
        }
    }
    Some(keys)
}

/// A slice of the text of a term, to point at it.
fn anchor<'s>(term: &Term<&'s str>) -> Option<&'s str> {
    match term {
        Term::Num(s) | Term::Call(s, _) | Term::Var(s) | Term::Break(s) | Term::Label(s, _) => Some(s),
        Term::Fold(s, ..) => Some(s),
        Term::Str(format, parts) => format.or_else(|| {
            parts.iter().find_map(|p| match p {
                StrPart::Str(s) => Some(*s),
                StrPart::Term(t) => anchor(t),
                StrPart::Char(_) => None,
            })
        }),
        Term::Path(base, path) => anchor(base).or_else(|| {
            path.0.iter().find_map(|(part, _)| match part {
                Part::Index(i) => anchor(i),
                Part::Range(from, to) => from.iter().chain(to).find_map(anchor),
            })
        }),
        Term::BinOp(l, _, r) => anchor(l).or_else(|| anchor(r)),
        Term::Arr(Some(t)) | Term::Neg(t) | Term::TryCatch(t, _) => anchor(t),
        Term::IfThenElse(branches, _) => branches.first().and_then(|(c, _)| anchor(c)),
        Term::Def(_, body) => anchor(body),
        Term::Obj(entries) => entries.first().and_then(|(k, _)| anchor(k)),
        Term::Id | Term::Recurse | Term::Arr(None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::analyze;

    /// Each case: an expression, the steps it is proven to read, and whether some read is
    /// unprovable.
    const CASES: &[(&str, &[&str], bool)] = &[
        (".steps.a.output", &["a"], false),
        (".steps.\"a\".output + .steps[\"b\"].output", &["a", "b"], false),
        (".steps.a.output // .steps.b.output", &["a", "b"], false),
        ("first(.steps.a.output)", &["a"], false),
        ("last(.steps.a.output[])", &["a"], false),
        ("limit(2; .steps.a.output[])", &["a"], false),
        ("select(.steps.a.output > 1) | .input", &["a"], false),
        (".steps.a.output | select(. > 1)", &["a"], false),
        ("reduce .steps.a.output[] as $v (0; . + $v)", &["a"], false),
        ("reduce .input.xs[] as $v (.steps.a.output; . + $v)", &["a"], false),
        ("foreach .input.xs[] as $x (0; . + $x; [$x, .steps.a.output])", &[], false),
        ("def f: .steps.a.output; f", &["a"], false),
        ("def f(g): .input | g; f(.steps.a.output)", &[], false),
        ("def f(g): g; f(.steps.a.output)", &["a"], false),
        ("def f($v): $v + 1; f(.steps.a.output)", &["a"], false),
        ("def f: .steps; f.a.output", &["a"], false),
        (".steps | .a.output", &["a"], false),
        (". as $c | .input | $c.steps.a.output", &["a"], false),
        ("getpath([\"steps\", \"a\", \"output\"])", &["a"], false),
        ("label $out | .steps.a.output, break $out", &["a"], false),
        ("if . then .steps.a.output end", &["a"], false),
        ("try .steps.a.output catch .steps.b", &["a"], false),
        ("[.steps.a.output, .steps.b.output]", &["a", "b"], false),
        ("{a: .steps.a.output, n: .input.n}", &["a"], false),
        ("\"\\(.steps.a.output) for \\(.input.who)\"", &["a"], false),
        (".steps.a as {output: $o} | $o", &["a"], false),
        (".input.items | map(.steps.x)", &[], false),
        (".steps.a.output | map(.steps.y)", &["a"], false),
        ("def r: if . > 0 then . - 1 | r else . end; .input.n | r", &[], false),
        ("$__loc__", &[], false),
        ("reduce range(100) as $i (.steps.a.output; [.])", &["a"], false),
        (r#"error("bad: \(.steps.a.output)")"#, &["a"], false),
        ("error(.steps)", &[], true),
        ("if .steps.a.output == null then true else false end", &["a"], false),
        ("[null, now, env.HOME, not]", &[], false),
        (".steps | keys", &[], true),
        (".steps[.input.name].output", &[], true),
        (".steps[]", &[], true),
        ("[.steps[] | .output]", &[], true),
        ("tojson", &[], true),
        ("..", &[], true),
        ("@json", &[], true),
        ("{steps}", &[], true),
        (". + {}", &[], true),
        ("getpath(.input.path)", &[], true),
        ("getpath([\"steps\", .input.name])", &[], true),
        ("to_entries", &[], true),
        (". as {steps: $s} | $s.a", &[], true),
        ("try error(.steps) catch .a", &[], true),
        ("def r: if .steps.a.output then r else 1 end; r", &["a"], true),
        ("def f(g): [g]; f(.)", &[], true),
        (".steps.a.output | . as $x | $x, (.steps | length)", &["a"], false),
    ];

    #[test]
    fn finds_every_read_or_says_it_cannot() {
        let mut wrong = Vec::new();
        for &(code, steps, unproven) in CASES {
            let reads = analyze(code).unwrap_or_else(|e| panic!("{code}: {e:?}"));
            let mut names: Vec<&str> = reads.steps.iter().map(|r| r.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            if names != steps || reads.unproven.is_empty() == unproven {
                wrong.push(format!("{code}: read {names:?}, unproven {:?}", reads.unproven));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn long_lists_and_sums_are_followed_to_the_end() {
        let sum = (0..5_000).map(|i| format!(".steps.s{}.output", i % 3)).collect::<Vec<_>>().join(" + ");
        let reads = analyze(&sum).unwrap();
        assert!(reads.unproven.is_empty(), "{:?}", reads.unproven.first());
        let mut names: Vec<&str> = reads.steps.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names, ["s0", "s1", "s2"]);
        let list = format!("[{}]", (0..5_000).map(|i| i.to_string()).collect::<Vec<_>>().join(", "));
        assert_eq!(analyze(&list).unwrap(), super::Reads::default());
    }

    #[test]
    fn positions_point_at_the_step_name_and_the_unprovable_use() {
        let code = "(.steps.fetch.output | keys), (.steps | keys)";
        let reads = analyze(code).unwrap();
        let r = &reads.steps[0];
        assert_eq!(&code[r.offset..r.offset + r.len], "fetch");
        let u = &reads.unproven[0];
        assert_eq!(&code[u.offset..u.offset + u.len], "keys");
        assert_eq!(u.offset, code.rfind("keys").unwrap());
        assert_eq!(u.what, "`.steps` is passed to `keys`");
    }
}
