//! The one normalised form of a request path that routes are decided on.
//!
//! [`normalize`] turns the path of a request-target, exactly as received,
//! into a canonical string, or refuses it with a [`PathError`] (the caller
//! answers 400). The router compares route patterns against this form only,
//! so two spellings of one path (`/a/./b`, `/a//b`, `/%61/b`) can never be
//! sent to different routes. The request forwarded upstream keeps its
//! original bytes: only the routing decision uses this form, and the
//! backend parses the path it receives in its own way.
//!
//! The steps, in order:
//!
//! 1. Refuse what has no business in a path: anything not starting with
//!    `/`, control characters, a raw `#` (RFC 3986 §3.5: the fragment is
//!    never sent; hyper's `Uri` already cuts it off), a raw `?` (the
//!    caller splits off the query) and `\`, which some backends read as
//!    `/`.
//! 2. Decode percent-escapes of unreserved characters and upper-case the
//!    hex of all others (RFC 3986 §6.2.2.1, §6.2.2.2), so `%2F` stays data
//!    and never becomes a separator. Escapes of control characters and of
//!    `\` are refused like their raw forms. Raw characters that RFC 3986
//!    §3.3 does not allow in a path (`"`, `{`, `|`, UTF-8, ...), some of
//!    which hyper lets through, are escaped, so `/café` and `/caf%C3%A9`
//!    are one path.
//! 3. Collapse runs of `/`, then remove dot segments (RFC 3986 §5.2.4,
//!    §6.2.2.3). Collapsing first makes `/a//../b` the path `/b`, as nginx
//!    and Go's `path.Clean` (hence Caddy, which supervise replaces) read it;
//!    the RFC alone would treat `//` as an empty segment and yield `/a/b`.
//!
//! Case, `;` and a trailing `/` are kept: paths are case-sensitive and
//! `/a/` is not `/a` to most backends.
//!
//! Forwarding the original bytes is safe only while the backend cannot
//! read them as a different path than the one routed on: `/x/../api/health`
//! routes to `/api/health`, but a backend that does not resolve dots would
//! serve `/x/../api/health` from wherever its own routing puts it, without
//! the checks of the route that path really belongs to. So
//! [`check_forwardable`] refuses dot segments and empty segments in the raw
//! path, including the spellings a backend might decode into one
//! (`%2e%2e`, `..%2F`, `..;param`). What remains between the raw path and
//! its normalised form is only escaping.

use std::fmt;

/// Why a request path was refused; the proxy answers 400 for every one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The path is empty.
    Empty,
    /// The path does not start with `/` (e.g. `*` or an absolute URL).
    NotAbsolute,
    /// A raw control character (0x00-0x1F or 0x7F), with its byte.
    ControlChar(u8),
    /// A raw `#`: a fragment is never part of a request-target.
    Fragment,
    /// A raw `?`: the query should have been split off by the caller.
    Query,
    /// A raw `\`, which some backends treat as `/`.
    Backslash,
    /// A `%` not followed by two hex digits; holds at most the `%` and the
    /// two characters after it.
    MalformedEscape(String),
    /// A percent-escape of a control character, with the decoded byte.
    EncodedControl(u8),
    /// `%5C`, an escaped `\`.
    EncodedBackslash,
    /// A `.` or `..` segment, however spelled.
    DotSegment,
    /// An empty segment (`//`) before the end of the path.
    EmptySegment,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => write!(f, "empty path"),
            PathError::NotAbsolute => write!(f, "path does not start with '/'"),
            PathError::ControlChar(b) => write!(f, "control character 0x{b:02X} in path"),
            PathError::Fragment => write!(f, "'#' in path"),
            PathError::Query => write!(f, "'?' in path"),
            PathError::DotSegment => write!(f, "'.' or '..' segment in path"),
            PathError::EmptySegment => write!(f, "empty segment ('//') in path"),
            PathError::Backslash => write!(f, "backslash in path"),
            PathError::MalformedEscape(e) => write!(f, "malformed percent-escape {e:?}"),
            PathError::EncodedControl(b) => {
                write!(f, "percent-escape %{b:02X} encodes a control character")
            }
            PathError::EncodedBackslash => write!(f, "percent-escape %5C encodes a backslash"),
        }
    }
}

