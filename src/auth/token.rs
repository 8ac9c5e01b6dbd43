//! Checking the provider's tokens: ID tokens at the end of a sign-in
//! ([`Provider::validate_id_token`]) and bearer access tokens from API
//! clients ([`Provider::validate_access_token`]), each turned into an
//! [`Identity`].
//!
//! The order follows OpenID Connect Core §3.1.3.7: the header first, its
//! algorithm against an allow-list of asymmetric ones and against the
//! type of the key it names, then the signature, and only then the
//! claims (RFC 7519 §4.1): issuer, audience, expiry, not-before, nonce,
//! and for Azure the tenant. Every refusal is a [`TokenError`] whose text
//! names the failed check and never a token or a claim's value.
//! Fetching keys is left to [`super::provider`].

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;

use super::identity::Identity;
use super::provider::{Key, KeyKind, Provider};

/// The algorithms a token may be signed with: asymmetric ones only.
/// `none` is absent (RFC 7518 §3.6), and so is HMAC: a symmetric check
/// with a public key as the secret is how tokens get forged.
pub const ALLOWED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Tokens longer than this are refused unread. Azure ID tokens with
/// many groups reach some KiB; 64 KiB bounds the work on junk.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Why a token was refused: one variant per check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    TooLarge,
    /// Not three base64url parts, or a part is not JSON.
    Malformed,
    /// `alg` is `none`, HMAC, or unknown, or not announced for ID tokens.
    AlgorithmNotAllowed,
    /// The header lists critical extensions (`crit`), which supervise
    /// does not implement (RFC 7515 §4.1.11).
    CriticalHeader,
    /// No key with the token's `kid`; a refetch of the keys has been
    /// asked for (at most one a minute).
    UnknownKey,
    /// No `kid`, and the provider has more than one key.
    AmbiguousKey,
    /// The algorithm does not fit the key's type or the key's own `alg`.
    KeyMismatch,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    /// `azp` is present and is not this client.
    WrongAuthorizedParty,
    MissingExpiry,
    Expired,
    NotYetValid,
    WrongNonce,
    /// Azure: `tid` is not the configured tenant.
    WrongTenant,
    /// Neither `oid` nor `sub`.
    MissingSubject,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::TooLarge => "token too large",
            TokenError::Malformed => "not a well-formed signed JWT",
            TokenError::AlgorithmNotAllowed => "signing algorithm not allowed",
            TokenError::CriticalHeader => "header has critical extensions (crit)",
            TokenError::UnknownKey => "signed with a key the provider does not list (kid)",
            TokenError::AmbiguousKey => "no key id (kid) and the provider has several keys",
            TokenError::KeyMismatch => "algorithm does not fit the key's type",
            TokenError::BadSignature => "signature does not verify",
            TokenError::WrongIssuer => "issued by another issuer (iss)",
            TokenError::WrongAudience => "not meant for this application (aud)",
            TokenError::WrongAuthorizedParty => "authorized party (azp) is not this client",
            TokenError::MissingExpiry => "no expiry (exp)",
            TokenError::Expired => "expired (exp)",
            TokenError::NotYetValid => "not valid yet (nbf)",
            TokenError::WrongNonce => "nonce missing or not this sign-in's",
            TokenError::WrongTenant => "issued for another tenant (tid)",
            TokenError::MissingSubject => "no subject (oid or sub)",
        })
    }
}

impl std::error::Error for TokenError {}

/// The JOSE header fields that matter here.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// The claims read from either kind of token. Types are lenient where
/// providers differ (`aud`, `roles` and `groups` as one string or a
/// list; times as integers or decimals).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    aud: Vec<String>,
    #[serde(default)]
    exp: Option<serde_json::Number>,
    #[serde(default)]
    nbf: Option<serde_json::Number>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    roles: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    groups: Vec<String>,
    #[serde(default, rename = "_claim_names")]
    claim_names: Option<serde_json::Value>,
    #[serde(default)]
    hasgroups: Option<serde_json::Value>,
}

