//! What keeps an expression from running forever or filling memory: a [`Budget`] that every
//! loop of an evaluation draws on (and that whoever waits for it can stop), and limits on the
//! strings and arrays an expression builds, checked before they are built where jq allows it.
//!
//! jq gives weir no hook into its evaluation loop, so weir puts its own filters into every
//! program it compiles (see `rewrite`): `__weir_tick` where a loop can turn (a definition that
//! calls itself, each value of `range`, `..` and `.[]`), and checked versions of the operators
//! and filters that can build large values from small ones (`+`, `*`, `/` of strings, `[…]`,
//! interpolation, `tojson`, `explode`, the regular expression filters). They reach the budget through the evaluation's global data ([`Data`]).

use super::log::Log;
use jaq_core::box_iter::box_once;
use jaq_core::data::{DataT, HasLut};
use jaq_core::native::{Fun, v};
use jaq_core::{Bind, Ctx, Error, Exn, Native, ValXs};
use jaq_json::{Num, Val};
use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// How many matches a regular expression filter may give on one string (each is an object of
/// several fields); counted before the matches are built, on strings longer than a match each
/// for a mebibyte.
pub const MAX_MATCHES: usize = 1 << 20;

/// The longest string an expression may build: 64 MiB.
pub const MAX_STRING_BYTES: usize = 64 << 20;
/// The most items an array (or entries an object) built by an expression may have.
pub const MAX_ITEMS: usize = 10_000_000;

/// How much stack an evaluation may use. jq recurses on the stack for every call that is not in
/// tail position, so an endless recursion would overflow the stack and abort the process; weir
/// stops it at this depth instead. Evaluations must run on a thread with more stack than this
/// (weir runs them on 256 MiB).
pub const MAX_STACK: usize = 64 << 20;

/// How much stack an evaluation within [`Budget::steps`] may use: little enough for any thread
/// (a tokio worker has 2 MiB). One that needs more is interrupted as [`Interrupted::TooDeep`],
/// and can start over on a thread with more stack.
pub const SMALL_STACK: usize = 512 << 10;

/// Why an evaluation ended before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// It used up the steps its [`Budget::steps`] allowed.
    OutOfSteps,
    /// Its [`Budget::until`] flag was set.
    Stopped,
    /// It recursed past [`MAX_STACK`] ([`SMALL_STACK`] within [`Budget::steps`]).
    TooDeep,
}

/// How far one evaluation may go. Every turn of a loop in it takes a step; once the steps run
/// out or the stop flag is set, the evaluation halts (in a way `try` cannot catch) and
/// [`Budget::interrupted`] says why.
#[derive(Debug)]
pub struct Budget<'a> {
    steps: Cell<u64>,
    stop: Option<&'a AtomicBool>,
    interrupted: Cell<Option<Interrupted>>,
    /// How much stack the evaluation may use.
    stack: usize,
    /// The address of a local in the frame the evaluation started from: how deep the stack is
    /// now is the distance to a local of the current frame.
    base: Cell<usize>,
}

impl<'a> Budget<'a> {
    fn new(steps: u64, stop: Option<&'a AtomicBool>, stack: usize) -> Self {
        Self { steps: Cell::new(steps), stop, interrupted: Cell::new(None), stack, base: Cell::new(0) }
    }

    /// At most `steps` turns of its loops and [`SMALL_STACK`] of stack: safe on any thread.
    pub fn steps(steps: u64) -> Self {
        Self::new(steps, None, SMALL_STACK)
    }

    /// As many steps as it takes, until `stop` is set (from any thread). Needs a thread with
    /// more than [`MAX_STACK`] of stack.
    pub fn until(stop: &'a AtomicBool) -> Self {
        Self::new(u64::MAX, Some(stop), MAX_STACK)
    }

    /// No limit but [`MAX_STACK`]: for evaluations whose input and program are the caller's own,
    /// on a thread with more stack than that.
    pub fn unlimited() -> Self {
        Self::new(u64::MAX, None, MAX_STACK)
    }

