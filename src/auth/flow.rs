//! The auth endpoints under `/auth/`: starting a sign-in, the provider's
//! callback, logout, and `whoami`.
//!
//! A sign-in in flight (state, nonce, PKCE verifier, the page to return
//! to) travels in a short-lived signed cookie of its own, named after the
//! first characters of its state, rather than in memory: the callback may
//! land on another task behind the load balancer, and two tabs signing in
//! at once do not clash. At most [`MAX_FLOWS`] such cookies are kept.

use std::collections::HashMap;

use base64::Engine as _;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::gate::{found, unauthorized, unavailable, unix_now, Auth};
use crate::auth::identity::Identity;
use crate::auth::redirect::safe_return_path;
use crate::auth::session::FLOW_COOKIE_PREFIX;
use crate::auth::token::TokenError;
use crate::cli::chain;
use crate::proxy::body::ProxyBody;
use crate::proxy::error::{answer, plain};

/// How many sign-ins may be in flight in one browser; older ones are
/// dropped when a new one starts.
pub const MAX_FLOWS: usize = 4;

/// How long a sign-in may take from start to callback, in seconds.
const FLOW_TTL: u64 = 600;

/// The signed purpose of flow cookies, so they never pass as sessions.
const FLOW_PURPOSE: &str = "flow";

/// What a sign-in in flight remembers until its callback.
#[derive(Debug, Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    back: String,
}

impl Auth {
    /// Answers a request under `/auth/`, or `None` when the path is not one
    /// of the endpoints (the caller answers 404).
    pub async fn endpoint(
        &self,
        path: &str,
        request: Request<Incoming>,
    ) -> Option<Response<ProxyBody>> {
        let start = self.sign_in_path();
        let response = match path {
            "/auth/whoami" => self.whoami(request.headers()),
            "/auth/logout" => self.logout(),
            "/auth/dev" if start == "/auth/dev" => self.dev_sign_in(request).await,
            _ if path == start => self.start(&request),
            _ if path.strip_prefix(start) == Some("/callback") => {
                let response = self.callback(&request).await;
                self.count_sign_in(response.status() == StatusCode::FOUND);
                response
            }
            _ => return None,
        };
        Some(response)
    }

