//! The provider's signing keys: the JWKS as fetched ([`KeySet`]), the
//! store that shares it with token checks and refetches it
//! ([`KeyStore`]), and the reading of JWKs (RFC 7517) into keys that
//! `jsonwebtoken` verifies with.
//!
//! Only signing keys are kept: `use: enc` keys, symmetric (`oct`) keys,
//! unsupported curves and malformed keys are skipped, so an HMAC check
//! can never be made with anything found here. A refetch happens at most
//! once a minute, whoever asks; a failed one keeps the old set.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::time::Instant;

use super::{fetch, ProviderError};
use crate::auth::http::HttpClient;
use crate::auth::token::{allowed_algorithm, fits};

/// The key set is refetched when it is older than this, on the next
/// token checked.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);

/// Two fetches of the key set are at least this far apart, whatever
/// asks for them.
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// The type of a signing key: `kty`, and `crv` where it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    /// `OKP` with `crv: Ed25519`.
    Ed25519,
}

/// One signing key of the provider.
#[derive(Clone)]
pub struct Key {
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// The JWK's `alg`, when it names one: then the key signs with only
    /// that algorithm (RFC 7517 §4.4).
    pub alg: Option<Algorithm>,
    pub decoding: DecodingKey,
}

/// The key set as last fetched.
pub struct KeySet {
    pub keys: Vec<Key>,
    fetched: Instant,
}

/// A JWK as published, before it is checked (RFC 7517 §4, RFC 7518 §6).
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(rename = "use", default)]
    usage: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

/// The provider's keys, shared with the background refetches.
pub struct KeyStore {
    http: HttpClient,
    jwks_uri: String,
    current: RwLock<Arc<KeySet>>,
    /// When the set was last fetched or tried, for the once-a-minute
    /// limit.
    last_fetch: Mutex<Instant>,
}

impl KeyStore {
    /// Fetches the key set for the first time; it must hold a key.
    pub(super) async fn load(
        http: HttpClient,
        jwks_uri: String,
    ) -> Result<Arc<KeyStore>, ProviderError> {
        let keys = fetch_keys(&http, &jwks_uri).await?;
        let now = Instant::now();
        Ok(Arc::new(KeyStore {
            http,
            jwks_uri,
            current: RwLock::new(Arc::new(KeySet { keys, fetched: now })),
            last_fetch: Mutex::new(now),
        }))
    }

    /// The key set in use.
    pub fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts a background refetch if the set is over an hour old.
    pub(crate) fn refresh_if_old(self: &Arc<Self>) {
        if self.current().fetched.elapsed() >= KEYS_MAX_AGE {
            self.refetch_in_background();
        }
    }

    /// Starts a background refetch unless one ran within the last minute
    /// or no runtime is there to run it.
    pub(crate) fn refetch_in_background(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.claim_fetch(Instant::now()) {
            return;
        }
        let store = Arc::clone(self);
        runtime.spawn(async move { store.refetch().await });
    }

    /// Fetches the set now unless that was done (or tried) within the
    /// last minute; true when it was.
    pub(crate) async fn refetch_if_due(&self) -> bool {
        if !self.claim_fetch(Instant::now()) {
            return false;
        }
        self.refetch().await;
        true
    }

    /// Takes the right to fetch now: true, and the clock restarted, when
    /// the last fetch was at least a minute before `now`.
    fn claim_fetch(&self, now: Instant) -> bool {
        let mut last = self
            .last_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(*last) < REFETCH_INTERVAL {
            return false;
        }
        *last = now;
        true
    }

    /// Makes the current set and the last fetch look `by` older, so tests
    /// need not wait out the minute or the hour.
    #[cfg(test)]
    pub(crate) fn age(&self, by: Duration) {
        let mut last = self
            .last_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *last = last.checked_sub(by).unwrap_or(*last);
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let fetched = current.fetched.checked_sub(by).unwrap_or(current.fetched);
        *current = Arc::new(KeySet {
            keys: current.keys.clone(),
            fetched,
        });
    }

    /// Fetches the set and swaps it in; on failure the old set stays.
    async fn refetch(&self) {
        match fetch_keys(&self.http, &self.jwks_uri).await {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "identity provider keys refetched");
                let set = Arc::new(KeySet {
                    keys,
                    fetched: Instant::now(),
                });
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = set;
            }
            Err(error) => {
                tracing::warn!(
                    error = %crate::cli::chain(&error),
                    "identity provider keys not refetched; the old ones stay"
                )
            }
        }
    }
}