    /// How much stack the evaluation may use, as a message says it.
    pub(crate) fn stack(&self) -> String {
        match self.stack >> 20 {
            0 => format!("{} KiB", self.stack >> 10),
            mib => format!("{mib} MiB"),
        }
    }

    /// Why the evaluation was interrupted, if it was.
    pub fn interrupted(&self) -> Option<Interrupted> {
        self.interrupted.get()
    }

    /// Marks the stack depth an evaluation starts at.
    pub(crate) fn enter(&self) {
        let here = 0u8;
        self.base.set(std::ptr::addr_of!(here) as usize);
    }

    /// Takes one step; false once the evaluation must stop (and from then on).
    fn tick(&self) -> bool {
        if self.interrupted.get().is_some() {
            return false;
        }
        let here = 0u8;
        let depth = self.base.get().abs_diff(std::ptr::addr_of!(here) as usize);
        let why = match self.steps.get() {
            0 => Some(Interrupted::OutOfSteps),
            _ if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) => Some(Interrupted::Stopped),
            _ if depth > self.stack => Some(Interrupted::TooDeep),
            n => {
                self.steps.set(n - 1);
                None
            }
        };
        self.interrupted.set(why);
        why.is_none()
    }
}

/// The kind of data weir's programs run on: jq values, with the budget as global data.
pub(crate) struct Weir;

impl DataT for Weir {
    type V<'a> = Val;
    type Data<'a> = Data<'a>;
}

/// The global data of one evaluation.
#[derive(Clone, Copy)]
pub(crate) struct Data<'a> {
    pub lut: &'a jaq_core::Lut<Weir>,
    pub budget: &'a Budget<'a>,
    /// Where `debug`, `stderr` and `halt_error` say what they say.
    pub log: &'a Log,
}

impl<'a> HasLut<'a, Weir> for Data<'a> {
    fn lut(&self) -> &'a jaq_core::Lut<Weir> {
        self.lut
    }
}

type Out<'a, T = Val> = ValXs<'a, T, Val>;

/// Stops the evaluation; `try` does not catch a halt.
fn stopped<'a, T: 'a>() -> Out<'a, T> {
    box_once(Err(Exn::halt(0)))
}

fn ticks(cx: &Ctx<'_, Weir>) -> bool {
    cx.data().budget.tick()
}

fn too_big<'a, T: 'a>(message: String) -> Out<'a, T> {
    box_once(Err(Exn::from(Error::str(message))))
}

fn string_too_long(bytes: u128) -> String {
    format!("the expression built a string of {bytes} bytes; the limit is {} MiB", MAX_STRING_BYTES >> 20)
}

fn too_many_items(what: &str, items: usize) -> String {
    format!("the expression built {what} of {items} items; the limit is {MAX_ITEMS}")
}

/// weir's own filters; jq's `tojson` in a version that stops at the string limit; and the
/// natives of jq's `debug`, `stderr` and `halt_error`, which say what they say to the
/// evaluation's [`Log`] instead of the process's standard error.
pub(crate) fn funs() -> impl Iterator<Item = Fun<Weir>> {
    let tick = Native::new(|cv| if ticks(&cv.0) { box_once(Ok(cv.1)) } else { stopped() })
        .with_paths(|cv| if ticks(&cv.0) { box_once(Ok(cv.1)) } else { stopped() })
        .with_update(|cv, f| if ticks(&cv.0) { f(cv.1) } else { stopped() });
    let array: Box<[Bind]> = Box::new([Bind::Fun(())]);
    [
        ("__weir_tick", v(0), tick),
        ("__weir_add", v(2), Native::new(|mut cv| binary(&mut cv.0, add))),
        ("__weir_mul", v(2), Native::new(|mut cv| binary(&mut cv.0, mul))),
        ("__weir_div", v(2), Native::new(|mut cv| binary(&mut cv.0, div))),
        ("__weir_explode_bound", v(0), Native::new(|cv| box_once(explode_bound(cv.1).map_err(Exn::from)))),
        (
            "__weir_regex_bound",
            v(2),
            Native::new(|mut cv| {
                let flags = cv.0.pop_var();
                let re = cv.0.pop_var();
                box_once(regex_bound(cv.1, &re, &flags).map_err(Exn::from))
            }),
        ),
        ("__weir_array", array, Native::new(|cv| collect(cv))),
        ("__weir_tostring", v(0), Native::new(|cv| box_once(to_text(cv.1).map_err(Exn::from)))),
        ("__weir_sized", v(0), Native::new(|cv| sized(cv.1))),
        (
            "tojson",
            v(0),
            Native::new(|cv| box_once(to_json_text(&cv.1).map(Val::utf8_str).map_err(Exn::from))),
        ),
        ("debug_empty", v(0), Native::new(|cv| says(cv, Log::debug))),
        ("stderr_empty", v(0), Native::new(|cv| says(cv, Log::stderr))),
        ("__weir_halt_message", v(0), Native::new(|cv| says(cv, Log::halt))),
    ]
    .into_iter()
}

