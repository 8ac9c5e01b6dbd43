//! Reading typed values out of YAML nodes, reporting every mismatch.
//!
//! Each reader returns `None` after reporting what is wrong, or without a
//! report for a [`NodeKind::Reported`] node, whose problem was reported
//! when the tree was built. So a `None` always means an error is on record
//! and the caller can simply skip the value and go on.
//!
//! Text-like settings accept any non-empty scalar as written (`cwd: 2024`
//! is the folder `2024`): YAML guessing a type for a bare word should not
//! make a value invalid. Numbers, booleans and durations are strict.

use std::time::Duration;

use super::duration::{self, DurationError};
use super::error::Report;
use super::scalar::{Kind, Scalar};
use super::yaml::{child_path, Entry, Node, NodeKind};

/// Messages quote at most this many characters of a value.
const MAX_QUOTED_CHARS: usize = 60;

/// A mapping whose keys were checked against the ones it may hold.
pub(super) struct Section<'n> {
    pub(super) path: String,
    pub(super) at: usize,
    pub(super) entries: &'n [Entry],
}

impl<'n> Section<'n> {
    /// Reads `node` as a mapping and reports each key not in `allowed`.
    pub(super) fn open(
        node: &'n Node,
        path: &str,
        allowed: &[&str],
        what: &str,
        report: &mut Report,
    ) -> Option<Self> {
        let entries = mapping(node, path, what, report)?;
        for entry in entries {
            if !allowed.contains(&entry.key.value.as_str()) {
                let message = format!(
                    "unknown key {}; allowed keys: {}",
                    quoted(entry.key.shown()),
                    allowed.join(", ")
                );
                report.error(entry.key_at, &child_path(path, entry.key.shown()), message);
            }
        }
        let path = path.to_string();
        Some(Section {
            path,
            at: node.at,
            entries,
        })
    }

    /// The value of `key` and its key path, when the key is present.
    pub(super) fn get(&self, key: &str) -> Option<(&'n Node, String)> {
        let entry = self.entries.iter().find(|entry| entry.key.value == key)?;
        Some((&entry.value, child_path(&self.path, key)))
    }

    /// Reads `key` with `read`, or gives `default` when it is absent.
    pub(super) fn read_or<T>(
        &self,
        key: &str,
        default: T,
        report: &mut Report,
        read: impl FnOnce(&'n Node, &str, &mut Report) -> Option<T>,
    ) -> Option<T> {
        match self.get(key) {
            Some((node, path)) => read(node, &path, report),
            None => Some(default),
        }
    }

    /// Reports that a required key is absent, at the mapping.
    pub(super) fn missing(&self, key: &str, report: &mut Report) {
        let message = format!("missing required key `{key}`");
        report.error(self.at, &child_path(&self.path, key), message);
    }
}

/// `node` as the entries of a mapping.
pub(super) fn mapping<'n>(
    node: &'n Node,
    path: &str,
    what: &str,
    report: &mut Report,
) -> Option<&'n [Entry]> {
    match &node.kind {
        NodeKind::Map(entries) => Some(entries),
        NodeKind::Reported => None,
        NodeKind::Scalar(_) | NodeKind::List(_) => {
            report.error(node.at, path, expected(what, node));
            None
        }
    }
}

/// `node` as a scalar with a value: text, a number or a boolean.
pub(super) fn text<'n>(
    node: &'n Node,
    path: &str,
    what: &str,
    report: &mut Report,
) -> Option<&'n Scalar> {
    match &node.kind {
        NodeKind::Scalar(scalar) if scalar.kind() != Kind::Null => Some(scalar),
        NodeKind::Reported => None,
        NodeKind::Scalar(_) | NodeKind::List(_) | NodeKind::Map(_) => {
            report.error(node.at, path, expected(what, node));
            None
        }
    }
}

/// `node` as `true` or `false`.
pub(super) fn boolean(node: &Node, path: &str, report: &mut Report) -> Option<bool> {
    let scalar = scalar_of(node, path, "`true` or `false`", report)?;
    match scalar.kind() {
        Kind::Bool(value) => Some(value),
        _ => {
            report.error(node.at, path, expected("`true` or `false`", node));
            None
        }
    }
}

/// `node` as a non-negative integer that fits in 32 bits.
pub(super) fn count(node: &Node, path: &str, report: &mut Report) -> Option<u32> {
    const WHAT: &str = "a non-negative integer";
    let scalar = scalar_of(node, path, WHAT, report)?;
    let problem = match scalar.kind() {
        Kind::Int if scalar.value.starts_with('-') => {
            format!("{} is negative; expected {WHAT}", quoted(scalar.shown()))
        }
        Kind::Int => match scalar.value.parse::<u32>() {
            Ok(value) => return Some(value),
            Err(_) => format!(
                "{} is too large; at most {}",
                quoted(scalar.shown()),
                u32::MAX
            ),
        },
        _ => expected(WHAT, node),
    };
    report.error(node.at, path, problem);
    None
}

/// `node` as a duration such as `10s`.
pub(super) fn duration(node: &Node, path: &str, report: &mut Report) -> Option<Duration> {
    const WHAT: &str = "a duration like `10s` or `250ms`";
    let scalar = scalar_of(node, path, WHAT, report)?;
    let error = match scalar.kind() {
        Kind::Int | Kind::Float => DurationError::BareNumber,
        Kind::Str => match duration::parse(&scalar.value) {
            Ok(value) => return Some(value),
            Err(error) => error,
        },
        Kind::Null | Kind::Bool(_) => {
            report.error(node.at, path, expected(WHAT, node));
            return None;
        }
    };
    let message = match error {
        DurationError::Empty => expected(WHAT, node),
        error => format!("{} {error}", quoted(scalar.shown())),
    };
    report.error(node.at, path, message);
    None
}

