use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::auth::provider::fake::{
    self, FakeProvider, Options, TestKey, CLIENT_ID, NONCE, NOW, OTHER_TENANT, TENANT,
};

/// A fake provider publishing `keys`, and the provider discovered from it.
async fn setup(keys: &[&TestKey]) -> (FakeProvider, Provider) {
    let jwks = fake::jwks(&keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>());
    let fake = FakeProvider::start(Options::default(), jwks).await;
    let provider = Provider::discover(&fake.oidc_spec())
        .await
        .expect("discovered");
    (fake, provider)
}

/// The same, shaped like Azure AD for tenant [`TENANT`].
async fn setup_azure(key: &TestKey) -> (FakeProvider, Provider) {
    let options = Options {
        issuer_path: format!("/{TENANT}/v2.0"),
        ..Options::default()
    };
    let fake = FakeProvider::start(options, fake::jwks(std::slice::from_ref(&key.jwk))).await;
    let provider = Provider::discover(&fake.azure_spec(TENANT))
        .await
        .expect("discovered");
    (fake, provider)
}

/// Valid ID token claims for `provider`, changed by `edit`.
fn claims(provider: &Provider, edit: impl FnOnce(&mut Value)) -> Value {
    let mut claims = fake::id_claims(provider.issuer());
    edit(&mut claims);
    claims
}

fn check_id(provider: &Provider, token: &str) -> Result<Identity, TokenError> {
    provider.validate_id_token(token, NONCE, NOW)
}

/// Waits until the fake has served `count` key sets, or fails.
async fn wait_for_fetches(fake: &FakeProvider, count: usize) {
    for _ in 0..200 {
        if fake.jwks_fetches() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} key set fetches, expected {count}", fake.jwks_fetches());
}

/// A good ID token becomes the identity its claims describe.
#[tokio::test]
async fn valid_id_token() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let token = fake::sign(&key, &claims(&provider, |_| {}));

    let identity = check_id(&provider, &token).expect("valid");
    assert_eq!(identity.subject, "user-sub");
    assert_eq!(identity.email.as_deref(), Some("ada@example.com"));
    assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(identity.roles, ["reader"]);
    assert_eq!(identity.expires, NOW + 600);
    assert!(!identity.groups_overage);
}

/// ES256 tokens verify against a P-256 key.
#[tokio::test]
async fn es256_id_token() {
    let key = fake::ec_p256();
    let (_fake, provider) = setup(&[&key]).await;
    let token = fake::sign(&key, &claims(&provider, |_| {}));
    assert!(check_id(&provider, &token).is_ok());
}

/// EdDSA tokens verify against an Ed25519 (OKP) key.
#[tokio::test]
async fn eddsa_access_token() {
    let key = fake::key("ed25519.pem", "ed", Algorithm::EdDSA);
    let (_fake, provider) = setup(&[&key]).await;
    let token = fake::sign(&key, &claims(&provider, |_| {}));
    assert!(provider.validate_access_token(&token, NOW).is_ok());
}

/// A token whose payload was changed after signing is refused.
#[tokio::test]
async fn tampered_token() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let token = fake::sign(&key, &claims(&provider, |_| {}));
    let forged = fake::sign(&key, &claims(&provider, |c| c["roles"] = json!(["admin"])));

    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = forged.split('.').nth(1).expect("a payload");
    let tampered = parts.join(".");
    assert_eq!(
        check_id(&provider, &tampered),
        Err(TokenError::BadSignature)
    );
}

/// Expired tokens are refused; within the leeway they still pass.
#[tokio::test]
async fn expired_token() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let expired = fake::sign(&key, &claims(&provider, |c| c["exp"] = json!(NOW - 61)));
    assert_eq!(check_id(&provider, &expired), Err(TokenError::Expired));
    let skewed = fake::sign(&key, &claims(&provider, |c| c["exp"] = json!(NOW - 30)));
    assert!(check_id(&provider, &skewed).is_ok());
}

/// A token without `exp` is refused.
#[tokio::test]
async fn token_without_expiry() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let token = fake::sign(
        &key,
        &claims(&provider, |c| {
            drop(c.as_object_mut().map(|o| o.remove("exp")))
        }),
    );
    assert_eq!(check_id(&provider, &token), Err(TokenError::MissingExpiry));
}

/// A token not valid yet (`nbf` beyond the leeway) is refused.
#[tokio::test]
async fn not_yet_valid_token() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let early = fake::sign(&key, &claims(&provider, |c| c["nbf"] = json!(NOW + 120)));
    assert_eq!(check_id(&provider, &early), Err(TokenError::NotYetValid));
    let skewed = fake::sign(&key, &claims(&provider, |c| c["nbf"] = json!(NOW + 30)));
    assert!(check_id(&provider, &skewed).is_ok());
}

