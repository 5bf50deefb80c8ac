//! jq expressions: parsing with positions, static analysis of `.steps.X` reads, compilation of all
//! of a pipeline's expressions into one program, evaluation, and conversion between JSON values
//! and jq values.
//!
//! Compiling jq's standard library costs about half a millisecond, so a pipeline's expressions are
//! compiled together, once: each becomes a definition `__weir_N($ENV)`, and the main filter
//! dispatches on the global variable `$__weir` with a balanced tree of comparisons (log2 N of them
//! per call). Before compiling, every expression and every definition of jq's library gets
//! weir's guards (`rewrite`), so an evaluation can be stopped and cannot build values past the
//! limits (`guard`).

use crate::code::Code;
use jaq_core::load::lex::{Lexer, StrPart, Tok, Token};
use jaq_core::load::parse::{Def, Parser, Term};
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{Ctx, Vars, data};
use jaq_json::{Num, Val};
use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

mod guard;
mod log;
mod reads;
mod rewrite;

pub use guard::{Budget, Interrupted, MAX_ITEMS, MAX_MATCHES, MAX_STACK, MAX_STRING_BYTES, SMALL_STACK};
pub use log::{Log, MAX_LOG_BYTES, MAX_MESSAGES, Message, Said};
pub(crate) use reads::{Reads, StepRef, Unproven};

type Filter = jaq_core::Filter<guard::Weir>;

/// weir's definitions of jq filters, before jq's library (which defines `range/1` and
/// `range/2` by `range/3`, and `halt_error/0` by `halt_error/1`), around the natives they replace
/// (renamed in [`funs`]; coming first, they call natives only): each value of `range/3` takes a
/// step; `explode` and the regular expression filters first check what they would build
/// (`guard`); `halt_error/1` keeps its input as the message the evaluation fails with, instead of
/// printing it.
const PRELUDE: &str = r#"
def range($from; $upto; $by): __weir_range($from; $upto; $by) | __weir_tick;
def explode: __weir_explode_bound | __weir_explode;
def matches($re; $flags): __weir_regex_bound($re; $flags) | __weir_matches($re; $flags);
def split_matches($re; $flags): __weir_regex_bound($re; $flags) | __weir_split_matches($re; $flags);
def split_($re; $flags): __weir_regex_bound($re; $flags) | __weir_split_($re; $flags);
def halt_error($exit_code): __weir_halt_message, halt($exit_code);
"#;

const DISPATCH_VAR: &str = "$__weir";
/// The variables of the environment a run lets its expressions see; `env` is defined as it.
const ENV_VAR: &str = "$ENV";

/// A problem inside an expression: a message and a byte range of the expression's text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ExprError {
    pub message: String,
    pub offset: usize,
    pub len: usize,
    /// How to fix it, when there is something to say (e.g. the filter a misspelt name means).
    pub hint: Option<String>,
    /// [`Code::ExprSyntax`], or [`Code::RefusedBuiltin`] for a builtin weir does not offer.
    pub code: Code,
}

/// How deeply brackets may nest in an expression. jq's parser and compiler recurse on nesting;
/// past this, an expression is refused with a message instead of exhausting the stack.
pub const MAX_NESTING: usize = 256;
/// How many tokens an expression may have (a long sum or list also makes the parser recurse).
pub const MAX_TOKENS: usize = 20_000;

/// Parses a jq program whose input is the run context and returns the steps it reads.
pub(crate) fn analyze(code: &str) -> Result<Reads, ExprError> {
    check_size(code)?;
    let tokens = Lexer::new(code).lex().map_err(|errs| {
        let (expect, rest) = &errs[0];
        let found = load::span(code, rest);
        ExprError {
            message: format!("expected {}", lex_expectation(expect)),
            offset: found.start,
            len: rest.chars().next().map_or(0, char::len_utf8),
            hint: None,
            code: Code::ExprSyntax,
        }
    })?;
    if let Some(name) = reserved(&tokens) {
        let span = load::span(code, name);
        return Err(ExprError {
            message: format!("`{name}` is reserved: names starting with `__weir` are weir's own"),
            offset: span.start,
            len: span.len(),
            hint: None,
            code: Code::ExprSyntax,
        });
    }
    let term = Parser::new(&tokens).parse(|p| p.term()).map_err(|errs| {
        let (expect, found) = &errs[0];
        let text = load::lex::Token::opt_as_str(*found, code);
        let span = load::span(code, text);
        let found =
            if text.is_empty() { "the end of the expression".to_owned() } else { format!("`{text}`") };
        ExprError {
            message: format!("expected {}, found {found}", expect.as_str()),
            offset: span.start,
            len: span.len(),
            hint: None,
            code: Code::ExprSyntax,
        }
    })?;
    Ok(reads::reads(code, &term))
}

/// Refuses an expression nested deeper than [`MAX_NESTING`] or longer than [`MAX_TOKENS`], before
/// anything recursive reads it. Brackets inside strings count too (interpolation can nest), so
/// the count is an upper bound.
fn check_size(code: &str) -> Result<(), ExprError> {
    let (mut depth, mut tokens, mut at_token_start) = (0usize, 0usize, true);
    for (i, c) in code.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(ExprError {
                message: format!("the expression nests deeper than {MAX_NESTING} levels"),
                offset: i,
                len: 1,
                hint: None,
                code: Code::ExprSyntax,
            });
        }
        // Runs of letters, digits and `_` are one token; every other visible character is one.
        let word = c.is_alphanumeric() || c == '_' || c == '$' || c == '.';
        if !c.is_whitespace() && (!word || at_token_start) {
            tokens += 1;
        }
        at_token_start = !word;
        if tokens > MAX_TOKENS {
            return Err(ExprError {
                message: format!(
                    "the expression is longer than {MAX_TOKENS} tokens; split it over several steps"
                ),
                offset: i,
                len: 1,
                hint: None,
                code: Code::ExprSyntax,
            });
        }
    }
    Ok(())
}

