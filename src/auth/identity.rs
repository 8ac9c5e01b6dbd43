//! [`Identity`]: the signed-in user as every provider describes it, and
//! what supervise keeps of it in a session and tells the backend.
//!
//! This module also owns the identity headers sent upstream:
//! [`strip_identity_headers`] removes every client-sent header of the
//! family, in every spelling a WSGI server would read as one of ours, and
//! [`set_identity_headers`] then adds the real ones. Where the identity
//! comes from (sessions, tokens) and who may pass (rules) live elsewhere.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

/// A signed-in user. Providers fill it from an ID token or an access
/// token; sessions carry it; allow rules and identity headers read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The provider's stable id for the user (`sub`; for Azure, `oid` when
    /// present, which is the same across the tenant's applications).
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The provider had more groups than fit a token (Azure's "overage":
    /// `_claim_names` instead of `groups`), so `groups` is incomplete and
    /// a rule that needs groups must fail closed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub groups_overage: bool,
    /// When this identity stops being valid, in seconds since the Unix
    /// epoch.
    pub expires: u64,
}

impl Identity {
    /// Whether the identity is no longer valid at `now_unix` (seconds
    /// since the epoch): true from the `expires` second on.
    pub fn is_expired(&self, now_unix: u64) -> bool {
        now_unix >= self.expires
    }
}

/// Removes every header that a backend could take for an identity header:
/// each one whose name, lower-cased and with `_` read as `-`, starts with
/// `prefix` read the same way.
///
/// WSGI servers turn `X-Auth-Request-User` and `X_Auth_Request_User`
/// alike into `HTTP_X_AUTH_REQUEST_USER`, so a client could smuggle a
/// user past a filter that only knew the dashed spelling. Call this on
/// every request, public routes included, before
/// [`set_identity_headers`]. An empty prefix removes nothing: it would
/// match every header, and the config loader refuses it.
pub fn strip_identity_headers(headers: &mut HeaderMap, prefix: &str) {
    if prefix.is_empty() {
        return;
    }

    // Names are collected first: a HeaderMap cannot be changed while it is
    // being walked.
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| reads_as_prefixed(name.as_str(), prefix))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
}

/// Sets the identity headers for the backend: `{prefix}User` (the
/// subject), `{prefix}Email`, `{prefix}Preferred-Username` (the name), and
/// `{prefix}Roles` and `{prefix}Groups` joined with commas; each only when
/// the identity has it.
///
/// A value that cannot be a header value (CR, LF, NUL or another control
/// character) is left out rather than sent mangled. Non-ASCII text is sent as its UTF-8
/// bytes; a WSGI server hands those to the app as Latin-1 (PEP 3333), so
/// the app re-encodes to read them. A role or group that itself holds a
/// comma cannot be told apart in the joined list; providers use ids and
/// names without commas.
pub fn set_identity_headers(headers: &mut HeaderMap, identity: &Identity, prefix: &str) {
    IdentityHeaders::new(prefix).set(headers, identity);
}

/// The identity headers of one prefix, named once rather than on every
/// request: stripping and setting them is on the path of every request.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    prefix: String,
    /// `User`, `Email`, `Preferred-Username`, `Roles`, `Groups` after the
    /// prefix; `None` where the prefix makes no valid name.
    names: [Option<HeaderName>; 5],
}

impl IdentityHeaders {
    pub fn new(prefix: &str) -> IdentityHeaders {
        let name =
            |suffix: &str| HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes()).ok();
        IdentityHeaders {
            prefix: prefix.to_owned(),
            names: ["User", "Email", "Preferred-Username", "Roles", "Groups"].map(name),
        }
    }

    /// See [`strip_identity_headers`].
    pub fn strip(&self, headers: &mut HeaderMap) {
        strip_identity_headers(headers, &self.prefix);
    }

    /// See [`set_identity_headers`].
    pub fn set(&self, headers: &mut HeaderMap, identity: &Identity) {
        let values = [
            Some(Cow::Borrowed(identity.subject.as_str())),
            identity.email.as_deref().map(Cow::Borrowed),
            identity.name.as_deref().map(Cow::Borrowed),
            joined(&identity.roles),
            joined(&identity.groups),
        ];
        for (name, value) in self.names.iter().zip(values) {
            let (Some(name), Some(value)) = (name, value.filter(|v| !v.is_empty())) else {
                continue;
            };
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.insert(name.clone(), value);
            }
        }
    }
}

/// How a WSGI server compares header names: case-blind, `_` as `-`.
fn wsgi_fold(byte: u8) -> u8 {
    match byte {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    }
}

fn reads_as_prefixed(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(byte, expected)| wsgi_fold(byte) == wsgi_fold(expected))
}