impl Provider {
    /// Checks the ID token of a sign-in started with `nonce`, at `now`
    /// (seconds since the epoch), and returns who signed in.
    ///
    /// On [`TokenError::UnknownKey`] a background refetch of the keys has
    /// been started; see [`Provider::refetch_keys`].
    pub fn validate_id_token(
        &self,
        token: &str,
        nonce: &str,
        now: u64,
    ) -> Result<Identity, TokenError> {
        let claims = self.verified_claims(token, &self.id_token_algorithms)?;

        // OpenID Connect Core §3.1.3.7, steps 2 to 5 and 9 to 11.
        if claims.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(TokenError::WrongIssuer);
        }
        if !claims.aud.contains(&self.client_id) {
            return Err(TokenError::WrongAudience);
        }
        self.check_authorized_party(&claims)?;
        let expires = check_times(&claims, now, self.leeway)?;
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(TokenError::WrongNonce);
        }
        self.check_tenant(&claims)?;
        identity(claims, expires)
    }

    /// Checks a bearer access token at `now` (seconds since the epoch):
    /// signed by the provider, issued by it (for Azure the v1 or v2
    /// issuer of the tenant), for one of `auth.audiences`, not expired.
    ///
    /// On [`TokenError::UnknownKey`] a background refetch of the keys has
    /// been started.
    pub fn validate_access_token(&self, token: &str, now: u64) -> Result<Identity, TokenError> {
        let claims = self.verified_claims(token, &ALLOWED_ALGORITHMS)?;

        let issued_here = claims
            .iss
            .as_ref()
            .is_some_and(|iss| self.access_issuers.contains(iss));
        if !issued_here {
            return Err(TokenError::WrongIssuer);
        }
        if !claims.aud.iter().any(|aud| self.audiences.contains(aud)) {
            return Err(TokenError::WrongAudience);
        }
        let expires = check_times(&claims, now, self.leeway)?;
        self.check_tenant(&claims)?;
        identity(claims, expires)
    }

    /// The token's claims, once its header, key and signature check out.
    fn verified_claims(&self, token: &str, algorithms: &[Algorithm]) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLarge);
        }
        let parts = Parts::split(token)?;
        let header: Header = decode_json(parts.header)?;
        let alg = allowed_algorithm(&header.alg)
            .filter(|alg| algorithms.contains(alg))
            .ok_or(TokenError::AlgorithmNotAllowed)?;
        if header.crit.is_some() {
            return Err(TokenError::CriticalHeader);
        }

        self.keys.refresh_if_old();
        let keys = self.keys.current();
        let key = select_key(&keys.keys, header.kid.as_deref(), alg).inspect_err(|error| {
            if *error == TokenError::UnknownKey {
                self.keys.refetch_in_background();
            }
        })?;
        let verified =
            jsonwebtoken::crypto::verify(parts.signature, parts.signed, &key.decoding, alg);
        if !verified.unwrap_or(false) {
            return Err(TokenError::BadSignature);
        }
        decode_json(parts.payload)
    }

    /// OpenID Connect Core §3.1.3.7 steps 4 and 5 (as corrected in errata
    /// set 2): an `azp`, when present, must be this client. A token for
    /// several audiences without `azp` is accepted as long as this client
    /// is among them.
    fn check_authorized_party(&self, claims: &Claims) -> Result<(), TokenError> {
        match &claims.azp {
            Some(azp) if *azp != self.client_id => Err(TokenError::WrongAuthorizedParty),
            _ => Ok(()),
        }
    }

    /// Azure with a tenant GUID: `tid` must be it. With a tenant domain
    /// name the issuer alone pins the tenant.
    fn check_tenant(&self, claims: &Claims) -> Result<(), TokenError> {
        match &self.tenant {
            Some(tenant) if claims.tid.as_deref() != Some(tenant.as_str()) => {
                Err(TokenError::WrongTenant)
            }
            _ => Ok(()),
        }
    }
}

