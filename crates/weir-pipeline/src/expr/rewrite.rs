//! Puts weir's guards (see `guard`) into a parsed jq program, before it is compiled: the user's
//! expressions and every definition of jq's own library alike, so a loop or a large value is
//! caught whether the user wrote it or a library filter made it.
//!
//! - A definition that calls itself starts with `__weir_tick`, so a recursion takes a step per
//!   call; so do each value of `..` and each item of `.[]`.
//! - `l + r`, `l * r`, `l / r` (and `+=`, `*=`, `/=`) become `__weir_add(l; r)`,
//!   `__weir_mul(l; r)`, `__weir_div(l; r)`, which refuse to build a string or array past the
//!   limits (`/` of strings splits).
//! - `[f]` becomes `__weir_array(f)`, which stops collecting past the item limit.
//! - An interpolated string splices `f | __weir_tostring` (JSON text written only up to the
//!   limit), and the whole string goes through `__weir_sized`.
//!
//! Every rewrite keeps the program's meaning: order of outputs, paths, updates.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::ops::Math;
use jaq_core::path::{Part, Path};

type T<'s> = Term<&'s str>;

fn call<'s>(name: &'s str, args: Vec<T<'s>>) -> T<'s> {
    Term::Call(name, args)
}

fn pipe<'s>(l: T<'s>, r: T<'s>) -> T<'s> {
    Term::BinOp(Box::new(l), BinaryOp::Pipe(None), Box::new(r))
}

fn tick<'s>(t: T<'s>) -> T<'s> {
    pipe(t, call("__weir_tick", Vec::new()))
}

/// A definition with its body guarded; a tick first when it calls itself.
pub(crate) fn def(d: Def<&str>) -> Def<&str> {
    let recursive = calls(&d.body, d.name);
    let body = term(d.body);
    let body = if recursive { pipe(call("__weir_tick", Vec::new()), body) } else { body };
    Def { name: d.name, args: d.args, body }
}

/// A term with its guards.
pub(crate) fn term<'s>(t: T<'s>) -> T<'s> {
    let boxed = |t: Box<T<'s>>| Box::new(term(*t));
    match t {
        Term::Id | Term::Num(_) | Term::Var(_) | Term::Break(_) | Term::Arr(None) => t,
        Term::Recurse => tick(Term::Recurse),
        Term::Str(format, parts) => string(format, parts),
        Term::Arr(Some(f)) => call("__weir_array", vec![term(*f)]),
        Term::Obj(entries) => Term::Obj(entries.into_iter().map(|(k, v)| (term(k), v.map(term))).collect()),
        Term::Neg(t) => Term::Neg(boxed(t)),
        Term::BinOp(l, op, r) => binop(*l, op, *r),
        Term::Label(name, t) => Term::Label(name, boxed(t)),
        Term::Fold(name, xs, pat, args) => {
            Term::Fold(name, boxed(xs), pattern(pat), args.into_iter().map(term).collect())
        }
        Term::TryCatch(t, catch) => Term::TryCatch(boxed(t), catch.map(boxed)),
        Term::IfThenElse(branches, otherwise) => Term::IfThenElse(
            branches.into_iter().map(|(c, t)| (term(c), term(t))).collect(),
            otherwise.map(boxed),
        ),
        Term::Def(defs, t) => Term::Def(defs.into_iter().map(def).collect(), boxed(t)),
        Term::Call(name, args) => Term::Call(name, args.into_iter().map(term).collect()),
        Term::Path(t, path) => self::path(term(*t), path),
    }
}

fn binop<'s>(l: T<'s>, op: BinaryOp<&'s str>, r: T<'s>) -> T<'s> {
    let checked = |op: &Math| match op {
        Math::Add => Some("__weir_add"),
        Math::Mul => Some("__weir_mul"),
        Math::Div => Some("__weir_div"),
        _ => None,
    };
    match op {
        BinaryOp::Math(m) => match checked(&m) {
            Some(f) => call(f, vec![term(l), term(r)]),
            None => Term::BinOp(Box::new(term(l)), BinaryOp::Math(m), Box::new(term(r))),
        },
        // `l += r` is `r as $x | l |= . + $x`.
        BinaryOp::UpdateMath(m) => match checked(&m) {
            Some(f) => {
                let x = "$__weir_x";
                let add = call(f, vec![Term::Id, Term::Var(x)]);
                let update = Term::BinOp(Box::new(term(l)), BinaryOp::Update, Box::new(add));
                Term::BinOp(Box::new(term(r)), BinaryOp::Pipe(Some(Pattern::Var(x))), Box::new(update))
            }
            None => Term::BinOp(Box::new(term(l)), BinaryOp::UpdateMath(m), Box::new(term(r))),
        },
        BinaryOp::Pipe(Some(pat)) => {
            Term::BinOp(Box::new(term(l)), BinaryOp::Pipe(Some(pattern(pat))), Box::new(term(r)))
        }
        op => Term::BinOp(Box::new(term(l)), op, Box::new(term(r))),
    }
}