    /// Counts a finished sign-in for metrics.
    pub fn count_sign_in(&self, succeeded: bool) {
        let counter = if succeeded {
            &self.signed_in
        } else {
            &self.sign_in_failed
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn whoami(&self, headers: &HeaderMap) -> Response<ProxyBody> {
        match self.identify(headers) {
            Ok(Some(identity)) => json(StatusCode::OK, &*identity),
            Ok(None) => unauthorized(""),
            Err(refusal) => refusal.into_response(),
        }
    }

    /// Clears the session and, when the provider has an end-session
    /// endpoint, ends the provider's session too.
    fn logout(&self) -> Response<ProxyBody> {
        let after = format!("{}/", self.public_origin());
        let target = self
            .provider()
            .and_then(|provider| provider.end_session_url(&after))
            .unwrap_or_else(|| "/".to_owned());
        let mut response = found(&target);
        for cookie in self.sessions.clear() {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// Redirects to the provider with state, nonce and PKCE (S256).
    fn start<B>(&self, request: &Request<B>) -> Response<ProxyBody> {
        let Some(provider) = self.provider() else {
            return unavailable();
        };
        let query = parse_query(request.uri().query().unwrap_or(""));
        let back = safe_return_path(query.get("rd").map_or("/", String::as_str));
        let flow = Flow {
            state: random(),
            nonce: random(),
            verifier: random(),
            back,
        };
        let challenge = pkce_challenge(&flow.verifier);

        let redirect_uri = self.redirect_uri();
        let url = provider.authorization_url(
            &self.spec,
            &redirect_uri,
            &flow.state,
            &flow.nonce,
            &challenge,
        );
        let mut response = found(&url);
        self.set_flow_cookie(&mut response, request.headers(), &flow);
        response
    }

    /// Checks the state against its flow cookie, exchanges the code,
    /// validates the ID token, and starts the session.
    async fn callback<B>(&self, request: &Request<B>) -> Response<ProxyBody> {
        let query = parse_query(request.uri().query().unwrap_or(""));
        if let Some(error) = query.get("error") {
            tracing::info!(error = %error, "the provider refused the sign-in");
            return failed("the identity provider did not sign you in");
        }
        let (Some(code), Some(state)) = (query.get("code"), query.get("state")) else {
            return failed("the callback lacks a code or a state");
        };
        let Some(flow) = self.take_flow(request.headers(), state) else {
            return failed("this sign-in is unknown, expired or already used");
        };
        let Some(provider) = self.provider() else {
            return unavailable();
        };

        let tokens = match provider
            .exchange_code(&self.spec, code, &flow.verifier, &self.redirect_uri())
            .await
        {
            Ok(tokens) => tokens,
            Err(error) => {
                tracing::warn!(error = chain(&error), "code exchange failed");
                return failed("the identity provider did not confirm the sign-in");
            }
        };
        let mut checked = provider.validate_id_token(&tokens.id_token, &flow.nonce, unix_now());
        // A key the provider rotated in since the keys were fetched: fetch
        // them now (rate-limited) rather than fail this sign-in.
        if matches!(checked, Err(TokenError::UnknownKey)) && provider.refetch_keys().await {
            checked = provider.validate_id_token(&tokens.id_token, &flow.nonce, unix_now());
        }
        let identity = match checked {
            Ok(identity) => identity,
            Err(error) => {
                tracing::warn!(error = chain(&error), "ID token refused");
                return failed("the identity provider's answer did not check out");
            }
        };
        tracing::info!(user = %identity.subject, "signed in");
        self.signed_in(&identity, &flow.back, Some(state))
    }

    /// The redirect back with the session cookie set and the flow's
    /// cookie, if the sign-in had one, deleted.
    pub fn signed_in(
        &self,
        identity: &Identity,
        back: &str,
        state: Option<&str>,
    ) -> Response<ProxyBody> {
        let mut response = found(back);
        let headers = response.headers_mut();
        for cookie in self.sessions.seal(identity, unix_now()) {
            headers.append(header::SET_COOKIE, cookie);
        }
        if let Some(cookie) = state.and_then(|state| delete_cookie(&flow_cookie_name(state))) {
            headers.append(header::SET_COOKIE, cookie);
        }
        response
    }

    fn set_flow_cookie(
        &self,
        response: &mut Response<ProxyBody>,
        request: &HeaderMap,
        flow: &Flow,
    ) {
        let payload = serde_json::to_vec(flow).unwrap_or_default();
        let value = self
            .sessions
            .sign(FLOW_PURPOSE, &payload, unix_now() + FLOW_TTL);
        let secure = if self.sessions.secure() {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{}={value}; Path=/auth/; HttpOnly; SameSite=Lax; Max-Age={FLOW_TTL}{secure}",
            flow_cookie_name(&flow.state)
        );
        let headers = response.headers_mut();
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, cookie);
        }
        // Keep the number of sign-ins in flight bounded: drop the others
        // beyond the limit (their order is unknown, so any will do).
        for name in flow_cookie_names(request).into_iter().skip(MAX_FLOWS - 1) {
            if let Some(cookie) = delete_cookie(&name) {
                headers.append(header::SET_COOKIE, cookie);
            }
        }
    }

    /// The flow whose cookie matches `state`, if it verifies.
    fn take_flow(&self, headers: &HeaderMap, state: &str) -> Option<Flow> {
        let name = flow_cookie_name(state);
        let value = cookies(headers).find(|(n, _)| *n == name).map(|(_, v)| v)?;
        let payload = self.sessions.verify(FLOW_PURPOSE, value, unix_now())?;
        let flow: Flow = serde_json::from_slice(&payload).ok()?;
        constant_time_eq(flow.state.as_bytes(), state.as_bytes()).then_some(flow)
    }

    fn redirect_uri(&self) -> String {
        format!("{}{}/callback", self.public_origin(), self.sign_in_path())
    }

    /// `public_url` without a trailing slash.
    pub fn public_origin(&self) -> String {
        self.spec
            .public_url
            .to_string()
            .trim_end_matches('/')
            .to_owned()
    }
}

fn flow_cookie_name(state: &str) -> String {
    let tag: String = state
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{FLOW_COOKIE_PREFIX}{tag}")
}

fn flow_cookie_names(headers: &HeaderMap) -> Vec<String> {
    cookies(headers)
        .filter(|(n, _)| n.starts_with(FLOW_COOKIE_PREFIX))
        .map(|(n, _)| n.to_owned())
        .collect()
}

/// `name=value` pairs of every `Cookie` header.
pub fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

fn delete_cookie(name: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}=; Path=/auth/; HttpOnly; SameSite=Lax; Max-Age=0"
    ))
    .ok()
}

/// 43 characters of base64url from 32 random bytes: enough for state,
/// nonce and a PKCE verifier (RFC 7636 §4.1).
fn random() -> String {
    let mut bytes = [0u8; 32];
    if let Err(error) = getrandom::fill(&mut bytes) {
        // Without randomness no sign-in is safe; the state will not verify
        // against anything an attacker can guess only if it is random.
        tracing::error!(%error, "getrandom failed");
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7636 §4.2: base64url(SHA-256(verifier)).
fn pkce_challenge(verifier: &str) -> String {
    let digest = Sha256::digest(verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The decoded pairs of a query string or form body; the first of a
/// repeated name wins.
pub fn parse_query(query: &str) -> HashMap<String, String> {
    let mut pairs = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.entry(decode(name)).or_insert_with(|| decode(value));
    }
    pairs
}

/// Form decoding: `+` is a space, `%XX` a byte; bad escapes stay as
/// written; invalid UTF-8 is replaced.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<ProxyBody> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    answer(status, "application/json", body + "\n")
}

/// 400 for a sign-in that cannot be completed, with a way to start over.
fn failed(reason: &str) -> Response<ProxyBody> {
    plain(
        StatusCode::BAD_REQUEST,
        format!("Sign-in failed: {reason}. Go back and try again.\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PKCE challenge is base64url(SHA-256(verifier)), as in RFC 7636
    /// appendix B.
    #[test]
    fn pkce_matches_rfc_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            pkce_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    /// Query and form values decode `+` and escapes; bad escapes survive.
    #[test]
    fn query_decoding() {
        let q = parse_query("rd=%2Fhome%3Fa%3D1&name=J+Doe&bad=%zz&rd=second");
        assert_eq!(q["rd"], "/home?a=1");
        assert_eq!(q["name"], "J Doe");
        assert_eq!(q["bad"], "%zz");
    }
}
