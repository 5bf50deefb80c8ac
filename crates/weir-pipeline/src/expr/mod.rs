//! jq expressions: parsing with positions, static analysis of `.steps.X` reads, compilation of all
//! of a pipeline's expressions into one program, evaluation, and conversion between JSON values
//! and jq values.
//!
//! Compiling jq's standard library costs about half a millisecond, so a pipeline's expressions are
//! compiled together, once: each becomes a definition `__weir_N`, and the main filter dispatches on
//! the global variable `$__weir` with a balanced tree of comparisons (log2 N of them per call).

use jaq_core::load::lex::{Lexer, StrPart, Tok, Token};
use jaq_core::load::parse::Parser;
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{Ctx, Vars, data};
use jaq_json::{Num, Val};
use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

mod reads;

pub(crate) use reads::{Reads, StepRef, Unproven};

type Filter = jaq_core::Filter<data::JustLut<Val>>;

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
        }
    })?;
    if let Some(name) = reserved(&tokens) {
        let span = load::span(code, name);
        return Err(ExprError {
            message: format!("`{name}` is reserved: names starting with `__weir` are weir's own"),
            offset: span.start,
            len: span.len(),
            hint: None,
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
        let (source, starts) = self.source();
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
        let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
        let arena = Arena::default();
        let file = File { code: source.as_str(), path: () };
        let modules = Loader::new(defs).load(&arena, file).map_err(|errs| {
            // Each expression parsed on its own, so this only happens for constructs valid alone
            // but not inside a definition; report them against the first expression.
            let error =
                ExprError { message: "expression does not parse".into(), offset: 0, len: 0, hint: None };
            errs.into_iter().map(|_| (ProgramId(0), error.clone())).collect::<Vec<_>>()
        })?;
        let compiler =
            jaq_core::Compiler::default().with_funs(funs).with_global_vars([DISPATCH_VAR, ENV_VAR]);
        let filter = compiler.compile(modules).map_err(|errs| {
            let undefined = errs.into_iter().flat_map(|(_, errs)| errs);
            undefined.map(|(name, what)| undefined_error(&source, &starts, name, what)).collect::<Vec<_>>()
        })?;
        Ok(Programs { filter, codes: self.codes })
    }

    /// The combined program: one definition per expression, then the dispatch tree. Also returns
    /// where each expression's text starts, to map compile errors back to it.
    fn source(&self) -> (String, Vec<usize>) {
        // `env` is the run's allowed variables, not the process environment.
        let mut source = format!("def env: {ENV_VAR};\n");
        let mut starts = Vec::with_capacity(self.codes.len());
        for (i, code) in self.codes.iter().enumerate() {
            // Newlines keep a trailing `# comment` in user code from swallowing the closing paren.
            let _ = writeln!(source, "def __weir_{i}: (");
            starts.push(source.len());
            source.push_str(code);
            source.push_str("\n);\n");
        }
        dispatch(&mut source, 0, self.codes.len());
        (source, starts)
    }
}

/// An undefined filter or variable, reported against the expression that names it.
fn undefined_error(
    source: &str,
    starts: &[usize],
    name: &str,
    what: jaq_core::compile::Undefined,
) -> (ProgramId, ExprError) {
    let span = load::span(source, name);
    let i = starts.partition_point(|&s| s <= span.start).saturating_sub(1);
    let offset = span.start.saturating_sub(starts.get(i).copied().unwrap_or(0));
    let (message, hint) = match what {
        jaq_core::compile::Undefined::Filter(arity) => {
            let hint = crate::suggest::closest(name, library_filters(arity).iter().copied())
                .map(|f| format!("did you mean `{f}`?"));
            (format!("undefined filter `{name}/{arity}`"), hint)
        }
        other => (format!("undefined {} `{name}`", other.as_str()), None),
    };
    (ProgramId(i as u32), ExprError { message, offset, len: span.len(), hint })
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

/// Writes a balanced `if $__weir < mid then … else … end` tree selecting `__weir_lo .. __weir_hi`.
fn dispatch(out: &mut String, lo: usize, hi: usize) {
    match hi - lo {
        0 => out.push('.'),
        1 => {
            let _ = write!(out, "__weir_{lo}");
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
    /// variables the run allows), and returns its single value.
    pub fn eval_one(&self, id: ProgramId, input: Val, env: &Val) -> Result<Val, EvalError> {
        self.eval_inner(id, input, env).map_err(|e| EvalError(format!("`{}`: {}", self.shown(id), e.0)))
    }

    /// Runs expression `id` and converts its value to JSON (see [`to_json`]).
    pub fn eval_json(&self, id: ProgramId, input: Val, env: &Val) -> Result<Value, EvalError> {
        self.eval_inner(id, input, env)
            .and_then(|v| to_json(&v))
            .map_err(|e| EvalError(format!("`{}`: {}", self.shown(id), e.0)))
    }

    /// Runs expression `id` and gives its value as interpolation splices it (see [`to_text`]).
    pub(crate) fn eval_text(&self, id: ProgramId, input: Val, env: &Val) -> Result<String, EvalError> {
        self.eval_inner(id, input, env)
            .and_then(|v| to_text(&v))
            .map_err(|e| EvalError(format!("`{}`: {}", self.shown(id), e.0)))
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

    fn eval_inner(&self, id: ProgramId, input: Val, env: &Val) -> Result<Val, EvalError> {
        let mut outputs = self.run(id, input, env);
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

    fn run(&self, id: ProgramId, input: Val, env: &Val) -> impl Iterator<Item = Result<Val, EvalError>> + '_ {
        debug_assert!((id.0 as usize) < self.codes.len());
        let ctx = Ctx::<data::JustLut<Val>>::new(
            &self.filter.lut,
            Vars::new([Val::from(id.0 as isize), env.clone()]),
        );
        self.filter.id.run((ctx, input)).map(|r| {
            r.map_err(|exn| match exn.get_err() {
                Ok(err) => EvalError(err.to_string()),
                Err(_) => EvalError("the expression called halt".into()),
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
            let out = p.eval_one(ProgramId(i), to_val(&json!({"x": 100})), &Val::Null).unwrap();
            assert_eq!(to_json(&out).unwrap(), json!(100 + i));
        }
    }

    #[test]
    fn comments_in_user_code_do_not_break_compilation() {
        let p = compile(&[".a # the a field", "[.b] # trailing"]);
        assert_eq!(p.eval_json(ProgramId(1), to_val(&json!({"b": 2})), &Val::Null).unwrap(), json!([2]));
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
    fn reports_zero_or_many_values_and_runtime_errors() {
        let p = compile(&["empty", ".[]", "1 + \"a\"", "halt"]);
        assert!(p.eval_one(ProgramId(0), Val::Null, &Val::Null).unwrap_err().0.contains("no value"));
        assert!(
            p.eval_one(ProgramId(1), to_val(&json!([1, 2])), &Val::Null)
                .unwrap_err()
                .0
                .contains("more than one")
        );
        assert!(p.eval_one(ProgramId(2), Val::Null, &Val::Null).is_err());
        assert!(p.eval_one(ProgramId(3), Val::Null, &Val::Null).unwrap_err().0.contains("halt"));
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
        assert_eq!(p.eval_json(ProgramId(0), Val::Null, &env).unwrap(), json!({"TOKEN": "t0k"}));
        assert_eq!(p.eval_json(ProgramId(1), Val::Null, &env).unwrap(), json!("t0k"));
        assert_eq!(p.eval_json(ProgramId(2), Val::Null, &env).unwrap(), json!(null));
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
        let refused = |i: u32| p.eval_json(ProgramId(i), Val::Null, &Val::Null).unwrap_err().0;
        assert!(refused(0).contains("an object key must be a string, found 0"), "{}", refused(0));
        assert!(refused(1).contains("NaN"), "{}", refused(1));
        assert!(refused(2).contains("infinite"), "{}", refused(2));
        assert!(refused(3).contains("99999999999999999999990"), "{}", refused(3));
        assert!(refused(1).starts_with("`nan`: "), "the message names the expression: {}", refused(1));
        assert_eq!(p.eval_json(ProgramId(4), Val::Null, &Val::Null).unwrap(), json!(0.75));
        // jq itself recurses on deep values (to drop them), so this runs on a large stack, as the
        // binary does.
        let deep = std::thread::Builder::new().stack_size(256 << 20).spawn(|| {
            let deep = compile(&["reduce range(5000) as $i (null; [.])"]);
            deep.eval_json(ProgramId(0), Val::Null, &Val::Null).unwrap_err().0
        });
        let err = deep.unwrap().join().unwrap();
        assert!(err.contains("nested deeper than 4096 levels"), "{err}");
    }
}