/// The first name (filter or variable) in the tokens that could reach the definitions and the
/// variable weir compiles every expression with (`__weir_N`, `$__weir`).
fn reserved<'s>(tokens: &[Token<&'s str>]) -> Option<&'s str> {
    tokens.iter().find_map(|Token(text, tok)| match tok {
        Tok::Word | Tok::Var if text.trim_start_matches('$').starts_with("__weir") => Some(*text),
        Tok::Block(inner) => reserved(inner),
        Tok::Str(parts) => parts.iter().find_map(|p| match p {
            StrPart::Term(t) => reserved(std::slice::from_ref(t)),
            _ => None,
        }),
        _ => None,
    })
}

fn lex_expectation(e: &load::lex::Expect<&str>) -> &'static str {
    use load::lex::Expect;
    match e {
        Expect::Digit => "a digit",
        Expect::Ident => "an identifier",
        Expect::Delim("(") => "a closing parenthesis",
        Expect::Delim("[") => "a closing bracket",
        Expect::Delim("{") => "a closing brace",
        Expect::Delim(_) => "a closing quote",
        Expect::Escape => "a string escape sequence",
        Expect::Unicode => "a 4-digit hexadecimal code point",
        _ => "a valid token",
    }
}

/// Index of a compiled expression in a [`Programs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProgramId(pub u32);

/// Collects expression texts, then compiles them all at once.
#[derive(Default)]
pub(crate) struct ProgramsBuilder {
    codes: Vec<String>,
}

impl ProgramsBuilder {
    /// Adds an expression that already passed [`analyze`].
    pub fn add(&mut self, code: &str) -> ProgramId {
        self.codes.push(code.to_owned());
        ProgramId(self.codes.len() as u32 - 1)
    }

    /// Compiles every expression; errors are returned per expression (undefined filters or
    /// variables, which parsing alone cannot see).
    pub fn build(self) -> Result<Programs, Vec<(ProgramId, ExprError)>> {
        let names: Vec<String> = (0..self.codes.len()).map(|i| format!("__weir_{i}")).collect();
        let user = self.codes.iter().zip(&names).map(|(code, name)| user_def(name, code));
        let defs = library().iter().cloned().chain(user.map(rewrite::def));
        let arena = Arena::default();
        let mut main = String::new();
        dispatch(&mut main, 0, self.codes.len());
        let file = File { code: main.as_str(), path: () };
        let modules = Loader::new(defs).load(&arena, file).map_err(|errs| {
            // Each expression parsed on its own, so this only happens for constructs valid alone
            // but not inside a definition; report them against the first expression.
            let error = ExprError {
                message: "expression does not parse".into(),
                offset: 0,
                len: 0,
                hint: None,
                code: Code::ExprSyntax,
            };
            errs.into_iter().map(|_| (ProgramId(0), error.clone())).collect::<Vec<_>>()
        })?;
        let compiler =
            jaq_core::Compiler::default().with_funs(funs()).with_global_vars([DISPATCH_VAR, ENV_VAR]);
        let filter = compiler.compile(modules).map_err(|errs| {
            let undefined = errs.into_iter().flat_map(|(_, errs)| errs);
            undefined.map(|(name, what)| undefined_error(&self.codes, name, what)).collect::<Vec<_>>()
        })?;
        Ok(Programs { filter, codes: self.codes })
    }
}

/// weir's prelude and jq's library of definitions, with their guards: parsed once per process.
fn library() -> &'static [Def<&'static str>] {
    static LIBRARY: std::sync::OnceLock<Vec<Def<&'static str>>> = std::sync::OnceLock::new();
    LIBRARY.get_or_init(|| {
        let tokens = Lexer::new(PRELUDE).lex().unwrap_or_default();
        let prelude = Parser::new(&tokens).parse(|p| p.defs()).unwrap_or_default();
        let std = jaq_std::defs().filter(|d| !(d.name == "halt_error" && d.args.len() == 1));
        let library = jaq_core::defs().chain(std).chain(jaq_json::defs());
        prelude.into_iter().chain(library).map(rewrite::def).collect()
    })
}

/// The native filters programs are compiled with: jq's, with those that weir's prelude defines
/// renamed for it (`range/3`, `explode`, the regular expression natives), and `tojson`,
/// `debug_empty` and `stderr_empty` replaced by weir's (see `guard`).
fn funs() -> impl Iterator<Item = jaq_core::native::Fun<guard::Weir>> {
    let rename = |(name, args, f): jaq_core::native::Fun<guard::Weir>| {
        let name = match (name, args.len()) {
            ("range", 3) => "__weir_range",
            ("explode", 0) => "__weir_explode",
            ("matches", 2) => "__weir_matches",
            ("split_matches", 2) => "__weir_split_matches",
            ("split_", 2) => "__weir_split_",
            _ => name,
        };
        (name, args, f)
    };
    let replaced = |(name, _, _): &jaq_core::native::Fun<guard::Weir>| {
        !matches!(*name, "tojson" | "debug_empty" | "stderr_empty")
    };
    let (std, json) = (jaq_std::funs().filter(replaced), jaq_json::funs().filter(replaced));
    jaq_core::funs().chain(std).map(rename).chain(json).chain(guard::funs())
}

