//! Durations as users write them: `250ms`, `10s`, `5m`, `8h`, and
//! combinations or fractions such as `1m30s` and `1.5s`.
//!
//! [`parse`] and [`format`] are inverses on every `Duration` that
//! [`format`] produces. A number without a unit is refused rather than
//! guessed at: `10` could mean seconds or milliseconds.

use std::fmt;
use std::time::Duration;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// The units and their length in nanoseconds.
const UNITS: [(&str, u128); 4] = [
    ("ms", 1_000_000),
    ("h", 3_600 * NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("s", NANOS_PER_SECOND),
];

/// Digits after the point beyond this are below a nanosecond for any
/// unit and are ignored; it also keeps the arithmetic inside `u128`.
const MAX_FRACTION_DIGITS: usize = 18;

/// Why a text is not a duration. The message does not repeat the text,
/// so the caller decides how to quote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DurationError {
    Empty,
    Negative,
    /// A number without a unit, such as `10`.
    BareNumber,
    /// Something other than a number where one was expected.
    NotANumber,
    MissingUnit,
    UnknownUnit(String),
    TooLarge,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("is empty"),
            DurationError::Negative => f.write_str("is negative; durations cannot be"),
            DurationError::BareNumber => f.write_str("has no unit; add one, e.g. `10s` or `250ms`"),
            DurationError::NotANumber | DurationError::MissingUnit => {
                f.write_str("is not a duration; write a number and a unit, e.g. `10s` or `1m30s`")
            }
            DurationError::UnknownUnit(unit) => {
                write!(f, "has an unknown unit `{unit}`; use ms, s, m or h")
            }
            DurationError::TooLarge => f.write_str("is too large"),
        }
    }
}

/// Parses a duration: one or more `<number><unit>` parts, with no blanks.
pub(super) fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative);
    }
    if is_bare_number(text) {
        return Err(DurationError::BareNumber);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = component(rest)?;
        total = total.checked_add(nanos).ok_or(DurationError::TooLarge)?;
        rest = after;
    }
    let seconds = u64::try_from(total / NANOS_PER_SECOND).map_err(|_| DurationError::TooLarge)?;
    let nanos = u32::try_from(total % NANOS_PER_SECOND).map_err(|_| DurationError::TooLarge)?;
    Ok(Duration::new(seconds, nanos))
}

/// Writes a duration the way [`parse`] reads it, largest unit first:
/// `1h30m`, `10s`, `1s500ms`, `0.5ms`.
pub(super) fn format(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_string();
    }
    let seconds = duration.as_secs();
    let mut out = String::new();
    for (amount, unit) in [
        (seconds / 3600, "h"),
        (seconds / 60 % 60, "m"),
        (seconds % 60, "s"),
    ] {
        if amount > 0 {
            out.push_str(&amount.to_string());
            out.push_str(unit);
        }
    }
    let nanos = duration.subsec_nanos();
    let (millis, rest) = (nanos / 1_000_000, nanos % 1_000_000);
    if rest > 0 {
        let fraction = format!("{rest:06}");
        out.push_str(&format!("{millis}.{}ms", fraction.trim_end_matches('0')));
    } else if millis > 0 {
        out.push_str(&format!("{millis}ms"));
    }
    out
}

fn is_bare_number(text: &str) -> bool {
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty() && digits(whole) && digits(fraction)
}

/// One `<number><unit>` at the start of `text`: its nanoseconds and the
/// text after it.
fn component(text: &str) -> Result<(u128, &str), DurationError> {
    let whole_len = digits_len(text);
    if whole_len == 0 {
        return Err(DurationError::NotANumber);
    }
    let (whole, rest) = text.split_at(whole_len);
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(after_point) => {
            let fraction_len = digits_len(after_point);
            if fraction_len == 0 {
                return Err(DurationError::NotANumber);
            }
            after_point.split_at(fraction_len)
        }
        None => ("", rest),
    };
    let (unit, rest) = unit(rest)?;
    Ok((nanos(whole, fraction, unit)?, rest))
}

fn digits_len(text: &str) -> usize {
    text.bytes().take_while(u8::is_ascii_digit).count()
}

