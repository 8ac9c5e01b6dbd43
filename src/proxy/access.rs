//! The access log (one info line per request) and request ids.
//!
//! An [`AccessRecord`] is filled in while a request is handled and rides
//! on the response body; it is written when that body is dropped, so the
//! line carries the bytes actually sent and the time until the last one.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{HeaderValue, Method, StatusCode};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// The longest request id accepted from a client.
const MAX_REQUEST_ID: usize = 128;

/// What the access log line says about one request.
#[derive(Debug)]
pub struct AccessRecord {
    pub method: Method,
    /// The path as received (not normalised), without the query.
    pub path: String,
    pub client: IpAddr,
    pub status: StatusCode,
    pub request_id: HeaderValue,
    /// The upstream's name, when the request was forwarded.
    pub upstream: Option<Arc<str>>,
    /// The signed-in user's subject, when there is one.
    pub user: Option<String>,
    /// Response body bytes sent so far.
    pub bytes: u64,
    pub started: Instant,
    /// The route that took the request (file-order index), for metrics.
    pub route: Option<usize>,
    /// Where the request is counted when it is done.
    pub metrics: Option<Arc<Metrics>>,
}

impl Drop for AccessRecord {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        if let Some(metrics) = &self.metrics {
            metrics.observe(self.route, self.status.as_u16(), elapsed);
        }
        // Whole microseconds, so the line shows `0.031` rather than the
        // float noise of `0.031606999999999996`.
        let duration_ms = elapsed.as_micros() as f64 / 1000.0;
        tracing::info!(
            target: "supervise::access",
            method = %self.method,
            path = %self.path,
            status = self.status.as_u16(),
            duration_ms,
            bytes = self.bytes,
            upstream = self.upstream.as_deref().unwrap_or("-"),
            user = self.user.as_deref().unwrap_or("-"),
            client = %self.client,
            request_id = self.request_id.to_str().unwrap_or("-"),
            "request"
        );
    }
}

/// Makes request ids: a random prefix fixed at start-up and a counter, so
/// ids are unique across tasks behind one load balancer without a random
/// draw per request.
#[derive(Debug)]
pub struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl RequestIds {
    pub fn new() -> RequestIds {
        let mut seed = [0u8; 6];
        // Without the OS's randomness the ids are still unique within this
        // instance, which is what matters most for reading one task's log.
        if let Err(error) = getrandom::fill(&mut seed) {
            tracing::warn!(%error, "getrandom failed; request ids use a fixed prefix");
        }
        let mut prefix = String::with_capacity(12);
        for byte in seed {
            let _ = write!(prefix, "{byte:02x}");
        }
        RequestIds {
            prefix,
            next: AtomicU64::new(1),
        }
    }

    /// The client's id when it is a sane token, a fresh one otherwise.
    pub fn pick(&self, sent: Option<&HeaderValue>) -> HeaderValue {
        match sent {
            Some(value) if is_valid_id(value.as_bytes()) => value.clone(),
            _ => self.fresh(),
        }
    }

    fn fresh(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n:x}", self.prefix);
        HeaderValue::from_str(&id).expect("hex digits and a dash are a valid header value")
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

/// Letters, digits and `-_.:` only, so an id can be logged and passed on
/// without escaping and cannot smuggle anything into a log line.
fn is_valid_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's sane id is kept; a missing, long or odd one is replaced
    /// by a fresh id, and fresh ids differ.
    #[test]
    fn request_id_kept_or_replaced() {
        let ids = RequestIds::new();
        let sane = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(ids.pick(Some(&sane)), sane);

        let odd = HeaderValue::from_static("a b\"c");
        assert_ne!(ids.pick(Some(&odd)), odd);
        let long = HeaderValue::from_str(&"a".repeat(129)).expect("valid");
        assert_ne!(ids.pick(Some(&long)), long);
        assert_ne!(ids.pick(None), ids.pick(None));
    }
}