impl std::error::Error for PathError {}

/// Normalises `raw_path`, the path of a request-target without its query
/// (what `http::Uri::path` returns), into the form routes are matched on.
///
/// The result starts with `/`, has no empty, `.` or `..` segment, and
/// writes every byte outside the unreserved set as `%XX` with upper-case
/// hex exactly when the client escaped it. It is idempotent:
/// `normalize(normalize(p)?) == normalize(p)`.
pub fn normalize(raw_path: &str) -> Result<String, PathError> {
    check_raw(raw_path)?;
    let decoded = normalize_escapes(raw_path)?;
    Ok(resolve_segments(&decoded))
}

/// Refuses a raw path that a backend could resolve to another path than
/// its normalised form: one with a `.` or `..` segment, also when spelled
/// `%2e`, followed by `;parameters` or ended by an escaped `/` (`%2F`),
/// and one with an empty segment anywhere but at the very end.
pub fn check_forwardable(raw_path: &str) -> Result<(), PathError> {
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() {
        return Ok(());
    }
    for segment in path.split('/') {
        if segment.is_empty() {
            return Err(PathError::EmptySegment);
        }
        if split_escaped_slashes(segment).any(is_dot_segment) {
            return Err(PathError::DotSegment);
        }
    }
    Ok(())
}

/// The parts of `segment` between escaped slashes, which many backends
/// decode before they route.
fn split_escaped_slashes(segment: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(segment);
    std::iter::from_fn(move || {
        let text = rest?;
        let at = text
            .as_bytes()
            .windows(3)
            .position(|w| w.eq_ignore_ascii_case(b"%2f"));
        match at {
            Some(at) => {
                rest = Some(&text[at + 3..]);
                Some(&text[..at])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// `.` or `..`, each dot possibly written `%2e`, before any `;`.
fn is_dot_segment(part: &str) -> bool {
    let name = part.split(';').next().unwrap_or(part);
    let mut dots = 0;
    let mut rest = name.as_bytes();
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
            rest = &rest[3..];
        } else {
            return false;
        }
        dots += 1;
    }
    dots == 1 || dots == 2
}

/// Step 1: refuses characters that have no place in a request path.
fn check_raw(raw: &str) -> Result<(), PathError> {
    if raw.is_empty() {
        return Err(PathError::Empty);
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    for b in raw.bytes() {
        match b {
            0x00..=0x1F | 0x7F => return Err(PathError::ControlChar(b)),
            b'#' => return Err(PathError::Fragment),
            b'?' => return Err(PathError::Query),
            b'\\' => return Err(PathError::Backslash),
            _ => {}
        }
    }
    Ok(())
}

/// Step 2: decodes escapes of unreserved characters, upper-cases the hex
/// of the rest (RFC 3986 §6.2.2.1, §6.2.2.2), and escapes raw characters
/// a path may not hold unescaped (RFC 3986 §2.1, §3.3).
fn normalize_escapes(raw: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let byte = escaped_byte(chars.next(), chars.next())?;
            push_decoded(&mut out, byte)?;
        } else if is_path_char(c) {
            out.push(c);
        } else {
            let mut utf8 = [0; 4];
            c.encode_utf8(&mut utf8)
                .bytes()
                .for_each(|b| push_hex(&mut out, b));
        }
    }
    Ok(out)
}

/// The byte that `%` followed by `hi` and `lo` encodes (RFC 3986 §2.1).
fn escaped_byte(hi: Option<char>, lo: Option<char>) -> Result<u8, PathError> {
    let digit = |c: Option<char>| c.and_then(|c| c.to_digit(16));
    match (digit(hi), digit(lo)) {
        // Both are below 16, so the sum fits a byte.
        (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
        _ => {
            let shown = ['%'].into_iter().chain(hi).chain(lo).collect();
            Err(PathError::MalformedEscape(shown))
        }
    }
}

/// Appends a byte the client escaped: the character itself if unreserved
/// (RFC 3986 §2.3, §6.2.2.2), else the escape again, in upper case.
fn push_decoded(out: &mut String, byte: u8) -> Result<(), PathError> {
    match byte {
        0x00..=0x1F | 0x7F => return Err(PathError::EncodedControl(byte)),
        b'\\' => return Err(PathError::EncodedBackslash),
        _ if is_unreserved(byte) => out.push(char::from(byte)),
        _ => push_hex(out, byte),
    }
    Ok(())
}

/// Appends `%XX` with upper-case hex (RFC 3986 §2.1).
fn push_hex(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0F)]));
}

