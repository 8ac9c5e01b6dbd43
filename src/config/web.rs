//! The shapes of the web names that the `auth:` section and route rules
//! hold: origins (`public_url`, Azure's `authority`), issuer URLs, domain
//! names and loopback hosts. Each check says why a text is wrong without
//! repeating it, so that the caller decides how to quote it.
//!
//! Plain `http://` is accepted only where nothing leaves the machine: a
//! loopback host (127.0.0.0/8, `::1`, `localhost`), which tests and local
//! identity providers use. Anywhere else a token or a session cookie would
//! travel in the clear.

use std::net::IpAddr;

use http::uri::{Authority, Uri};

use super::proxy::port_number;

/// The longest domain name DNS allows, and the longest label.
const MAX_DOMAIN_BYTES: usize = 253;
const MAX_LABEL_BYTES: usize = 63;

const NOT_HTTPS: &str = "is not an `https://` URL, e.g. `https://app.example.com`";
const PLAIN_HTTP: &str = "uses `http://` on a host that is not loopback; use `https://`, \
                          or `http://` on 127.0.0.1, ::1 or localhost for local testing";

/// `https://host[:port]` with nothing after but `/`, or the same with
/// `http://` on a loopback host, as `scheme://host[:port]/`.
pub(super) fn origin(text: &str) -> Result<Uri, &'static str> {
    let uri = web_url(text)?;
    if uri.query().is_some() {
        return Err("has a query; write only `https://host[:port]`");
    }
    if uri.path() != "/" {
        return Err("has a path; write only `https://host[:port]`, with no path after it");
    }
    let (scheme, authority) = (uri.scheme_str(), uri.authority());
    let (Some(scheme), Some(authority)) = (scheme, authority) else {
        return Err("is not a valid URL");
    };
    format!("{scheme}://{authority}/")
        .parse()
        .map_err(|_| "is not a valid URL")
}

/// An issuer: an `https://` URL (or `http://` on a loopback host) with
/// any path but no query. Issuers are compared exactly, so the text is
/// kept as written and only checked here.
pub(super) fn issuer(text: &str) -> Result<(), &'static str> {
    let uri = web_url(text)?;
    if uri.query().is_some() || text.contains('?') {
        return Err("has a query; an issuer is a URL with a path at most");
    }
    Ok(())
}

/// A URL with an `https` scheme, or `http` on a loopback host, and a
/// valid host and port; no fragment, no user name or password.
fn web_url(text: &str) -> Result<Uri, &'static str> {
    // `Uri` drops a fragment without a word and reads `host:port`
    // without a scheme as nonsense; both are said here instead.
    if text.contains('#') {
        return Err("holds a `#` fragment, which a server never sees; remove it");
    }
    if !text.contains("://") {
        return Err(NOT_HTTPS);
    }
    let uri: Uri = text.parse().map_err(|_| "is not a valid URL")?;
    let authority = uri.authority().ok_or("has no host")?;
    check_authority(authority)?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback_host(authority.host()) => Ok(uri),
        Some("http") => Err(PLAIN_HTTP),
        _ => Err(NOT_HTTPS),
    }
}

/// A host, and a port from 1 to 65535 when one is written.
fn check_authority(authority: &Authority) -> Result<(), &'static str> {
    if authority.as_str().contains('@') {
        return Err("holds a user name or password, which this URL cannot");
    }
    let host = authority.host();
    if host.is_empty() {
        return Err("has no host");
    }
    match authority.as_str().strip_prefix(host) {
        Some("") => Ok(()),
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(port_number)
            .filter(|port| *port != 0)
            .map(|_| ())
            .ok_or("has an invalid port; expected a number from 1 to 65535"),
        None => Err("is not a valid URL"),
    }
}

/// `localhost`, an address in 127.0.0.0/8, or `::1` (bracketed, as a
/// URL writes it, or not).
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// A DNS name of two labels or more, such as `example.com`: letters,
/// digits and `-` (not first or last in a label), and a last label of
/// letters only. Any case.
pub(super) fn is_domain(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    let top_is_word = labels
        .last()
        .is_some_and(|top| top.len() >= 2 && top.bytes().all(|b| b.is_ascii_alphabetic()));
    text.len() <= MAX_DOMAIN_BYTES
        && labels.len() >= 2
        && top_is_word
        && labels.iter().all(|label| is_label(label))
}

