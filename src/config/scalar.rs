//! One YAML scalar as the loader sees it: its value after substitution
//! and unquoting, how it was written in the file, and which YAML type a
//! plain (unquoted) scalar has.
//!
//! Types follow YAML 1.2's core schema, as yaml-rust2 does, with one
//! narrowing: only decimal integers count as integers (`0x1F` is text).
//! Also here: the matcher for the old Caddyfile's `xxxNAMExxx`
//! placeholders, written by hand to keep the regex crate out.

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Quoted,
    /// A `|` or `>` block.
    Block,
}

/// The YAML type of a scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Null,
    Bool(bool),
    Int,
    Float,
    Str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scalar {
    /// After substitution and YAML unquoting: what the program uses.
    pub(super) value: String,
    pub(super) style: Style,
    /// The original file text of the scalar, before substitution, without
    /// its outer quotes; it never holds a value from the environment.
    pub(super) written: String,
    /// Whether part of `value` came from an environment variable.
    pub(super) from_env: bool,
}

impl Scalar {
    /// The YAML type; quoted and block scalars are always strings.
    pub(super) fn kind(&self) -> Kind {
        match self.style {
            Style::Plain => classify(&self.value),
            Style::Quoted | Style::Block => Kind::Str,
        }
    }

    /// The text that messages may quote: the value, unless part of it came
    /// from the environment, where it is the file's `${...}` text instead.
    pub(super) fn shown(&self) -> &str {
        if self.from_env {
            &self.written
        } else {
            &self.value
        }
    }
}

fn classify(value: &str) -> Kind {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => Kind::Null,
        "true" | "True" | "TRUE" => Kind::Bool(true),
        "false" | "False" | "FALSE" => Kind::Bool(false),
        _ if is_decimal_integer(value) => Kind::Int,
        _ if is_float(value) => Kind::Float,
        _ => Kind::Str,
    }
}

/// `[-+]?[0-9]+`
pub(super) fn is_decimal_integer(value: &str) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// YAML 1.2 core floats: `1.5`, `.5`, `1e3`, `-2.5E-3`, `.inf`, `.nan`.
fn is_float(value: &str) -> bool {
    let unsigned = value.strip_prefix(['-', '+']).unwrap_or(value);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(value, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        !(whole.is_empty() && fraction.is_empty()) && all_digits(whole) && all_digits(fraction);
    mantissa_ok && exponent.is_none_or(is_decimal_integer)
}

/// The first `xxxNAMExxx` in `text`: three lowercase x's, one or more of
/// `[A-Za-z0-9_]`, three lowercase x's, as `xxx[A-Za-z0-9_]+xxx` would
/// match (extended to the last closing `xxx` of the word).
pub(super) fn find_placeholder(text: &str) -> Option<&str> {
    let mut start = 0;
    for word in text.as_bytes().split(|b| !is_word_byte(*b)) {
        if let Some(found) = placeholder_in_word(word) {
            let open = start + found.start;
            return text.get(open..open + found.len());
        }
        start += word.len() + 1;
    }
    None
}

/// A placeholder inside one run of word bytes, as a range of it: from the
/// first `xxx` to the last `xxx` that leaves a character between them.
fn placeholder_in_word(word: &[u8]) -> Option<std::ops::Range<usize>> {
    let open = word.windows(3).position(|w| w == b"xxx")?;
    let close = word.windows(3).rposition(|w| w == b"xxx")?;
    (close >= open + 4).then_some(open..close + 3)
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn plain(value: &str) -> Scalar {
        Scalar {
            value: value.to_string(),
            style: Style::Plain,
            written: value.to_string(),
            from_env: false,
        }
    }

    /// Plain scalars get YAML 1.2 core types; quoted ones are strings.
    #[test]
    fn kinds_follow_the_core_schema() {
        let cases = [
            ("", Kind::Null),
            ("~", Kind::Null),
            ("True", Kind::Bool(true)),
            ("FALSE", Kind::Bool(false)),
            ("yes", Kind::Str),
            ("-12", Kind::Int),
            ("1.5", Kind::Float),
            (".5", Kind::Float),
            ("1e3", Kind::Float),
            ("-.inf", Kind::Float),
            ("10s", Kind::Str),
            ("0x1F", Kind::Str),
            (".", Kind::Str),
        ];
        for (value, kind) in cases {
            assert_eq!(plain(value).kind(), kind, "{value}");
        }
        let quoted = Scalar {
            style: Style::Quoted,
            ..plain("12")
        };
        assert_eq!(quoted.kind(), Kind::Str);
    }

    /// A value built from the environment is shown as written.
    #[test]
    fn shown_hides_environment_values() {
        let scalar = Scalar {
            value: "hunter2".to_string(),
            style: Style::Plain,
            written: "${PASSWORD}".to_string(),
            from_env: true,
        };
        assert_eq!(scalar.shown(), "${PASSWORD}");
        assert_eq!(plain("10s").shown(), "10s");
    }

    /// The placeholder matcher agrees with `xxx[A-Za-z0-9_]+xxx`.
    #[test]
    fn finds_placeholders() {
        let cases = [
            ("xxxAZURE_CLIENT_IDxxx", Some("xxxAZURE_CLIENT_IDxxx")),
            ("id=xxxTENANTxxx;", Some("xxxTENANTxxx")),
            ("a xxxAxxx b xxxBxxx", Some("xxxAxxx")),
            ("xxxxxxx", Some("xxxxxxx")),
            ("xxxxxx", None),
            ("xxx-ID-xxx", None),
            ("XXXIDXXX", None),
            ("xxx", None),
            ("é xxxÉxxx", None),
        ];
        for (text, expected) in cases {
            assert_eq!(find_placeholder(text), expected, "{text}");
        }
    }

    proptest! {
        /// The matcher never panics and only returns real matches.
        #[test]
        fn placeholder_matches_are_real(text in "[xX_a-z0-9 é-]{0,40}") {
            if let Some(found) = find_placeholder(&text) {
                prop_assert!(found.len() >= 7);
                prop_assert!(found.starts_with("xxx") && found.ends_with("xxx"));
                prop_assert!(found.bytes().all(is_word_byte));
                prop_assert!(text.contains(found));
            }
        }
    }
}
