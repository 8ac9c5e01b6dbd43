//! [`Provider`]: what supervise knows of the identity provider, found
//! through its OpenID Connect discovery document, and the provider's
//! signing keys (its JWKS).
//!
//! Discovery happens once, at start-up ([`Provider::discover`]); a
//! provider that is down then is retried in the background with backoff
//! ([`discover_with_retry`]) while health reports the keys as not loaded.
//! The key set is fetched at discovery and again, in the background, when
//! a token names a key that is not in it (key rotation) or when the set
//! is an hour old; either refetch happens at most once a minute, so a
//! flood of tokens with made-up key ids cannot hammer the provider.
//! Checking tokens is in [`super::token`], the code exchange and the
//! sign-in URLs in [`super::exchange`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use tokio::sync::watch;

use super::http::{HttpClient, HttpError};
use super::token::{allowed_algorithm, ALLOWED_ALGORITHMS};
use crate::config::{AuthSpec, ProviderSpec};

#[cfg(test)]
pub(crate) mod fake;
mod keys;

pub use keys::{Key, KeyKind, KeySet, KeyStore};

/// The first wait before discovery is tried again, doubled after each
/// failure up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Azure's public cloud, whose v1 tokens name `sts.windows.net` as their
/// issuer rather than the authority they came from.
const AZURE_PUBLIC_HOST: &str = "login.microsoftonline.com";

/// Why discovery failed. `Display` is this layer's message; print it
/// with its causes (`crate::cli::chain`).
#[derive(Debug)]
pub enum ProviderError {
    /// `provider: dev` has no discovery document.
    NotDiscoverable,
    /// The HTTPS client could not be set up (CA bundle, TLS).
    Client(HttpError),
    /// Fetching or reading a document failed.
    Fetch { url: String, source: HttpError },
    /// The discovery document names another issuer than expected.
    IssuerMismatch { expected: String, found: String },
    /// An endpoint of the discovery document is not usable.
    BadEndpoint { field: &'static str, url: String },
    /// The token endpoint takes neither `client_secret_basic` nor
    /// `client_secret_post`.
    NoClientAuth,
    /// None of the ID token algorithms announced is on the allow-list.
    NoAlgorithm,
    /// The key set holds no key usable for checking signatures.
    NoKeys { url: String },
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderError::NotDiscoverable => f.write_str("the dev provider has no discovery"),
            ProviderError::Client(_) => f.write_str("cannot set up the HTTPS client"),
            ProviderError::Fetch { url, .. } => write!(f, "GET {url}"),
            ProviderError::IssuerMismatch { expected, found } => write!(
                f,
                "the discovery document names issuer {found:?}, expected {expected:?}"
            ),
            ProviderError::BadEndpoint { field, url } => {
                write!(
                    f,
                    "discovery document: {field} {url:?} is not an https:// URL"
                )
            }
            ProviderError::NoClientAuth => f.write_str(
                "the token endpoint takes neither client_secret_basic nor client_secret_post",
            ),
            ProviderError::NoAlgorithm => {
                f.write_str("the provider signs ID tokens with no algorithm supervise accepts")
            }
            ProviderError::NoKeys { url } => write!(f, "{url}: no usable signing key"),
        }
    }
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProviderError::Client(error) | ProviderError::Fetch { source: error, .. } => {
                Some(error)
            }
            _ => None,
        }
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: an `Authorization: Basic` header.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post,
}

/// A discovered identity provider: its issuer, endpoints and keys, and
/// what of `auth:` the token checks need.
pub struct Provider {
    /// The `iss` of ID tokens, exactly as the discovery document says.
    pub(super) issuer: String,
    /// The `iss` values accepted on bearer (access) tokens: the issuer,
    /// and for Azure also the tenant's v1 issuer.
    pub(super) access_issuers: Vec<String>,
    /// For Azure with a tenant GUID: the `tid` every token must carry.
    pub(super) tenant: Option<String>,
    pub(super) client_id: String,
    /// Accepted `aud` of access tokens (`auth.audiences`).
    pub(super) audiences: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub(super) leeway: u64,
    pub(super) authorization_endpoint: String,
    pub(super) token_endpoint: String,
    pub(super) end_session_endpoint: Option<String>,
    pub(super) client_auth: ClientAuth,
    /// The allow-list narrowed to what the provider announces for ID
    /// tokens.
    pub(super) id_token_algorithms: Vec<Algorithm>,
    pub(super) http: HttpClient,
    pub(super) keys: Arc<KeyStore>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("client_auth", &self.client_auth)
            .field("keys_loaded", &self.keys_loaded())
            .finish_non_exhaustive()
    }
}

/// The fields of a discovery document that supervise reads (OpenID
/// Connect Discovery 1.0 §3).
#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    end_session_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
}

/// The issuers a provider's tokens are checked against.
#[derive(Debug, PartialEq, Eq)]
struct Issuers {
    id_token: String,
    access_token: Vec<String>,
    tenant: Option<String>,
}