/// The unit at the start of `text`, in nanoseconds, and what follows it.
fn unit(text: &str) -> Result<(u128, &str), DurationError> {
    let name_len = text.bytes().take_while(u8::is_ascii_alphabetic).count();
    let (name, rest) = text.split_at(name_len);
    if name.is_empty() {
        return Err(DurationError::MissingUnit);
    }
    let known = UNITS.iter().find(|(unit, _)| *unit == name);
    known
        .map(|(_, nanos)| (*nanos, rest))
        .ok_or_else(|| DurationError::UnknownUnit(name.to_string()))
}

/// `whole.fraction` units, in nanoseconds (sub-nanosecond parts dropped).
fn nanos(whole: &str, fraction: &str, unit: u128) -> Result<u128, DurationError> {
    let too_large = || DurationError::TooLarge;
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let whole_nanos = whole.checked_mul(unit).ok_or_else(too_large)?;
    let fraction = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS)];
    if fraction.is_empty() {
        return Ok(whole_nanos);
    }
    let numerator: u128 = fraction.parse().map_err(|_| too_large())?;
    let scale = 10u128.pow(u32::try_from(fraction.len()).map_err(|_| too_large())?);
    let fraction_nanos = numerator * unit / scale;
    whole_nanos
        .checked_add(fraction_nanos)
        .ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// The documented forms parse to what they say.
    #[test]
    fn parses_the_documented_forms() {
        let cases = [
            ("250ms", ms(250)),
            ("10s", ms(10_000)),
            ("5m", ms(300_000)),
            ("8h", ms(28_800_000)),
            ("1m30s", ms(90_000)),
            ("1.5s", ms(1_500)),
            ("0.25ms", Duration::from_micros(250)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    /// Each kind of bad text gets its own error.
    #[test]
    fn rejects_bad_texts() {
        let cases = [
            ("", DurationError::Empty),
            ("-5s", DurationError::Negative),
            ("10", DurationError::BareNumber),
            ("1.5", DurationError::BareNumber),
            ("s", DurationError::NotANumber),
            ("1.s", DurationError::NotANumber),
            ("10 s", DurationError::MissingUnit),
            ("10s5", DurationError::MissingUnit),
            ("5x", DurationError::UnknownUnit("x".to_string())),
            ("5sec", DurationError::UnknownUnit("sec".to_string())),
            ("99999999999999999999999999h", DurationError::TooLarge),
            (
                "999999999999999999999999999999999999999999s",
                DurationError::TooLarge,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Err(expected), "{text}");
        }
    }

    /// Formatting picks the largest units and drops empty ones.
    #[test]
    fn formats_compactly() {
        assert_eq!(format(ms(90_000)), "1m30s");
        assert_eq!(format(ms(100)), "100ms");
        assert_eq!(format(ms(1_500)), "1s500ms");
        assert_eq!(format(ms(3_600_000)), "1h");
        assert_eq!(format(Duration::from_nanos(1)), "0.000001ms");
        assert_eq!(format(Duration::ZERO), "0s");
    }

    proptest! {
        /// Parsing never panics, whatever the text.
        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }

        /// Parsing never panics on texts that look almost like durations.
        #[test]
        fn parse_never_panics_on_near_misses(text in "[0-9.+\\-hmsx ]{0,40}") {
            let _ = parse(&text);
        }

        /// Every duration formats to a text that parses back to it.
        #[test]
        fn format_then_parse_is_identity(seconds in 0u64..=u64::MAX, nanos in 0u32..1_000_000_000) {
            let duration = Duration::new(seconds, nanos);
            prop_assert_eq!(parse(&format(duration)), Ok(duration));
        }

        /// `<n><unit>` parses to n times the unit.
        #[test]
        fn single_components_scale(n in 0u64..1_000_000, unit in 0usize..4) {
            let (name, nanos) = UNITS[unit];
            let expected = u128::from(n) * nanos;
            let parsed = parse(&format!("{n}{name}")).expect("valid");
            prop_assert_eq!(parsed.as_nanos(), expected);
        }
    }
}
