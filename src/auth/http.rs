//! [`HttpClient`]: the HTTPS client that talks to the identity provider:
//! its discovery document, its keys (JWKS) and its token endpoint.
//!
//! It trusts the system's CA store, or only `auth.ca_bundle` when that is
//! set, through rustls with the `ring` provider. Plain `http://` is
//! refused unless the host is loopback (a test provider on this machine):
//! the config already insists on that for the issuer, and the check here
//! covers the endpoints a discovery document names. Every request is
//! bounded: 5s to connect, 10s for the whole exchange, 1 MiB of body.
//! What to fetch and how to read it is left to the provider module.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use serde::de::DeserializeOwned;

use crate::config::is_loopback_host;

/// Time allowed to open a TCP connection (and nothing else).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Time allowed for a whole request: connect, TLS, send, headers, body.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest response body read; discovery documents and key sets are
/// a few KiB, token responses a few more.
const MAX_BODY: usize = 1024 * 1024;

/// Why a request to the provider failed, or the client could not be
/// built. Never carries a request or response body. `Display` is this
/// layer's message only; the cause is the `source`.
#[derive(Debug)]
pub enum HttpError {
    /// `auth.ca_bundle` could not be read or holds no certificate.
    CaBundle {
        path: PathBuf,
        reason: String,
    },
    /// The system's CA store is empty or missing.
    NoSystemRoots,
    Tls(rustls::Error),
    /// Not an absolute `https://` (or loopback `http://`) URL.
    BadUrl(String),
    /// `http://` to a host that is not loopback.
    PlainHttp(String),
    Request(hyper_util::client::legacy::Error),
    /// The body broke off or was larger than 1 MiB.
    Body,
    Timeout,
    /// A status other than 2xx where a document was expected.
    Status(http::StatusCode),
    Json(serde_json::Error),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::CaBundle { path, reason } => {
                write!(f, "CA bundle {}: {reason}", path.display())
            }
            HttpError::NoSystemRoots => f.write_str(
                "no CA certificates found on the system (install ca-certificates or set auth.ca_bundle)",
            ),
            HttpError::Tls(_) => f.write_str("TLS setup failed"),
            HttpError::BadUrl(url) => write!(f, "{url}: not an https:// URL"),
            HttpError::PlainHttp(url) => {
                write!(f, "{url}: plain http:// is allowed only to a loopback host")
            }
            HttpError::Request(_) => f.write_str("request failed"),
            HttpError::Body => f.write_str("response body cut off or larger than 1 MiB"),
            HttpError::Timeout => f.write_str("no complete answer within 10s"),
            HttpError::Status(status) => write!(f, "answered {status}"),
            HttpError::Json(_) => f.write_str("not the expected JSON"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::Tls(error) => Some(error),
            HttpError::Request(error) => Some(error),
            HttpError::Json(error) => Some(error),
            _ => None,
        }
    }
}

/// A pooled HTTP/1.1 client for the provider's endpoints. Cheap to clone:
/// clones share the connection pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// A client trusting the CAs of `ca_bundle` when given, the system's
    /// otherwise.
    pub fn new(ca_bundle: Option<&Path>) -> Result<HttpClient, HttpError> {
        let roots = match ca_bundle {
            Some(path) => bundle_roots(path)?,
            None => system_roots()?,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(HttpError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();

        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let inner = Client::builder(TokioExecutor::new()).build(connector);
        Ok(HttpClient { inner })
    }

    /// GETs `url` and parses its 2xx JSON body as `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, HttpError> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|_| HttpError::BadUrl(url.to_owned()))?;
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(HttpError::Status(response.status()));
        }
        serde_json::from_slice(response.body()).map_err(HttpError::Json)
    }

    /// Sends `request` and reads the whole response, within the timeout
    /// and the body limit. Any status is returned as is.
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        check_url(request.uri())?;
        let (mut parts, body) = request.into_parts();
        parts.headers.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(concat!("supervise/", env!("CARGO_PKG_VERSION"))),
        );
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));

        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| HttpError::Timeout)?
    }

    /// One request and its whole, size-limited body.
    async fn exchange(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let response = self
            .inner
            .request(request)
            .await
            .map_err(HttpError::Request)?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|_| HttpError::Body)?;
        Ok(http::Response::from_parts(parts, body.to_bytes().to_vec()))
    }
}

/// Refuses anything but `https://host/...` and `http://loopback/...`.
fn check_url(url: &http::Uri) -> Result<(), HttpError> {
    let Some(host) = url.host() else {
        return Err(HttpError::BadUrl(url.to_string()));
    };
    match url.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback_host(host) => Ok(()),
        Some("http") => Err(HttpError::PlainHttp(url.to_string())),
        _ => Err(HttpError::BadUrl(url.to_string())),
    }
}

/// The certificates of a PEM bundle, which replace the system's store.
fn bundle_roots(path: &Path) -> Result<RootCertStore, HttpError> {
    let failed = |reason: String| HttpError::CaBundle {
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|error| failed(error.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|error| failed(error.to_string()))?;

    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(failed("holds no usable CA certificate".to_owned()));
    }
    Ok(roots)
}

/// The system's CA store (`/etc/ssl/certs` on Debian), as
/// `rustls-native-certs` finds it; `SSL_CERT_FILE` and `SSL_CERT_DIR`
/// override it.
fn system_roots() -> Result<RootCertStore, HttpError> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!(%error, "skipped part of the system's CA store");
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(HttpError::NoSystemRoots);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `http://` is refused before any connection unless the host is
    /// loopback; other schemes are refused outright.
    #[tokio::test]
    async fn plain_http_only_to_loopback() {
        let client =
            HttpClient::new(Some(&crate::auth::provider::fake::ca_bundle())).expect("the test CA");
        let result = client
            .get_json::<serde_json::Value>("http://example.com/x")
            .await;
        assert!(matches!(result, Err(HttpError::PlainHttp(_))));
        let result = client
            .get_json::<serde_json::Value>("ftp://example.com/x")
            .await;
        assert!(matches!(result, Err(HttpError::BadUrl(_))));
    }

    /// A CA bundle without certificates is an error naming its path.
    #[test]
    fn empty_ca_bundle_is_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("written");
        let error = HttpClient::new(Some(&path)).err().expect("refused");
        assert!(error.to_string().contains("empty.pem"), "{error}");
    }

    /// HTTPS works against a server whose CA is in the bundle, and fails
    /// against the same server when only the system's CAs are trusted.
    #[tokio::test]
    async fn https_with_the_configured_ca() {
        let url = crate::auth::provider::fake::serve_tls(r#"{"ok":true}"#).await;
        let client =
            HttpClient::new(Some(&crate::auth::provider::fake::ca_bundle())).expect("the test CA");
        let value: serde_json::Value = client.get_json(&url).await.expect("answered");
        assert_eq!(value["ok"], true);

        if let Ok(system) = HttpClient::new(None) {
            let result = system.get_json::<serde_json::Value>(&url).await;
            assert!(matches!(result, Err(HttpError::Request(_))), "{result:?}");
        }
    }

    /// A body over 1 MiB is cut off with an error, not read whole.
    #[tokio::test]
    async fn large_bodies_are_refused() {
        let url = crate::auth::provider::fake::serve_bytes(vec![b' '; MAX_BODY + 1]).await;
        let client =
            HttpClient::new(Some(&crate::auth::provider::fake::ca_bundle())).expect("the test CA");
        let result = client.get_json::<serde_json::Value>(&url).await;
        assert!(matches!(result, Err(HttpError::Body)), "{result:?}");
    }
}