fn joined(list: &[String]) -> Option<Cow<'_, str>> {
    (!list.is_empty()).then(|| Cow::Owned(list.join(",")))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PREFIX: &str = "X-Auth-Request-";

    fn alice() -> Identity {
        Identity {
            subject: "alice-id".into(),
            email: Some("alice@example.com".into()),
            name: Some("Alice".into()),
            roles: vec!["reader".into(), "admin".into()],
            groups: vec!["g1".into()],
            groups_overage: false,
            expires: 100,
        }
    }

    fn headers_from(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            headers.append(name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    /// Every spelling a WSGI server folds into ours is removed.
    #[test]
    fn strips_all_spellings() {
        let mut headers = headers_from(&[
            ("X-Auth-Request-User", "a"),
            ("x-auth-request-user", "b"),
            ("X_AUTH_REQUEST_USER", "c"),
            ("X-Auth_Request-User", "d"),
            ("x_auth_request_email", "e"),
            ("X-AUTH-REQUEST-Roles", "admin"),
        ]);
        strip_identity_headers(&mut headers, PREFIX);
        assert!(headers.is_empty(), "left: {headers:?}");
    }

    /// Headers outside the family, near misses included, are kept.
    #[test]
    fn keeps_other_headers() {
        let mut headers = headers_from(&[
            ("Host", "app"),
            ("X-Auth-Requester", "kept"),
            ("X-Auth", "kept"),
            ("Cookie", "a=b"),
            ("X-Auth-Request-User", "gone"),
        ]);
        strip_identity_headers(&mut headers, PREFIX);
        let names: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["host", "x-auth-requester", "x-auth", "cookie"]);
    }

    /// A custom prefix is folded the same way as the default one.
    #[test]
    fn custom_prefix_is_folded() {
        let mut headers = headers_from(&[("remote_user", "x"), ("Remote-User-Email", "y")]);
        strip_identity_headers(&mut headers, "Remote_User");
        assert!(headers.is_empty());
    }

    /// An empty prefix removes nothing rather than every header.
    #[test]
    fn empty_prefix_strips_nothing() {
        let mut headers = headers_from(&[("Host", "app")]);
        strip_identity_headers(&mut headers, "");
        assert_eq!(headers.len(), 1);
    }

    /// Every present field becomes a header; lists are comma-joined.
    #[test]
    fn sets_present_fields() {
        let mut headers = HeaderMap::new();
        set_identity_headers(&mut headers, &alice(), PREFIX);
        assert_eq!(headers["x-auth-request-user"], "alice-id");
        assert_eq!(headers["x-auth-request-email"], "alice@example.com");
        assert_eq!(headers["x-auth-request-preferred-username"], "Alice");
        assert_eq!(headers["x-auth-request-roles"], "reader,admin");
        assert_eq!(headers["x-auth-request-groups"], "g1");
    }

    /// Absent fields and empty lists send no header at all.
    #[test]
    fn absent_fields_send_nothing() {
        let identity = Identity {
            subject: "bob".into(),
            ..Identity::default()
        };
        let mut headers = HeaderMap::new();
        set_identity_headers(&mut headers, &identity, PREFIX);
        let names: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["x-auth-request-user"]);
    }

    /// A name with CR LF cannot inject a header: the value is left out.
    #[test]
    fn control_characters_are_left_out() {
        let identity = Identity {
            name: Some("Eve\r\nX-Auth-Request-Roles: admin".into()),
            roles: vec!["reader\n".into()],
            ..alice()
        };
        let mut headers = HeaderMap::new();
        set_identity_headers(&mut headers, &identity, PREFIX);
        assert!(headers.get("x-auth-request-preferred-username").is_none());
        assert!(headers.get("x-auth-request-roles").is_none());
        assert_eq!(headers["x-auth-request-user"], "alice-id");
    }

    /// Non-ASCII names are sent as UTF-8 bytes, not dropped.
    #[test]
    fn non_ascii_name_is_sent() {
        let identity = Identity {
            name: Some("José".into()),
            ..alice()
        };
        let mut headers = HeaderMap::new();
        set_identity_headers(&mut headers, &identity, PREFIX);
        let value = &headers["x-auth-request-preferred-username"];
        assert_eq!(value.as_bytes(), "José".as_bytes());
    }

    /// The spoofed header is replaced, not joined, by the real one.
    #[test]
    fn strip_then_set_replaces_spoofed_user() {
        let mut headers = headers_from(&[("X_Auth_Request_User", "admin")]);
        strip_identity_headers(&mut headers, PREFIX);
        set_identity_headers(&mut headers, &alice(), PREFIX);
        let users: Vec<_> = headers.get_all("x-auth-request-user").iter().collect();
        assert_eq!(users, ["alice-id"]);
        assert!(headers.get("x_auth_request_user").is_none());
    }

    /// Expiry is inclusive of the `expires` second.
    #[test]
    fn expiry_boundary() {
        let identity = alice();
        assert!(!identity.is_expired(99));
        assert!(identity.is_expired(100));
    }

    /// Names of the family in random case, with `-` or `_` between words.
    fn spelling() -> impl Strategy<Value = String> {
        "[xX][-_][aA][uU][tT][hH][-_][rR][eE][qQ][uU][eE][sS][tT][-_]\
         ([uU][sS][eE][rR]|[eE][mM][aA][iI][lL]|[rR][oO][lL][eE][sS]|[a-zA-Z_-]{0,12})"
    }

    proptest! {
        /// After strip then set, no header in the family holds a value the
        /// client sent.
        #[test]
        fn strip_then_set_leaves_no_client_header(
            spoofed in proptest::collection::vec(spelling(), 1..8),
        ) {
            let mut headers = HeaderMap::new();
            for name in &spoofed {
                let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
                headers.append(name, HeaderValue::from_static("spoofed"));
            }
            strip_identity_headers(&mut headers, PREFIX);
            set_identity_headers(&mut headers, &alice(), PREFIX);
            prop_assert!(headers.values().all(|value| value != "spoofed"));
        }
    }
}