impl Provider {
    /// Fetches the discovery document and the key set of `spec`'s
    /// provider. Fails when the provider is unreachable, names another
    /// issuer, or offers nothing supervise can use.
    pub async fn discover(spec: &AuthSpec) -> Result<Provider, ProviderError> {
        let http = HttpClient::new(spec.ca_bundle.as_deref()).map_err(ProviderError::Client)?;
        let base = discovery_base(&spec.provider)?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            base.trim_end_matches('/')
        );
        let document: Document = fetch(&http, &url).await?;
        Provider::from_document(spec, http, document).await
    }

    /// Checks a discovery document and loads the keys it points to.
    async fn from_document(
        spec: &AuthSpec,
        http: HttpClient,
        document: Document,
    ) -> Result<Provider, ProviderError> {
        let issuers = issuers(&spec.provider, &document.issuer)?;
        for (field, url) in endpoints(&document) {
            check_endpoint(field, url)?;
        }
        let client_auth = client_auth(document.token_endpoint_auth_methods_supported.as_deref())?;
        let id_token_algorithms =
            id_token_algorithms(&document.id_token_signing_alg_values_supported)?;
        let keys = KeyStore::load(http.clone(), document.jwks_uri).await?;

        Ok(Provider {
            issuer: issuers.id_token,
            access_issuers: issuers.access_token,
            tenant: issuers.tenant,
            client_id: spec.client_id.clone(),
            audiences: spec.audiences.clone(),
            leeway: spec.leeway.as_secs(),
            authorization_endpoint: document.authorization_endpoint,
            token_endpoint: document.token_endpoint,
            end_session_endpoint: document.end_session_endpoint,
            client_auth,
            id_token_algorithms,
            http,
            keys,
        })
    }

    /// The issuer, as ID tokens must name it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How the token endpoint is told who the client is.
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth
    }

    /// Whether signing keys are at hand, for health.
    pub fn keys_loaded(&self) -> bool {
        !self.keys.current().keys.is_empty()
    }

    /// Fetches the key set again now, unless it was fetched (or tried)
    /// within the last minute; true when it was fetched. An async caller
    /// that got [`super::token::TokenError::UnknownKey`] may call this and
    /// check the token once more.
    pub async fn refetch_keys(&self) -> bool {
        self.keys.refetch_if_due().await
    }
}

