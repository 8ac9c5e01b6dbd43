//! The `proxy:` section: the listener, its TLS files, the trusted
//! proxies, worker threads, timeouts, limits and upstreams, read into a
//! [`ProxySpec`] with the defaults of the product contract filled in. The
//! upstreams are read by the sibling module `upstreams`, the routes by
//! `routes`, their header settings by `headers`.
//!
//! Sizes (`max_header_bytes`) are written as a number of bytes or with a
//! unit: `KiB` and `MiB` count in 1024s, `KB` and `MB` in 1000s, as in
//! Caddy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::error::Report;
use super::fields::{
    count, count_in, duration, existing_path, list, positive_duration, quoted, text, PathKind,
    Section,
};
use super::routes;
use super::types::{IpNet, ProxySpec, RouteSpec, Timeouts, TlsSpec};
use super::upstreams;
use super::yaml::{item_path, Node, NodeKind};

const KEYS: [&str; 11] = [
    "listen",
    "tls",
    "trusted_proxies",
    "workers",
    "timeouts",
    "max_header_bytes",
    "retry_window",
    "max_waiting",
    "drain_timeout",
    "upstreams",
    "routes",
];
const TLS_KEYS: [&str; 2] = ["cert", "key"];
const TIMEOUT_KEYS: [&str; 5] = [
    "connect",
    "response_header",
    "idle",
    "client_header",
    "client_idle",
];

const DEFAULT_WORKERS: u32 = 1;
const MAX_WORKERS: u32 = 64;
const DEFAULT_MAX_HEADER_BYTES: u64 = 64 * 1024;
const MIN_HEADER_BYTES: u64 = 1024;
const MAX_HEADER_BYTES: u64 = 1024 * 1024;
const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(10);
const DEFAULT_MAX_WAITING: u32 = 1024;
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What reading the proxy needs from outside its section.
pub(super) struct Context<'a> {
    /// The config file's folder, which relative TLS paths start from.
    pub(super) base_dir: &'a Path,
    /// The names under `processes:`, valid or not.
    pub(super) processes: &'a [String],
    /// Whether the file has an `auth` section.
    pub(super) has_auth: bool,
    /// The health path, when it is valid.
    pub(super) health_path: Option<&'a str>,
}

/// The settings that are plain numbers and durations.
struct Limits {
    workers: usize,
    max_header_bytes: usize,
    retry_window: Duration,
    max_waiting: usize,
    drain_timeout: Duration,
}

/// Reads the value of `proxy:`; `None` after reporting what is wrong.
pub(super) fn read(
    node: &Node,
    path: &str,
    context: &Context,
    report: &mut Report,
) -> Option<ProxySpec> {
    let what = "a mapping with `listen`, `upstreams` and `routes`";
    let section = Section::open(node, path, &KEYS, what, report)?;
    let listen = section.required("listen", report, listen);
    let tls = section.read_or("tls", None, report, |node, path, report| {
        tls(node, path, context.base_dir, report).map(Some)
    });
    let trusted_proxies = section.read_or("trusted_proxies", Vec::new(), report, trusted);
    let timeouts = section.read_or("timeouts", Timeouts::default(), report, timeouts);
    let limits = limits(&section, report);
    let upstreams = section.read_or("upstreams", Vec::new(), report, |node, path, report| {
        upstreams::read(node, path, context.processes, report)
    });
    let routes = read_routes(&section, context, report);
    let limits = limits?;
    Some(ProxySpec {
        listen: listen?,
        tls: tls?,
        trusted_proxies: trusted_proxies?,
        workers: limits.workers,
        timeouts: timeouts?,
        max_header_bytes: limits.max_header_bytes,
        retry_window: limits.retry_window,
        max_waiting: limits.max_waiting,
        drain_timeout: limits.drain_timeout,
        upstreams: upstreams?,
        routes: routes?,
    })
}

/// The required `routes`, checked against the upstreams' names as
/// written, so that a route does not get a second error for an upstream
/// that has one of its own.
fn read_routes(
    section: &Section,
    context: &Context,
    report: &mut Report,
) -> Option<Vec<RouteSpec>> {
    let upstreams: Vec<String> = match section.get("upstreams").map(|(node, _)| &node.kind) {
        Some(NodeKind::Map(entries)) => entries.iter().map(|e| e.key.value.clone()).collect(),
        _ => Vec::new(),
    };
    let context = routes::Context {
        upstreams: &upstreams,
        has_auth: context.has_auth,
        health_path: context.health_path,
    };
    section.required("routes", report, |node, path, report| {
        routes::read(node, path, &context, report)
    })
}

