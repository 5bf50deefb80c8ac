//! Cron expressions, as schedules are written: five fields (`minute hour day-of-month month
//! day-of-week`) or a macro (`@hourly`, `@daily`, …), read in UTC.
//!
//! A field is a comma-separated list of `*`, `N`, `N-M`, each optionally stepped (`*/15`,
//! `10-40/10`, `5/20` for 5 to the end by 20); months and days of the week may be named (`jan`,
//! `mon-fri`), and Sunday is 0 or 7. As in Vixie cron, when both day fields are restricted a day
//! matching either fires (`0 9 1 * mon` is the 1st and every Monday); a field that starts with `*`
//! is unrestricted for this rule.

use std::fmt;

const MINUTE_MS: i64 = 60_000;
const DAY_MINUTES: i64 = 24 * 60;

/// How far ahead [`Cron::next_after`] looks: long enough for a 29 February on a given weekday.
const HORIZON_DAYS: i64 = 28 * 366;

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether the day of the month, and the day of the week, were restricted (see the module).
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// Why a cron expression does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression \"{text}\": {problem}")]
pub struct CronError {
    text: String,
    problem: String,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field { name: "minute", min: 0, max: 59, names: &[] },
    Field { name: "hour", min: 0, max: 23, names: &[] },
    Field { name: "day of the month", min: 1, max: 31, names: &[] },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    },
    Field {
        name: "day of the week",
        min: 0,
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

impl Cron {
    /// Parses `text`; an expression that can never fire (`0 0 30 2 *`) is refused too.
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let fail = |problem: String| CronError { text: text.to_owned(), problem };
        let trimmed = text.trim();
        let expanded = if trimmed.starts_with('@') {
            MACROS.iter().find(|(name, _)| name.eq_ignore_ascii_case(trimmed)).map(|(_, e)| *e).ok_or_else(
                || {
                    let known: Vec<&str> = MACROS.iter().map(|(name, _)| *name).collect();
                    fail(format!("unknown macro {trimmed}; expected one of {}", known.join(", ")))
                },
            )?
        } else {
            trimmed
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != FIELDS.len() {
            return Err(fail(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                parts.len()
            )));
        }
        let mut sets = [0u64; 5];
        for (i, (part, field)) in parts.iter().zip(&FIELDS).enumerate() {
            sets[i] = parse_field(part, field)
                .map_err(|problem| fail(format!("field {} ({}) \"{part}\": {problem}", i + 1, field.name)))?;
        }
        // Sunday is 0 and 7.
        let weekdays = (sets[4] | (sets[4] >> 7)) & 0x7f;
        let cron = Cron {
            text: trimmed.to_owned(),
            minutes: sets[0],
            hours: sets[1],
            days: sets[2],
            months: sets[3],
            weekdays,
            days_restricted: !parts[2].starts_with('*'),
            weekdays_restricted: !parts[4].starts_with('*'),
        };
        if cron.next_after(0).is_none() {
            return Err(fail("no date matches it, so it never fires".into()));
        }
        Ok(cron)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first minute strictly after `after_ms` (milliseconds since the Unix epoch) that the
    /// expression fires at, in the same unit.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let first = after_ms.div_euclid(MINUTE_MS) + 1;
        let (first_day, first_minute) = (first.div_euclid(DAY_MINUTES), first.rem_euclid(DAY_MINUTES));
        for day in first_day..first_day + HORIZON_DAYS {
            if !self.fires_on(day) {
                continue;
            }
            let from = if day == first_day { first_minute } else { 0 };
            for minute in from..DAY_MINUTES {
                if has(self.hours, (minute / 60) as u32) && has(self.minutes, (minute % 60) as u32) {
                    return Some((day * DAY_MINUTES + minute) * MINUTE_MS);
                }
            }
        }
        None
    }

    fn fires_on(&self, day: i64) -> bool {
        let (_, month, dom) = civil_from_days(day);
        if !has(self.months, month) {
            return false;
        }
        // 1970-01-01 was a Thursday.
        let weekday = (day + 4).rem_euclid(7) as u32;
        let (by_day, by_weekday) = (has(self.days, dom), has(self.weekdays, weekday));
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => by_day || by_weekday,
            _ => by_day && by_weekday,
        }
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn has(set: u64, n: u32) -> bool {
    set & (1 << n) != 0
}

/// The set of values one field names, as bits.
fn parse_field(part: &str, field: &Field) -> Result<u64, String> {
    let mut set = 0u64;
    for item in part.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| format!("the step \"{step}\" is not a number"))?;
                if step == 0 {
                    return Err("a step of 0 never moves".into());
                }
                (range, step)
            }
            None => (item, 1),
        };
        let (low, high) = match range {
            "*" => (field.min, field.max),
            _ => match range.split_once('-') {
                Some((low, high)) => (value(low, field)?, value(high, field)?),
                // `5/20`: from 5 to the end, by 20.
                None if step > 1 => (value(range, field)?, field.max),
                None => {
                    let v = value(range, field)?;
                    (v, v)
                }
            },
        };
        if low > high {
            return Err(format!("the range {low}-{high} runs backwards"));
        }
        for v in (low..=high).step_by(step as usize) {
            set |= 1 << v;
        }
    }
    Ok(set)
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = field.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + if field.min == 1 { 1 } else { 0 });
    }
    let v: u32 = text.parse().map_err(|_| {
        if field.names.is_empty() {
            format!("\"{text}\" is not a number")
        } else {
            format!("\"{text}\" is not a number or one of {}", field.names.join(", "))
        }
    })?;
    if v < field.min || v > field.max {
        return Err(format!("{v} is out of range {}-{}", field.min, field.max));
    }
    Ok(v)
}