/// GETs and reads a key set: every usable signing key, skipping the
/// rest. An empty result is an error.
async fn fetch_keys(http: &HttpClient, url: &str) -> Result<Vec<Key>, ProviderError> {
    let set: RawJwkSet = fetch(http, url).await?;
    let keys: Vec<Key> = set
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<RawJwk>(value).ok())
        .filter_map(key_from_jwk)
        .collect();
    if keys.is_empty() {
        return Err(ProviderError::NoKeys {
            url: url.to_owned(),
        });
    }
    Ok(keys)
}

/// A signing key from a JWK, or `None` for an encryption key, a
/// symmetric (`oct`) key, an unsupported curve, or a malformed one.
fn key_from_jwk(jwk: RawJwk) -> Option<Key> {
    if jwk.usage.as_deref() == Some("enc") {
        return None;
    }
    let alg = match jwk.alg.as_deref() {
        Some(name) => Some(allowed_algorithm(name)?),
        None => None,
    };
    let (kind, decoding) = decoding_key(&jwk)?;
    if alg.is_some_and(|alg| !fits(alg, kind)) {
        return None;
    }
    Some(Key {
        kid: jwk.kid,
        kind,
        alg,
        decoding,
    })
}

/// The key's type and its public key, from the JWK's parameters.
fn decoding_key(jwk: &RawJwk) -> Option<(KeyKind, DecodingKey)> {
    match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let (n, e) = (jwk.n.as_deref()?, jwk.e.as_deref()?);
            Some((KeyKind::Rsa, DecodingKey::from_rsa_components(n, e).ok()?))
        }
        ("EC", Some("P-256")) => Some((KeyKind::EcP256, ec_key(jwk, 32)?)),
        ("EC", Some("P-384")) => Some((KeyKind::EcP384, ec_key(jwk, 48)?)),
        ("OKP", Some("Ed25519")) => {
            let x = jwk.x.as_deref()?;
            (coordinate_len(x)? == 32).then_some(())?;
            Some((KeyKind::Ed25519, DecodingKey::from_ed_components(x).ok()?))
        }
        _ => None,
    }
}

/// An EC public key whose coordinates are `len` bytes each, as the curve
/// demands (RFC 7518 §6.2.1.2).
fn ec_key(jwk: &RawJwk, len: usize) -> Option<DecodingKey> {
    let (x, y) = (jwk.x.as_deref()?, jwk.y.as_deref()?);
    if coordinate_len(x)? != len || coordinate_len(y)? != len {
        return None;
    }
    DecodingKey::from_ec_components(x, y).ok()
}

/// The decoded length of a base64url value.
fn coordinate_len(value: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(value).ok().map(|bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fake;
    use super::*;

    fn raw(value: serde_json::Value) -> RawJwk {
        serde_json::from_value(value).expect("a JWK shape")
    }

    /// Encryption keys, symmetric keys, unsupported curves, malformed keys
    /// and keys whose `alg` contradicts their type are all skipped.
    #[test]
    fn only_usable_signing_keys_are_kept() {
        let rsa = fake::rsa_a().jwk;
        let ec = fake::ec_p256().jwk;
        assert_eq!(
            key_from_jwk(raw(rsa.clone())).map(|k| k.kind),
            Some(KeyKind::Rsa)
        );
        assert_eq!(
            key_from_jwk(raw(ec.clone())).map(|k| k.kind),
            Some(KeyKind::EcP256)
        );

        let mut enc = rsa.clone();
        enc["use"] = json!("enc");
        let mut contradicting = ec.clone();
        contradicting["alg"] = json!("RS256");
        let mut p521 = ec.clone();
        p521["crv"] = json!("P-521");
        let mut short = ec.clone();
        short["x"] = json!("AAAA");
        let oct = json!({ "kty": "oct", "k": "c2VjcmV0", "alg": "HS256" });
        let mut hs = rsa;
        hs["alg"] = json!("HS256");
        for jwk in [enc, contradicting, p521, short, oct, hs] {
            assert!(key_from_jwk(raw(jwk.clone())).is_none(), "{jwk}");
        }
    }

    /// Fetches are at least a minute apart, counted from the last one.
    #[test]
    fn fetches_are_a_minute_apart() {
        let start = Instant::now();
        let store = KeyStore {
            http: HttpClient::new(Some(&fake::ca_bundle())).expect("a client"),
            jwks_uri: String::new(),
            current: RwLock::new(Arc::new(KeySet {
                keys: Vec::new(),
                fetched: start,
            })),
            last_fetch: Mutex::new(start),
        };
        assert!(!store.claim_fetch(start + Duration::from_secs(59)));
        assert!(store.claim_fetch(start + Duration::from_secs(60)));
        assert!(!store.claim_fetch(start + Duration::from_secs(61)));
        assert!(store.claim_fetch(start + Duration::from_secs(120)));
    }
}