/// Expression `code` as the definition `name($ENV)`, in which `env` is `$ENV`: the run's allowed
/// variables, not the process environment. `code` passed [`analyze`], so it parses.
fn user_def<'s>(name: &'s str, code: &'s str) -> Def<&'s str> {
    let tokens = Lexer::new(code).lex().unwrap_or_default();
    let term = Parser::new(&tokens).parse(|p| p.term()).unwrap_or_default();
    let env = Def { name: "env", args: Vec::new(), body: Term::Var(ENV_VAR) };
    Def { name, args: vec![ENV_VAR], body: Term::Def(vec![env], Box::new(term)) }
}

/// An undefined filter or variable, reported against the expression that names it.
fn undefined_error(
    codes: &[String],
    name: &str,
    what: jaq_core::compile::Undefined,
) -> (ProgramId, ExprError) {
    let at = name.as_ptr() as usize;
    let found = codes.iter().enumerate().find_map(|(i, code)| {
        let start = code.as_ptr() as usize;
        (start..=start + code.len()).contains(&at).then(|| (i, at - start))
    });
    let (i, offset) = found.unwrap_or((0, 0));
    if let Some(hint) = refused(name, &what) {
        let message = format!("`{name}` reads from outside the expression's input and is not available");
        let error = ExprError {
            message,
            offset,
            len: name.len(),
            hint: Some(hint.into()),
            code: Code::RefusedBuiltin,
        };
        return (ProgramId(i as u32), error);
    }
    let (message, hint) = match what {
        jaq_core::compile::Undefined::Filter(arity) => {
            let hint = crate::suggest::closest(name, library_filters(arity).iter().copied())
                .map(|f| format!("did you mean `{f}`?"));
            (format!("undefined filter `{name}/{arity}`"), hint)
        }
        other => (format!("undefined {} `{name}`", other.as_str()), None),
    };
    (ProgramId(i as u32), ExprError { message, offset, len: name.len(), hint, code: Code::ExprSyntax })
}

/// What to use instead of jq's builtins that read something other than their input (jq's
/// further inputs, the program's file and line, its module search path), when `name` names one
/// and the expression does not define it itself. jaq has none of them; weir refuses them by
/// name so the message says why rather than that they are undefined.
fn refused(name: &str, what: &jaq_core::compile::Undefined) -> Option<&'static str> {
    const INPUT: &str = "weir expressions read their input only from `.`: the run's input is `.input`; earlier steps are `.steps.ID.output`";
    match (name, what) {
        (
            "input" | "inputs" | "input_filename" | "input_line_number",
            jaq_core::compile::Undefined::Filter(0),
        ) => Some(INPUT),
        ("$__loc__", jaq_core::compile::Undefined::Var) => Some(
            "an expression has no file or line of its own: weir's errors name the step and the expression",
        ),
        ("get_search_list", jaq_core::compile::Undefined::Filter(0)) => {
            Some("weir expressions import no modules; define what you need with `def` in the expression")
        }
        _ => None,
    }
}

/// The names of the standard library's filters that take `arity` arguments.
fn library_filters(arity: usize) -> Vec<&'static str> {
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let funs = jaq_core::funs::<data::JustLut<Val>>()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .map(|(name, args, _)| (name, args.len()));
    let mut names: Vec<&'static str> = defs
        .map(|d| (d.name, d.args.len()))
        .chain(funs)
        .filter(|&(name, n)| n == arity && !name.starts_with('_'))
        .map(|(name, _)| name)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Writes a balanced `if $__weir < mid then … else … end` tree selecting `__weir_lo .. __weir_hi`,
/// each called with `$ENV`.
fn dispatch(out: &mut String, lo: usize, hi: usize) {
    match hi - lo {
        0 => out.push('.'),
        1 => {
            let _ = write!(out, "__weir_{lo}({ENV_VAR})");
        }
        _ => {
            let mid = lo + (hi - lo) / 2;
            let _ = write!(out, "if {DISPATCH_VAR} < {mid} then ");
            dispatch(out, lo, mid);
            out.push_str(" else ");
            dispatch(out, mid, hi);
            out.push_str(" end");
        }
    }
}

/// A pipeline's compiled expressions.
pub struct Programs {
    filter: Filter,
    /// Each expression's text, for error messages.
    codes: Vec<String>,
}

impl std::fmt::Debug for Programs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Programs({})", self.codes.len())
    }
}

/// How long an expression may be before messages shorten it.
const SHOWN_CODE: usize = 60;

/// An expression failed at run time. The message starts with the expression, so a runtime error
/// on `null` deep in a pipeline says which expression met it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

impl Programs {
    /// Runs expression `id` on `input`, with `env` as `$ENV` (an object of the environment
    /// variables the run allows), within `budget`, and returns its single value. What `debug`
    /// and `stderr` say goes to `log`.
    pub fn eval_one(
        &self,
        id: ProgramId,
        input: Val,
        env: &Val,
        budget: &Budget,
        log: &Log,
    ) -> Result<Val, EvalError> {
        self.named(id, self.eval_inner(id, input, env, budget, log))
    }

