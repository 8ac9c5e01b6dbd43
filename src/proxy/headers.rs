//! Header rules of the proxy: hop-by-hop headers removed (RFC 9110
//! §7.6.1), the `X-Forwarded-*` family and `X-Real-IP` set, and a route's
//! own `header_up` / `header_down` rules applied.
//!
//! `X-Forwarded-*` values a client sent are believed only when the peer is
//! a trusted proxy (the load balancer); from anyone else they are replaced,
//! since a client could otherwise claim any address or host.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::body::Bytes;

use crate::config::{HeaderRules, IpNet};

/// Hop-by-hop headers: they describe one connection, never the next one.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether the request asks to switch protocols (a WebSocket handshake).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| connection_tokens(v).any(|t| t.eq_ignore_ascii_case("upgrade")))
}

/// Removes hop-by-hop headers, including those the `Connection` header
/// names. With `keep_upgrade`, `Connection: upgrade` and `Upgrade` stay so
/// that a protocol switch can pass through.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none of them: one pass over the names they do
    // carry is cheaper than a lookup for every name on the list.
    let listed = |name: &HeaderName| name == header::UPGRADE || HOP_BY_HOP.contains(name);
    if !keep_upgrade && !headers.keys().any(listed) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(connection_tokens)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .filter(|name| !(keep_upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

fn connection_tokens(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// What the proxy knows about where a request came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The address of the TCP peer.
    pub peer: IpAddr,
    /// Whether the listener speaks TLS.
    pub tls: bool,
    pub trusted: &'a [IpNet],
}

impl Origin<'_> {
    fn peer_is_trusted(&self) -> bool {
        self.trusted.iter().any(|net| net.contains(self.peer))
    }
}

/// Sets `X-Forwarded-For`, `-Proto`, `-Host` and `X-Real-IP` on a request
/// going upstream; returns the client's address as decided.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    origin: Origin<'_>,
    host: Option<&HeaderValue>,
) -> IpAddr {
    let trusted = origin.peer_is_trusted();
    let client = if trusted {
        client_from_chain(headers, origin)
    } else {
        origin.peer
    };

    match (trusted, joined(headers, &X_FORWARDED_FOR)) {
        (true, Some(earlier)) => {
            let chain = format!("{earlier}, {}", origin.peer);
            set(headers, X_FORWARDED_FOR, &chain);
            headers.insert(X_REAL_IP, address_value(client));
        }
        // No chain to extend: the client is the peer, and one printed
        // address serves both headers.
        _ => {
            debug_assert_eq!(client, origin.peer);
            let peer = address_value(origin.peer);
            headers.insert(X_FORWARDED_FOR, peer.clone());
            headers.insert(X_REAL_IP, peer);
        }
    }

    if !(trusted && headers.contains_key(&X_FORWARDED_PROTO)) {
        let proto = if origin.tls { "https" } else { "http" };
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if !(trusted && headers.contains_key(&X_FORWARDED_HOST)) {
        match host {
            Some(host) => headers.insert(X_FORWARDED_HOST, host.clone()),
            None => headers.remove(X_FORWARDED_HOST),
        };
    }
    client
}

/// The client behind a chain of trusted proxies: the right-most address
/// in `X-Forwarded-For` that is not itself a trusted proxy (entries left of
/// it could have been written by anyone).
fn client_from_chain(headers: &HeaderMap, origin: Origin<'_>) -> IpAddr {
    let Some(chain) = joined(headers, &X_FORWARDED_FOR) else {
        return origin.peer;
    };
    let addresses: Vec<IpAddr> = chain
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let untrusted = addresses
        .iter()
        .rev()
        .find(|ip| !origin.trusted.iter().any(|n| n.contains(**ip)));
    untrusted
        .or(addresses.first())
        .copied()
        .unwrap_or(origin.peer)
}

/// All values of a header joined with `, `, if it has any valid text.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// An address as a header value, written once and shared by the headers
/// that carry it.
fn address_value(address: IpAddr) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(address.to_string()))
        .expect("a printed IP address is a valid header value")
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(value) => headers.insert(name, value),
        // Only addresses and commas go in here, which are always valid.
        Err(_) => headers.remove(name),
    };
}

/// Applies a route's rules: removals first, then sets.
pub fn apply(rules: &HeaderRules, headers: &mut HeaderMap) {
    for name in &rules.remove {
        headers.remove(name);
    }
    for (name, value) in &rules.set {
        headers.insert(name.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        let (addr, len) = text.split_once('/').expect("cidr");
        IpNet {
            addr: addr.parse().expect("ip"),
            prefix_len: len.parse().expect("len"),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    /// From an untrusted peer, every spoofed forwarding header is replaced.
    #[test]
    fn untrusted_peer_cannot_spoof() {
        let mut h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("x-real-ip", "1.2.3.4"),
        ]);
        let origin = Origin {
            peer: "127.0.0.1".parse().expect("ip"),
            tls: false,
            trusted: &[],
        };
        let host = HeaderValue::from_static("app.local");
        let client = set_forwarded(&mut h, origin, Some(&host));
        assert_eq!(client.to_string(), "127.0.0.1");
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "app.local");
        assert_eq!(h["x-real-ip"], "127.0.0.1");
    }

    /// Behind a trusted load balancer, its headers are kept and extended,
    /// and the client is the right-most untrusted address.
    #[test]
    fn trusted_peer_chain() {
        let trusted = [net("10.0.0.0/8")];
        let mut h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.9"),
            ("x-forwarded-for", "10.0.1.1"),
            ("x-forwarded-proto", "https"),
        ]);
        let origin = Origin {
            peer: "10.0.2.2".parse().expect("ip"),
            tls: false,
            trusted: &trusted,
        };
        let client = set_forwarded(&mut h, origin, None);
        assert_eq!(client.to_string(), "203.0.113.9");
        assert_eq!(
            h["x-forwarded-for"],
            "6.6.6.6, 203.0.113.9, 10.0.1.1, 10.0.2.2"
        );
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-real-ip"], "203.0.113.9");
    }

    /// Hop-by-hop headers go, including those `Connection` names; an
    /// upgrade keeps what it needs.
    #[test]
    fn hop_by_hop_removed() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("x-kept", "yes"),
        ]);
        let mut upgrade = h.clone();
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["x-kept"], "yes");

        remove_hop_by_hop(&mut upgrade, true);
        assert_eq!(upgrade["upgrade"], "websocket");
        assert_eq!(upgrade["connection"], "upgrade");
        assert!(!upgrade.contains_key("x-secret-hop"));
    }

    /// Each listed header goes on its own too, without a `Connection`
    /// header to point at it; a message with none of them is untouched.
    #[test]
    fn each_hop_by_hop_header_alone() {
        for name in HOP_BY_HOP.iter().chain([&header::UPGRADE]) {
            let mut h = headers(&[(name.as_str(), "x"), ("x-kept", "yes")]);
            remove_hop_by_hop(&mut h, false);
            assert_eq!(h.len(), 1, "{name}: {h:?}");
        }
        let mut h = headers(&[("x-kept", "yes"), ("host", "a")]);
        let before = h.clone();
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h, before);
    }
}