/// Whether `c` may stand unescaped in a path: `pchar` or `/` (RFC 3986
/// §3.3). hyper also lets `"`, `{`, `}`, `[`, `]`, `^`, `|` and UTF-8
/// through raw; escaping them makes `/café` and `/caf%C3%A9` one path.
fn is_path_char(c: char) -> bool {
    let sub_delim_or_extra = "!$&'()*+,;=:@/".contains(c);
    c.is_ascii() && (is_unreserved(c as u8) || sub_delim_or_extra)
}

/// RFC 3986 §2.3: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Step 3: collapses `//` and removes dot segments.
///
/// Skipping empty segments is the collapse; doing it while walking the
/// segments means `..` can never pop an empty segment, which is what
/// "collapse first" requires. A `..` at the root stays at the root, and a
/// path ending in `.` or `..` ends in `/` (RFC 3986 §5.2.4: `/a/b/..` is
/// `/a/`).
fn resolve_segments(decoded: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut ends_in_dot = false;
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        ends_in_dot = matches!(segment, "." | "..");
        match segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    join_segments(&kept, ends_in_dot || decoded.ends_with('/'))
}

/// `/` followed by the segments joined with `/`, plus a final `/` when
/// asked and there is a segment to put it after.
fn join_segments(segments: &[&str], trailing_slash: bool) -> String {
    let mut out = String::with_capacity(segments.iter().map(|s| s.len() + 1).sum::<usize>() + 1);
    for segment in segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Asserts each `(input, expected)` pair, naming the failing input.
    fn check_table(table: &[(&str, Result<&str, PathError>)]) {
        for (input, expected) in table {
            let expected = expected.clone().map(str::to_owned);
            assert_eq!(normalize(input), expected, "input {input:?}");
        }
    }

    /// Raw paths a backend could read as another path are refused for
    /// forwarding, in every spelling; ordinary paths pass.
    #[test]
    fn forwardable_paths() {
        let refused = [
            ("/api/health/../x", PathError::DotSegment),
            ("/api/health/%2e%2e/x", PathError::DotSegment),
            ("/api/health/%2E./x", PathError::DotSegment),
            ("/a/./b", PathError::DotSegment),
            ("/public/..%2Fadmin", PathError::DotSegment),
            ("/public/..%2fadmin", PathError::DotSegment),
            ("/public/..;x/admin", PathError::DotSegment),
            ("/public/%2e;/admin", PathError::DotSegment),
            ("/..", PathError::DotSegment),
            ("//api//health", PathError::EmptySegment),
            ("/a//b", PathError::EmptySegment),
        ];
        for (path, error) in refused {
            assert_eq!(check_forwardable(path), Err(error), "{path}");
        }
        for path in [
            "/",
            "/a",
            "/a/",
            "/a/b.c",
            "/...",
            "/a/..b/.c",
            "/api%2Fhealth",
            "/x;y",
        ] {
            assert_eq!(check_forwardable(path), Ok(()), "{path}");
        }
    }

    /// Dot segments, literal or escaped, are removed and never climb above
    /// the root.
    #[test]
    fn removes_dot_segments() {
        check_table(&[
            ("/a/b/../c", Ok("/a/c")),
            ("/a/./b", Ok("/a/b")),
            ("/a/%2e%2e/b", Ok("/b")),
            ("/a/b/%2E%2e/", Ok("/a/")),
            ("/a/b/.%2e/c", Ok("/a/c")),
            ("/a/b/..", Ok("/a/")),
            ("/a/.", Ok("/a/")),
            ("/..", Ok("/")),
            ("/../x", Ok("/x")),
            ("/a/b/../../..", Ok("/")),
            ("/.", Ok("/")),
            ("/...", Ok("/...")),
            ("/a/..b/.c", Ok("/a/..b/.c")),
        ]);
    }

    /// Runs of `/` collapse, before dot segments are removed.
    #[test]
    fn collapses_slashes_before_dots() {
        check_table(&[
            ("//", Ok("/")),
            ("///x", Ok("/x")),
            ("//a///b", Ok("/a/b")),
            ("/a//../b", Ok("/b")),
            ("/a/b//", Ok("/a/b/")),
        ]);
    }

    /// Unreserved escapes are decoded; every other escape stays, with
    /// upper-case hex, so an encoded `/` is never a separator.
    #[test]
    fn decodes_only_unreserved_escapes() {
        check_table(&[
            ("/a%2fb", Ok("/a%2Fb")),
            ("/a%2Fb", Ok("/a%2Fb")),
            ("/%41", Ok("/A")),
            ("/%7e", Ok("/~")),
            ("/%2D%5f%30", Ok("/-_0")),
            ("/a%20b", Ok("/a%20b")),
            ("/a%23", Ok("/a%23")),
            ("/a%3fb", Ok("/a%3Fb")),
            ("/%c3%a9", Ok("/%C3%A9")),
            ("/%2e%2e%2fx", Ok("/..%2Fx")),
        ]);
    }

    /// Raw characters a path may not hold unescaped are escaped, so both
    /// spellings of such a path are one.
    #[test]
    fn escapes_raw_characters_outside_pchar() {
        check_table(&[
            ("/café", Ok("/caf%C3%A9")),
            ("/caf%c3%a9", Ok("/caf%C3%A9")),
            ("/a b", Ok("/a%20b")),
            ("/{\"a\"}", Ok("/%7B%22a%22%7D")),
            ("/a[0]|^`<>", Ok("/a%5B0%5D%7C%5E%60%3C%3E")),
        ]);
    }

    /// `;`, case and a trailing slash are kept as written.
    #[test]
    fn keeps_semicolon_case_and_trailing_slash() {
        check_table(&[
            ("/a;b", Ok("/a;b")),
            ("/api/health;x", Ok("/api/health;x")),
            ("/API/Health", Ok("/API/Health")),
            ("/a/", Ok("/a/")),
            ("/", Ok("/")),
            ("/a!$&'()*+,=:@", Ok("/a!$&'()*+,=:@")),
        ]);
    }

    /// Malformed escapes are refused, echoing only the escape.
    #[test]
    fn refuses_malformed_escapes() {
        let bad = |s: &str| Err(PathError::MalformedEscape(s.to_owned()));
        check_table(&[
            ("/a%", bad("%")),
            ("/a%4", bad("%4")),
            ("/a%zz/b", bad("%zz")),
            ("/a%4g", bad("%4g")),
            ("/a%%41", bad("%%4")),
            ("/a%é1", bad("%é1")),
        ]);
    }

    /// Control characters, `\`, `#` and `?`, raw or escaped where that
    /// matters, are refused.
    #[test]
    fn refuses_forbidden_characters() {
        check_table(&[
            ("/a\0b", Err(PathError::ControlChar(0))),
            ("/a\nb", Err(PathError::ControlChar(b'\n'))),
            ("/a\x7f", Err(PathError::ControlChar(0x7F))),
            ("/a%00", Err(PathError::EncodedControl(0))),
            ("/a%0d%0a", Err(PathError::EncodedControl(0x0D))),
            ("/a%7F", Err(PathError::EncodedControl(0x7F))),
            ("/a\\b", Err(PathError::Backslash)),
            ("/a%5cb", Err(PathError::EncodedBackslash)),
            ("/a%5C", Err(PathError::EncodedBackslash)),
            ("/a#b", Err(PathError::Fragment)),
            ("/a?b", Err(PathError::Query)),
        ]);
    }

    /// A path must be non-empty and start with `/`.
    #[test]
    fn refuses_relative_paths() {
        check_table(&[
            ("", Err(PathError::Empty)),
            ("a/b", Err(PathError::NotAbsolute)),
            ("*", Err(PathError::NotAbsolute)),
            ("http://x/a", Err(PathError::NotAbsolute)),
        ]);
    }

    /// Error messages name the problem without echoing the path.
    #[test]
    fn errors_do_not_echo_the_path() {
        let err = normalize("/secret-token/%zz").unwrap_err();
        assert_eq!(err.to_string(), "malformed percent-escape \"%zz\"");
        let err = normalize("/secret-token/%0a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "percent-escape %0A encodes a control character"
        );
    }

    /// Whether `out` holds a `%XX` that is lower-case or encodes an
    /// unreserved character, which normalisation must never leave.
    fn has_unnormal_escape(out: &str) -> bool {
        let bytes = out.as_bytes();
        bytes.iter().enumerate().any(|(i, &b)| {
            if b != b'%' {
                return false;
            }
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.map(|h| (h, u8::from_str_radix(h, 16))) {
                Some((h, Ok(byte))) => h != h.to_ascii_uppercase() || is_unreserved(byte),
                _ => true,
            }
        })
    }

    /// Paths built from the pieces that matter to normalisation.
    fn tricky_path() -> impl Strategy<Value = String> {
        let pieces = [
            "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%41", "%7e", "%20", "a", "B", ";",
            "%", "%4", "%zz", "%00", "%5c", "\\", "#", "?", "é", "%c3%a9", "~",
        ];
        prop::collection::vec(prop::sample::select(pieces.to_vec()), 0..12)
            .prop_map(|parts| format!("/{}", parts.concat()))
    }

    /// Checks every property an `Ok` output of `normalize` must have.
    fn assert_normal(out: &str) {
        assert!(out.starts_with('/'), "{out:?}");
        assert!(!out.contains("//"), "{out:?}");
        assert!(!out.contains("/./") && !out.contains("/../"), "{out:?}");
        assert!(!out.ends_with("/.") && !out.ends_with("/.."), "{out:?}");
        assert!(!has_unnormal_escape(out), "{out:?}");
        assert!(out.chars().all(|c| c == '%' || is_path_char(c)), "{out:?}");
        assert_eq!(normalize(out).as_deref(), Ok(out), "not idempotent");
    }

    proptest! {
        /// `normalize` never panics, and its output is in normal form and
        /// a fixed point, for arbitrary strings.
        #[test]
        fn arbitrary_strings_normalise_to_fixed_points(raw in any::<String>()) {
            for candidate in [raw.clone(), format!("/{raw}")] {
                if let Ok(out) = normalize(&candidate) {
                    assert_normal(&out);
                }
            }
        }

        /// The same properties hold for paths dense in dots, slashes and
        /// escapes.
        #[test]
        fn tricky_paths_normalise_to_fixed_points(raw in tricky_path()) {
            if let Ok(out) = normalize(&raw) {
                assert_normal(&out);
            }
        }
    }
}
