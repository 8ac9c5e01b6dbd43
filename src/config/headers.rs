//! Header settings of a route: `header_up` and `header_down` (`set` and
//! `remove`) into [`HeaderRules`], and the `headers` of a `respond`
//! action, each name and value checked as HTTP allows them.
//!
//! A value that came from the environment, and any value of a header
//! whose name suggests a secret (`Authorization`, `X-Api-Key`), is marked
//! sensitive (`HeaderValue::is_sensitive`): its `Debug` then prints
//! `Sensitive`, HTTP/2 never compresses it into a shared table, and
//! `supervise check` does not print it.

use http::{HeaderName, HeaderValue};

use super::error::Report;
use super::fields::{list, mapping, quoted, text, Section};
use super::scalar::Scalar;
use super::summary::SECRET_WORDS;
use super::types::HeaderRules;
use super::yaml::{child_path, item_path, Entry, Node, NodeKind};

const KEYS: [&str; 2] = ["set", "remove"];

/// Words besides [`SECRET_WORDS`] that make a header's value a secret.
const SECRET_HEADER_WORDS: [&str; 2] = ["AUTHORIZATION", "COOKIE"];

/// Headers that frame the message or belong to one connection: supervise
/// writes them itself, and a fixed value would break the framing.
const FRAMING: [&str; 8] = [
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers as a list of name and value, in file order.
pub(super) type Headers = Vec<(HeaderName, HeaderValue)>;

/// Whether a header of this name holds a secret, by its name alone.
pub(super) fn is_secret_header(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let mut words = SECRET_WORDS.iter().chain(&SECRET_HEADER_WORDS);
    words.any(|word| upper.contains(word))
}

/// Reads `header_up` or `header_down`.
pub(super) fn rules(node: &Node, path: &str, report: &mut Report) -> Option<HeaderRules> {
    let what = "a mapping with `set` and `remove`";
    let section = Section::open(node, path, &KEYS, what, report)?;
    let set = section.read_or("set", Vec::new(), report, headers);
    let remove = section.read_or("remove", Vec::new(), report, names);
    Some(HeaderRules {
        remove: remove?,
        set: set?,
    })
}

/// A mapping of header names to values; a name written twice in other
/// cases (`X-A`, `x-a`) is an error, since the second would replace the
/// first without a word.
pub(super) fn headers(node: &Node, path: &str, report: &mut Report) -> Option<Headers> {
    let entries = mapping(node, path, "a mapping of header names to values", report)?;
    let mut found: Vec<(HeaderName, HeaderValue, usize)> = Vec::new();
    let mut valid = true;
    for entry in entries {
        let Some((name, value)) = header(entry, path, report) else {
            valid = false;
            continue;
        };
        if let Some((_, _, first_at)) = found.iter().find(|(seen, _, _)| *seen == name) {
            let line = report.line_of(*first_at);
            let message = format!("header `{name}` is already set on line {line}");
            report.error(entry.key_at, &child_path(path, entry.key.shown()), message);
            valid = false;
        }
        found.push((name, value, entry.key_at));
    }
    let headers = found.into_iter().map(|(name, value, _)| (name, value));
    valid.then(|| headers.collect())
}

/// One `Name: value`.
fn header(entry: &Entry, parent: &str, report: &mut Report) -> Option<(HeaderName, HeaderValue)> {
    let path = child_path(parent, entry.key.shown());
    let name = name(&entry.key, entry.key_at, &path, report)
        .filter(|name| settable(name, entry.key_at, &path, report));
    let value = value(&entry.value, &path, report);
    let (name, mut value) = (name?, value?);
    let from_env = matches!(&entry.value.kind, NodeKind::Scalar(s) if s.from_env);
    value.set_sensitive(from_env || is_secret_header(name.as_str()));
    Some((name, value))
}

/// A list of header names, for `remove`.
fn names(node: &Node, path: &str, report: &mut Report) -> Option<Vec<HeaderName>> {
    let items = list(node, path, "a list of header names", report)?;
    let mut names = Vec::new();
    let mut valid = true;
    for (index, item) in items.iter().enumerate() {
        let item_path = item_path(path, index);
        let scalar = text(item, &item_path, "a header name", report);
        match scalar.and_then(|scalar| name(scalar, item.at, &item_path, report)) {
            Some(name) => names.push(name),
            None => valid = false,
        }
    }
    valid.then_some(names)
}

fn name(scalar: &Scalar, at: usize, path: &str, report: &mut Report) -> Option<HeaderName> {
    match HeaderName::from_bytes(scalar.value.as_bytes()) {
        Ok(name) => Some(name),
        Err(_) => {
            let message = format!(
                "{} is not a valid header name; a name is one word of letters, digits \
                 and `-`, like `X-Request-Id`",
                quoted(scalar.shown())
            );
            report.error(at, path, message);
            None
        }
    }
}

/// Refuses the headers that supervise must write itself.
fn settable(name: &HeaderName, at: usize, path: &str, report: &mut Report) -> bool {
    if !FRAMING.contains(&name.as_str()) {
        return true;
    }
    let message = format!(
        "`{name}` cannot be set: it frames the message or belongs to one connection, \
         so supervise writes it itself"
    );
    report.error(at, path, message);
    false
}

/// Visible ASCII, spaces and tabs; numbers and booleans as written.
fn value(node: &Node, path: &str, report: &mut Report) -> Option<HeaderValue> {
    let scalar = text(node, path, "a header value", report)?;
    match HeaderValue::from_str(&scalar.value) {
        Ok(value) => Some(value),
        Err(_) => {
            let message = format!(
                "{} is not a valid header value: it holds a line break, a control \
                 character or a character outside ASCII",
                quoted(scalar.shown())
            );
            report.error(node.at, path, message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secret-looking names are spotted in any case, others are not.
    #[test]
    fn secret_header_names() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "X-Api-Key",
            "Cookie",
            "Set-Cookie",
            "X-Auth-Token",
            "x-client-secret",
        ] {
            assert!(is_secret_header(name), "{name}");
        }
        for name in ["Content-Type", "X-Request-Id", "Keep-Alive", "Host"] {
            assert!(!is_secret_header(name), "{name}");
        }
    }
}
