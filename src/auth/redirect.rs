//! Where a user goes back to after sign-in: only ever a path on this site.
//!
//! [`safe_return_path`] vets a path that came from the client (the `rd`
//! query of the sign-in start, carried through the provider in the flow
//! cookie) and falls back to `/` for anything that a browser could read as
//! another site. [`return_path_from_request`] takes it from the request
//! that needed sign-in. Building the redirect response is the flow's job.

use std::borrow::Cow;

/// The longest path kept; a longer one falls back to `/`. Far above any
/// real page address, well below header limits.
const MAX_LEN: usize = 2048;

/// How many layers of percent-encoding are peeled off before giving up.
/// Each layer is checked, so `%252F` (a `/` encoded twice) is seen.
const MAX_DECODES: usize = 4;

/// The path (and query) to send the user back to, or `/` when
/// `candidate` is not plainly a path on this site.
///
/// The path part (up to the first `?` or `#`) is kept only when, read
/// raw and after each layer of percent-decoding, it:
///
/// - starts with one `/` followed by neither `/` nor `\`: browsers read
///   `//evil` and `/\evil` as another host (WHATWG URL treats `\` as
///   `/`), and an encoded one may be decoded by a later hop (a backend
///   that redirects to its decoded path);
/// - holds no `\` and no control character: browsers drop tabs and
///   newlines, so `/%09/evil` could become `//evil`;
/// - has no `.` or `..` segment: `/..//evil` normalises to `//evil`
///   (RFC 3986 §5.2.4; WHATWG also reads `%2e%2e` as `..`), and a real
///   page address never needs them.
///
/// The query and fragment may hold anything but `\` and control
/// characters, at every layer. Raw whitespace anywhere is refused;
/// encoded spaces (`My%20Report.pdf`, `q=a%20b`) are kept.
///
/// Schemes (`https://evil`, `javascript:`) fail the leading `/`. Longer
/// than 2048 bytes, or still encoded after four layers: `/`. Non-ASCII
/// characters are percent-encoded in the result, so it is always a valid
/// `Location` header value.
pub fn safe_return_path(candidate: &str) -> String {
    if candidate.len() > MAX_LEN || !is_safe(candidate) {
        return "/".to_owned();
    }
    encode_non_ascii(candidate)
}

/// The current request's path and query, vetted by [`safe_return_path`],
/// to come back to after sign-in.
pub fn return_path_from_request(uri: &http::Uri) -> String {
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    safe_return_path(path)
}

/// Splits at the first raw `?` or `#` (what a browser would), then checks
/// the path and the rest, each raw and after every layer of decoding.
fn is_safe(candidate: &str) -> bool {
    let split = candidate.find(['?', '#']).unwrap_or(candidate.len());
    let (path, rest) = candidate.split_at(split);

    // Raw whitespace never belongs in a URL, and a browser may strip it.
    !candidate.chars().any(char::is_whitespace)
        && every_layer(path, path_layer_is_safe)
        && every_layer(rest, |layer| !has_forbidden_char(layer))
}

/// Whether `check` holds for `text` and each layer of its decoding.
fn every_layer(text: &str, check: fn(&[u8]) -> bool) -> bool {
    let mut layer: Cow<'_, [u8]> = Cow::Borrowed(text.as_bytes());
    for _ in 0..=MAX_DECODES {
        if !check(&layer) {
            return false;
        }
        match percent_decode(&layer) {
            Some(decoded) => layer = Cow::Owned(decoded),
            None => return true,
        }
    }

    // Still changing after the last layer: an attempt to outlast us.
    false
}

fn path_layer_is_safe(path: &[u8]) -> bool {
    let starts_well = path.first() == Some(&b'/') && !matches!(path.get(1), Some(b'/' | b'\\'));
    starts_well && !has_forbidden_char(path) && !has_dot_segment(path)
}

/// `\`, or a control character, ASCII or Unicode (C1 included, which
/// percent-encoded UTF-8 can hide).
fn has_forbidden_char(bytes: &[u8]) -> bool {
    bytes.iter().any(|b| *b == b'\\' || b.is_ascii_control())
        || String::from_utf8_lossy(bytes).chars().any(char::is_control)
}

/// Whether a segment is `.` or `..` (RFC 3986 §5.2.4 would remove it).
fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|b| *b == b'/')
        .any(|segment| segment == b"." || segment == b"..")
}

/// One layer of `%XX` decoding, or `None` when there is no valid escape
/// (the text is final). Invalid escapes stay as written.
fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes[i] {
            b'%' => bytes.get(i + 1..i + 3).and_then(hex_byte),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                changed = true;
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    match pair {
        [high, low] => Some((digit(*high)? * 16 + digit(*low)?) as u8),
        _ => None,
    }
}