/// `node` as a duration longer than zero.
pub(super) fn positive_duration(node: &Node, path: &str, report: &mut Report) -> Option<Duration> {
    let value = duration(node, path, report)?;
    if value.is_zero() {
        report.error(node.at, path, "must be longer than zero");
        return None;
    }
    Some(value)
}

/// `node` as any scalar, reporting lists and mappings.
fn scalar_of<'n>(
    node: &'n Node,
    path: &str,
    what: &str,
    report: &mut Report,
) -> Option<&'n Scalar> {
    match &node.kind {
        NodeKind::Scalar(scalar) => Some(scalar),
        NodeKind::Reported => None,
        NodeKind::List(_) | NodeKind::Map(_) => {
            report.error(node.at, path, expected(what, node));
            None
        }
    }
}

/// "expected WHAT, found WHAT-IT-IS".
pub(super) fn expected(what: &str, node: &Node) -> String {
    format!("expected {what}, found {}", describe(node))
}

/// What a node is, for messages; scalars are quoted as [`Scalar::shown`].
pub(super) fn describe(node: &Node) -> String {
    let scalar = match &node.kind {
        NodeKind::Map(_) => return "a mapping".to_string(),
        NodeKind::List(_) => return "a list".to_string(),
        NodeKind::Reported => return "a value with an error".to_string(),
        NodeKind::Scalar(scalar) => scalar,
    };
    let shown = quoted(scalar.shown());
    match scalar.kind() {
        Kind::Null => "nothing (an empty value)".to_string(),
        Kind::Bool(_) => format!("the boolean {shown}"),
        Kind::Int | Kind::Float => format!("the number {shown}"),
        Kind::Str => format!("the string {shown}"),
    }
}

/// A value in backticks on one line, cut short when long.
pub(super) fn quoted(text: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in text.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::error::Diagnostic;
    use super::super::interpolate::interpolate;
    use super::super::position::LineIndex;
    use super::super::yaml::parse;
    use super::*;

    /// Runs `read` on the value of key `v` in `text`.
    fn read<T>(
        text: &str,
        read: impl Fn(&Node, &str, &mut Report) -> Option<T>,
    ) -> Result<T, Vec<Diagnostic>> {
        let (source, problems) = interpolate(text, &|_| None);
        assert!(problems.is_empty(), "{problems:?}");
        let lines = LineIndex::new(text);
        let mut report = Report::new(Path::new("t"), &lines);
        let root = parse(&source, text, &mut report).expect("valid YAML");
        let NodeKind::Map(entries) = &root.kind else {
            panic!("root is a mapping");
        };
        let value = read(&entries[0].value, "v", &mut report);
        match (value, report.finish()) {
            (Some(value), Ok(_)) => Ok(value),
            (_, Err(errors)) => Err(errors),
            (None, Ok(_)) => panic!("None without an error on record"),
        }
    }

    fn message<T: std::fmt::Debug>(result: Result<T, Vec<Diagnostic>>) -> String {
        result.expect_err("an error")[0].message.clone()
    }

    /// Integers: in range is fine, negative, too large and text are not.
    #[test]
    fn counts() {
        assert_eq!(read("v: 10", count).ok(), Some(10));
        assert!(message(read("v: -1", count)).contains("is negative"));
        assert!(message(read("v: 4294967296", count)).contains("too large"));
        let found = message(read("v: \"10\"", count));
        assert_eq!(
            found,
            "expected a non-negative integer, found the string `10`"
        );
        assert!(message(read("v: 1.5", count)).contains("found the number `1.5`"));
    }

    /// Booleans are YAML 1.2 ones only.
    #[test]
    fn booleans() {
        assert_eq!(read("v: false", boolean).ok(), Some(false));
        let found = message(read("v: yes", boolean));
        assert_eq!(found, "expected `true` or `false`, found the string `yes`");
    }

    /// Durations: bare numbers ask for a unit, wrong types name the type.
    #[test]
    fn durations() {
        assert_eq!(
            read("v: 1m30s", duration).ok(),
            Some(Duration::from_secs(90))
        );
        assert!(message(read("v: 10", duration)).starts_with("`10` has no unit"));
        assert!(message(read("v: {a: 1}", duration)).ends_with("found a mapping"));
        assert!(message(read("v:", duration)).ends_with("found nothing (an empty value)"));
        assert!(message(read("v: 5x", duration)).contains("unknown unit `x`"));
    }

    /// Text accepts any scalar as written, but not nothing or a list.
    #[test]
    fn texts() {
        let value = read("v: 2024", |n, p, r| {
            text(n, p, "a path", r).map(|s| s.value.clone())
        });
        assert_eq!(value.ok().as_deref(), Some("2024"));
        let found = message(read("v: [a]", |n, p, r| {
            text(n, p, "a path", r).map(|_| ())
        }));
        assert_eq!(found, "expected a path, found a list");
    }

    /// Quoting keeps messages on one line and short.
    #[test]
    fn quoting() {
        assert_eq!(quoted("a\nb"), "`a\\nb`");
        let long = quoted(&"x".repeat(100));
        assert_eq!(long.chars().count(), MAX_QUOTED_CHARS + 3);
    }
}