/// The three parts of a compact JWS (RFC 7515 §7.1), still encoded.
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header.payload`, what the signature covers.
    signed: &'a [u8],
}

impl<'a> Parts<'a> {
    fn split(token: &'a str) -> Result<Parts<'a>, TokenError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        // An empty signature is let through to fail later, so that an
        // unsigned (`alg: none`) token is refused for its algorithm.
        if payload.contains('.') || header.is_empty() || payload.is_empty() {
            return Err(TokenError::Malformed);
        }
        Ok(Parts {
            header,
            payload,
            signature,
            signed: signed.as_bytes(),
        })
    }
}

/// A base64url part (no padding) read as JSON.
fn decode_json<T: DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// An algorithm of the allow-list by its JOSE name (RFC 7518 §3.1).
pub fn allowed_algorithm(name: &str) -> Option<Algorithm> {
    let alg = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    };
    Some(alg)
}

/// Whether `alg` can be checked with a key of `kind`: RSA keys for RS
/// and PS, the matching curve for ES, Ed25519 for EdDSA. Tying the two
/// is what stops a token from choosing how its key is used.
pub fn fits(alg: Algorithm, kind: KeyKind) -> bool {
    match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => kind == KeyKind::Rsa,
        Algorithm::ES256 => kind == KeyKind::EcP256,
        Algorithm::ES384 => kind == KeyKind::EcP384,
        Algorithm::EdDSA => kind == KeyKind::Ed25519,
        _ => false,
    }
}

/// The key to check a token with. With a `kid`, the key of that id; with
/// none, the only key there is. Several keys and no `kid` is refused
/// rather than tried in turn: no guessing.
fn select_key<'k>(
    keys: &'k [Key],
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<&'k Key, TokenError> {
    let key = match kid {
        Some(kid) => {
            let mut named = keys
                .iter()
                .filter(|key| key.kid.as_deref() == Some(kid))
                .peekable();
            named.peek().ok_or(TokenError::UnknownKey)?;
            named
                .find(|key| key_fits(key, alg))
                .ok_or(TokenError::KeyMismatch)?
        }
        None => match keys {
            [only] => only,
            [] => return Err(TokenError::UnknownKey),
            _ => return Err(TokenError::AmbiguousKey),
        },
    };
    if !key_fits(key, alg) {
        return Err(TokenError::KeyMismatch);
    }
    Ok(key)
}

/// The key's type fits `alg`, and so does its own `alg` when it has one.
fn key_fits(key: &Key, alg: Algorithm) -> bool {
    fits(alg, key.kind) && key.alg.is_none_or(|own| own == alg)
}

/// RFC 7519 §4.1.4 and §4.1.5, with `leeway` seconds of clock skew:
/// `exp` is required and must be after `now`; `nbf`, when present, must
/// not be after it. Returns `exp`.
fn check_times(claims: &Claims, now: u64, leeway: u64) -> Result<u64, TokenError> {
    let exp = claims.exp.as_ref().ok_or(TokenError::MissingExpiry)?;
    let exp = seconds(exp).ok_or(TokenError::Malformed)?;
    if now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = &claims.nbf {
        let nbf = seconds(nbf).ok_or(TokenError::Malformed)?;
        if nbf > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
    }
    Ok(exp)
}

/// A NumericDate (RFC 7519 §2) as whole seconds; negative ones are 0.
fn seconds(number: &serde_json::Number) -> Option<u64> {
    if let Some(whole) = number.as_u64() {
        return Some(whole);
    }
    let value = number.as_f64().filter(|value| value.is_finite())?;
    // Float-to-int casts saturate, so huge values stay huge.
    Some(if value <= 0.0 { 0 } else { value as u64 })
}

/// The identity the claims describe. Azure's `oid` is preferred to `sub`
/// as the subject: it is the same across the tenant's applications.
fn identity(claims: Claims, expires: u64) -> Result<Identity, TokenError> {
    let groups_overage = claims
        .claim_names
        .as_ref()
        .is_some_and(|names| names.get("groups").is_some())
        || claims.hasgroups == Some(serde_json::Value::Bool(true));
    let subject = [claims.oid, claims.sub]
        .into_iter()
        .flatten()
        .find(|subject| !subject.is_empty())
        .ok_or(TokenError::MissingSubject)?;
    let email = [claims.email, claims.preferred_username.clone(), claims.upn]
        .into_iter()
        .flatten()
        .find(|value| value.contains('@'));
    Ok(Identity {
        subject,
        email,
        name: claims.name.or(claims.preferred_username),
        roles: claims.roles,
        groups: claims.groups,
        groups_overage,
        expires,
    })
}

/// A claim that is one string or a list of strings (`aud`, and
/// `roles` or `groups` from providers that send a single one).
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(one)) => vec![one],
        Some(OneOrMany::Many(many)) => many,
    })
}

#[cfg(test)]
mod tests;
