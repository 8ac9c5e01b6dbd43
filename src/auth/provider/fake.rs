//! Test kit: an in-process fake OpenID provider on `127.0.0.1:0`
//! (discovery, JWKS, token endpoint), the test keys under
//! `src/auth/testdata/`, and helpers that sign tokens with them.
//!
//! The fake counts the key-set fetches, can fail its first discovery
//! requests, and its token endpoint checks the client authentication
//! method, the code, the PKCE verifier and the redirect URI the way a
//! real provider would. End-to-end tests against a real provider live
//! elsewhere.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::config::{AuthSpec, ProviderSpec, Secret, SessionSpec};

pub const CLIENT_ID: &str = "supervise-client";
pub const CLIENT_SECRET: &str = "s3cret+/=&";
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const OTHER_TENANT: &str = "00000000-1111-2222-3333-444444444444";
pub const NONCE: &str = "n-0S6_WzA2Mj";
/// Seconds since the epoch at which test tokens are checked.
pub const NOW: u64 = 1_700_000_000;

/// A private test key, the JWK of its public half, and its algorithm.
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

fn testdata(name: &str) -> String {
    let path = format!("{}/src/auth/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The public half of `rsa_a`, as PEM: what an HMAC forgery uses.
pub fn rsa_a_public_pem() -> String {
    testdata("rsa_a.pub.pem")
}

/// The test CA bundle, so tests never depend on the system's store.
pub fn ca_bundle() -> std::path::PathBuf {
    format!("{}/src/auth/testdata/ca.pem", env!("CARGO_MANIFEST_DIR")).into()
}

/// Loads test key `file` as `kid`, for `alg`.
pub fn key(file: &str, kid: &str, alg: Algorithm) -> TestKey {
    let pem = testdata(file);
    let encoding = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .expect("a valid test key");
    let public = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, alg).expect("a JWK");
    let mut jwk = serde_json::to_value(public).expect("JSON");
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    TestKey {
        kid: kid.to_owned(),
        alg,
        encoding,
        jwk,
    }
}

pub fn rsa_a() -> TestKey {
    key("rsa_a.pem", "rsa-a", Algorithm::RS256)
}

pub fn rsa_b() -> TestKey {
    key("rsa_b.pem", "rsa-b", Algorithm::RS256)
}

pub fn ec_p256() -> TestKey {
    key("ec_p256.pem", "ec-256", Algorithm::ES256)
}

/// A JWKS document holding the JWKs given.
pub fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// Signs `claims` with `key`, naming its `kid`.
pub fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    sign_with(&header, claims, &key.encoding)
}

pub fn sign_with(header: &Header, claims: &Value, encoding: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, encoding).expect("signed")
}

/// `header.claims.signature`, each part base64url of the JSON given
/// (or of raw text for the signature).
pub fn assemble(header: &Value, claims: &Value, signature: &str) -> String {
    let part =
        |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.{signature}", part(header), part(claims))
}

/// Claims of a valid ID token from `issuer`, for [`NOW`].
pub fn id_claims(issuer: &str) -> Value {
    json!({
        "iss": issuer,
        "aud": CLIENT_ID,
        "sub": "user-sub",
        "exp": NOW + 600,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "nonce": NONCE,
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "roles": ["reader"],
    })
}

/// What the fake's token endpoint expects and answers.
#[derive(Clone)]
pub struct TokenEndpoint {
    pub code: String,
    pub verifier: String,
    pub redirect_uri: String,
}

/// How the fake behaves.
#[derive(Clone)]
pub struct Options {
    /// The issuer's path after the origin: `""`, or `/{tenant}/v2.0`.
    pub issuer_path: String,
    /// When set, the document names this issuer instead of its own;
    /// `{origin}` in it is replaced by the fake's origin.
    pub claimed_issuer: Option<String>,
    /// `token_endpoint_auth_methods_supported`; `None` leaves it out.
    pub auth_methods: Option<Vec<String>>,
    pub algorithms: Vec<String>,
    pub end_session: bool,
    /// Discovery answers 503 this many times first.
    pub discovery_failures: usize,
    pub token: Option<TokenEndpoint>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            issuer_path: String::new(),
            claimed_issuer: None,
            auth_methods: Some(vec!["client_secret_basic".into()]),
            algorithms: vec!["RS256".into(), "ES256".into()],
            end_session: true,
            discovery_failures: 0,
            token: None,
        }
    }
}