    /// Runs expression `id` and converts its value to JSON (see [`to_json`]).
    pub fn eval_json(
        &self,
        id: ProgramId,
        input: Val,
        env: &Val,
        budget: &Budget,
        log: &Log,
    ) -> Result<Value, EvalError> {
        self.named(id, self.eval_inner(id, input, env, budget, log).and_then(|v| to_json(&v)))
    }

    /// Runs expression `id` and gives its value as interpolation splices it (see [`to_text`]).
    pub(crate) fn eval_text(
        &self,
        id: ProgramId,
        input: Val,
        env: &Val,
        budget: &Budget,
        log: &Log,
    ) -> Result<String, EvalError> {
        self.named(id, self.eval_inner(id, input, env, budget, log).and_then(|v| to_text(&v)))
    }

    /// An error of expression `id`, prefixed with the expression, so a message says which failed.
    fn named<T>(&self, id: ProgramId, result: Result<T, EvalError>) -> Result<T, EvalError> {
        result.map_err(|e| EvalError(format!("`{}`: {}", self.shown(id), e.0)))
    }

    /// The expression's text, shortened to fit a message.
    fn shown(&self, id: ProgramId) -> String {
        let code = self.codes.get(id.0 as usize).map_or("", |c| c.trim());
        let code = code.split_whitespace().collect::<Vec<_>>().join(" ");
        match code.char_indices().nth(SHOWN_CODE) {
            Some((cut, _)) => format!("{}…", &code[..cut]),
            None => code,
        }
    }

    fn eval_inner(
        &self,
        id: ProgramId,
        input: Val,
        env: &Val,
        budget: &Budget,
        log: &Log,
    ) -> Result<Val, EvalError> {
        budget.enter();
        let mut outputs = self.run(id, input, env, budget, log);
        let first =
            outputs.next().unwrap_or_else(|| Err(EvalError("the expression produced no value".into())))?;
        match outputs.next() {
            None => Ok(first),
            Some(Err(e)) => Err(e),
            Some(Ok(_)) => Err(EvalError(
                "the expression produced more than one value; wrap it in [...] to collect them".into(),
            )),
        }
    }

    fn run<'a>(
        &'a self,
        id: ProgramId,
        input: Val,
        env: &Val,
        budget: &'a Budget<'a>,
        log: &'a Log,
    ) -> impl Iterator<Item = Result<Val, EvalError>> + 'a {
        debug_assert!((id.0 as usize) < self.codes.len());
        let data = guard::Data { lut: &self.filter.lut, budget, log };
        let ctx = Ctx::<guard::Weir>::new(data, Vars::new([Val::from(id.0 as isize), env.clone()]));
        self.filter.id.run((ctx, input)).map(move |r| {
            r.map_err(|exn| match exn.get_err() {
                Ok(err) => EvalError(err.to_string()),
                Err(_) => EvalError(match budget.interrupted() {
                    Some(Interrupted::Stopped) => "the expression was stopped".into(),
                    Some(Interrupted::OutOfSteps) => "the expression ran out of steps".into(),
                    Some(Interrupted::TooDeep) => {
                        format!("the expression recursed too deeply (past {} of stack)", budget.stack())
                    }
                    None => log.halted().unwrap_or_else(|| "the expression called halt".into()),
                }),
            })
        })
    }
}

/// Converts a JSON value to a jq value.
pub fn to_val(value: &Value) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Val::Num(Num::from_integral(i)),
            None => match n.as_u64() {
                Some(u) => Val::Num(Num::from_integral(u)),
                None => Val::Num(Num::Float(n.as_f64().unwrap_or(f64::NAN))),
            },
        },
        Value::String(s) => Val::utf8_str(s.clone().into_bytes()),
        Value::Array(items) => items.iter().map(to_val).collect(),
        Value::Object(map) => {
            Val::obj(map.iter().map(|(k, v)| (Val::utf8_str(k.clone().into_bytes()), to_val(v))).collect())
        }
    }
}

/// Converts a jq value to JSON, exactly or not at all: NaN and infinities (which JSON cannot
/// hold), integers too long for a JSON number to keep, and object keys that are not strings are
/// refused rather than turned into something else.
pub fn to_json(val: &Val) -> Result<Value, EvalError> {
    to_json_at(val, 0)
}

/// How deeply a value an expression gives may nest: converting and printing it recurse.
pub const MAX_VALUE_DEPTH: usize = 4_096;

fn to_json_at(val: &Val, depth: usize) -> Result<Value, EvalError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(EvalError(format!(
            "the expression gave a value nested deeper than {MAX_VALUE_DEPTH} levels"
        )));
    }
    Ok(match val {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num_to_json(n)?,
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(items) => {
            Value::Array(items.iter().map(|v| to_json_at(v, depth + 1)).collect::<Result<_, _>>()?)
        }
        Val::Obj(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match k {
                    Val::TStr(b) | Val::BStr(b) => {
                        Ok((String::from_utf8_lossy(b).into_owned(), to_json_at(v, depth + 1)?))
                    }
                    other => Err(EvalError(format!(
                        "an object key must be a string, found {other}; convert it with `tostring`"
                    ))),
                })
                .collect::<Result<Map<_, _>, _>>()?,
        ),
    })
}

