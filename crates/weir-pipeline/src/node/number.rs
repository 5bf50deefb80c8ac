//! One rule for numbers, whichever way a file spells them: an integer is kept exactly or refused,
//! and a float is a finite 64-bit float or refused. Nothing becomes a string or `null`, and no
//! digit is lost without a word.

use serde_json::Number;

/// The integer with these `digits` in `radix`; `text` is how the file wrote it, for messages.
pub(super) fn integer(text: &str, digits: &str, radix: u32, negative: bool) -> Result<Number, String> {
    let beyond = || {
        format!(
            "`{text}` is beyond the 64-bit integers ({} to {}), and weir keeps integers exactly",
            i64::MIN,
            u64::MAX
        )
    };
    let magnitude = u64::from_str_radix(digits, radix).map_err(|_| beyond())?;
    if !negative {
        return Ok(Number::from(magnitude));
    }
    let value = i64::try_from(-i128::from(magnitude)).map_err(|_| beyond())?;
    Ok(Number::from(value))
}

/// The float `text` denotes (Rust's float syntax, which both formats' float spellings are), or
/// why it has none: too large for a 64-bit float, or so small it would silently become zero.
pub(super) fn float(text: &str) -> Result<Number, String> {
    let value: f64 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if value.is_infinite() {
        return Err(format!("`{text}` is too large for a 64-bit float (the largest is about 1.8e308)"));
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    if value == 0.0 && mantissa.bytes().any(|b| matches!(b, b'1'..=b'9')) {
        return Err(format!("`{text}` is too small for a 64-bit float: it would become 0"));
    }
    Number::from_f64(value).ok_or_else(|| format!("`{text}` is not a finite number"))
}

/// The hint of every refused number.
pub(super) const HINT: &str = "quote it to keep it as text";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_exact_or_refused() {
        assert_eq!(
            integer("18446744073709551615", "18446744073709551615", 10, false).unwrap(),
            Number::from(u64::MAX)
        );
        assert_eq!(
            integer("0xFFFFFFFFFFFFFFFF", "FFFFFFFFFFFFFFFF", 16, false).unwrap(),
            Number::from(u64::MAX)
        );
        assert_eq!(
            integer("-9223372036854775808", "9223372036854775808", 10, true).unwrap(),
            Number::from(i64::MIN)
        );
        assert!(
            integer("18446744073709551616", "18446744073709551616", 10, false)
                .unwrap_err()
                .contains("beyond")
        );
        assert!(integer("-9223372036854775809", "9223372036854775809", 10, true).is_err());
        assert!(integer("0x10000000000000000", "10000000000000000", 16, false).is_err());
    }

    #[test]
    fn floats_are_finite_and_never_silently_zero() {
        assert_eq!(float("1.5e3").unwrap().as_f64(), Some(1500.0));
        assert_eq!(float("0.0e-9999").unwrap().as_f64(), Some(0.0));
        assert!(float("1.5e+9999").unwrap_err().contains("too large"));
        assert!(float("-1e400").unwrap_err().contains("too large"));
        assert!(float("1e-9999").unwrap_err().contains("too small"));
    }
}