fn encode_non_ascii(path: &str) -> String {
    if path.is_ascii() {
        return path.to_owned();
    }
    let mut out = String::with_capacity(path.len() * 3);
    for byte in path.bytes() {
        if byte.is_ascii() {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every open-redirect form we know of falls back to `/`.
    #[test]
    fn refuses_open_redirects() {
        let evil = [
            "//evil",
            "//evil.com/path",
            "/\\evil",
            "/\\\\evil",
            "\\\\evil",
            "/a\\b",
            "/%09/evil",
            "/\t/evil",
            "/\n/evil",
            "/%0a/evil",
            "/%0D%0A/evil",
            "/%2F%2Fevil",
            "/%2f/evil",
            "/%5Cevil",
            "/%5cevil",
            "/%252F%252Fevil",
            "/%25252F%25252Fevil",
            "/%2525252F%2525252Fevil",
            "https://evil",
            "http:evil",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "%2F%2Fevil",
            "/..//evil",
            "/../evil",
            "/a/../..//evil",
            "/%2e%2e//evil",
            "/%2E%2E/%2Fevil",
            "/./evil",
            "/ evil",
            "/evil page",
            "/%3F/%2e%2e/%2e%2e//evil",
            "/.%2e/%2Fevil",
            "/ok?x=%00",
            "/ok#%5C",
            "/%E2%80%8B%00",
            "/\u{3000}/evil",
            "",
            "evil",
            "?next=/",
            "#/",
        ];
        for candidate in evil {
            assert_eq!(safe_return_path(candidate), "/", "{candidate:?}");
        }
    }

    /// Ordinary paths come back whole, query and encoding included.
    #[test]
    fn keeps_good_paths() {
        let good = [
            "/",
            "/dashboard",
            "/reports/2024?sort=desc&page=2",
            "/search?q=a%20b&next=%2Fhome",
            "/files/a%2Fb",
            "/a/b/",
            "/a..b/c.d",
            "/page#section",
            "/?",
            "/files/My%20Report.pdf",
            "/%E3%80%80",
            "/search?q=..&dir=/../",
        ];
        for candidate in good {
            assert_eq!(safe_return_path(candidate), candidate);
        }
    }

    /// A `//` inside the query is not a host: the query is the page's own.
    #[test]
    fn keeps_slashes_in_query() {
        let path = "/go?to=https://example.com//x";
        assert_eq!(safe_return_path(path), path);
    }

    /// Non-ASCII text is percent-encoded so it fits a header.
    #[test]
    fn encodes_non_ascii() {
        assert_eq!(safe_return_path("/café"), "/caf%C3%A9");
    }

    /// Paths longer than the cap fall back to `/`.
    #[test]
    fn length_cap() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        assert_eq!(safe_return_path(&long), "/");
        let fits = format!("/{}", "a".repeat(MAX_LEN - 1));
        assert_eq!(safe_return_path(&fits), fits);
    }

    /// The request's path and query are kept; an absolute-form target
    /// gives only its path.
    #[test]
    fn from_request() {
        let uri: http::Uri = "/reports?x=1".parse().unwrap();
        assert_eq!(return_path_from_request(&uri), "/reports?x=1");
        let uri: http::Uri = "http://evil.example/x?y".parse().unwrap();
        assert_eq!(return_path_from_request(&uri), "/x?y");
        let uri: http::Uri = "//evil/x".parse().unwrap_or_default();
        assert!(!return_path_from_request(&uri).starts_with("//"));
    }

    proptest! {
        /// Whatever comes in, the result is a path on this site that fits
        /// a header.
        #[test]
        fn output_is_always_local(candidate in any::<String>()) {
            check_output(&safe_return_path(&candidate))?;
        }

        /// The same holds for inputs built from the risky pieces.
        #[test]
        fn risky_pieces_stay_local(
            candidate in "(/|\\\\|%2[fF]|%5[cC]|%25|%09|\\.|\\.\\.|:|evil|\\?|#| ){0,12}",
        ) {
            check_output(&safe_return_path(&candidate))?;
        }
    }

    fn check_output(out: &str) -> Result<(), TestCaseError> {
        prop_assert!(out.starts_with('/'));
        prop_assert!(!out.starts_with("//") && !out.starts_with("/\\"));
        prop_assert!(!out.chars().any(char::is_control));
        prop_assert!(http::HeaderValue::from_str(out).is_ok());
        Ok(())
    }
}