/// Discovers `spec`'s provider, retrying with backoff (1s doubling to
/// 60s) until it answers, then publishes it on `ready`. Returns at once
/// for `provider: dev`, and when nobody holds a receiver of `ready` any
/// more.
pub async fn discover_with_retry(spec: AuthSpec, ready: watch::Sender<Option<Arc<Provider>>>) {
    if spec.provider == ProviderSpec::Dev {
        return;
    }
    let mut delay = RETRY_MIN;
    loop {
        match Provider::discover(&spec).await {
            Ok(provider) => {
                // Published before the log line, so whoever reads the line
                // finds the provider in place.
                let issuer = provider.issuer.clone();
                ready.send_replace(Some(Arc::new(provider)));
                tracing::info!(%issuer, "identity provider discovered");
                return;
            }
            Err(error) => tracing::warn!(
                error = %crate::cli::chain(&error),
                retry_in = ?delay,
                "identity provider not reachable; sign-in is unavailable until it is"
            ),
        }
        if ready.is_closed() {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = next_delay(delay);
    }
}

/// The wait after `delay`: doubled, at most [`RETRY_MAX`].
fn next_delay(delay: Duration) -> Duration {
    delay.saturating_mul(2).min(RETRY_MAX)
}

/// Where the discovery document lives, before `/.well-known/...`.
fn discovery_base(provider: &ProviderSpec) -> Result<String, ProviderError> {
    match provider {
        ProviderSpec::Azure {
            tenant_id,
            authority,
        } => {
            let tenant = azure_tenant(tenant_id);
            Ok(format!("{}/{tenant}/v2.0", authority_base(authority)))
        }
        ProviderSpec::Oidc { issuer } => Ok(issuer.clone()),
        ProviderSpec::Dev => Err(ProviderError::NotDiscoverable),
    }
}

/// A tenant GUID in lower case, as Azure writes it in issuers and
/// `tid`; a tenant domain name as it is.
fn azure_tenant(tenant_id: &str) -> String {
    if is_guid(tenant_id) {
        tenant_id.to_ascii_lowercase()
    } else {
        tenant_id.to_owned()
    }
}

/// The authority as a prefix: `https://login.microsoftonline.com`.
fn authority_base(authority: &http::Uri) -> String {
    authority.to_string().trim_end_matches('/').to_owned()
}

/// Checks the document's issuer and derives the issuers tokens must name.
///
/// OpenID Connect Discovery §4.3: the issuer must be identical to the one
/// the document was looked up for. For Azure with a tenant GUID that is
/// `{authority}/{tenant}/v2.0`; with a tenant domain name
/// (`contoso.onmicrosoft.com`) Azure answers with the tenant's GUID in
/// the issuer, so any `{authority}/{GUID}/v2.0` is taken, and it pins the
/// tenant from then on.
fn issuers(provider: &ProviderSpec, found: &str) -> Result<Issuers, ProviderError> {
    let mismatch = |expected: String| ProviderError::IssuerMismatch {
        expected,
        found: found.to_owned(),
    };
    match provider {
        ProviderSpec::Oidc { issuer } if issuer == found => Ok(Issuers {
            id_token: found.to_owned(),
            access_token: vec![found.to_owned()],
            tenant: None,
        }),
        ProviderSpec::Oidc { issuer } => Err(mismatch(issuer.clone())),
        ProviderSpec::Azure {
            tenant_id,
            authority,
        } => {
            let authority = authority_base(authority);
            azure_issuers(&authority, tenant_id, found)
                .ok_or_else(|| mismatch(format!("{authority}/{}/v2.0", azure_tenant(tenant_id))))
        }
        ProviderSpec::Dev => Err(ProviderError::NotDiscoverable),
    }
}

/// Azure's v2 and v1 issuers for a tenant, when `found` is right.
fn azure_issuers(authority: &str, tenant_id: &str, found: &str) -> Option<Issuers> {
    let (tenant, checked) = if is_guid(tenant_id) {
        (azure_tenant(tenant_id), Some(azure_tenant(tenant_id)))
    } else {
        let middle = found.strip_prefix(authority)?.strip_prefix('/')?;
        (middle.strip_suffix("/v2.0")?.to_owned(), None)
    };
    let v2 = format!("{authority}/{tenant}/v2.0");
    if found != v2 || !is_guid(&tenant) {
        return None;
    }
    Some(Issuers {
        id_token: v2.clone(),
        access_token: vec![v2, azure_v1_issuer(authority, &tenant)],
        tenant: checked,
    })
}

/// The issuer of Azure's v1 access tokens: `https://sts.windows.net/
/// {tenant}/` in the public cloud. Elsewhere (a test double, or another
/// cloud) it is taken to be `{authority}/{tenant}/`.
fn azure_v1_issuer(authority: &str, tenant: &str) -> String {
    let host = authority.split("://").nth(1).unwrap_or(authority);
    if host.eq_ignore_ascii_case(AZURE_PUBLIC_HOST) {
        format!("https://sts.windows.net/{tenant}/")
    } else {
        format!("{authority}/{tenant}/")
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
    lengths == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|group| group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The endpoints of a document, each with its field name.
fn endpoints(document: &Document) -> Vec<(&'static str, &str)> {
    let mut all = vec![
        (
            "authorization_endpoint",
            document.authorization_endpoint.as_str(),
        ),
        ("token_endpoint", document.token_endpoint.as_str()),
        ("jwks_uri", document.jwks_uri.as_str()),
    ];
    if let Some(url) = &document.end_session_endpoint {
        all.push(("end_session_endpoint", url.as_str()));
    }
    all
}

/// An endpoint must be `https://` (or `http://` on loopback) with a host,
/// and no fragment.
fn check_endpoint(field: &'static str, url: &str) -> Result<(), ProviderError> {
    let bad = || ProviderError::BadEndpoint {
        field,
        url: url.to_owned(),
    };
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let host = uri.host().ok_or_else(bad)?;
    let allowed = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => crate::config::is_loopback_host(host),
        _ => false,
    };
    if !allowed || url.contains('#') {
        return Err(bad());
    }
    Ok(())
}

/// Picks the client authentication the token endpoint announces. Absent,
/// the default is `client_secret_basic` (OpenID Connect Discovery §3),
/// which RFC 6749 §2.3.1 also makes mandatory for servers; it is
/// preferred when both are offered.
fn client_auth(announced: Option<&[String]>) -> Result<ClientAuth, ProviderError> {
    let Some(methods) = announced else {
        return Ok(ClientAuth::Basic);
    };
    let offers = |name: &str| methods.iter().any(|method| method == name);
    if offers("client_secret_basic") {
        Ok(ClientAuth::Basic)
    } else if offers("client_secret_post") {
        Ok(ClientAuth::Post)
    } else {
        Err(ProviderError::NoClientAuth)
    }
}

/// The allow-list, narrowed to the announced ID token algorithms when
/// the document lists any.
fn id_token_algorithms(announced: &[String]) -> Result<Vec<Algorithm>, ProviderError> {
    if announced.is_empty() {
        return Ok(ALLOWED_ALGORITHMS.to_vec());
    }
    let mut algorithms = Vec::new();
    for alg in announced.iter().filter_map(|name| allowed_algorithm(name)) {
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    if algorithms.is_empty() {
        return Err(ProviderError::NoAlgorithm);
    }
    Ok(algorithms)
}

/// GETs a JSON document, naming the URL in any error.
pub(super) async fn fetch<T: serde::de::DeserializeOwned>(
    http: &HttpClient,
    url: &str,
) -> Result<T, ProviderError> {
    http.get_json(url)
        .await
        .map_err(|source| ProviderError::Fetch {
            url: url.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests;
