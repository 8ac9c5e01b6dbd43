//! `proxy.upstreams`: where routes send requests, read into
//! [`UpstreamSpec`]s: each one's URL, normalised to `http://host:port/`,
//! the supervised process behind it, and an optional `Host` override.
//!
//! Only plain-HTTP upstreams are accepted: the backend listens on
//! loopback beside supervise, where TLS buys nothing and would need a
//! certificate to trust. The process must be one of this file's, so that
//! requests can wait while it restarts.

use http::uri::{Authority, Uri};

use super::error::Report;
use super::fields::{check_name, mapping, quoted, text, Section};
use super::proxy::port_number;
use super::scalar::Kind;
use super::types::UpstreamSpec;
use super::yaml::{child_path, Entry, Node, NodeKind};

const KEYS: [&str; 3] = ["url", "process", "host"];

/// What a plain HTTP URL connects to when it names no port.
const HTTP_PORT: u16 = 80;

const NOT_HTTP: &str = "is not an `http://` URL, e.g. `http://127.0.0.1:5000`";

/// The value of `upstreams:`, a mapping of names to settings; nothing
/// at all is an empty one.
pub(super) fn read(
    node: &Node,
    path: &str,
    processes: &[String],
    report: &mut Report,
) -> Option<Vec<UpstreamSpec>> {
    if matches!(&node.kind, NodeKind::Scalar(scalar) if scalar.kind() == Kind::Null) {
        return Some(Vec::new());
    }
    let what = "a mapping of upstream names to their settings";
    let entries = mapping(node, path, what, report)?;
    let read_one = |entry| upstream(entry, path, processes, report);
    let upstreams: Vec<Option<UpstreamSpec>> = entries.iter().map(read_one).collect();
    upstreams.into_iter().collect()
}

fn upstream(
    entry: &Entry,
    parent: &str,
    processes: &[String],
    report: &mut Report,
) -> Option<UpstreamSpec> {
    let path = child_path(parent, entry.key.shown());
    check_name(entry, &path, "upstream", report);
    let what = "a mapping with at least `url`";
    let section = Section::open(&entry.value, &path, &KEYS, what, report)?;
    let url = section.required("url", report, upstream_url);
    let process = section.read_or("process", None, report, |node, path, report| {
        process(node, path, processes, report).map(Some)
    });
    let host = section.read_or("host", None, report, |node, path, report| {
        host(node, path, report).map(Some)
    });
    Some(UpstreamSpec {
        name: entry.key.value.clone(),
        url: url?,
        process: process?,
        host: host?,
    })
}

fn upstream_url(node: &Node, path: &str, report: &mut Report) -> Option<Uri> {
    let scalar = text(node, path, "an `http://host:port` URL", report)?;
    match check_upstream_url(&scalar.value) {
        Ok(uri) => Some(uri),
        Err(problem) => {
            report.error(
                node.at,
                path,
                format!("{} {problem}", quoted(scalar.shown())),
            );
            None
        }
    }
}

/// `http://host[:port]` with nothing after but `/`, as
/// `http://host:port/` with the port written out.
fn check_upstream_url(url: &str) -> Result<Uri, &'static str> {
    // `Uri` drops a fragment without a word, and reads `host:port`
    // without a scheme as nonsense; both are said here instead.
    if url.contains('#') {
        return Err("holds a `#` fragment; an upstream URL is only `http://host:port`");
    }
    if !url.contains("://") {
        return Err(NOT_HTTP);
    }
    let uri: Uri = url.parse().map_err(|_| "is not a valid URL")?;
    check_scheme(&uri)?;
    let authority = uri.authority().ok_or("has no host")?;
    if uri.query().is_some() {
        return Err("has a query; an upstream URL is only `http://host:port`");
    }
    if uri.path() != "/" {
        return Err(
            "has a path; an upstream URL is only `http://host:port`, and each \
             request keeps its own path",
        );
    }
    normalised(authority)
}

fn check_scheme(uri: &Uri) -> Result<(), &'static str> {
    match uri.scheme_str() {
        Some("http") => Ok(()),
        Some("https") => Err(
            "uses https, but TLS to upstreams is not supported; reach the \
             process over plain `http://` on loopback",
        ),
        _ => Err(NOT_HTTP),
    }
}

/// `http://host:port/` from the authority of an upstream URL.
fn normalised(authority: &Authority) -> Result<Uri, &'static str> {
    if authority.as_str().contains('@') {
        return Err(
            "holds a user name or password, which an upstream URL cannot; \
             send credentials with `header_up`",
        );
    }
    let host = authority.host();
    if host.is_empty() {
        return Err("has no host");
    }
    let port = match authority.as_str().strip_prefix(host) {
        Some("") => HTTP_PORT,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(port_number)
            .filter(|port| *port != 0)
            .ok_or("has an invalid port; expected a number from 1 to 65535")?,
        None => return Err("is not a valid URL"),
    };
    format!("http://{host}:{port}/")
        .parse()
        .map_err(|_| "is not a valid URL")
}

/// `process: NAME`, which `processes:` must define.
fn process(node: &Node, path: &str, processes: &[String], report: &mut Report) -> Option<String> {
    let scalar = text(node, path, "the name of a process", report)?;
    if processes.contains(&scalar.value) {
        return Some(scalar.value.clone());
    }
    let shown = quoted(scalar.shown());
    let message = if processes.is_empty() {
        format!("{shown} is not a process of this file, which defines none")
    } else {
        let names = processes.join(", ");
        format!("{shown} is not a process of this file; the processes are: {names}")
    };
    report.error(node.at, path, message);
    None
}

/// A `Host` header value: `host` or `host:port`.
fn host(node: &Node, path: &str, report: &mut Report) -> Option<String> {
    let scalar = text(node, path, "a host name", report)?;
    let value = &scalar.value;
    let valid = !value.contains('@')
        && http::HeaderValue::from_str(value).is_ok()
        && value.parse::<Authority>().is_ok();
    if valid {
        return Some(value.clone());
    }
    let message = format!(
        "{} is not a valid `Host` header; expected `host` or `host:port`",
        quoted(scalar.shown())
    );
    report.error(node.at, path, message);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream URLs are normalised to `http://host:port/`.
    #[test]
    fn upstream_urls() {
        let cases = [
            ("http://127.0.0.1:5000", "http://127.0.0.1:5000/"),
            ("http://127.0.0.1:5000/", "http://127.0.0.1:5000/"),
            ("HTTP://backend", "http://backend:80/"),
            ("http://[::1]:81", "http://[::1]:81/"),
        ];
        for (text, expected) in cases {
            let uri = check_upstream_url(text).expect(text);
            assert_eq!(uri.to_string(), expected, "{text}");
        }
    }

    /// Each kind of bad upstream URL gets its own reason.
    #[test]
    fn bad_upstream_urls() {
        let cases = [
            (
                "https://127.0.0.1:5000",
                "TLS to upstreams is not supported",
            ),
            ("127.0.0.1:5000", "is not an `http://` URL"),
            ("ftp://h", "is not an `http://` URL"),
            ("http://h/api", "has a path"),
            ("http://h/?a=1", "has a query"),
            ("http://h/#x", "fragment"),
            ("http://u:p@h:80", "user name or password"),
            ("http://h:99999", "invalid port"),
            ("http://h:0", "invalid port"),
            ("http://h:", "invalid port"),
            ("http://a b", "not a valid URL"),
        ];
        for (text, fragment) in cases {
            let error = check_upstream_url(text).expect_err(text);
            assert!(error.contains(fragment), "{text}: {error}");
        }
    }
}