/// A token from another issuer, or with none, is refused.
#[tokio::test]
async fn wrong_issuer() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let other = fake::sign(
        &key,
        &claims(&provider, |c| c["iss"] = json!("https://evil.example.com")),
    );
    assert_eq!(check_id(&provider, &other), Err(TokenError::WrongIssuer));
    let slash = format!("{}/", provider.issuer());
    let near = fake::sign(&key, &claims(&provider, |c| c["iss"] = json!(slash)));
    assert_eq!(check_id(&provider, &near), Err(TokenError::WrongIssuer));
}

/// A token for another client is refused; one among several audiences
/// passes unless its `azp` names another client.
#[tokio::test]
async fn wrong_audience() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let other = fake::sign(&key, &claims(&provider, |c| c["aud"] = json!("other-app")));
    assert_eq!(check_id(&provider, &other), Err(TokenError::WrongAudience));

    let several = fake::sign(
        &key,
        &claims(&provider, |c| c["aud"] = json!(["x", CLIENT_ID])),
    );
    assert!(check_id(&provider, &several).is_ok());
    let azp = fake::sign(
        &key,
        &claims(&provider, |c| {
            c["aud"] = json!(["x", CLIENT_ID]);
            c["azp"] = json!("x");
        }),
    );
    assert_eq!(
        check_id(&provider, &azp),
        Err(TokenError::WrongAuthorizedParty)
    );
}

/// `alg: none` with no signature is refused for its algorithm.
#[tokio::test]
async fn alg_none() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let payload = claims(&provider, |_| {});
    for alg in ["none", "None", "NONE"] {
        let header = json!({ "alg": alg, "kid": key.kid });
        let token = fake::assemble(&header, &payload, "");
        assert_eq!(
            check_id(&provider, &token),
            Err(TokenError::AlgorithmNotAllowed)
        );
    }
}

/// HS256 "signed" with the provider's public key PEM as the HMAC secret
/// is refused (the algorithm-confusion attack), with and without a kid.
#[tokio::test]
async fn hmac_with_the_public_key() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let secret = EncodingKey::from_secret(fake::rsa_a_public_pem().as_bytes()).expect("a key");
    let payload = claims(&provider, |_| {});
    for kid in [Some(key.kid.clone()), None] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid;
        let token = fake::sign_with(&header, &payload, &secret);
        assert_eq!(
            check_id(&provider, &token),
            Err(TokenError::AlgorithmNotAllowed)
        );
        assert_eq!(
            provider.validate_access_token(&token, NOW),
            Err(TokenError::AlgorithmNotAllowed)
        );
    }
}

/// An algorithm the provider does not announce for ID tokens is refused
/// even when the key would fit.
#[tokio::test]
async fn unannounced_algorithm() {
    let key = fake::key("rsa_a.pem", "rsa-a", Algorithm::PS256);
    let (_fake, provider) = setup(&[&key]).await;
    let token = fake::sign(&key, &claims(&provider, |_| {}));
    assert_eq!(
        check_id(&provider, &token),
        Err(TokenError::AlgorithmNotAllowed)
    );
}

/// An RS256 header naming an EC key is refused before any verification.
#[tokio::test]
async fn rs256_header_on_an_ec_key() {
    let ec = fake::ec_p256();
    let rsa = fake::rsa_a();
    let (_fake, provider) = setup(&[&ec, &rsa]).await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(ec.kid.clone());
    let token = fake::sign_with(&header, &claims(&provider, |_| {}), &rsa.encoding);
    assert_eq!(check_id(&provider, &token), Err(TokenError::KeyMismatch));
}

/// ES384 against a P-256 key is refused: the curve must match too.
#[tokio::test]
async fn es384_header_on_a_p256_key() {
    let ec = fake::ec_p256();
    let p384 = fake::key("ec_p384.pem", "ec-384", Algorithm::ES384);
    let (_fake, provider) = setup(&[&ec]).await;
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some(ec.kid.clone());
    let token = fake::sign_with(&header, &claims(&provider, |_| {}), &p384.encoding);
    // ES384 is not announced by the fake, so the allow-list stops it for
    // ID tokens; access tokens reach the key check.
    assert_eq!(
        check_id(&provider, &token),
        Err(TokenError::AlgorithmNotAllowed)
    );
    let access = fake::sign_with(&header, &claims(&provider, |_| {}), &p384.encoding);
    assert_eq!(
        provider.validate_access_token(&access, NOW),
        Err(TokenError::KeyMismatch)
    );
}