fn listen(node: &Node, path: &str, report: &mut Report) -> Option<SocketAddr> {
    let scalar = text(node, path, "an `address:port` to listen on", report)?;
    match listen_address(&scalar.value) {
        Ok(address) => Some(address),
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

/// What other sections need to know of the listener.
#[derive(Debug, Clone, Copy)]
pub(super) struct Listener {
    pub(super) address: SocketAddr,
    /// Where `listen`'s value is written.
    pub(super) at: usize,
    /// Whether the proxy has a `tls` setting, valid or not.
    pub(super) https: bool,
}

/// The listener of a `proxy:` mapping, when its address is valid.
/// Reports nothing: [`read`] reports what is wrong with it.
pub(super) fn listener_of(node: &Node) -> Option<Listener> {
    let NodeKind::Map(entries) = &node.kind else {
        return None;
    };
    let value = |key: &str| entries.iter().find(|entry| entry.key.value == key);
    let listen = &value("listen")?.value;
    let NodeKind::Scalar(scalar) = &listen.kind else {
        return None;
    };
    Some(Listener {
        address: listen_address(&scalar.value).ok()?,
        at: listen.at,
        https: value("tls").is_some(),
    })
}

/// `ip:port`, `[ipv6]:port` or `localhost:port`; port 0 picks a free one.
/// The error does not quote the text: part of it may be a variable's.
fn listen_address(text: &str) -> Result<SocketAddr, &'static str> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let (host, port) = split_host_port(text)?;
    let port = port_number(port).ok_or("has an invalid port; expected a number from 0 to 65535")?;
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, port)),
        Err(_) => Err(
            "names a host, not an IP address; listen on an IP address such as \
             `0.0.0.0` (every interface) or `127.0.0.1` (this machine only)",
        ),
    }
}

/// The host and port texts of `host:port` or `[host]:port`.
fn split_host_port(text: &str) -> Result<(&str, &str), &'static str> {
    const NO_PORT: &str = "has no port; write `address:port`, e.g. `0.0.0.0:5001`";
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("has a `[` without its `]`")?;
        return Ok((host, after.strip_prefix(':').ok_or(NO_PORT)?));
    }
    let (host, port) = text.rsplit_once(':').ok_or(NO_PORT)?;
    if host.contains(':') {
        return Err("looks like an IPv6 address without brackets; write `[::]:5001`");
    }
    if host.is_empty() {
        return Err("has no address; write `0.0.0.0:PORT` to listen on every interface");
    }
    Ok((host, port))
}

/// Decimal digits only: `u16`'s parser would also take a `+`.
pub(super) fn port_number(text: &str) -> Option<u16> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

fn tls(node: &Node, path: &str, base_dir: &Path, report: &mut Report) -> Option<TlsSpec> {
    let section = Section::open(
        node,
        path,
        &TLS_KEYS,
        "a mapping with `cert` and `key`",
        report,
    )?;
    let file = |node: &Node, path: &str, report: &mut Report| {
        existing_path(node, path, base_dir, PathKind::File, report)
    };
    let cert = section.required("cert", report, file);
    let key = section.required("key", report, file);
    Some(TlsSpec {
        cert: cert?,
        key: key?,
    })
}

/// A list of networks and addresses.
fn trusted(node: &Node, path: &str, report: &mut Report) -> Option<Vec<IpNet>> {
    let what = "a list of networks such as `10.0.0.0/16`";
    let items = list(node, path, what, report)?;
    let mut networks = Vec::new();
    let mut valid = true;
    for (index, item) in items.iter().enumerate() {
        match network(item, &item_path(path, index), report) {
            Some(network) => networks.push(network),
            None => valid = false,
        }
    }
    valid.then_some(networks)
}

fn network(node: &Node, path: &str, report: &mut Report) -> Option<IpNet> {
    let scalar = text(node, path, "a network such as `10.0.0.0/16`", report)?;
    match scalar.value.parse::<IpNet>() {
        Ok(network) => Some(network),
        Err(error) => {
            report.error(node.at, path, format!("{} {error}", quoted(scalar.shown())));
            None
        }
    }
}

fn timeouts(node: &Node, path: &str, report: &mut Report) -> Option<Timeouts> {
    let what = "a mapping of timeouts such as `connect: 5s`";
    let section = Section::open(node, path, &TIMEOUT_KEYS, what, report)?;
    let defaults = Timeouts::default();
    let mut read = |key, default| section.read_or(key, default, report, positive_duration);
    let connect = read("connect", defaults.connect);
    let response_header = read("response_header", defaults.response_header);
    let idle = read("idle", defaults.idle);
    let client_header = read("client_header", defaults.client_header);
    let client_idle = read("client_idle", defaults.client_idle);
    Some(Timeouts {
        connect: connect?,
        response_header: response_header?,
        idle: idle?,
        client_header: client_header?,
        client_idle: client_idle?,
    })
}