/// The (year, month, day) of `days` since 1970-01-01, in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_minute(ms: i64) -> String {
    let minutes = ms.div_euclid(MINUTE_MS);
    let (year, month, day) = civil_from_days(minutes.div_euclid(DAY_MINUTES));
    let minute = minutes.rem_euclid(DAY_MINUTES);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", minute / 60, minute % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds of a UTC date and time, for the tests.
    fn at(text: &str) -> i64 {
        let n: Vec<i64> = text.split(['-', ' ', ':']).map(|p| p.parse().unwrap()).collect();
        let (y, m, d) = (n[0], n[1], n[2]);
        // days_from_civil, the inverse of civil_from_days.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        (days * DAY_MINUTES + n[3] * 60 + n[4]) * MINUTE_MS
    }

    fn next(expr: &str, after: &str) -> String {
        utc_minute(Cron::parse(expr).unwrap().next_after(at(after)).unwrap())
    }

    #[test]
    fn the_next_tick_is_the_first_matching_minute_after() {
        assert_eq!(next("*/5 * * * *", "2026-12-04 18:03"), "2026-12-04 18:05 UTC");
        assert_eq!(next("*/5 * * * *", "2026-12-04 18:05"), "2026-12-04 18:10 UTC", "strictly after");
        assert_eq!(next("0 9 * * mon-fri", "2026-12-04 10:00"), "2026-12-07 09:00 UTC", "Friday → Monday");
        assert_eq!(next("30 23 31 12 *", "2026-12-31 23:30"), "2027-12-31 23:30 UTC");
        assert_eq!(next("0 0 29 2 *", "2026-03-01 00:00"), "2028-02-29 00:00 UTC");
        assert_eq!(next("@hourly", "2026-12-04 18:00"), "2026-12-04 19:00 UTC");
        assert_eq!(next("@weekly", "2026-12-04 18:00"), "2026-12-06 00:00 UTC", "a Sunday");
        assert_eq!(next("5/20 * * * *", "2026-12-04 18:26"), "2026-12-04 18:45 UTC");
        assert_eq!(next("0 12 * jan,jul 7", "2026-12-04 00:00"), "2027-01-03 12:00 UTC", "7 is Sunday");
    }

    #[test]
    fn both_day_fields_restricted_fire_on_either() {
        // The 1st of the month, or a Monday: Monday 7 December comes before 1 January.
        assert_eq!(next("0 9 1 * mon", "2026-12-04 00:00"), "2026-12-07 09:00 UTC");
        assert_eq!(next("0 9 1 * mon", "2026-12-29 00:00"), "2027-01-01 09:00 UTC");
        // A stepped `*` still counts as unrestricted: only Mondays of odd days.
        assert_eq!(next("0 9 */2 * mon", "2026-12-04 00:00"), "2026-12-07 09:00 UTC");
    }

    #[test]
    fn bad_expressions_say_which_field_and_why() {
        let problem = |e: &str| Cron::parse(e).unwrap_err().to_string();
        assert_eq!(
            problem("* * * *"),
            "invalid cron expression \"* * * *\": expected 5 fields (minute hour day-of-month month day-of-week), found 4"
        );
        assert!(problem("0 25 * * *").ends_with("field 2 (hour) \"25\": 25 is out of range 0-23"));
        assert!(problem("*/0 * * * *").ends_with("a step of 0 never moves"));
        assert!(problem("0 0 * foo *").contains("\"foo\" is not a number or one of jan, feb"));
        assert!(problem("0 0 10-5 * *").ends_with("the range 10-5 runs backwards"));
        assert!(problem("0 0 30 2 *").ends_with("no date matches it, so it never fires"));
        assert!(problem("@often").contains("unknown macro @often; expected one of @yearly"));
    }

    #[test]
    fn dates_convert_both_ways() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(utc_minute(at("2000-02-29 13:07")), "2000-02-29 13:07 UTC");
        assert_eq!(utc_minute(at("1969-12-31 23:59")), "1969-12-31 23:59 UTC");
    }
}
