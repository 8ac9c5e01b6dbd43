use super::fake::{self, FakeProvider, Options, OTHER_TENANT, TENANT};
use super::*;

async fn start(options: Options) -> FakeProvider {
    FakeProvider::start(options, fake::jwks(&[fake::rsa_a().jwk])).await
}

/// Discovery reads the endpoints and the key set of a generic issuer.
#[tokio::test]
async fn discovers_an_oidc_provider() {
    let fake = start(Options::default()).await;
    let provider = Provider::discover(&fake.oidc_spec())
        .await
        .expect("discovered");

    assert_eq!(provider.issuer(), fake.issuer());
    assert_eq!(provider.access_issuers, vec![fake.issuer()]);
    assert_eq!(provider.token_endpoint, format!("{}/token", fake.origin));
    assert_eq!(
        provider.end_session_endpoint,
        Some(format!("{}/logout", fake.origin))
    );
    assert_eq!(provider.client_auth(), ClientAuth::Basic);
    assert_eq!(
        provider.id_token_algorithms,
        vec![Algorithm::RS256, Algorithm::ES256]
    );
    assert!(provider.keys_loaded());
    assert_eq!(fake.jwks_fetches(), 1);
}

/// An issuer with a trailing slash is looked up without doubling it, and
/// must still match exactly.
#[tokio::test]
async fn trailing_slash_issuer() {
    let options = Options {
        issuer_path: "/realm/".into(),
        ..Options::default()
    };
    let fake = start(options).await;
    let provider = Provider::discover(&fake.oidc_spec())
        .await
        .expect("discovered");
    assert!(provider.issuer().ends_with("/realm/"));
}

/// A document naming another issuer than the one configured is refused.
#[tokio::test]
async fn issuer_must_match_exactly() {
    let fake = start(Options {
        claimed_issuer: Some("https://evil.example.com".into()),
        ..Options::default()
    })
    .await;
    let error = Provider::discover(&fake.oidc_spec())
        .await
        .expect_err("refused");
    assert!(
        matches!(error, ProviderError::IssuerMismatch { .. }),
        "{error}"
    );
}

/// Azure: the v2 issuer of the tenant, and both v2 and v1 issuers for
/// access tokens; an upper-case tenant GUID is compared in lower case.
#[tokio::test]
async fn discovers_azure() {
    let fake = start(Options {
        issuer_path: format!("/{TENANT}/v2.0"),
        ..Options::default()
    })
    .await;
    let spec = fake.azure_spec(&TENANT.to_ascii_uppercase());
    let provider = Provider::discover(&spec).await.expect("discovered");

    let v2 = format!("{}/{TENANT}/v2.0", fake.origin);
    assert_eq!(provider.issuer(), v2);
    assert_eq!(
        provider.access_issuers,
        vec![v2, format!("{}/{TENANT}/", fake.origin)]
    );
    assert_eq!(provider.tenant.as_deref(), Some(TENANT));
}

/// Azure with a tenant domain name takes the GUID issuer Azure answers
/// with, and then leaves `tid` to the issuer.
#[tokio::test]
async fn azure_tenant_domain() {
    let fake = start(Options {
        issuer_path: "/contoso.onmicrosoft.com/v2.0".into(),
        claimed_issuer: Some(format!("{{origin}}/{TENANT}/v2.0")),
        ..Options::default()
    })
    .await;
    let spec = fake.azure_spec("contoso.onmicrosoft.com");
    let provider = Provider::discover(&spec).await.expect("discovered");

    let v2 = format!("{}/{TENANT}/v2.0", fake.origin);
    assert_eq!(provider.issuer(), v2);
    assert_eq!(
        provider.access_issuers,
        vec![v2, format!("{}/{TENANT}/", fake.origin)]
    );
    assert_eq!(provider.tenant, None);
}

/// Azure with a tenant domain name still wants a GUID in the issuer.
#[tokio::test]
async fn azure_tenant_domain_needs_a_guid_issuer() {
    let fake = start(Options {
        issuer_path: "/contoso.onmicrosoft.com/v2.0".into(),
        ..Options::default()
    })
    .await;
    let spec = fake.azure_spec("contoso.onmicrosoft.com");
    let refused = Provider::discover(&spec).await;
    assert!(matches!(refused, Err(ProviderError::IssuerMismatch { .. })));
}

/// Azure: a document for another tenant is refused.
#[test]
fn azure_other_tenant_is_refused() {
    let provider = ProviderSpec::Azure {
        tenant_id: TENANT.into(),
        authority: "https://login.microsoftonline.com".parse().expect("a URI"),
    };
    let found = format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0");
    assert!(matches!(
        issuers(&provider, &found),
        Err(ProviderError::IssuerMismatch { .. })
    ));
}