/// Without a kid, two keys are not tried in turn; one key is used.
#[tokio::test]
async fn missing_kid() {
    let a = fake::rsa_a();
    let b = fake::rsa_b();
    let (_fake, provider) = setup(&[&a, &b]).await;
    let header = Header::new(Algorithm::RS256);
    let token = fake::sign_with(&header, &claims(&provider, |_| {}), &a.encoding);
    assert_eq!(check_id(&provider, &token), Err(TokenError::AmbiguousKey));

    let (_fake, single) = setup(&[&a]).await;
    let token = fake::sign_with(&header, &claims(&single, |_| {}), &a.encoding);
    assert!(check_id(&single, &token).is_ok());
}

/// An unknown kid is refused and starts one refetch; a second unknown
/// kid within the minute starts none.
#[tokio::test]
async fn unknown_kid_refetch_is_rate_limited() {
    let a = fake::rsa_a();
    let (fake, provider) = setup(&[&a]).await;
    // Discovery's own fetch counts against the minute: make it older.
    provider.keys.age(Duration::from_secs(61));

    for kid in ["made-up-1", "made-up-2"] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        let token = fake::sign_with(&header, &claims(&provider, |_| {}), &a.encoding);
        assert_eq!(check_id(&provider, &token), Err(TokenError::UnknownKey));
        wait_for_fetches(&fake, 2).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.jwks_fetches(), 2);
}

/// A rotated-in key is found by the refetch its first token starts.
#[tokio::test]
async fn rotated_key_is_picked_up() {
    let a = fake::rsa_a();
    let b = fake::rsa_b();
    let (fake, provider) = setup(&[&a]).await;
    provider.keys.age(Duration::from_secs(61));
    fake.set_jwks(fake::jwks(&[a.jwk.clone(), b.jwk.clone()]));

    let token = fake::sign(&b, &claims(&provider, |_| {}));
    assert_eq!(check_id(&provider, &token), Err(TokenError::UnknownKey));
    wait_for_fetches(&fake, 2).await;
    for _ in 0..100 {
        if check_id(&provider, &token).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the rotated key was not picked up");
}

/// Keys an hour old are refetched in the background on the next token,
/// which is still checked against the keys at hand.
#[tokio::test]
async fn hour_old_keys_are_refreshed() {
    let key = fake::rsa_a();
    let (fake, provider) = setup(&[&key]).await;
    provider.keys.age(Duration::from_secs(3601));
    let token = fake::sign(&key, &claims(&provider, |_| {}));
    assert!(check_id(&provider, &token).is_ok());
    wait_for_fetches(&fake, 2).await;
}

/// The nonce must be the sign-in's: a different or missing one is refused.
#[tokio::test]
async fn wrong_nonce() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let token = fake::sign(&key, &claims(&provider, |_| {}));
    assert_eq!(
        provider.validate_id_token(&token, "another-nonce", NOW),
        Err(TokenError::WrongNonce)
    );
    let bare = fake::sign(&key, &claims(&provider, |c| c["nonce"] = Value::Null));
    assert_eq!(check_id(&provider, &bare), Err(TokenError::WrongNonce));
}

/// A `crit` header is refused: supervise implements no extension.
#[tokio::test]
async fn critical_header() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let header = json!({ "alg": "RS256", "kid": key.kid, "crit": ["exp"] });
    let token = fake::assemble(&header, &claims(&provider, |_| {}), "c2ln");
    assert_eq!(check_id(&provider, &token), Err(TokenError::CriticalHeader));
}

/// Azure: the tenant's token passes with `oid` as subject; another
/// tenant's `tid` is refused.
#[tokio::test]
async fn azure_tenant_is_checked() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup_azure(&key).await;
    let good = claims(&provider, |c| {
        c["tid"] = json!(TENANT);
        c["oid"] = json!("object-id");
    });
    let identity = check_id(&provider, &fake::sign(&key, &good)).expect("valid");
    assert_eq!(identity.subject, "object-id");

    let other = claims(&provider, |c| c["tid"] = json!(OTHER_TENANT));
    let token = fake::sign(&key, &other);
    assert_eq!(check_id(&provider, &token), Err(TokenError::WrongTenant));
    let none = fake::sign(&key, &claims(&provider, |_| {}));
    assert_eq!(check_id(&provider, &none), Err(TokenError::WrongTenant));
}

/// Azure access tokens pass with the v2 or the v1 issuer, for the
/// client id or its `api://` URI, and without a nonce.
#[tokio::test]
async fn azure_access_tokens_v1_and_v2() {
    let key = fake::rsa_a();
    let (fake, provider) = setup_azure(&key).await;
    let v1 = format!("{}/{TENANT}/", fake.origin);
    for (iss, aud) in [
        (provider.issuer().to_owned(), CLIENT_ID.to_owned()),
        (v1, format!("api://{CLIENT_ID}")),
    ] {
        let access = claims(&provider, |c| {
            c["iss"] = json!(iss);
            c["aud"] = json!(aud);
            c["tid"] = json!(TENANT);
            c["nonce"] = Value::Null;
        });
        let token = fake::sign(&key, &access);
        assert!(provider.validate_access_token(&token, NOW).is_ok(), "{iss}");
    }
}

