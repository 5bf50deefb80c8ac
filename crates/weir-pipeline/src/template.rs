//! `${{ jq }}` interpolation in `with` strings.
//!
//! A string that is exactly one `${{ … }}` gives the expression's typed JSON value; expressions
//! embedded in other text are spliced in as text (strings bare, other values as JSON). `$${{`
//! writes a literal `${{`.

use crate::code::Code;
use crate::expr::{ExprError, ProgramId};
use serde_json::Value;

/// A piece of a string: literal text or an expression (with its byte offset in the string).
#[derive(Debug, PartialEq)]
pub enum Piece<'s> {
    Text(String),
    Expr { code: &'s str, offset: usize },
}

/// Splits a string into text and `${{ … }}` expressions.
pub fn split(s: &str) -> Result<Vec<Piece<'_>>, ExprError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = 0;
    while let Some(found) = s[rest..].find("${{") {
        let at = rest + found;
        if at > 0 && s.as_bytes()[at - 1] == b'$' {
            text.push_str(&s[rest..at - 1]);
            text.push_str("${{");
            rest = at + 3;
            continue;
        }
        text.push_str(&s[rest..at]);
        let start = at + 3;
        let end = closing(s, start).ok_or_else(|| ExprError {
            message: "`${{` is never closed with `}}`".into(),
            offset: at,
            len: 3,
            hint: None,
            code: Code::ExprSyntax,
        })?;
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        let code = &s[start..end];
        let trimmed = code.trim_start();
        let lead = code.len() - trimmed.len();
        let code = trimmed.trim_end();
        if code.is_empty() {
            return Err(ExprError {
                message: "empty expression `${{ }}`".into(),
                offset: at,
                len: end + 2 - at,
                hint: None,
                code: Code::ExprSyntax,
            });
        }
        pieces.push(Piece::Expr { code, offset: start + lead });
        rest = end + 2;
    }
    text.push_str(&s[rest..]);
    if !text.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// The offset of the `}}` that closes an expression starting at `from`, skipping braces and
/// quotes that belong to the jq code itself.
fn closing(s: &str, from: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let (mut depth, mut i, mut in_string) = (0usize, from, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'{' if !in_string => depth += 1,
            b'}' if !in_string && depth > 0 => depth -= 1,
            b'}' if !in_string && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A `with` value with its expressions compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum Template {
    /// A value without expressions.
    Lit(Value),
    /// A string that is exactly one expression: its typed value.
    Expr(ProgramId),
    /// Text with embedded expressions.
    Concat(Vec<Part>),
    Arr(Vec<Template>),
    Obj(Vec<(String, Template)>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(String),
    Expr(ProgramId),
}

impl Template {
    pub fn is_static(&self) -> bool {
        matches!(self, Template::Lit(_))
    }

    /// Collapses containers whose children are all literals into one literal.
    pub fn arr(items: Vec<Template>) -> Template {
        if items.iter().all(Template::is_static) {
            Template::Lit(Value::Array(items.into_iter().map(Template::into_lit).collect()))
        } else {
            Template::Arr(items)
        }
    }

    pub fn obj(entries: Vec<(String, Template)>) -> Template {
        if entries.iter().all(|(_, t)| t.is_static()) {
            Template::Lit(Value::Object(entries.into_iter().map(|(k, t)| (k, t.into_lit())).collect()))
        } else {
            Template::Obj(entries)
        }
    }

    fn into_lit(self) -> Value {
        match self {
            Template::Lit(v) => v,
            _ => Value::Null,
        }
    }
}

impl Template {
    /// Evaluates the template's expressions against `ctx` (a jq value of the run context), all of
    /// them within `budget`, with what `debug` and `stderr` say going to `log`. An error names the key it happened at, e.g. "`with.url`:
    /// `.input.x | …`: cannot …".
    /// `env` is the run's allowed environment variables (`$ENV`).
    pub fn render(
        &self,
        programs: &crate::expr::Programs,
        ctx: &jaq_json::Val,
        env: &jaq_json::Val,
        budget: &crate::expr::Budget,
        log: &crate::expr::Log,
    ) -> Result<Value, crate::expr::EvalError> {
        self.render_at(programs, ctx, env, budget, log, "with")
    }

    fn render_at(
        &self,
        programs: &crate::expr::Programs,
        ctx: &jaq_json::Val,
        env: &jaq_json::Val,
        budget: &crate::expr::Budget,
        log: &crate::expr::Log,
        at: &str,
    ) -> Result<Value, crate::expr::EvalError> {
        use crate::expr::EvalError;
        let named = |e: EvalError| EvalError(format!("`{at}`: {}", e.0));
        Ok(match self {
            Template::Lit(v) => v.clone(),
            Template::Expr(id) => programs.eval_json(*id, ctx.clone(), env, budget, log).map_err(named)?,
            Template::Concat(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => text.push_str(t),
                        Part::Expr(id) => text.push_str(
                            &programs.eval_text(*id, ctx.clone(), env, budget, log).map_err(named)?,
                        ),
                    }
                }
                Value::String(text)
            }
            Template::Arr(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, t)| t.render_at(programs, ctx, env, budget, log, &format!("{at}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Obj(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, t)| {
                        Ok((k.clone(), t.render_at(programs, ctx, env, budget, log, &format!("{at}.{k}"))?))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_expressions() {
        assert_eq!(
            split("https://x.test/${{ .input.order }}/y").unwrap(),
            vec![
                Piece::Text("https://x.test/".into()),
                Piece::Expr { code: ".input.order", offset: 19 },
                Piece::Text("/y".into())
            ]
        );
        assert_eq!(
            split("${{ {a: {b: 1}} }}").unwrap(),
            vec![Piece::Expr { code: "{a: {b: 1}}", offset: 4 }]
        );
        assert_eq!(split("${{ \"}}\" }}").unwrap(), vec![Piece::Expr { code: "\"}}\"", offset: 4 }]);
    }

    #[test]
    fn escapes_and_errors() {
        assert_eq!(split("cost: $${{ x }}").unwrap(), vec![Piece::Text("cost: ${{ x }}".into())]);
        assert!(split("a ${{ .x").unwrap_err().message.contains("never closed"));
        assert!(split("${{   }}").unwrap_err().message.contains("empty"));
    }
}