fn string<'s>(format: Option<&'s str>, parts: Vec<StrPart<&'s str, T<'s>>>) -> T<'s> {
    let interpolated = parts.iter().any(|p| matches!(p, StrPart::Term(_)));
    let parts = parts
        .into_iter()
        .map(|p| match p {
            // With a format (`@json "\(.)"`) the format turns each part into text.
            StrPart::Term(t) if format.is_none() => {
                StrPart::Term(pipe(term(t), call("__weir_tostring", Vec::new())))
            }
            StrPart::Term(t) => StrPart::Term(term(t)),
            other => other,
        })
        .collect();
    let s = Term::Str(format, parts);
    if interpolated || format.is_some() { pipe(s, call("__weir_sized", Vec::new())) } else { s }
}

/// A path whose iterations (`.[]`) each take a step: `.a[].b` becomes `(.a[] | tick).b`.
fn path<'s>(head: T<'s>, path: Path<T<'s>>) -> T<'s> {
    let mut head = head;
    let mut parts = Vec::new();
    for (part, opt) in path.0 {
        let iterates = matches!(part, Part::Range(None, None));
        parts.push((
            match part {
                Part::Index(i) => Part::Index(term(i)),
                Part::Range(from, to) => Part::Range(from.map(term), to.map(term)),
            },
            opt,
        ));
        if iterates {
            head = tick(Term::Path(Box::new(head), Path(std::mem::take(&mut parts))));
        }
    }
    if parts.is_empty() { head } else { Term::Path(Box::new(head), Path(parts)) }
}

fn pattern(p: Pattern<&str>) -> Pattern<&str> {
    match p {
        Pattern::Var(_) => p,
        Pattern::Arr(ps) => Pattern::Arr(ps.into_iter().map(pattern).collect()),
        Pattern::Obj(entries) => {
            Pattern::Obj(entries.into_iter().map(|(k, p)| (term(k), pattern(p))).collect())
        }
    }
}

/// Whether `t` calls a filter named `name` (of any arity, anywhere inside): an over-estimate of
/// recursion that is enough, since a jq filter can only recur through its own name.
fn calls(t: &T<'_>, name: &str) -> bool {
    let any = |ts: &[T<'_>]| ts.iter().any(|t| calls(t, name));
    match t {
        Term::Call(n, args) => *n == name || any(args),
        Term::Id | Term::Recurse | Term::Num(_) | Term::Var(_) | Term::Break(_) | Term::Arr(None) => false,
        Term::Str(_, parts) => parts.iter().any(|p| matches!(p, StrPart::Term(t) if calls(t, name))),
        Term::Arr(Some(t)) | Term::Neg(t) | Term::Label(_, t) => calls(t, name),
        Term::Obj(entries) => {
            entries.iter().any(|(k, v)| calls(k, name) || v.as_ref().is_some_and(|v| calls(v, name)))
        }
        Term::BinOp(l, op, r) => {
            calls(l, name)
                || calls(r, name)
                || matches!(op, BinaryOp::Pipe(Some(p)) if pattern_calls(p, name))
        }
        Term::Fold(_, xs, pat, args) => calls(xs, name) || pattern_calls(pat, name) || any(args),
        Term::TryCatch(t, c) => calls(t, name) || c.as_ref().is_some_and(|c| calls(c, name)),
        Term::IfThenElse(branches, otherwise) => {
            branches.iter().any(|(c, t)| calls(c, name) || calls(t, name))
                || otherwise.as_ref().is_some_and(|t| calls(t, name))
        }
        Term::Def(defs, t) => defs.iter().any(|d| calls(&d.body, name)) || calls(t, name),
        Term::Path(t, path) => {
            calls(t, name)
                || path.0.iter().any(|(part, _)| match part {
                    Part::Index(i) => calls(i, name),
                    Part::Range(from, to) => {
                        from.as_ref().is_some_and(|t| calls(t, name))
                            || to.as_ref().is_some_and(|t| calls(t, name))
                    }
                })
        }
    }
}

fn pattern_calls(p: &Pattern<&str>, name: &str) -> bool {
    match p {
        Pattern::Var(_) => false,
        Pattern::Arr(ps) => ps.iter().any(|p| pattern_calls(p, name)),
        Pattern::Obj(entries) => entries.iter().any(|(k, p)| calls(k, name) || pattern_calls(p, name)),
    }
}