/// In Azure's public cloud, v1 tokens come from `sts.windows.net`.
#[test]
fn azure_public_cloud_v1_issuer() {
    let provider = ProviderSpec::Azure {
        tenant_id: TENANT.into(),
        authority: "https://login.microsoftonline.com/".parse().expect("a URI"),
    };
    let found = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let issuers = issuers(&provider, &found).expect("the tenant's issuer");
    assert_eq!(
        issuers.access_token,
        vec![found, format!("https://sts.windows.net/{TENANT}/")]
    );
}

/// Client authentication follows the announcement: basic when offered or
/// unannounced, post when only post is offered, an error otherwise.
#[test]
fn client_auth_as_announced() {
    let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(client_auth(None).ok(), Some(ClientAuth::Basic));
    let both = list(&["client_secret_post", "client_secret_basic"]);
    assert_eq!(client_auth(Some(&both)).ok(), Some(ClientAuth::Basic));
    let post = list(&["private_key_jwt", "client_secret_post"]);
    assert_eq!(client_auth(Some(&post)).ok(), Some(ClientAuth::Post));
    let neither = list(&["private_key_jwt"]);
    assert!(matches!(
        client_auth(Some(&neither)),
        Err(ProviderError::NoClientAuth)
    ));
}

/// Announced ID token algorithms narrow the allow-list; only HMAC or
/// `none` announced leaves nothing, which is an error.
#[test]
fn id_token_algorithms_narrow_the_allow_list() {
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(
        id_token_algorithms(&[]).ok(),
        Some(ALLOWED_ALGORITHMS.to_vec())
    );
    let announced = names(&["RS256", "HS256", "none", "RS256"]);
    assert_eq!(
        id_token_algorithms(&announced).ok(),
        Some(vec![Algorithm::RS256])
    );
    let hmac_only = names(&["HS256", "none"]);
    assert!(matches!(
        id_token_algorithms(&hmac_only),
        Err(ProviderError::NoAlgorithm)
    ));
}

/// Endpoints must be https, or http on loopback, without a fragment.
#[test]
fn endpoints_must_be_https() {
    assert!(check_endpoint("token_endpoint", "https://idp.example.com/token").is_ok());
    assert!(check_endpoint("token_endpoint", "http://127.0.0.1:8080/token").is_ok());
    for url in [
        "http://idp.example.com/token",
        "https://idp/x#f",
        "/token",
        "javascript:x",
    ] {
        assert!(check_endpoint("token_endpoint", url).is_err(), "{url}");
    }
}

/// A key set without a usable key fails discovery, to be retried.
#[tokio::test]
async fn empty_key_set_fails_discovery() {
    let fake = FakeProvider::start(Options::default(), fake::jwks(&[])).await;
    let error = Provider::discover(&fake.oidc_spec())
        .await
        .expect_err("refused");
    assert!(matches!(error, ProviderError::NoKeys { .. }), "{error}");
}

/// A refetch asked for right after discovery is declined.
#[tokio::test]
async fn refetch_right_after_discovery_is_declined() {
    let fake = start(Options::default()).await;
    let provider = Provider::discover(&fake.oidc_spec())
        .await
        .expect("discovered");
    assert!(!provider.refetch_keys().await);
    assert_eq!(fake.jwks_fetches(), 1);
}

/// Backoff doubles from 1s and stays at 60s.
#[test]
fn backoff_doubles_to_a_minute() {
    let mut delay = RETRY_MIN;
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(delay.as_secs());
        delay = next_delay(delay);
    }
    assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
}

/// A provider that is down at first is published once it answers.
#[tokio::test]
async fn retries_until_the_provider_answers() {
    let fake = start(Options {
        discovery_failures: 1,
        ..Options::default()
    })
    .await;
    let (sender, mut receiver) = watch::channel(None);
    tokio::spawn(discover_with_retry(fake.oidc_spec(), sender));

    let published =
        tokio::time::timeout(Duration::from_secs(5), receiver.wait_for(Option::is_some))
            .await
            .expect("published within 5s")
            .expect("the sender is alive")
            .clone();
    assert!(published.is_some_and(|provider| provider.keys_loaded()));
    assert_eq!(fake.discovery_requests(), 2);
}

/// The dev provider has nothing to discover and is not retried.
#[tokio::test]
async fn dev_is_not_discovered() {
    let spec = fake::spec(ProviderSpec::Dev);
    assert!(matches!(
        Provider::discover(&spec).await,
        Err(ProviderError::NotDiscoverable)
    ));
    let (sender, receiver) = watch::channel(None);
    discover_with_retry(spec, sender).await;
    assert!(receiver.borrow().is_none());
}

/// Only the 8-4-4-4-12 hexadecimal form is a GUID.
#[test]
fn guids() {
    assert!(is_guid(TENANT));
    assert!(is_guid(&TENANT.to_ascii_uppercase()));
    for text in [
        "contoso.onmicrosoft.com",
        "common",
        "",
        "72f988bf-86f1-41af-91ab-2d7cd011db4",
    ] {
        assert!(!is_guid(text), "{text}");
    }
}
