//! The `ready:` section of a process: what to probe (an `http://` URL or
//! a `host:port` to connect to) and how often, read into a [`ReadyProbe`].
//!
//! Only plain HTTP is accepted: the probe talks to the process over
//! loopback, where TLS buys nothing and would need a certificate to trust.

use std::time::Duration;

use super::error::Report;
use super::fields::{positive_duration, quoted, text, Section};
use super::types::{ProbeTarget, ReadyProbe};
use super::yaml::Node;

const KEYS: [&str; 4] = ["http", "tcp", "interval", "timeout"];
const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Reads a `ready:` mapping.
pub(super) fn read(node: &Node, path: &str, report: &mut Report) -> Option<ReadyProbe> {
    let what = "a mapping with `http` or `tcp`";
    let section = Section::open(node, path, &KEYS, what, report)?;
    let target = target(&section, report);
    let interval = section.read_or("interval", DEFAULT_INTERVAL, report, positive_duration);
    let timeout = section.read_or("timeout", DEFAULT_TIMEOUT, report, positive_duration);
    Some(ReadyProbe {
        target: target?,
        interval: interval?,
        timeout: timeout?,
    })
}

/// Exactly one of `http` and `tcp`.
fn target(section: &Section, report: &mut Report) -> Option<ProbeTarget> {
    let message = match (section.get("http"), section.get("tcp")) {
        (Some((node, path)), None) => return http(node, &path, report).map(ProbeTarget::Http),
        (None, Some((node, path))) => return tcp(node, &path, report).map(ProbeTarget::Tcp),
        (Some(_), Some(_)) => "set exactly one of `http` and `tcp`, not both",
        (None, None) => "set what to probe: `http: URL` or `tcp: host:port`",
    };
    report.error(section.at, &section.path, message);
    None
}

fn http(node: &Node, path: &str, report: &mut Report) -> Option<http::Uri> {
    let scalar = text(node, path, "an `http://` URL", report)?;
    match check_url(&scalar.value) {
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

/// An `http://` URL with a host.
fn check_url(url: &str) -> Result<http::Uri, &'static str> {
    const NOT_HTTP: &str = "is not an `http://` URL, e.g. `http://127.0.0.1:5000/health`";

    // Without a scheme, `Uri` reads `host:port/path` as nonsense; saying
    // what is missing helps more than "not a valid URL".
    if !url.contains("://") {
        return Err(NOT_HTTP);
    }
    let uri: http::Uri = url.parse().map_err(|_| "is not a valid URL")?;
    let has_host = uri.host().is_some_and(|host| !host.is_empty());
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http") if has_host => Ok(uri),
        Some("http") => Err("has no host"),
        Some("https") => Err("uses https, which is not supported for readiness probes; \
                             probe the process over plain `http://` on loopback"),
        _ => Err(NOT_HTTP),
    }
}

fn tcp(node: &Node, path: &str, report: &mut Report) -> Option<String> {
    let scalar = text(node, path, "a `host:port` address", report)?;
    match check_address(&scalar.value) {
        Ok(()) => Some(scalar.value.clone()),
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

/// `host:port`, with an IPv6 host in brackets (`[::1]:5000`).
fn check_address(address: &str) -> Result<(), &'static str> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err("is not `host:port`, e.g. `127.0.0.1:5000`");
    };
    let bare_host = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.strip_suffix(']'),
        None => Some(host).filter(|h| !h.contains(':')),
    };
    let host_ok = bare_host
        .is_some_and(|h| !h.is_empty() && !h.contains(|c: char| c.is_whitespace() || c == '/'));
    if !host_ok {
        return Err("has no valid host; expected `host:port`, e.g. `127.0.0.1:5000`");
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err("has an invalid port; expected a number from 1 to 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// URLs must be `http://` with a host; https is refused with a reason.
    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:5000/api/health").is_ok());
        assert!(check_url("HTTP://localhost").is_ok());
        assert!(check_url("http:///x").is_err());
        assert!(check_url("https://x/").is_err_and(|e| e.contains("https")));
        assert!(check_url("ftp://x/").is_err_and(|e| e.contains("`http://`")));
        assert!(check_url("localhost:5000").is_err_and(|e| e.contains("`http://`")));
        assert!(check_url("http://a b/").is_err_and(|e| e.contains("valid URL")));
    }

    /// Addresses need a host and a port in range; IPv6 goes in brackets.
    #[test]
    fn addresses() {
        for good in ["127.0.0.1:5000", "localhost:1", "[::1]:65535"] {
            assert_eq!(check_address(good), Ok(()), "{good}");
        }
        for bad in [
            "127.0.0.1",
            ":5000",
            "::1:80",
            "a b:80",
            "h:0",
            "h:65536",
            "h:x",
            "[]:80",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }
}