/// Gives the input to `say` in the evaluation's log, and no value.
fn says<'a>(cv: jaq_core::Cv<'a, Weir>, say: fn(&Log, &Val)) -> Out<'a> {
    say(cv.0.data().log, &cv.1);
    Box::new(core::iter::empty())
}

/// The two variables `$l; $r` of a binary filter, through `op`.
fn binary<'a>(cx: &mut Ctx<'a, Weir>, op: fn(Val, Val) -> Result<Val, Error<Val>>) -> Out<'a> {
    let r = cx.pop_var();
    let l = cx.pop_var();
    box_once(op(l, r).map_err(Exn::from))
}

/// `l + r`, refused when it would concatenate past the limits.
fn add(l: Val, r: Val) -> Result<Val, Error<Val>> {
    match (&l, &r) {
        (Val::TStr(a) | Val::BStr(a), Val::TStr(b) | Val::BStr(b)) => {
            let bytes = a.len() + b.len();
            if bytes > MAX_STRING_BYTES {
                return Err(Error::str(string_too_long(bytes as u128)));
            }
        }
        (Val::Arr(a), Val::Arr(b)) if a.len() + b.len() > MAX_ITEMS => {
            return Err(Error::str(too_many_items("an array", a.len() + b.len())));
        }
        (Val::Obj(a), Val::Obj(b)) if a.len() + b.len() > MAX_ITEMS => {
            return Err(Error::str(too_many_items("an object", a.len() + b.len())));
        }
        _ => {}
    }
    l + r
}

/// `l * r`, refused when it would repeat a string past the limit.
fn mul(l: Val, r: Val) -> Result<Val, Error<Val>> {
    let repeated = match (&l, &r) {
        (Val::TStr(s) | Val::BStr(s), Val::Num(n)) | (Val::Num(n), Val::TStr(s) | Val::BStr(s)) => {
            Some((s.len(), n))
        }
        _ => None,
    };
    if let Some((len, n)) = repeated {
        let times = match n {
            Num::Int(i) => *i as i128,
            Num::BigInt(_) => n.to_string().parse::<i128>().unwrap_or(i128::MAX),
            _ => 0,
        };
        let bytes = (len as u128).saturating_mul(times.max(0) as u128);
        if bytes > MAX_STRING_BYTES as u128 {
            return Err(Error::str(string_too_long(bytes)));
        }
    }
    l * r
}

/// `l / r`, refused when it would split a string into more than [`MAX_ITEMS`] pieces.
fn div(l: Val, r: Val) -> Result<Val, Error<Val>> {
    use bstr::ByteSlice;
    if let (Val::TStr(s) | Val::BStr(s), Val::TStr(sep) | Val::BStr(sep)) = (&l, &r) {
        let pieces = if sep.is_empty() {
            ByteSlice::chars(&***s).count()
        } else {
            s.split_str(&***sep).take(MAX_ITEMS + 1).count()
        };
        if pieces > MAX_ITEMS {
            return Err(Error::str(format!(
                "the expression would split a string into more than {MAX_ITEMS} pieces; the limit is {MAX_ITEMS}"
            )));
        }
    }
    l / r
}

