//! Durations written the weir way: `250ms`, `5s`, `2m`, `1h`, or combinations such as `1m30s`.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::time::Duration as StdDuration;

/// A span of time, written as a number with a unit: `250ms`, `5s`, `2m`, `1h`, `1m30s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub StdDuration);

/// Why a duration did not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid duration \"{text}\": {reason}")]
pub struct DurationError {
    text: String,
    reason: &'static str,
}

impl Duration {
    pub const fn from_millis(ms: u64) -> Self {
        Self(StdDuration::from_millis(ms))
    }

    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let err = |reason| DurationError { text: text.to_owned(), reason };
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(err("expected a number with a unit such as 250ms, 5s, 2m or 1h"));
        }
        let mut total = StdDuration::ZERO;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
            if digits == 0 {
                return Err(err("expected a number with a unit such as 250ms, 5s, 2m or 1h"));
            }
            let number: f64 = rest[..digits].parse().map_err(|_| err("the number is malformed"))?;
            rest = &rest[digits..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let seconds = match &rest[..unit_len] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                "" => return Err(err("a unit is missing: use ms, s, m or h (e.g. 5s)")),
                _ => return Err(err("unknown unit: use ms, s, m or h")),
            };
            rest = &rest[unit_len..];
            total += StdDuration::try_from_secs_f64(number * seconds).map_err(|_| err("out of range"))?;
        }
        Ok(Self(total))
    }
}

impl fmt::Display for Duration {
    /// The shortest exact spelling: `250ms`, `5s`, `1m30s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        if ms != 0 && (h, m) == (0, 0) {
            return if s == 0 { write!(f, "{ms}ms") } else { write!(f, "{}ms", s * 1000 + ms) };
        }
        for (n, unit) in [(h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a duration looks like, for messages about a value that is not one.
pub const EXPECTED: &str = "a duration string such as \"10s\"";

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(DurationVisitor)
    }
}

/// Reads a duration from a string; anything else is "expected a duration string such as "10s"",
/// not serde's "expected a string".
struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
        Duration::parse(text).map_err(E::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: a number with a unit (ms, s, m, h), e.g. `250ms`, `5s`, `1m30s`.",
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$",
            "examples": ["250ms", "5s", "2m", "1h"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_units() {
        for (text, ms, back) in [
            ("250ms", 250, "250ms"),
            ("5s", 5000, "5s"),
            ("2m", 120_000, "2m"),
            ("1h", 3_600_000, "1h"),
            ("1m30s", 90_000, "1m30s"),
            ("1.5s", 1500, "1500ms"),
        ] {
            let d = Duration::parse(text).unwrap();
            assert_eq!(d.0.as_millis(), ms, "{text}");
            assert_eq!(d.to_string(), back);
        }
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert!(Duration::parse("5").unwrap_err().to_string().contains("unit is missing"));
        assert!(Duration::parse("5 sec").is_err());
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("5d").unwrap_err().to_string().contains("unknown unit"));
    }
}
