//! Everything that can go wrong with one request, and the one place where
//! that becomes an HTTP answer.
//!
//! Clients get a status and a short plain-text reason, never internals;
//! the log line (one warn for upstream trouble) carries the details.

use std::fmt;
use std::time::Duration;

use http::{header, HeaderValue, Response, StatusCode};

use crate::proxy::body::ProxyBody;
use crate::proxy::path::PathError;
use crate::proxy::pool::ConnectError;

/// Why a request was not answered by a route or an upstream.
#[derive(Debug)]
pub enum ProxyError {
    /// The path could not be normalised.
    BadPath(PathError),
    /// No route takes this path.
    NoRoute,
    /// The upstream could not be reached.
    Connect {
        upstream: String,
        error: ConnectError,
    },
    /// The upstream took too long to answer.
    Timeout { upstream: String, after: Duration },
    /// The exchange with the upstream failed after the request was sent.
    Upstream {
        upstream: String,
        error: hyper::Error,
    },
    /// The upstream's process was not ready within the retry window.
    Unavailable { upstream: String, waited: Duration },
    /// Too many requests are already waiting for upstreams.
    Busy { upstream: String },
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadPath(_) => StatusCode::BAD_REQUEST,
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::Connect { .. } | ProxyError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Unavailable { .. } | ProxyError::Busy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The upstream and the kind of its failure, for metrics; `None` for
    /// failures that are not an upstream's.
    pub fn upstream_kind(&self) -> Option<(&str, &'static str)> {
        match self {
            ProxyError::Connect { upstream, .. } => Some((upstream, "connect")),
            ProxyError::Timeout { upstream, .. } => Some((upstream, "timeout")),
            ProxyError::Upstream { upstream, .. } => Some((upstream, "exchange")),
            ProxyError::Unavailable { upstream, .. } => Some((upstream, "unavailable")),
            ProxyError::Busy { upstream } => Some((upstream, "busy")),
            ProxyError::BadPath(_) | ProxyError::NoRoute => None,
        }
    }

    /// Logs what the client will not be told: upstream trouble at warn,
    /// the client's own mistakes at debug.
    fn log(&self) {
        match self {
            ProxyError::BadPath(_) | ProxyError::NoRoute => {
                tracing::debug!(error = %self, "request refused")
            }
            _ => tracing::warn!(error = %self, "request failed"),
        }
    }

    /// The answer the client gets.
    pub fn into_response(self) -> Response<ProxyBody> {
        self.log();
        let status = self.status();
        let reason = match &self {
            ProxyError::BadPath(error) => format!("bad request path: {error}\n"),
            _ => format!("{}\n", status.canonical_reason().unwrap_or("error")),
        };
        let mut response = plain(status, reason);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::BadPath(error) => write!(f, "bad request path: {error}"),
            ProxyError::NoRoute => f.write_str("no route takes this path"),
            ProxyError::Connect { upstream, error } => write!(f, "upstream {upstream}: {error}"),
            ProxyError::Timeout { upstream, after } => {
                write!(
                    f,
                    "upstream {upstream} sent no response headers within {after:?}"
                )
            }
            ProxyError::Upstream { upstream, error } => write!(f, "upstream {upstream}: {error}"),
            ProxyError::Unavailable { upstream, waited } => {
                write!(
                    f,
                    "upstream {upstream}: its process was not ready within {waited:?}"
                )
            }
            ProxyError::Busy { upstream } => {
                write!(f, "upstream {upstream}: too many requests already waiting")
            }
        }
    }
}

/// A short plain-text answer.
pub fn plain(status: StatusCode, text: String) -> Response<ProxyBody> {
    answer(status, "text/plain; charset=utf-8", text)
}

/// An answer supervise makes itself (health, sign-in pages, errors):
/// `body` as `content_type`, never cached, since each depends on the
/// moment or on who asks.
pub fn answer(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<hyper::body::Bytes>,
) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