fn is_label(label: &str) -> bool {
    let valid_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    (1..=MAX_LABEL_BYTES).contains(&label.len())
        && label.bytes().all(valid_byte)
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hexadecimal digits.
pub(super) fn is_guid(text: &str) -> bool {
    const HYPHENS: [usize; 4] = [8, 13, 18, 23];
    text.len() == 36
        && text.bytes().enumerate().all(|(index, byte)| {
            if HYPHENS.contains(&index) {
                byte == b'-'
            } else {
                byte.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Origins are normalised to `scheme://host[:port]/`.
    #[test]
    fn origins() {
        let cases = [
            ("https://app.example.com", "https://app.example.com/"),
            ("https://app.example.com/", "https://app.example.com/"),
            (
                "https://app.example.com:8443",
                "https://app.example.com:8443/",
            ),
            ("http://127.0.0.1:5001", "http://127.0.0.1:5001/"),
            ("http://localhost:5001", "http://localhost:5001/"),
            ("http://[::1]:5001", "http://[::1]:5001/"),
            ("http://127.1.2.3", "http://127.1.2.3/"),
        ];
        for (text, expected) in cases {
            let uri = origin(text).expect(text);
            assert_eq!(uri.to_string(), expected, "{text}");
        }
    }

    /// Each kind of bad origin gets its own reason.
    #[test]
    fn bad_origins() {
        let cases = [
            ("http://app.example.com", "not loopback"),
            ("http://0.0.0.0:5001", "not loopback"),
            ("app.example.com", "is not an `https://` URL"),
            ("ftp://app.example.com", "is not an `https://` URL"),
            ("https://app.example.com/app", "has a path"),
            ("https://app.example.com/?a=1", "has a query"),
            ("https://app.example.com/#x", "fragment"),
            ("https://u:p@app.example.com", "user name or password"),
            ("https://app.example.com:0", "invalid port"),
            ("https://app.example.com:99999", "invalid port"),
            ("https://a b", "not a valid URL"),
        ];
        for (text, fragment) in cases {
            let error = origin(text).expect_err(text);
            assert!(error.contains(fragment), "{text}: {error}");
        }
    }

    /// Issuers may have a path; http only on loopback; no query.
    #[test]
    fn issuers() {
        for text in [
            "https://login.example.com/realms/app",
            "https://accounts.google.com",
            "http://127.0.0.1:3000/",
            "http://localhost:3000/oidc",
        ] {
            assert_eq!(issuer(text), Ok(()), "{text}");
        }
        for (text, fragment) in [
            ("http://idp.example.com", "not loopback"),
            ("https://idp.example.com/?tenant=1", "has a query"),
            ("https://idp.example.com/?", "has a query"),
            ("https://idp.example.com/#a", "fragment"),
            ("idp.example.com", "is not an `https://` URL"),
        ] {
            let error = issuer(text).expect_err(text);
            assert!(error.contains(fragment), "{text}: {error}");
        }
    }

    /// Loopback hosts are the 127/8 network, ::1 and localhost.
    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "0.0.0.0",
            "10.0.0.1",
            "[::]",
            "localhost.example.com",
            "128.0.0.1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        assert!(is_loopback_host("[::ffff:127.0.0.1]"));
    }

    /// Domains and tenant GUIDs have their expected shapes.
    #[test]
    fn domains_and_guids() {
        for text in ["example.com", "contoso.onmicrosoft.com", "a-b.c0.IO"] {
            assert!(is_domain(text), "{text}");
        }
        for text in [
            "com", "example", "-a.com", "a-.com", "a..com", ".a.com", "a.c0m", "a@b.com",
        ] {
            assert!(!is_domain(text), "{text}");
        }
        assert!(is_guid("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert!(is_guid("72F988BF-86F1-41AF-91AB-2D7CD011DB47"));
        assert!(!is_guid("72f988bf86f141af91ab2d7cd011db47"));
        assert!(!is_guid("72f988bf-86f1-41af-91ab-2d7cd011db4g"));
    }

    proptest! {
        /// The URL checks never panic, and an accepted origin is https or
        /// loopback http, without a path.
        #[test]
        fn origin_checks_never_panic(text in "[a-z0-9:/.\\[\\]@?#%-]{0,40}") {
            let _ = issuer(&text);
            let _ = is_domain(&text);
            if let Ok(uri) = origin(&text) {
                prop_assert_eq!(uri.path(), "/");
                let host = uri.host().unwrap_or_default();
                prop_assert!(uri.scheme_str() == Some("https") || is_loopback_host(host));
            }
        }
    }
}