struct State {
    options: Options,
    origin: String,
    jwks: Mutex<String>,
    /// Answered by the token endpoint; `None` answers without one, as
    /// plain OAuth would.
    id_token: Mutex<Option<String>>,
    jwks_fetches: AtomicUsize,
    discovery_requests: AtomicUsize,
}

/// A running fake provider; it stops with the test's runtime.
pub struct FakeProvider {
    pub origin: String,
    state: Arc<State>,
}

impl FakeProvider {
    /// Starts a fake serving `jwks` as its key set.
    pub async fn start(options: Options, jwks: String) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let origin = format!("http://{}", listener.local_addr().expect("an address"));
        let state = Arc::new(State {
            options,
            origin: origin.clone(),
            jwks: Mutex::new(jwks),
            id_token: Mutex::new(None),
            jwks_fetches: AtomicUsize::new(0),
            discovery_requests: AtomicUsize::new(0),
        });
        tokio::spawn(accept(listener, Arc::clone(&state)));
        FakeProvider { origin, state }
    }

    /// The issuer it announces (unless told to claim another).
    pub fn issuer(&self) -> String {
        format!("{}{}", self.origin, self.state.options.issuer_path)
    }

    pub fn set_jwks(&self, jwks: String) {
        *self.state.jwks.lock().expect("not poisoned") = jwks;
    }

    pub fn set_id_token(&self, id_token: Option<String>) {
        *self.state.id_token.lock().expect("not poisoned") = id_token;
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn discovery_requests(&self) -> usize {
        self.state.discovery_requests.load(Ordering::SeqCst)
    }

    /// An `auth:` section for this fake as a generic OIDC issuer.
    pub fn oidc_spec(&self) -> AuthSpec {
        spec(ProviderSpec::Oidc {
            issuer: self.issuer(),
        })
    }

    /// An `auth:` section for this fake as Azure, tenant `tenant`.
    pub fn azure_spec(&self, tenant: &str) -> AuthSpec {
        let authority = self.origin.parse().expect("a URI");
        spec(ProviderSpec::Azure {
            tenant_id: tenant.to_owned(),
            authority,
        })
    }
}

/// An `auth:` section with test values around `provider`.
pub fn spec(provider: ProviderSpec) -> AuthSpec {
    AuthSpec {
        provider,
        client_id: CLIENT_ID.to_owned(),
        client_secret: Some(Secret(CLIENT_SECRET.to_owned())),
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
        public_url: "https://app.example.com".parse().expect("a URI"),
        session: SessionSpec {
            secrets: vec![Secret("x".repeat(32))],
            ttl: Duration::from_secs(8 * 3600),
            cookie: "supervise_session".into(),
        },
        audiences: vec![CLIENT_ID.to_owned(), format!("api://{CLIENT_ID}")],
        header_prefix: "X-Auth-Request-".into(),
        ca_bundle: Some(ca_bundle()),
        leeway: Duration::from_secs(60),
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = Arc::clone(&state);
        let service = service_fn(move |request| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(answer(&state, request).await) }
        });
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

async fn answer(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let base = state.options.issuer_path.trim_end_matches('/');
    let discovery = format!("{base}/.well-known/openid-configuration");
    if path == discovery {
        return discovery_document(state);
    }
    match path.as_str() {
        "/jwks" => {
            state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
            let body = state.jwks.lock().expect("not poisoned").clone();
            reply(200, body)
        }
        "/token" => token(state, request).await,
        _ => reply(404, "{}".into()),
    }
}