/// Its input, unless it is a string of more than [`MAX_ITEMS`] characters (`explode` would make
/// a number of each).
fn explode_bound(input: Val) -> Result<Val, Error<Val>> {
    if let Val::TStr(s) | Val::BStr(s) = &input {
        let chars = bstr::ByteSlice::chars(&***s).count();
        if chars > MAX_ITEMS {
            return Err(Error::str(format!(
                "explode would build an array of {chars} items; the limit is {MAX_ITEMS}"
            )));
        }
    }
    Ok(input)
}

/// Its input, when regular expression `re` with `flags` matches it at most [`MAX_MATCHES`]
/// times; a string shorter than that many bytes has fewer matches and is not searched. A
/// regular expression or flags that do not compile pass too: the filter reports them.
fn regex_bound(input: Val, re: &Val, flags: &Val) -> Result<Val, Error<Val>> {
    let (Val::TStr(s) | Val::BStr(s), Val::TStr(re), Val::TStr(flags)) = (&input, re, flags) else {
        return Ok(input);
    };
    if s.len() <= MAX_MATCHES {
        return Ok(input);
    }
    let (Ok(re), Ok(flags)) = (std::str::from_utf8(re), std::str::from_utf8(flags)) else {
        return Ok(input);
    };
    let mut builder = regex_bites::bytes::RegexBuilder::new(re);
    builder
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains(['m', 'p']))
        .dot_matches_new_line(flags.contains(['s', 'p']))
        .swap_greed(flags.contains('l'))
        .ignore_whitespace(flags.contains('x'));
    let Ok(regex) = builder.build() else { return Ok(input) };
    let skip_empty = flags.contains('n');
    let matches = regex.find_iter(s).filter(|m| !(skip_empty && m.is_empty())).take(MAX_MATCHES + 1).count();
    if matches > MAX_MATCHES {
        return Err(Error::str(format!(
            "the regular expression matches more than {MAX_MATCHES} times in a string of {} bytes; the limit is {MAX_MATCHES}",
            s.len()
        )));
    }
    Ok(input)
}

/// `[f]`, refused once `f` gives more than [`MAX_ITEMS`] values.
fn collect<'a>(mut cv: jaq_core::Cv<'a, Weir>) -> Out<'a> {
    let (f, cx) = cv.0.pop_fun();
    let mut items = Vec::new();
    for item in f.run((cx, cv.1)) {
        match item {
            Ok(v) if items.len() < MAX_ITEMS => items.push(v),
            Ok(_) => return too_big(format!("the expression built an array of more than {MAX_ITEMS} items")),
            Err(e) => return box_once(Err(e)),
        }
    }
    box_once(Ok(items.into_iter().collect()))
}

/// A string built by interpolation, refused past the limit (it is already built, but from parts
/// that were each within it).
fn sized<'a>(v: Val) -> Out<'a> {
    match &v {
        Val::TStr(s) | Val::BStr(s) if s.len() > MAX_STRING_BYTES => {
            too_big(string_too_long(s.len() as u128))
        }
        _ => box_once(Ok(v)),
    }
}

/// A value as interpolation splices it: strings as they are, others as JSON.
fn to_text(v: Val) -> Result<Val, Error<Val>> {
    match v {
        Val::TStr(_) | Val::BStr(_) => Ok(v),
        other => to_json_text(&other).map(Val::utf8_str),
    }
}

/// A value as JSON text, written only up to [`MAX_STRING_BYTES`]: a value whose parts are shared
/// can be small in memory and enormous as text.
fn to_json_text(v: &Val) -> Result<Vec<u8>, Error<Val>> {
    let mut out = Capped::new(MAX_STRING_BYTES);
    match write!(out, "{v}") {
        Ok(()) => Ok(out.text.into_bytes()),
        Err(_) => Err(Error::str(format!(
            "the expression built a string of more than {} MiB (the limit) as JSON text",
            MAX_STRING_BYTES >> 20
        ))),
    }
}

/// A string that refuses to grow past a limit.
pub(crate) struct Capped {
    text: String,
    limit: usize,
}

impl Capped {
    pub(crate) fn new(limit: usize) -> Self {
        Self { text: String::new(), limit }
    }

    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    pub(crate) fn into_string(self) -> String {
        self.text
    }
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len() + s.len() > self.limit {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}