fn num_to_json(n: &Num) -> Result<Value, EvalError> {
    let refused = |what: &str| EvalError(format!("the expression gave {what}, which JSON cannot hold"));
    match n {
        Num::Int(i) => Ok(Value::from(*i as i64)),
        Num::Float(f) if f.is_nan() => Err(refused("NaN")),
        Num::Float(f) => Number::from_f64(*f).map(Value::Number).ok_or_else(|| refused("an infinite number")),
        Num::BigInt(_) | Num::Dec(_) => {
            let text = n.to_string();
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::from(i));
            }
            if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::from(u));
            }
            // A float only when it is the same number, not a rounded one.
            match text.parse::<f64>().ok().and_then(Number::from_f64) {
                Some(f)
                    if matches!(n, Num::Dec(_))
                        || f.as_f64().is_some_and(|f| f.fract() == 0.0 && format!("{f:.0}") == text) =>
                {
                    Ok(Value::Number(f))
                }
                _ => Err(EvalError(format!(
                    "the expression gave {text}, which has more digits than a JSON number keeps exactly"
                ))),
            }
        }
    }
}

/// A jq value as text, the way string interpolation splices it: strings bare, others as JSON.
pub(crate) fn to_text(val: &Val) -> Result<String, EvalError> {
    match val {
        Val::TStr(b) | Val::BStr(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Ok(to_json(other)?.to_string()),
    }
}

/// jq truthiness: everything but `false` and `null` is true.
pub fn is_truthy(val: &Val) -> bool {
    !matches!(val, Val::Null | Val::Bool(false))
}

/// A string key as a jq value.
pub fn key(name: &str) -> Val {
    Val::utf8_str(name.to_owned().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(codes: &[&str]) -> Programs {
        let mut b = ProgramsBuilder::default();
        for c in codes {
            analyze(c).unwrap();
            b.add(c);
        }
        b.build().unwrap()
    }

    #[test]
    fn evaluates_each_expression_of_a_shared_program() {
        let codes: Vec<String> = (0..37).map(|i| format!(".x + {i}")).collect();
        let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        let p = compile(&refs);
        for i in [0, 1, 17, 36] {
            let out = p
                .eval_one(
                    ProgramId(i),
                    to_val(&json!({"x": 100})),
                    &Val::Null,
                    &Budget::unlimited(),
                    &Log::default(),
                )
                .unwrap();
            assert_eq!(to_json(&out).unwrap(), json!(100 + i));
        }
    }

    #[test]
    fn comments_in_user_code_do_not_break_compilation() {
        let p = compile(&[".a # the a field", "[.b] # trailing"]);
        assert_eq!(
            p.eval_json(
                ProgramId(1),
                to_val(&json!({"b": 2})),
                &Val::Null,
                &Budget::unlimited(),
                &Log::default()
            )
            .unwrap(),
            json!([2])
        );
    }

    #[test]
    fn expressions_too_deep_or_too_long_are_refused_with_a_position() {
        let deep = format!("{}1{}", "[".repeat(MAX_NESTING + 1), "]".repeat(MAX_NESTING + 1));
        let err = analyze(&deep).unwrap_err();
        assert!(err.message.contains("nests deeper than 256 levels"), "{err:?}");
        assert_eq!(err.offset, MAX_NESTING);
        let long = vec!["1"; MAX_TOKENS].join(" + ");
        let err = analyze(&long).unwrap_err();
        assert!(err.message.contains("longer than 20000 tokens"), "{err:?}");
        let fine = format!("{}1{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(analyze(&fine).is_ok());
        assert!(analyze(&vec!["1"; 2_000].join(" + ")).is_ok(), "a sum of 2,000 terms is fine");
    }

    #[test]
    fn weirs_own_names_cannot_be_reached() {
        for code in ["__weir_0", ".a | $__weir", "[1, (__weir_1 | .)]", "\"x\\(__weir_2)\""] {
            let err = analyze(code).unwrap_err();
            assert!(err.message.contains("is reserved"), "{code}: {err:?}");
            assert!(
                code[err.offset..].starts_with("__weir") || code[err.offset..].starts_with("$__weir"),
                "{code}"
            );
        }
        assert!(analyze("\"__weir_0 in a string is text\"").is_ok());
    }

    #[test]
    fn syntax_errors_point_into_the_expression() {
        let err = analyze(".a ~= 3").unwrap_err();
        assert_eq!(err.offset, 3, "{err:?}");
        let err = analyze("{a: 1").unwrap_err();
        assert!(err.message.contains("closing brace"), "{err:?}");
    }

    #[test]
    fn undefined_filters_are_reported_per_expression() {
        let mut b = ProgramsBuilder::default();
        b.add(".a");
        b.add("  frobnicate(.b)");
        let errs = b.build().unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].0, ProgramId(1));
        assert_eq!(errs[0].1.offset, 2);
        assert!(errs[0].1.message.contains("frobnicate/1"), "{:?}", errs[0]);
    }

    #[test]
    fn builtins_that_read_outside_the_input_are_refused_with_a_hint() {
        let codes = [
            "input",
            "[inputs]",
            ".a | input_filename",
            "$__loc__.line",
            "input_line_number",
            "get_search_list",
        ];
        let mut b = ProgramsBuilder::default();
        for code in codes {
            b.add(code);
        }
        let errs = b.build().unwrap_err();
        assert_eq!(errs.len(), codes.len(), "{errs:?}");
        for ((id, e), code) in errs.iter().zip(codes) {
            assert_eq!(e.code, Code::RefusedBuiltin, "{code}: {e:?}");
            assert!(
                e.message.ends_with("reads from outside the expression's input and is not available"),
                "{e:?}"
            );
            let name = &codes[id.0 as usize][e.offset..e.offset + e.len];
            assert!(e.message.starts_with(&format!("`{name}`")), "{code}: {e:?}");
        }
        assert!(errs[0].1.hint.as_deref().unwrap_or("").contains("`.steps.ID.output`"), "{:?}", errs[0]);
        let p = compile(&["def input: .x; input"]);
        let defined = p.eval_json(
            ProgramId(0),
            to_val(&json!({"x": 1})),
            &Val::Null,
            &Budget::unlimited(),
            &Log::default(),
        );
        assert_eq!(defined, Ok(json!(1)), "an expression's own `input` is its own");
    }

    #[test]
    fn reports_zero_or_many_values_and_runtime_errors() {
        let p = compile(&["empty", ".[]", "1 + \"a\"", "halt"]);
        assert!(
            p.eval_one(ProgramId(0), Val::Null, &Val::Null, &Budget::unlimited(), &Log::default())
                .unwrap_err()
                .0
                .contains("no value")
        );
        assert!(
            p.eval_one(
                ProgramId(1),
                to_val(&json!([1, 2])),
                &Val::Null,
                &Budget::unlimited(),
                &Log::default()
            )
            .unwrap_err()
            .0
            .contains("more than one")
        );
        assert!(
            p.eval_one(ProgramId(2), Val::Null, &Val::Null, &Budget::unlimited(), &Log::default()).is_err()
        );
        assert!(
            p.eval_one(ProgramId(3), Val::Null, &Val::Null, &Budget::unlimited(), &Log::default())
                .unwrap_err()
                .0
                .contains("halt")
        );
    }

    /// Runs `code` on `input` and gives its value (or error) and what it said.
    fn eval_logged(code: &str, input: Value) -> (Result<Value, String>, Vec<(Said, String)>) {
        let log = Log::default();
        let value = compile(&[code])
            .eval_json(ProgramId(0), to_val(&input), &Val::Null, &Budget::unlimited(), &log)
            .map_err(|e| e.0);
        (value, log.into_messages().into_iter().map(|m| (m.said, m.text)).collect())
    }

    #[test]
    fn debug_and_stderr_say_to_the_evaluations_log_as_jq_prints_them() {
        let (value, said) =
            eval_logged("debug | debug(\"x=\\(.x)\") | stderr | .x | stderr", json!({"x": "a"}));
        assert_eq!(value, Ok(json!("a")));
        let expected = [
            (Said::Debug, r#"["DEBUG:",{"x":"a"}]"#),
            (Said::Debug, r#"["DEBUG:","x=a"]"#),
            (Said::Stderr, r#"{"x":"a"}"#),
            (Said::Stderr, "a"),
        ];
        assert_eq!(said, expected.map(|(s, t)| (s, t.to_owned())));
        let (value, said) = eval_logged("debug | error", json!([1]));
        assert!(value.is_err());
        assert_eq!(
            said,
            [(Said::Debug, r#"["DEBUG:",[1]]"#.to_owned())],
            "what a failing expression said is kept"
        );
    }

    #[test]
    fn an_evaluations_log_keeps_at_most_1000_messages_and_1_mib() {
        let (value, said) = eval_logged("[range(1500) | debug] | length", json!(null));
        assert_eq!(value, Ok(json!(1500)));
        assert_eq!(said.len(), MAX_MESSAGES + 1);
        assert_eq!(said[999], (Said::Debug, r#"["DEBUG:",999]"#.to_owned()));
        assert_eq!(said[1000].0, Said::Dropped);
        assert!(said[1000].1.starts_with("500 more message(s) dropped"), "{:?}", said[1000]);
        let (_, said) = eval_logged("[(\"x\" * 600000) | debug, stderr, (1 | debug)] | length", json!(null));
        let texts: Vec<_> = said.iter().map(|(s, t)| (*s, t.len())).collect();
        assert_eq!(texts[..2], [(Said::Debug, 600_000 + 13), (Said::Debug, 12)], "{texts:?}");
        assert!(said[2].1.starts_with("1 more message(s) dropped"), "{:?}", said[2]);
    }

    #[test]
    fn halt_error_fails_the_evaluation_with_its_message_and_try_cannot_catch_it() {
        for (code, message) in [
            ("\"stop here\" | halt_error", "stop here"),
            ("{a: [1]} | halt_error(1)", r#"{"a":[1]}"#),
            ("try (\"no\\n\" | halt_error) catch 0", "no\n"),
        ] {
            let (value, said) = eval_logged(code, json!(null));
            assert_eq!(value, Err(format!("`{code}`: {message}")));
            assert!(said.is_empty(), "{said:?}");
        }
        assert!(eval_logged("halt", json!(null)).0.unwrap_err().ends_with("the expression called halt"));
    }

    #[test]
    fn converts_values_both_ways() {
        let v = json!({"a": [1, 2.5, "x", null, true], "b": {"c": 18446744073709551615u64}, "z": -3});
        assert_eq!(to_json(&to_val(&v)).unwrap(), v);
    }

    #[test]
    fn env_is_the_runs_allowed_variables_not_the_process_environment() {
        let p = compile(&["env", "$ENV.TOKEN", "env.HOME"]);
        let env = to_val(&json!({"TOKEN": "t0k"}));
        assert_eq!(
            p.eval_json(ProgramId(0), Val::Null, &env, &Budget::unlimited(), &Log::default()).unwrap(),
            json!({"TOKEN": "t0k"})
        );
        assert_eq!(
            p.eval_json(ProgramId(1), Val::Null, &env, &Budget::unlimited(), &Log::default()).unwrap(),
            json!("t0k")
        );
        assert_eq!(
            p.eval_json(ProgramId(2), Val::Null, &env, &Budget::unlimited(), &Log::default()).unwrap(),
            json!(null)
        );
    }

    #[test]
    fn values_json_cannot_hold_are_refused_not_changed() {
        let p = compile(&[
            "{(0): 1, \"0\": 2}",
            "nan",
            "[1, -infinite]",
            "9999999999999999999999 * 10",
            "0.5 + 0.25",
        ]);
        let refused = |i: u32| {
            p.eval_json(ProgramId(i), Val::Null, &Val::Null, &Budget::unlimited(), &Log::default())
                .unwrap_err()
                .0
        };
        assert!(refused(0).contains("an object key must be a string, found 0"), "{}", refused(0));
        assert!(refused(1).contains("NaN"), "{}", refused(1));
        assert!(refused(2).contains("infinite"), "{}", refused(2));
        assert!(refused(3).contains("99999999999999999999990"), "{}", refused(3));
        assert!(refused(1).starts_with("`nan`: "), "the message names the expression: {}", refused(1));
        assert_eq!(
            p.eval_json(ProgramId(4), Val::Null, &Val::Null, &Budget::unlimited(), &Log::default()).unwrap(),
            json!(0.75)
        );
        // jq itself recurses on deep values (to drop them), so this runs on a large stack, as the
        // binary does.
        let deep = std::thread::Builder::new().stack_size(256 << 20).spawn(|| {
            let deep = compile(&["reduce range(5000) as $i (null; [.])"]);
            deep.eval_json(ProgramId(0), Val::Null, &Val::Null, &Budget::unlimited(), &Log::default())
                .unwrap_err()
                .0
        });
        let err = deep.unwrap().join().unwrap();
        assert!(err.contains("nested deeper than 4096 levels"), "{err}");
    }

    /// Runs `code` on `input` within `budget`; the value as JSON, or the error's message.
    fn eval(code: &str, input: Value, budget: &Budget) -> Result<Value, String> {
        compile(&[code])
            .eval_json(ProgramId(0), to_val(&input), &Val::Null, budget, &Log::default())
            .map_err(|e| e.0)
    }

    #[test]
    fn guards_keep_the_meaning_of_programs() {
        let cases = [
            ("[(1,2) + (10,20)]", json!(null), json!([11, 21, 12, 22])),
            ("[(1,2) * (10,20)]", json!(null), json!([10, 20, 20, 40])),
            (
                ".a += 1 | .b *= 2 | .c += \"x\"",
                json!({"a": 1, "b": 3, "c": "y"}),
                json!({"a": 2, "b": 6, "c": "yx"}),
            ),
            ("[paths]", json!({"a": [1]}), json!([["a"], ["a", 0]])),
            ("[..]", json!([[1]]), json!([[[1]], [1], 1])),
            ("walk(if type == \"number\" then . + 1 end)", json!({"a": [1, 2]}), json!({"a": [2, 3]})),
            (".[] |= . * 2", json!([1, 2]), json!([2, 4])),
            ("[.[] | tostring]", json!([1, "a", [2]]), json!(["1", "a", "[2]"])),
            ("\"\\(.a) and \\(.b)\"", json!({"a": 1, "b": "x"}), json!("1 and x")),
            ("@json \"v=\\(.)\"", json!("q"), json!("v=\"q\"")),
            ("tojson", json!({"a": [1, "x"]}), json!("{\"a\":[1,\"x\"]}")),
            ("[limit(3; repeat(1))], [range(5; 0; -2)], add", json!([1, 2]), json!(null)),
            ("[recurse(if . < 3 then . + 1 else empty end)]", json!(0), json!([0, 1, 2, 3])),
            ("def f(n): if n > 0 then n + f(n - 1) else 0 end; f(4)", json!(null), json!(10)),
            ("[.[] as [$a, $b] | {$a, $b}] | map(.a + .b)", json!([[1, 2], [3, 4]]), json!([3, 7])),
            ("del(.a) | to_entries", json!({"a": 1, "b": 2}), json!([{"key": "b", "value": 2}])),
            ("\"a,b\" | gsub(\",\"; \";\") | ascii_upcase", json!(null), json!("A;B")),
            ("env | length", json!(null), json!(0)),
        ];
        for (code, input, expected) in cases {
            let got = if code.ends_with("add") {
                let p = compile(&[&format!("[{code}]")]);
                p.eval_json(ProgramId(0), to_val(&input), &Val::Null, &Budget::unlimited(), &Log::default())
                    .map(|v| json!(v == json!([[1, 1, 1], [5, 3, 1], 3])))
            } else {
                compile(&[code]).eval_json(
                    ProgramId(0),
                    to_val(&input),
                    &Val::Null,
                    &Budget::unlimited(),
                    &Log::default(),
                )
            };
            let expected = if code.ends_with("add") { json!(true) } else { expected };
            assert_eq!(got.map_err(|e| e.0), Ok(expected), "{code}");
        }
    }

    #[test]
    fn values_past_the_limits_are_refused_before_they_are_built() {
        let unlimited = Budget::unlimited();
        let refused = |code: &str| eval(code, json!(null), &unlimited).unwrap_err();
        let e = refused("\"abc\" * 1000000000");
        assert!(e.contains("a string of 3000000000 bytes; the limit is 64 MiB"), "{e}");
        assert!(refused("\"x\" * 100000000000000000000 | length").contains("the limit is 64 MiB"));
        assert!(refused("reduce range(40) as $i (\"x\"; . + .)").contains("the limit is 64 MiB"));
        assert!(refused("reduce range(40) as $i (\"x\"; \"\\(.)\\(.)\")").contains("the limit is 64 MiB"));
        let e = refused("(\"x\" * 1000000) as $s | [range(100) | $s] | tojson");
        assert!(e.contains("more than 64 MiB"), "{e}");
        assert!(refused("(\"x\" * 1000000) as $s | [range(100) | $s] | tostring").contains("64 MiB"));
        let e = refused("reduce range(30) as $i ([0]; . + .)");
        assert!(e.contains("an array of 16777216 items; the limit is 10000000"), "{e}");
        let e = refused("[limit(20000000; repeat(1))]");
        assert!(e.contains("an array of more than 10000000 items"), "{e}");
        assert!(eval("\"ab\" * 3", json!(null), &unlimited) == Ok(json!("ababab")));
        // Filters that turn one string into many values count before they build.
        let e = refused("\"é\" * 10000001 | explode");
        assert!(
            e.contains(&format!("explode would build an array of 10000001 items; the limit is {MAX_ITEMS}")),
            "{e}"
        );
        let e = refused("\",\" * 10000000 | split(\",\")");
        assert!(e.contains(&format!("more than {MAX_ITEMS} pieces")), "{e}");
        assert!(refused("\"ab\" * 5000001 | . / \"\" | length").contains("pieces"));
        let e = refused("\"a\" * 2000000 | [match(\"a\"; \"g\")] | length");
        assert!(
            e.contains(&format!("matches more than {MAX_MATCHES} times in a string of 2000000 bytes")),
            "{e}"
        );
        assert!(refused("\"a\" * 2000000 | gsub(\"\"; \"x\")").contains("matches more than"));
        // Below the limits they give what jq gives, on large strings too.
        let fine = |code: &str| eval(code, json!(null), &unlimited).unwrap();
        assert_eq!(fine("\"aé\" | explode"), json!([97, 233]));
        assert_eq!(fine("\"a,b\" | split(\",\")"), json!(["a", "b"]));
        assert_eq!(fine("\"ab\" / \"\""), json!(["a", "b"]));
        assert_eq!(fine("\"xay\" | [match(\"a\"; \"g\").offset]"), json!([1]));
        assert_eq!(fine("\"a\" * 2000000 + \"b\" | [match(\"B\"; \"gi\").offset]"), json!([2000000]));
        assert_eq!(fine("\"a-b\" | sub(\"-\"; \"+\")"), json!("a+b"));
        assert_eq!(fine("\"a1b22\" | [splits(\"[0-9]+\")]"), json!(["a", "b", ""]));
        assert_eq!(fine("\"abc\" | test(\"B\"; \"i\")"), json!(true));
    }

    /// Runs `f` on a stack as large as weir gives evaluations (jq recurses on it).
    fn on_big_stack(f: impl FnOnce() + Send) {
        std::thread::scope(|s| {
            let thread = std::thread::Builder::new().stack_size(256 << 20).spawn_scoped(s, f);
            if let Err(panic) = thread.unwrap().join() {
                std::panic::resume_unwind(panic);
            }
        });
    }

    #[test]
    fn loops_stop_when_the_budget_runs_out_and_try_cannot_catch_it() {
        on_big_stack(|| {
            for code in [
                "last(range(1e10))",
                "def f: f; f",
                "[limit(1e12; repeat(1))]",
                "try (def f: f; f) catch 1",
                "[range(100000)] as $a | last($a[] as $x | $a[] | $x)",
                "reduce range(60) as $i (0; [., .]) | last(..)",
                "last(recurse(. + 1))",
                "[while(true; .)] | length",
                "label $out | repeat(1) | empty",
            ] {
                let budget = Budget::steps(100_000);
                let e = eval(code, json!(null), &budget).unwrap_err();
                assert_eq!(budget.interrupted(), Some(Interrupted::OutOfSteps), "{code}: {e}");
                assert!(e.contains("ran out of steps"), "{code}: {e}");
            }
            let budget = Budget::steps(100_000);
            assert_eq!(eval("[range(1000)] | map(. * 2) | add", json!(null), &budget), Ok(json!(999_000)));
            assert_eq!(budget.interrupted(), None);
        });
    }

    #[test]
    fn endless_recursion_stops_at_the_stack_limit_instead_of_overflowing() {
        on_big_stack(|| {
            for code in ["def f: 1 + f; f", "def f: [f]; f", "def f: try f catch f; f"] {
                let budget = Budget::unlimited();
                let e = eval(code, json!(null), &budget).unwrap_err();
                assert_eq!(budget.interrupted(), Some(Interrupted::TooDeep), "{code}: {e}");
                assert!(e.contains("recursed too deeply (past 64 MiB of stack)"), "{code}: {e}");
            }
        });
    }

    #[test]
    fn a_stop_flag_set_from_another_thread_stops_an_evaluation() {
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            let budget = Budget::until(&stop);
            let e = eval("def f: f; f", json!(null), &budget).unwrap_err();
            assert_eq!(budget.interrupted(), Some(Interrupted::Stopped), "{e}");
            assert!(e.contains("was stopped"), "{e}");
        });
    }
}