fn discovery_document(state: &State) -> Response<Full<Bytes>> {
    let seen = state.discovery_requests.fetch_add(1, Ordering::SeqCst);
    if seen < state.options.discovery_failures {
        return reply(503, "{}".into());
    }
    let options = &state.options;
    let own = format!("{}{}", state.origin, options.issuer_path);
    let mut document = json!({
        "issuer": options
            .claimed_issuer
            .as_ref()
            .map_or(own, |claimed| claimed.replace("{origin}", &state.origin)),
        "authorization_endpoint": format!("{}/authorize?p=flow", state.origin),
        "token_endpoint": format!("{}/token", state.origin),
        "jwks_uri": format!("{}/jwks", state.origin),
        "id_token_signing_alg_values_supported": options.algorithms,
    });
    if let Some(methods) = &options.auth_methods {
        document["token_endpoint_auth_methods_supported"] = json!(methods);
    }
    if options.end_session {
        document["end_session_endpoint"] = json!(format!("{}/logout", state.origin));
    }
    reply(200, document.to_string())
}

/// The token endpoint: checks what a provider would, answers tokens.
async fn token(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(expected) = &state.options.token else {
        return reply(404, "{}".into());
    };
    let basic = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .map(str::to_owned);
    let body = request
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let form = parse_form(&String::from_utf8_lossy(&body));

    let uses_basic = state
        .options
        .auth_methods
        .as_ref()
        .is_none_or(|methods| methods.iter().any(|method| method == "client_secret_basic"));
    let client_ok = if uses_basic {
        basic.as_deref() == Some(&basic_credentials()) && !form.contains_key("client_secret")
    } else {
        basic.is_none()
            && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
    };
    if !client_ok {
        return reply(401, json!({ "error": "invalid_client" }).to_string());
    }
    let grant_ok = form.get("grant_type").map(String::as_str) == Some("authorization_code")
        && form.get("code") == Some(&expected.code)
        && form.get("code_verifier") == Some(&expected.verifier)
        && form.get("redirect_uri") == Some(&expected.redirect_uri);
    if !grant_ok {
        let error =
            json!({ "error": "invalid_grant", "error_description": "bad code or verifier" });
        return reply(400, error.to_string());
    }
    let mut tokens = json!({
        "access_token": "access-token-value",
        "token_type": "Bearer",
        "expires_in": 3600,
    });
    if let Some(id_token) = state.id_token.lock().expect("not poisoned").clone() {
        tokens["id_token"] = json!(id_token);
    }
    reply(200, tokens.to_string())
}

/// `Basic` credentials as RFC 6749 §2.3.1 builds them: each part
/// form-encoded first.
fn basic_credentials() -> String {
    let secret = CLIENT_SECRET
        .replace('%', "%25")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
        .replace('&', "%26");
    STANDARD.encode(format!("{CLIENT_ID}:{secret}"))
}

fn parse_form(body: &str) -> HashMap<String, String> {
    crate::auth::flow::parse_query(body)
}

fn reply(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

/// Serves `body` at `/` of a fresh server and returns its URL.
pub async fn serve_bytes(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let url = format!("http://{}/", listener.local_addr().expect("an address"));
    let body = Bytes::from(body);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            let service = service_fn(move |_request: Request<Incoming>| {
                let body = body.clone();
                async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
            });
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    url
}

/// Serves `body` over HTTPS at `/` of a fresh server, with a certificate
/// for `127.0.0.1` signed by the test CA, and returns its URL.
pub async fn serve_tls(body: &'static str) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let dir = format!("{}/src/auth/testdata", env!("CARGO_MANIFEST_DIR"));
    let certs = CertificateDer::pem_file_iter(format!("{dir}/server.pem"))
        .expect("a certificate file")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server.key.pem")).expect("a key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("a server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let url = format!("https://{}/", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(stream) = acceptor.accept(stream).await else {
                continue;
            };
            let service = service_fn(move |_request: Request<Incoming>| async move {
                Ok::<_, Infallible>(reply(200, body.to_owned()))
            });
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    url
}
