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

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::duration::{self, DurationError};
use super::error::Report;
use super::scalar::{Kind, Scalar};
use super::yaml::{child_path, item_path, Entry, Node, NodeKind};

/// Messages quote at most this many characters of a value.
const MAX_QUOTED_CHARS: usize = 60;

/// The longest name of a process or an upstream.
const MAX_NAME_CHARS: usize = 64;

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

    /// Reads the required `key` with `read`, or reports that it is absent.
    pub(super) fn required<T>(
        &self,
        key: &str,
        report: &mut Report,
        read: impl FnOnce(&'n Node, &str, &mut Report) -> Option<T>,
    ) -> Option<T> {
        match self.get(key) {
            Some((node, path)) => read(node, &path, report),
            None => {
                self.missing(key, report);
                None
            }
        }
    }

    /// Where `key` itself is written, when it is present.
    pub(super) fn key_at(&self, key: &str) -> Option<usize> {
        let entry = self.entries.iter().find(|entry| entry.key.value == key)?;
        Some(entry.key_at)
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

/// `node` as the items of a list.
pub(super) fn list<'n>(
    node: &'n Node,
    path: &str,
    what: &str,
    report: &mut Report,
) -> Option<&'n [Node]> {
    match &node.kind {
        NodeKind::List(items) => Some(items),
        NodeKind::Reported => None,
        NodeKind::Scalar(_) | NodeKind::Map(_) => {
            report.error(node.at, path, expected(what, node));
            None
        }
    }
}

/// `node` as a list of texts (`what` describes the list, `item` one of
/// them), each kept as `check` gives it back or reported, quoted, with the
/// reason `check` gives.
pub(super) fn text_list(
    node: &Node,
    path: &str,
    (what, item): (&str, &str),
    check: impl Fn(&str) -> Result<String, &'static str>,
    report: &mut Report,
) -> Option<Vec<String>> {
    let items = list(node, path, what, report)?;
    let mut values = Vec::new();
    let mut valid = true;
    for (index, node) in items.iter().enumerate() {
        let path = item_path(path, index);
        let Some(scalar) = text(node, &path, item, report) else {
            valid = false;
            continue;
        };
        match check(&scalar.value) {
            Ok(value) => values.push(value),
            Err(problem) => {
                report.error(
                    node.at,
                    &path,
                    format!("{} {problem}", quoted(scalar.shown())),
                );
                valid = false;
            }
        }
    }
    valid.then_some(values)
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

/// `node` as an integer from `min` to `max`.
pub(super) fn count_in(
    node: &Node,
    path: &str,
    min: u32,
    max: u32,
    report: &mut Report,
) -> Option<u32> {
    let value = count(node, path, report)?;
    if (min..=max).contains(&value) {
        return Some(value);
    }
    let message = format!("`{value}` is out of range; expected {min} to {max}");
    report.error(node.at, path, message);
    None
}

/// `[A-Za-z0-9_.-]+`, at most [`MAX_NAME_CHARS`] long, for the name of a
/// `kind` (process, upstream): names end up in log fields and tables.
pub(super) fn check_name(entry: &Entry, path: &str, kind: &str, report: &mut Report) {
    let name = &entry.key.value;
    let valid_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    let length = name.chars().count();
    let message = if name.is_empty() {
        format!("a {kind} name cannot be empty")
    } else if length > MAX_NAME_CHARS {
        format!("the {kind} name is {length} characters long; at most {MAX_NAME_CHARS}")
    } else if !name.bytes().all(valid_byte) {
        let shown = quoted(entry.key.shown());
        format!("{kind} name {shown} may only hold letters, digits, `_`, `.` and `-`")
    } else {
        return;
    };
    report.error(entry.key_at, path, message);
}

/// What [`existing_path`] looks for.
#[derive(Clone, Copy)]
pub(super) enum PathKind {
    File,
    Directory,
}

impl PathKind {
    fn noun(self) -> &'static str {
        match self {
            PathKind::File => "file",
            PathKind::Directory => "directory",
        }
    }
}

/// `node` as the path of an existing file or directory, resolved against
/// `base_dir` when relative.
pub(super) fn existing_path(
    node: &Node,
    path: &str,
    base_dir: &Path,
    kind: PathKind,
    report: &mut Report,
) -> Option<PathBuf> {
    let noun = kind.noun();
    let scalar = text(node, path, &format!("a {noun} path"), report)?;
    let shown = quoted(scalar.shown());
    if scalar.value.is_empty() || scalar.value.contains('\0') {
        report.error(node.at, path, format!("{shown} is not a {noun} path"));
        return None;
    }
    let resolved = base_dir.join(&scalar.value);
    let problem = match (std::fs::metadata(&resolved), kind) {
        (Ok(metadata), PathKind::Directory) if metadata.is_dir() => return Some(resolved),
        (Ok(metadata), PathKind::File) if metadata.is_file() => return Some(resolved),
        (Ok(_), _) => format!("{shown} is not a {noun}"),
        (Err(error), _) if error.kind() == std::io::ErrorKind::NotFound => {
            format!("{noun} {shown} does not exist")
        }
        (Err(error), _) => format!("cannot use {noun} {shown}: {error}"),
    };
    report.error(node.at, path, with_looked_at(problem, scalar, base_dir));
    None
}

/// Says where a relative path was looked for: it starts at the config
/// file's folder, not at the working directory, which may surprise.
fn with_looked_at(problem: String, scalar: &Scalar, base_dir: &Path) -> String {
    if Path::new(&scalar.value).is_absolute() {
        return problem;
    }
    let looked_at = base_dir.join(scalar.shown());
    format!(
        "{problem} (looked for {})",
        quoted(&looked_at.to_string_lossy())
    )
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
