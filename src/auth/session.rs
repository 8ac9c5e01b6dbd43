//! Sessions: the signed cookie that keeps a user signed in, and signed
//! values for other short-lived state (the sign-in flow's cookie).
//!
//! [`Sessions`] seals an [`Identity`] into `Set-Cookie` values and opens
//! it again from a request's `Cookie` header, on any task that shares the
//! secret: nothing is kept in memory, because the load balancer has no
//! sticky sessions. It also strips supervise's own cookies from requests
//! before they go upstream. Which identity to seal (providers), who may
//! pass (rules) and the flow's contents (the endpoints) live elsewhere.
//!
//! # The signed value
//!
//! `v1.<expires>.<payload>.<mac>`: a format version, the expiry in Unix
//! seconds, the payload in unpadded base64url, and the tag, unpadded
//! base64url of HMAC-SHA256 over the purpose (length-prefixed) and
//! everything before the last dot. The purpose (`session` for the session
//! cookie, another word for each other use) is signed but not written, so
//! a value made for one purpose never verifies as another. Each secret of
//! `session.secrets` becomes a key as HMAC-SHA256(secret, "supervise
//! session key v1"); the first key signs and every key verifies, so a new
//! secret can go first while sessions signed with the old one still work.
//!
//! # Big identities
//!
//! Browsers keep about 4096 bytes per cookie. A sealed session longer
//! than [`PART_LEN`] bytes is cut into parts, `name`, `name.1`, `name.2`
//! and so on, at most [`MAX_PARTS`]; the first part then starts with the
//! part count (`3~v1.…`). An identity too big even for that keeps its
//! roles and loses groups from the end of its list until it fits (then
//! marked `groups_overage`, so a rule on groups fails closed with its own
//! message), and a warning with the counts is logged. Five full parts make
//! a `Cookie` header of about 19 KB, above the 16 KB an AWS load balancer
//! takes in one header; Azure's at most 200 groups seal to about 11 KB.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use http::{header, HeaderMap, HeaderValue};
use sha2::Sha256;

use crate::auth::identity::Identity;
use crate::config::SessionSpec;

type HmacSha256 = Hmac<Sha256>;

/// Cookies of sign-ins in flight are named with this prefix; they are
/// supervise's own and never reach the backend.
pub const FLOW_COOKIE_PREFIX: &str = "supervise_flow_";

/// The longest sealed value one cookie holds; a longer one is split.
/// Leaves room under the browsers' 4096 bytes for the name and count.
pub const PART_LEN: usize = 3800;

/// The most cookies one session is split into. Three parts make a
/// `Cookie` header of about 11.4 KB, under the 16 KB an AWS ALB accepts
/// per header; 200 groups (Azure's most in a token) still fit.
pub const MAX_PARTS: usize = 3;

/// The longest value [`Sessions::verify`] looks at; anything longer is
/// refused before any work is done on it.
pub const MAX_VALUE_LEN: usize = PART_LEN * MAX_PARTS;

/// The signed purpose of session cookies.
const SESSION_PURPOSE: &str = "session";

const VERSION_PREFIX: &str = "v1.";

/// What each secret is hashed with to become a signing key.
const KEY_LABEL: &[u8] = b"supervise session key v1";

/// Seals and opens session cookies, and signs other values, with the
/// keys of `session.secrets`.
pub struct Sessions {
    cookie: String,
    /// `cookie` plus `.`: what the names of the extra parts start with.
    part_prefix: String,
    ttl: u64,
    secure: bool,
    /// One keyed HMAC per secret, first signs; cloned for each use, which
    /// saves hashing the key on every request.
    keys: Vec<HmacSha256>,
    /// Sessions already verified, by their exact cookie value: a browser
    /// sends the same value with every request, and checking it once is
    /// enough. Only a value that verified is ever stored, and each hit is
    /// checked for expiry again.
    verified: Mutex<HashMap<String, Arc<Identity>>>,
}

/// How many verified sessions are remembered; when full, the memory is
/// emptied and refills with the sessions in use.
const VERIFIED_CACHE: usize = 4096;

impl Sessions {
    /// Keys from `spec.secrets` (first signs, all verify), the cookie's
    /// name and lifetime from `spec`. `secure` adds the `Secure`
    /// attribute; pass false only for a plain-HTTP loopback listener.
    ///
    /// With no secret at all (the config loader refuses that), values are
    /// signed with nothing and nothing verifies: every request is
    /// signed-out.
    pub fn new(spec: &SessionSpec, secure: bool) -> Sessions {
        let keys = spec
            .secrets
            .iter()
            .map(|secret| derive_key(secret.expose().as_bytes()))
            .collect();
        Sessions {
            cookie: spec.cookie.clone(),
            part_prefix: format!("{}.", spec.cookie),
            ttl: spec.ttl.as_secs(),
            secure,
            keys,
            verified: Mutex::default(),
        }
    }

