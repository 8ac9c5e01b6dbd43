//! The gate in front of protected routes: who is asking (bearer token or
//! session cookie), and may they pass this route.
//!
//! [`Auth`] holds everything sign-in needs and is shared by every
//! connection. [`Auth::check`] answers for one request: pass (with the
//! identity, if any) or an answer to send instead — a redirect to sign-in
//! for a browser, 401 with `WWW-Authenticate` for anything else, 403 for a
//! signed-in user the route's rule does not let through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use tokio::sync::watch;

use crate::auth::identity::Identity;
use crate::auth::provider::Provider;
use crate::auth::redirect;
use crate::auth::rules::{self, Verdict};
use crate::auth::session::Sessions;
use crate::config::{AllowRule, AuthMode, AuthSpec, ProviderSpec};
use crate::metrics::SignIns;
use crate::proxy::body::ProxyBody;
use crate::proxy::error::plain;

/// Sign-in state shared by every connection.
#[derive(Debug)]
pub struct Auth {
    pub spec: AuthSpec,
    pub sessions: Sessions,
    /// The discovered provider; `None` until discovery succeeds, and
    /// always for `dev`.
    pub provider: watch::Receiver<Option<Arc<Provider>>>,
    /// Sign-ins completed and failed, for metrics.
    pub signed_in: AtomicU64,
    pub sign_in_failed: AtomicU64,
}

/// What the gate decided for one request.
pub enum Access {
    /// Forward, with this identity (none on an optional route without a
    /// session).
    Pass(Option<Arc<Identity>>),
    /// Answer with this refusal instead.
    Refuse(Refusal),
}

/// Why a request may not pass; [`Refusal::into_response`] is the one
/// place these become HTTP answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No identity, and a browser is asking: sign in, then come back.
    SignIn { location: String },
    /// No identity (401); `error` names what was wrong with a bearer
    /// token, if one was sent (RFC 6750 §3.1).
    Unauthorized { error: &'static str },
    /// Signed in, but the route's rule does not let this user through.
    Forbidden,
    /// The rule needs groups and the provider did not list them all.
    GroupsUnknown,
    /// A bearer token or a sign-in needs the provider, whose keys are not
    /// loaded yet.
    ProviderUnavailable,
}

impl Refusal {
    pub fn into_response(self) -> Response<ProxyBody> {
        match self {
            Refusal::SignIn { location } => found(&location),
            Refusal::Unauthorized { error } => unauthorized(error),
            Refusal::Forbidden => plain(StatusCode::FORBIDDEN, "Forbidden\n".into()),
            Refusal::GroupsUnknown => {
                let text = "Forbidden: the identity provider did not list your groups \
                            (too many to fit a token), so this page cannot check them.\n";
                plain(StatusCode::FORBIDDEN, text.into())
            }
            Refusal::ProviderUnavailable => unavailable(),
        }
    }
}

impl Auth {
    /// Where sign-in starts for this provider: `/auth/oauth2/azure`,
    /// `/auth/oauth2/oidc` or `/auth/dev`.
    pub fn sign_in_path(&self) -> &'static str {
        match self.spec.provider {
            ProviderSpec::Azure { .. } => "/auth/oauth2/azure",
            ProviderSpec::Oidc { .. } => "/auth/oauth2/oidc",
            ProviderSpec::Dev => "/auth/dev",
        }
    }

    /// Sign-ins so far, for metrics.
    pub fn sign_ins(&self) -> SignIns {
        SignIns {
            succeeded: self.signed_in.load(Ordering::Relaxed),
            failed: self.sign_in_failed.load(Ordering::Relaxed),
        }
    }

    /// The provider, if discovery has succeeded.
    pub fn provider(&self) -> Option<Arc<Provider>> {
        self.provider.borrow().clone()
    }

    /// Decides whether `request` may pass a route with `mode` and `rule`.
    pub fn check<B>(&self, mode: AuthMode, rule: &AllowRule, request: &Request<B>) -> Access {
        if mode == AuthMode::Public {
            return Access::Pass(None);
        }
        let identity = match self.identify(request.headers()) {
            Ok(identity) => identity,
            Err(refusal) => return Access::Refuse(refusal),
        };
        match (identity, mode) {
            (Some(identity), _) => self.judge(rule, identity),
            (None, AuthMode::Optional) => Access::Pass(None),
            (None, _) => Access::Refuse(self.challenge(request)),
        }
    }

    /// The identity of a bearer token or a session, if any. A bearer
    /// token that does not validate is refused outright (401), never
    /// treated as "not signed in": an API client must learn its token is
    /// bad, not be sent to a sign-in page.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Option<Arc<Identity>>, Refusal> {
        let now = unix_now();
        let Some(token) = bearer(headers) else {
            return Ok(self.sessions.open(headers, now));
        };
        let provider = self.provider().ok_or(Refusal::ProviderUnavailable)?;
        match provider.validate_access_token(token, now) {
            Ok(identity) => Ok(Some(Arc::new(identity))),
            Err(error) => {
                tracing::info!(%error, "bearer token refused");
                Err(Refusal::Unauthorized {
                    error: "invalid_token",
                })
            }
        }
    }

    fn judge(&self, rule: &AllowRule, identity: Arc<Identity>) -> Access {
        match rules::check(rule, &identity) {
            Verdict::Allow => Access::Pass(Some(identity)),
            Verdict::Deny => {
                tracing::debug!(user = %identity.subject, "not allowed by the route's rule");
                Access::Refuse(Refusal::Forbidden)
            }
            Verdict::GroupsUnknown => {
                tracing::warn!(user = %identity.subject,
                    "the provider sent too many groups to list (overage); refusing a rule on groups");
                Access::Refuse(Refusal::GroupsUnknown)
            }
        }
    }

    /// No identity: a browser navigation goes to sign-in and comes back
    /// here afterwards; anything else gets 401.
    fn challenge<B>(&self, request: &Request<B>) -> Refusal {
        if !is_navigation(request) {
            return Refusal::Unauthorized { error: "" };
        }
        let back = redirect::return_path_from_request(request.uri());
        let location = format!("{}?rd={}", self.sign_in_path(), encode_component(&back));
        Refusal::SignIn { location }
    }
}

/// A `Authorization: Bearer` token, if the request carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A top-level browser navigation: a GET (or HEAD) that accepts HTML.
fn is_navigation<B>(request: &Request<B>) -> bool {
    let method = request.method();
    let accepts_html = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    (method == Method::GET || method == Method::HEAD) && accepts_html
}

/// 401 with a `WWW-Authenticate` challenge (RFC 6750 §3); `error` names
/// what was wrong with a token that was sent, if one was.
pub fn unauthorized(error: &str) -> Response<ProxyBody> {
    let mut response = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n".into());
    let challenge = match error {
        "" => "Bearer realm=\"supervise\"".to_owned(),
        error => format!("Bearer realm=\"supervise\", error=\"{error}\""),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 503: the provider's keys are not loaded yet.
pub fn unavailable() -> Response<ProxyBody> {
    let text = "Service Unavailable: the identity provider is not reachable yet\n";
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, text.into());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// A 302 to `location` (a path on this site or the provider's URL).
pub fn found(location: &str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::empty());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3),
/// for a value inside a query string.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Seconds since the Unix epoch; 0 if the clock is before it.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