fn limits(section: &Section, report: &mut Report) -> Option<Limits> {
    let workers = section.read_or("workers", DEFAULT_WORKERS, report, |node, path, report| {
        count_in(node, path, 1, MAX_WORKERS, report)
    });
    let max_header_bytes = section.read_or(
        "max_header_bytes",
        DEFAULT_MAX_HEADER_BYTES,
        report,
        header_bytes,
    );
    let retry_window = section.read_or("retry_window", DEFAULT_RETRY_WINDOW, report, duration);
    let max_waiting = section.read_or("max_waiting", DEFAULT_MAX_WAITING, report, count);
    let drain_timeout = section.read_or("drain_timeout", DEFAULT_DRAIN_TIMEOUT, report, duration);
    Some(Limits {
        workers: to_usize(workers?.into()),
        max_header_bytes: to_usize(max_header_bytes?),
        retry_window: retry_window?,
        max_waiting: to_usize(max_waiting?.into()),
        drain_timeout: drain_timeout?,
    })
}

/// Every value passed here was range-checked or is a `u32`, which fits
/// in a `usize` on every target supervise builds for (Linux, 32 or 64
/// bits); saturating keeps it free of a panic path all the same.
fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// A size from [`MIN_HEADER_BYTES`] to [`MAX_HEADER_BYTES`].
fn header_bytes(node: &Node, path: &str, report: &mut Report) -> Option<u64> {
    const WHAT: &str = "a size such as `65536` or `64KiB`";
    let scalar = text(node, path, WHAT, report)?;
    let shown = quoted(scalar.shown());
    let message = match size(&scalar.value) {
        Some(bytes) if (MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&bytes) => {
            return Some(bytes);
        }
        Some(_) => format!("{shown} is out of range; expected 1KiB (1024) to 1MiB (1048576)"),
        None => format!(
            "{shown} is not a size; write a number of bytes, or one with a unit: \
             `64KiB`, `1MiB` (KB and MB count in 1000s)"
        ),
    };
    report.error(node.at, path, message);
    None
}

/// Digits and an optional unit of B, KB, KiB, MB or MiB, in any case.
fn size(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1024,
        "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Listen addresses: IPv4, bracketed IPv6, localhost, port 0.
    #[test]
    fn listen_addresses() {
        let cases = [
            ("0.0.0.0:5001", "0.0.0.0:5001"),
            ("127.0.0.1:0", "127.0.0.1:0"),
            ("[::]:80", "[::]:80"),
            ("[::1]:8080", "[::1]:8080"),
            ("localhost:5001", "127.0.0.1:5001"),
            ("LocalHost:1", "127.0.0.1:1"),
        ];
        for (text, expected) in cases {
            let expected: SocketAddr = expected.parse().expect("a socket address");
            assert_eq!(listen_address(text), Ok(expected), "{text}");
        }
    }

    /// Bad listen addresses say what is wrong.
    #[test]
    fn bad_listen_addresses() {
        let cases = [
            ("example.com:80", "names a host, not an IP address"),
            ("0.0.0.0", "has no port"),
            ("5001", "has no port"),
            (":5001", "has no address"),
            ("0.0.0.0:65536", "invalid port"),
            ("0.0.0.0:+80", "invalid port"),
            ("0.0.0.0:", "invalid port"),
            ("::1:80", "without brackets"),
            ("[::1]", "has no port"),
            ("[::1:80", "without its `]`"),
        ];
        for (text, fragment) in cases {
            let error = listen_address(text).expect_err(text);
            assert!(error.contains(fragment), "{text}: {error}");
        }
    }

    /// Sizes in bytes, in 1024s and in 1000s; anything else is refused.
    #[test]
    fn sizes() {
        let cases = [
            ("65536", Some(65536)),
            ("64KiB", Some(65536)),
            ("64kib", Some(65536)),
            ("16KB", Some(16000)),
            ("1MiB", Some(1_048_576)),
            ("1MB", Some(1_000_000)),
            ("2048B", Some(2048)),
            ("KiB", None),
            ("1.5KiB", None),
            ("-1", None),
            ("1 KiB", None),
            ("99999999999999999999MiB", None),
        ];
        for (text, expected) in cases {
            assert_eq!(size(text), expected, "{text}");
        }
    }
}
