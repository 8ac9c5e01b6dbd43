//! `auth.session`: the secrets that sign session cookies, how long a
//! session lasts and the cookie's name, read into a [`SessionSpec`].
//!
//! Secrets are never quoted, not even as the file writes them: a secret
//! may be pasted into the file itself. A problem with one names its index
//! in the list instead. What signing does with them is the auth module's
//! business.

use std::time::Duration;

use super::error::Report;
use super::fields::{positive_duration, quoted, text, Section};
use super::types::{Secret, SessionSpec};
use super::yaml::{item_path, Node, NodeKind};

const KEYS: [&str; 3] = ["secrets", "ttl", "cookie"];

const DEFAULT_TTL: Duration = Duration::from_secs(8 * 3600);
const DEFAULT_COOKIE: &str = "supervise_session";

/// HMAC keys shorter than this are too easy to guess offline.
const MIN_SECRET_BYTES: usize = 32;

const MAKE_ONE: &str = "make one with `openssl rand -base64 48`";

/// Reads the value of `session:`; `secrets` is required.
pub(super) fn read(node: &Node, path: &str, report: &mut Report) -> Option<SessionSpec> {
    let what = "a mapping with `secrets`, `ttl` and `cookie`";
    let section = Section::open(node, path, &KEYS, what, report)?;
    let secrets = section.required("secrets", report, secrets);
    let ttl = section.read_or("ttl", DEFAULT_TTL, report, positive_duration);
    let cookie = section.read_or("cookie", DEFAULT_COOKIE.to_string(), report, cookie);
    Some(SessionSpec {
        secrets: secrets?,
        ttl: ttl?,
        cookie: cookie?,
    })
}

/// A non-empty list of secrets, each at least [`MIN_SECRET_BYTES`] long.
/// A value that is not a list is described by its type only.
fn secrets(node: &Node, path: &str, report: &mut Report) -> Option<Vec<Secret>> {
    let items = match &node.kind {
        NodeKind::List(items) => items,
        NodeKind::Reported => return None,
        NodeKind::Scalar(_) | NodeKind::Map(_) => {
            let message = "expected a list of secrets, such as `[${SESSION_SECRET}]`";
            report.error(node.at, path, message);
            return None;
        }
    };
    if items.is_empty() {
        let message = format!("list at least one secret; {MAKE_ONE}");
        report.error(node.at, path, message);
        return None;
    }
    let read_one = |(index, item)| secret(item, &item_path(path, index), index, report);
    let secrets: Vec<Option<Secret>> = items.iter().enumerate().map(read_one).collect();
    secrets.into_iter().collect()
}

fn secret(node: &Node, path: &str, index: usize, report: &mut Report) -> Option<Secret> {
    let what = "a secret of at least 32 bytes";
    let scalar = text(node, path, what, report)?;
    if scalar.value.len() >= MIN_SECRET_BYTES {
        return Some(Secret(scalar.value.clone()));
    }
    let message = format!(
        "session secret {index} is shorter than {MIN_SECRET_BYTES} bytes, too easy to \
         guess; {MAKE_ONE}"
    );
    report.error(node.at, path, message);
    None
}

/// A cookie name: an HTTP token (RFC 6265, section 4.1.1).
fn cookie(node: &Node, path: &str, report: &mut Report) -> Option<String> {
    let scalar = text(
        node,
        path,
        "a cookie name such as `supervise_session`",
        report,
    )?;
    if is_token(&scalar.value) {
        return Some(scalar.value.clone());
    }
    let message = format!(
        "{} is not a valid cookie name; use letters, digits and `_` or `-`",
        quoted(scalar.shown())
    );
    report.error(node.at, path, message);
    None
}

/// RFC 9110's `token`: one or more of `tchar`.
fn is_token(text: &str) -> bool {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !text.is_empty() && text.bytes().all(tchar)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens are tchars only, and not empty.
    #[test]
    fn tokens() {
        for text in ["supervise_session", "a", "__Host-s", "x.y~z"] {
            assert!(is_token(text), "{text}");
        }
        for text in ["", "a b", "a=b", "a;b", "é", "a,b", "(a)"] {
            assert!(!is_token(text), "{text}");
        }
    }
}