/// Access tokens from elsewhere, for another API, or expired are refused.
#[tokio::test]
async fn access_token_rejections() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let check = |edit: fn(&mut Value)| {
        let token = fake::sign(&key, &claims(&provider, edit));
        provider.validate_access_token(&token, NOW)
    };
    assert!(check(|_| {}).is_ok());
    assert_eq!(
        check(|c| c["iss"] = json!("https://sts.windows.net/x/")),
        Err(TokenError::WrongIssuer)
    );
    assert_eq!(
        check(|c| c["aud"] = json!("https://graph.microsoft.com")),
        Err(TokenError::WrongAudience)
    );
    assert_eq!(
        check(|c| c["exp"] = json!(NOW - 3600)),
        Err(TokenError::Expired)
    );
}

/// Azure's group overage (`_claim_names` or `hasgroups`) is flagged.
#[tokio::test]
async fn group_overage() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let names = json!({ "groups": "src1" });
    let overage = claims(&provider, |c| c["_claim_names"] = names);
    let identity = check_id(&provider, &fake::sign(&key, &overage)).expect("valid");
    assert!(identity.groups_overage);
    assert!(identity.groups.is_empty());

    let hasgroups = claims(&provider, |c| c["hasgroups"] = json!(true));
    let identity = check_id(&provider, &fake::sign(&key, &hasgroups)).expect("valid");
    assert!(identity.groups_overage);

    let listed = claims(&provider, |c| c["groups"] = json!(["g1", "g2"]));
    let identity = check_id(&provider, &fake::sign(&key, &listed)).expect("valid");
    assert_eq!(
        (identity.groups, identity.groups_overage),
        (vec!["g1".into(), "g2".into()], false)
    );
}

/// Email falls back to `preferred_username` then `upn` when they look
/// like addresses; name falls back to `preferred_username`; a single
/// role string is a list of one.
#[tokio::test]
async fn claim_fallbacks() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let azure_like = claims(&provider, |c| {
        let object = c.as_object_mut().expect("an object");
        object.remove("email");
        object.remove("name");
        c["preferred_username"] = json!("ada");
        c["upn"] = json!("ada@contoso.com");
        c["roles"] = json!("admin");
    });
    let identity = check_id(&provider, &fake::sign(&key, &azure_like)).expect("valid");
    assert_eq!(identity.email.as_deref(), Some("ada@contoso.com"));
    assert_eq!(identity.name.as_deref(), Some("ada"));
    assert_eq!(identity.roles, ["admin"]);
}

/// Fractional and negative NumericDates are read as whole seconds.
#[test]
fn numeric_dates() {
    let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).expect("a number");
    assert_eq!(seconds(&number("1700000000")), Some(1_700_000_000));
    assert_eq!(seconds(&number("1700000000.9")), Some(1_700_000_000));
    assert_eq!(seconds(&number("-5")), Some(0));
    assert_eq!(seconds(&number("1e300")), Some(u64::MAX));
}

/// Malformed tokens are refused as such, never with a panic.
#[tokio::test]
async fn malformed_tokens() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    for token in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "!!!.e30.x",
        "e30.e30.",
        "e30..x",
    ] {
        let result = check_id(&provider, token);
        assert!(result.is_err(), "{token:?}");
    }
    let huge = "a".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(check_id(&provider, &huge), Err(TokenError::TooLarge));
}

/// Error messages never carry a claim's value.
#[tokio::test]
async fn errors_do_not_echo_claims() {
    let key = fake::rsa_a();
    let (_fake, provider) = setup(&[&key]).await;
    let marker = "secret-marker-value";
    let token = fake::sign(&key, &claims(&provider, |c| c["iss"] = json!(marker)));
    let error = check_id(&provider, &token).expect_err("refused");
    assert!(!error.to_string().contains(marker));
    assert!(!format!("{error:?}").contains(marker));
}

/// Arbitrary input, and arbitrary JSON in a well-signed token's place,
/// is refused without a panic.
#[test]
fn arbitrary_input_never_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let key = fake::rsa_a();
    let (_fake, provider) = runtime.block_on(setup(&[&key]));
    let _guard = runtime.enter();

    proptest!(|(token in "\\PC{0,300}", header in "\\PC{0,80}", payload in "\\PC{0,200}")| {
        let _ = provider.validate_id_token(&token, NONCE, NOW);
        let _ = provider.validate_access_token(&token, NOW);
        let assembled = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(&header),
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode("sig"),
        );
        prop_assert!(provider.validate_id_token(&assembled, NONCE, NOW).is_err());
    });
}