    /// The session cookie's name (its first part's).
    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }

    /// Whether cookies carry the `Secure` attribute; flow cookies follow
    /// the same rule as the session's.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// `Set-Cookie` values that sign `identity` in from `now` (Unix
    /// seconds) for `session.ttl`.
    ///
    /// The session lasts `ttl` from sign-in whatever the identity's own
    /// `expires` (an ID token's, often one hour): the sealed identity's
    /// `expires` becomes the session's end, the same instant as the
    /// cookie's `Max-Age` and the signed expiry. Parts that a bigger
    /// earlier session may have left are deleted in the same response.
    /// An identity that does not fit even without groups and roles (a
    /// name or email of many kilobytes) is not sealed: the values returned
    /// then delete the session, and a warning says why.
    pub fn seal(&self, identity: &Identity, now: u64) -> Vec<HeaderValue> {
        let expires = now.saturating_add(self.ttl);
        let Some(value) = self.seal_value(identity, expires) else {
            return self.clear();
        };
        let parts = split(&value);
        let set = parts
            .iter()
            .enumerate()
            .filter_map(|(index, part)| self.set_cookie(index, part, self.ttl));

        // Delete parts an earlier, bigger session may have left behind;
        // otherwise they would linger until their own Max-Age.
        let stale = (parts.len()..MAX_PARTS).filter_map(|index| self.set_cookie(index, "", 0));
        set.chain(stale).collect()
    }

    /// The identity of the request's session, if it has one that verifies
    /// and has not expired at `now`.
    ///
    /// Reads every `Cookie` header; when a part's name appears twice, the
    /// first one counts (browsers send the most specific first). A missing
    /// part, bad base64, a wrong purpose, an unknown key, a changed byte or
    /// a body that is not an identity all answer `None`.
    pub fn open(&self, headers: &HeaderMap, now: u64) -> Option<Arc<Identity>> {
        let value = self.reassemble(headers)?;
        let known = self.lock_verified().get(value.as_ref()).cloned();
        if let Some(identity) = known {
            return (!identity.is_expired(now)).then_some(identity);
        }

        let payload = self.verify(SESSION_PURPOSE, &value, now)?;
        let identity: Identity = serde_json::from_slice(&payload).ok()?;
        if identity.is_expired(now) {
            return None;
        }
        let identity = Arc::new(identity);
        let mut verified = self.lock_verified();
        if verified.len() >= VERIFIED_CACHE {
            verified.clear();
        }
        verified.insert(value.into_owned(), identity.clone());
        Some(identity)
    }

    fn lock_verified(&self) -> MutexGuard<'_, HashMap<String, Arc<Identity>>> {
        // Every use is one lookup or one insert: a panic elsewhere cannot
        // leave the map half changed.
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Set-Cookie` values that delete every part of the session.
    pub fn clear(&self) -> Vec<HeaderValue> {
        (0..MAX_PARTS)
            .filter_map(|index| self.set_cookie(index, "", 0))
            .collect()
    }

    /// Removes supervise's own cookies (every session part, and sign-in
    /// flow cookies) from the `Cookie` headers of a request bound
    /// upstream: the backend has no use for them, and a backend that logs
    /// cookies would otherwise log sessions. Other cookies are kept as
    /// sent; a header left empty is removed.
    pub fn strip_cookies(&self, headers: &mut HeaderMap) {
        let has_own = headers
            .get_all(header::COOKIE)
            .iter()
            .any(|value| pairs(value.as_bytes()).any(|pair| self.is_own(cookie_name(pair))));
        if !has_own {
            return;
        }
        let kept: Vec<HeaderValue> = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| self.without_own(value))
            .collect();
        headers.remove(header::COOKIE);
        for value in kept {
            headers.append(header::COOKIE, value);
        }
    }

    /// A value carrying `payload` for `purpose` until `expires` (Unix
    /// seconds), signed with the first key. Only [`Sessions::verify`]
    /// with the same purpose gets the payload back; the payload is
    /// readable by anyone holding the value, so it must hold nothing
    /// secret from the user. Values longer than [`MAX_VALUE_LEN`] never
    /// verify.
    pub fn sign(&self, purpose: &str, payload: &[u8], expires: u64) -> String {
        let signed = format!(
            "{VERSION_PREFIX}{expires}.{}",
            URL_SAFE_NO_PAD.encode(payload)
        );
        let tag = match self.keys.first() {
            Some(key) => {
                URL_SAFE_NO_PAD.encode(tagged(key, purpose, &signed).finalize().into_bytes())
            }
            None => String::new(),
        };
        format!("{signed}.{tag}")
    }

    /// The payload of `value` if some key signed it for `purpose` and it
    /// has not expired at `now`; `None` for anything else, never a panic.
    /// The tag is compared in constant time.
    pub fn verify(&self, purpose: &str, value: &str, now: u64) -> Option<Vec<u8>> {
        if value.len() > MAX_VALUE_LEN {
            return None;
        }
        let (signed, tag) = value.rsplit_once('.')?;
        let (expires, payload) = signed.strip_prefix(VERSION_PREFIX)?.split_once('.')?;
        if expires.parse::<u64>().ok()? <= now {
            return None;
        }

        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let genuine = self
            .keys
            .iter()
            .any(|key| tagged(key, purpose, signed).verify_slice(&tag).is_ok());
        if !genuine {
            return None;
        }
        URL_SAFE_NO_PAD.decode(payload).ok()
    }

    /// The signed value for `identity` until `expires`, trimmed to fit
    /// [`MAX_PARTS`] cookies.
    fn seal_value(&self, identity: &Identity, expires: u64) -> Option<String> {
        let mut session = Identity {
            expires,
            ..identity.clone()
        };
        let fits = |session: &Identity| self.sealed(session).len() <= MAX_VALUE_LEN;
        if !fits(&session) && !session.groups.is_empty() {
            // The groups list is incomplete from here on; rules on groups
            // must then fail closed, exactly as for Azure's overage.
            session.groups_overage = true;
            let kept = keep_prefix(&mut session, |s| &mut s.groups, fits);
            tracing::warn!(user = %session.subject, groups = identity.groups.len(), kept,
                "identity too large for the session cookie; groups trimmed");
        }
        if !fits(&session) {
            let kept = keep_prefix(&mut session, |s| &mut s.roles, fits);
            tracing::warn!(user = %session.subject, roles = identity.roles.len(), kept,
                "identity too large for the session cookie even without groups; roles trimmed");
        }
        if !fits(&session) {
            tracing::warn!(user = %session.subject,
                "identity too large for the session cookie even without roles; not signed in");
            return None;
        }
        Some(self.sealed(&session))
    }

    fn sealed(&self, session: &Identity) -> String {
        let payload = serde_json::to_vec(session).unwrap_or_default();
        self.sign(SESSION_PURPOSE, &payload, session.expires)
    }

    /// The session's value from the request's cookies, parts joined.
    fn reassemble<'h>(&self, headers: &'h HeaderMap) -> Option<Cow<'h, str>> {
        let mut parts: [Option<&str>; MAX_PARTS] = [None; MAX_PARTS];
        for pair in headers
            .get_all(header::COOKIE)
            .iter()
            .flat_map(|v| pairs(v.as_bytes()))
        {
            if let Some(index) = self.part_index(cookie_name(pair)) {
                let value = std::str::from_utf8(cookie_value(pair)).ok();
                parts[index] = parts[index].or(value);
            }
        }

        let first = parts[0]?;
        let Some((count, rest)) = part_count(first) else {
            return Some(Cow::Borrowed(first));
        };
        let mut whole = rest.to_owned();
        for part in &parts[1..count] {
            whole.push_str((*part)?);
        }
        Some(Cow::Owned(whole))
    }

    /// Which part of the session a cookie of this name is, if any: 0 for
    /// `name`, 1 for `name.1`, and so on.
    fn part_index(&self, name: &[u8]) -> Option<usize> {
        if name == self.cookie.as_bytes() {
            return Some(0);
        }
        match name.strip_prefix(self.part_prefix.as_bytes())? {
            [digit @ b'1'..=b'9'] => Some(usize::from(digit - b'0')).filter(|i| *i < MAX_PARTS),
            _ => None,
        }
    }

    fn part_name(&self, index: usize) -> Cow<'_, str> {
        match index {
            0 => Cow::Borrowed(&self.cookie),
            index => Cow::Owned(format!("{}{index}", self.part_prefix)),
        }
    }

    /// Whether a cookie of this name is one of supervise's own.
    fn is_own(&self, name: &[u8]) -> bool {
        name == self.cookie.as_bytes()
            || name.starts_with(self.part_prefix.as_bytes())
            || name.starts_with(FLOW_COOKIE_PREFIX.as_bytes())
    }

    /// `value` without supervise's cookies, or `None` when nothing is left.
    fn without_own(&self, value: &HeaderValue) -> Option<HeaderValue> {
        let kept: Vec<&[u8]> = pairs(value.as_bytes())
            .filter(|pair| !self.is_own(cookie_name(pair)))
            .collect();
        if kept.is_empty() {
            return None;
        }
        HeaderValue::from_bytes(&kept.join(&b"; "[..])).ok()
    }

    /// A `Set-Cookie` value for part `index`; `max_age` 0 deletes it.
    fn set_cookie(&self, index: usize, value: &str, max_age: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        let name = self.part_name(index);
        let cookie =
            format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");

        // A cookie name the config loader should have refused; leave the
        // cookie out rather than send a broken header.
        HeaderValue::from_str(&cookie).ok()
    }
}

impl fmt::Debug for Sessions {
    /// Keys are left out: they are as good as the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("cookie", &self.cookie)
            .field("ttl", &self.ttl)
            .field("secure", &self.secure)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// HMAC-SHA256(secret, label), keyed for use: a fixed-length key per
/// secret, and one that is used for nothing but supervise's sessions.
fn derive_key(secret: &[u8]) -> HmacSha256 {
    let derived = keyed(secret)
        .chain_update(KEY_LABEL)
        .finalize()
        .into_bytes();
    keyed(&derived)
}

fn keyed(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// The MAC of `signed` for `purpose`. The purpose's length goes first so
/// that no purpose and value can pass for another pair.
fn tagged(key: &HmacSha256, purpose: &str, signed: &str) -> HmacSha256 {
    let mut mac = key.clone();
    mac.update(&(purpose.len() as u64).to_be_bytes());
    mac.update(purpose.as_bytes());
    mac.update(signed.as_bytes());
    mac
}

/// Cuts a sealed value into cookie parts; with more than one, the first
/// starts with the count, so stale extra parts are never joined in.
fn split(value: &str) -> Vec<String> {
    if value.len() <= PART_LEN {
        return vec![value.to_owned()];
    }

    // The value is ASCII (base64url, digits and dots), so every byte
    // offset is a character boundary.
    let chunks: Vec<&[u8]> = value.as_bytes().chunks(PART_LEN).collect();
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(index, chunk)| {
            let chunk = String::from_utf8_lossy(chunk);
            match index {
                0 => format!("{count}~{chunk}"),
                _ => chunk.into_owned(),
            }
        })
        .collect()
}

/// The part count and the rest of a first part that has one (`3~v1.…`).
fn part_count(first: &str) -> Option<(usize, &str)> {
    let (count, rest) = first.split_once('~')?;
    let count: usize = count.parse().ok()?;
    (2..=MAX_PARTS).contains(&count).then_some((count, rest))
}

/// Keeps the longest prefix of one of `session`'s lists with which `fits`
/// still holds (a binary search: a list may hold thousands), and answers
/// how many entries were kept.
fn keep_prefix(
    session: &mut Identity,
    list: fn(&mut Identity) -> &mut Vec<String>,
    fits: impl Fn(&Identity) -> bool,
) -> usize {
    let full = std::mem::take(list(session));
    let (mut low, mut high) = (0, full.len());
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        *list(session) = full[..middle].to_vec();
        if fits(session) {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    *list(session) = full[..low].to_vec();
    low
}

/// The `name=value` pairs of one `Cookie` header, trimmed, empty ones
/// skipped. Bytes, not text: another site's cookie may hold non-ASCII.
fn pairs(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    header
        .split(|byte| *byte == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
}

fn cookie_name(pair: &[u8]) -> &[u8] {
    pair.split(|byte| *byte == b'=')
        .next()
        .unwrap_or(pair)
        .trim_ascii()
}

fn cookie_value(pair: &[u8]) -> &[u8] {
    match pair.iter().position(|byte| *byte == b'=') {
        Some(at) => pair[at + 1..].trim_ascii(),
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::config::Secret;

    const NOW: u64 = 1_700_000_000;
    const TTL: u64 = 8 * 3600;
    const OLD: &str = "an old secret of at least thirty-two bytes";
    const NEW: &str = "a new secret, also of at least thirty-two bytes";

    fn sessions(secrets: &[&str], secure: bool) -> Sessions {
        let spec = SessionSpec {
            secrets: secrets.iter().map(|s| Secret(s.to_string())).collect(),
            ttl: Duration::from_secs(TTL),
            cookie: "supervise_session".into(),
        };
        Sessions::new(&spec, secure)
    }

    fn alice() -> Identity {
        Identity {
            subject: "alice-id".into(),
            email: Some("alice@example.com".into()),
            name: Some("Alice".into()),
            roles: vec!["reader".into()],
            groups: vec!["g1".into(), "g2".into()],
            groups_overage: false,
            expires: NOW + 60,
        }
    }

    /// An identity with `groups` GUID-like groups and `roles` roles.
    fn big(groups: usize, roles: usize) -> Identity {
        Identity {
            roles: (0..roles).map(|i| format!("role-{i}")).collect(),
            groups: (0..groups)
                .map(|i| format!("{i:08x}-0000-4000-8000-000000000000"))
                .collect(),
            ..alice()
        }
    }

    /// The `Cookie` header a browser would send after these Set-Cookies:
    /// every pair that is not a deletion.
    fn cookie_header(set_cookies: &[HeaderValue]) -> HeaderMap {
        let pairs: Vec<&str> = set_cookies
            .iter()
            .filter(|c| !c.to_str().unwrap().contains("Max-Age=0"))
            .map(|c| c.to_str().unwrap().split(';').next().unwrap())
            .collect();
        headers_with_cookie(&pairs.join("; "))
    }

    fn headers_with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn text(values: &[HeaderValue]) -> Vec<&str> {
        values.iter().map(|v| v.to_str().unwrap()).collect()
    }

    /// A sealed identity opens again, with the session's expiry in place
    /// of the token's.
    #[test]
    fn round_trip() {
        let sessions = sessions(&[NEW], true);
        let headers = cookie_header(&sessions.seal(&alice(), NOW));
        let opened = sessions.open(&headers, NOW + 1).unwrap();
        assert_eq!(
            *opened,
            Identity {
                expires: NOW + TTL,
                ..alice()
            }
        );
    }

    /// A session verified once is answered from memory afterwards, and
    /// still ends at its expiry.
    #[test]
    fn verified_sessions_are_remembered_until_they_expire() {
        let sessions = sessions(&[NEW], true);
        let headers = cookie_header(&sessions.seal(&alice(), NOW));
        let first = sessions.open(&headers, NOW).unwrap();
        let second = sessions.open(&headers, NOW + 1).unwrap();
        assert!(Arc::ptr_eq(&first, &second), "verified twice");
        assert!(
            sessions.open(&headers, NOW + TTL).is_none(),
            "expired yet remembered"
        );
    }

    /// The session outlives the ID token's expiry and ends at the ttl.
    #[test]
    fn expiry_is_the_ttl() {
        let sessions = sessions(&[NEW], true);
        let headers = cookie_header(&sessions.seal(&alice(), NOW));
        assert!(sessions.open(&headers, NOW + 3600).is_some());
        assert!(sessions.open(&headers, NOW + TTL - 1).is_some());
        assert!(sessions.open(&headers, NOW + TTL).is_none());
    }

    /// After rotation the old secret still verifies and the new one signs.
    #[test]
    fn rotation() {
        let before = sessions(&[OLD], true);
        let after = sessions(&[NEW, OLD], true);
        let only_new = sessions(&[NEW], true);

        let old_cookie = cookie_header(&before.seal(&alice(), NOW));
        assert!(after.open(&old_cookie, NOW).is_some());

        let new_cookie = cookie_header(&after.seal(&alice(), NOW));
        assert!(only_new.open(&new_cookie, NOW).is_some());
        assert!(before.open(&new_cookie, NOW).is_none());
    }

    /// A value signed with a secret the server does not know is refused.
    #[test]
    fn unknown_key_is_refused() {
        let value = sessions(&[OLD], true).sign("flow", b"x", NOW + 10);
        assert_eq!(sessions(&[NEW], true).verify("flow", &value, NOW), None);
    }

    /// Changing any single byte of a signed value makes it fail.
    #[test]
    fn every_byte_flip_is_refused() {
        let sessions = sessions(&[NEW], true);
        let value = sessions.sign(SESSION_PURPOSE, br#"{"subject":"a","expires":9}"#, NOW + 10);
        assert!(sessions.verify(SESSION_PURPOSE, &value, NOW).is_some());
        for index in 0..value.len() {
            for flip in [1u8, 2, 4, 32] {
                let mut bytes = value.clone().into_bytes();
                bytes[index] ^= flip;
                let Ok(tampered) = String::from_utf8(bytes) else {
                    continue;
                };
                let opened = sessions.verify(SESSION_PURPOSE, &tampered, NOW);
                assert_eq!(opened, None, "byte {index} ^ {flip}: {tampered}");
            }
        }
    }

    /// A payload rewritten to grant a role, keeping the tag, is refused;
    /// so are a cut tag, a later expiry and a missing version.
    #[test]
    fn forged_values_are_refused() {
        let sessions = sessions(&[NEW], true);
        let value = sessions.sign(SESSION_PURPOSE, br#"{"subject":"a","expires":9}"#, NOW + 10);
        let (signed, tag) = value.rsplit_once('.').unwrap();
        let (head, _) = signed.rsplit_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"subject":"a","roles":["admin"],"expires":9}"#);

        let candidates = [
            format!("{head}.{forged}.{tag}"),
            format!("{signed}.{}", &tag[..tag.len() - 2]),
            format!("{signed}."),
            signed.to_string(),
            value.replacen(&(NOW + 10).to_string(), &(NOW + 99_999).to_string(), 1),
            value.replacen("v1.", "", 1),
            value.replacen("v1.", "v2.", 1),
        ];
        for candidate in candidates {
            assert_eq!(
                sessions.verify(SESSION_PURPOSE, &candidate, NOW),
                None,
                "{candidate}"
            );
        }
    }

    /// A tampered cookie in a request opens to nothing.
    #[test]
    fn tampered_cookie_opens_to_none() {
        let sessions = sessions(&[NEW], true);
        let sealed = sessions.seal(&alice(), NOW);
        let pair = sealed[0].to_str().unwrap().split(';').next().unwrap();
        let tampered = pair.replacen("v1.", "v1.9", 1);
        assert!(sessions
            .open(&headers_with_cookie(&tampered), NOW)
            .is_none());
    }

    /// Expired values are refused, up to the exact second.
    #[test]
    fn expired_is_refused() {
        let sessions = sessions(&[NEW], true);
        let value = sessions.sign("flow", b"x", NOW + 10);
        assert_eq!(
            sessions.verify("flow", &value, NOW + 9),
            Some(b"x".to_vec())
        );
        assert_eq!(sessions.verify("flow", &value, NOW + 10), None);
    }

    /// A session value is no flow value, and a flow value no session.
    #[test]
    fn purposes_do_not_mix() {
        let sessions = sessions(&[NEW], true);
        let sealed = sessions.seal(&alice(), NOW);
        let pair = sealed[0].to_str().unwrap().split(';').next().unwrap();
        let session_value = pair.split_once('=').unwrap().1;
        assert_eq!(sessions.verify("flow", session_value, NOW), None);

        let identity = serde_json::to_vec(&alice()).unwrap();
        let flow_value = sessions.sign("flow", &identity, NOW + 600);
        let cookie = format!("supervise_session={flow_value}");
        assert!(sessions.open(&headers_with_cookie(&cookie), NOW).is_none());
    }

    /// Purposes that share a prefix are still told apart.
    #[test]
    fn purpose_is_length_prefixed() {
        let sessions = sessions(&[NEW], true);
        let value = sessions.sign("flow", b"x", NOW + 10);
        assert_eq!(sessions.verify("flo", &value, NOW), None);
        assert_eq!(sessions.verify("flowv1.", &value, NOW), None);
    }

    /// Without any secret, nothing verifies.
    #[test]
    fn no_secret_verifies_nothing() {
        let sessions = sessions(&[], true);
        let value = sessions.sign("flow", b"x", NOW + 10);
        assert_eq!(sessions.verify("flow", &value, NOW), None);
    }

    /// The Set-Cookie attributes, with and without `Secure`.
    #[test]
    fn set_cookie_attributes() {
        let secure = sessions(&[NEW], true).seal(&alice(), NOW);
        let first = secure[0].to_str().unwrap();
        assert!(first.starts_with("supervise_session=v1."));
        assert!(first.ends_with(&format!(
            "; Path=/; HttpOnly; SameSite=Lax; Max-Age={TTL}; Secure"
        )));

        let plain = sessions(&[NEW], false).seal(&alice(), NOW);
        let first = plain[0].to_str().unwrap();
        assert!(first.ends_with(&format!("; Max-Age={TTL}")), "{first}");
        assert!(!first.contains("Secure"));
    }

    /// A small session deletes the extra parts a bigger one may have left.
    #[test]
    fn small_seal_deletes_stale_parts() {
        let sealed = sessions(&[NEW], true).seal(&alice(), NOW);
        assert_eq!(sealed.len(), MAX_PARTS);
        for (index, cookie) in text(&sealed).iter().enumerate().skip(1) {
            let expected = format!(
                "supervise_session.{index}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
            );
            assert_eq!(*cookie, expected);
        }
    }

    /// A big identity is split into parts under the cookie limit and
    /// joined back whole; the unused parts are deleted.
    #[test]
    fn big_identity_splits_and_joins() {
        let sessions = sessions(&[NEW], true);
        let identity = big(200, 3);
        let sealed = sessions.seal(&identity, NOW);
        let live: Vec<&str> = text(&sealed)
            .into_iter()
            .filter(|c| !c.contains("Max-Age=0"))
            .collect();
        assert!(
            live.len() > 1 && live.len() <= MAX_PARTS,
            "{} parts",
            live.len()
        );
        assert!(live[1].starts_with("supervise_session.1="));
        assert!(sealed.iter().all(|c| c.len() < 4000));
        assert_eq!(sealed.len(), MAX_PARTS);

        let opened = sessions.open(&cookie_header(&sealed), NOW).unwrap();
        assert_eq!(
            *opened,
            Identity {
                expires: NOW + TTL,
                ..identity
            }
        );
    }

    /// A missing middle part, or parts out of order, open to nothing.
    #[test]
    fn missing_or_swapped_part_is_refused() {
        let sessions = sessions(&[NEW], true);
        let sealed = sessions.seal(&big(200, 0), NOW);
        let pairs: Vec<&str> = text(&sealed)
            .into_iter()
            .filter(|c| !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap())
            .collect();
        assert!(pairs.len() >= 3);

        let without_second = format!("{}; {}", pairs[0], pairs[2]);
        assert!(sessions
            .open(&headers_with_cookie(&without_second), NOW)
            .is_none());

        let value = |pair: &str| pair.split_once('=').unwrap().1.to_owned();
        let swapped = format!(
            "{}; supervise_session.1={}; supervise_session.2={}",
            pairs[0],
            value(pairs[2]),
            value(pairs[1])
        );
        assert!(sessions.open(&headers_with_cookie(&swapped), NOW).is_none());
    }

    /// Stale extra parts beside a single-part session are ignored.
    #[test]
    fn stale_parts_are_not_joined() {
        let sessions = sessions(&[NEW], true);
        let small = cookie_header(&sessions.seal(&alice(), NOW));
        let mut cookie = small[header::COOKIE].to_str().unwrap().to_owned();
        cookie.push_str("; supervise_session.1=leftover; supervise_session.2=more");
        assert!(sessions.open(&headers_with_cookie(&cookie), NOW).is_some());
    }

    /// Too big for five parts: groups are trimmed (and marked overage),
    /// roles are kept, and exactly five parts are set.
    #[test]
    fn five_part_cap_trims_groups() {
        let sessions = sessions(&[NEW], true);
        let identity = big(2000, 5);
        let sealed = sessions.seal(&identity, NOW);
        assert!(text(&sealed).iter().all(|c| !c.contains("Max-Age=0")));
        assert_eq!(sealed.len(), MAX_PARTS);

        let opened = sessions.open(&cookie_header(&sealed), NOW).unwrap();
        assert_eq!(opened.roles, identity.roles);
        assert!(opened.groups_overage);
        assert!(!opened.groups.is_empty() && opened.groups.len() < 2000);
        assert_eq!(opened.groups[..], identity.groups[..opened.groups.len()]);

        // As many groups as fit: one more would not.
        let mut one_more = (*opened).clone();
        one_more
            .groups
            .push(identity.groups[opened.groups.len()].clone());
        assert!(sessions.sealed(&one_more).len() > MAX_VALUE_LEN);
    }

    /// Huge role lists are trimmed only after every group is gone.
    #[test]
    fn roles_trimmed_after_groups() {
        let sessions = sessions(&[NEW], true);
        let identity = big(50, 2000);
        let opened = sessions
            .open(&cookie_header(&sessions.seal(&identity, NOW)), NOW)
            .unwrap();
        assert!(opened.groups.is_empty() && opened.groups_overage);
        assert!(!opened.roles.is_empty() && opened.roles.len() < 2000);
    }

    /// An identity that cannot fit at all is not sealed: every part is
    /// deleted instead.
    #[test]
    fn unsealable_identity_clears() {
        let sessions = sessions(&[NEW], true);
        let identity = Identity {
            name: Some("x".repeat(30_000)),
            ..alice()
        };
        let sealed = sessions.seal(&identity, NOW);
        assert_eq!(sealed, sessions.clear());
    }

    /// `clear` deletes every part.
    #[test]
    fn clear_deletes_every_part() {
        let cleared = sessions(&[NEW], false).clear();
        let expected: Vec<String> = (0..MAX_PARTS)
            .map(|i| match i {
                0 => "supervise_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0".to_owned(),
                i => format!("supervise_session.{i}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
            })
            .collect();
        assert_eq!(text(&cleared), expected);
    }

    /// Our cookies go; everyone else's stay as sent, in every header.
    #[test]
    fn strip_cookies_keeps_others() {
        let sessions = sessions(&[NEW], true);
        let mut headers = HeaderMap::new();
        for value in [
            "theme=dark; supervise_session=v1.x.y.z; lang=en",
            "supervise_session.1=abc;supervise_flow_abcdef=q",
            "csrftoken=t=1; supervise_sessions=other-app",
        ] {
            headers.append(header::COOKIE, HeaderValue::from_static(value));
        }
        sessions.strip_cookies(&mut headers);
        let left: Vec<&str> = headers
            .get_all(header::COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            left,
            [
                "theme=dark; lang=en",
                "csrftoken=t=1; supervise_sessions=other-app"
            ]
        );
    }

    /// Without any of our cookies the header is left untouched, bytes and
    /// all.
    #[test]
    fn strip_cookies_without_ours_changes_nothing() {
        let sessions = sessions(&[NEW], true);
        let original = HeaderValue::from_bytes(b"a=1;b=caf\xc3\xa9 ;  c").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, original.clone());
        sessions.strip_cookies(&mut headers);
        assert_eq!(headers[header::COOKIE], original);
    }

    /// A Cookie header holding only our cookies is removed.
    #[test]
    fn strip_cookies_removes_empty_header() {
        let sessions = sessions(&[NEW], true);
        let mut headers = headers_with_cookie("supervise_session=a; supervise_session.4=b");
        sessions.strip_cookies(&mut headers);
        assert!(headers.get(header::COOKIE).is_none());
    }

    /// A non-ASCII cookie of another app does not hide our session.
    #[test]
    fn session_found_beside_non_ascii_cookie() {
        let sessions = sessions(&[NEW], true);
        let ours = cookie_header(&sessions.seal(&alice(), NOW));
        let mut value = b"other=caf\xc3\xa9; ".to_vec();
        value.extend_from_slice(ours[header::COOKIE].as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_bytes(&value).unwrap());
        assert!(sessions.open(&headers, NOW).is_some());
    }

    /// Sessions' Debug output holds no key material.
    #[test]
    fn debug_hides_keys() {
        let shown = format!("{:?}", sessions(&[NEW], true));
        assert!(
            !shown.contains("secret") && shown.contains("keys: 1"),
            "{shown}"
        );
    }

    proptest! {
        /// `open` never panics on any Cookie header, ours in name or not.
        #[test]
        fn open_never_panics(
            value in proptest::collection::vec(any::<u8>(), 0..600),
            prefix in "(supervise_session(\\.[0-9])?=([2-6]~)?(v1\\.)?)?",
        ) {
            let sessions = sessions(&[NEW], true);
            let mut bytes = prefix.into_bytes();
            bytes.extend(value);
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut headers = HeaderMap::new();
                headers.insert(header::COOKIE, value);
                prop_assert!(sessions.open(&headers, NOW).is_none());
                sessions.strip_cookies(&mut headers);
            }
        }

        /// `verify` never panics and never accepts a made-up value.
        #[test]
        fn verify_never_panics(value in "(v1\\.)?[0-9]{0,12}\\.?[A-Za-z0-9_.~-]{0,80}|\\PC*") {
            let sessions = sessions(&[NEW], true);
            prop_assert!(sessions.verify(SESSION_PURPOSE, &value, 0).is_none());
        }

        /// Any payload and purpose survive a sign and verify.
        #[test]
        fn sign_verify_round_trip(payload in any::<Vec<u8>>(), purpose in "\\PC{0,20}") {
            let sessions = sessions(&[NEW], true);
            let value = sessions.sign(&purpose, &payload, NOW + 1);
            prop_assert_eq!(sessions.verify(&purpose, &value, NOW), Some(payload));
        }
    }
}
