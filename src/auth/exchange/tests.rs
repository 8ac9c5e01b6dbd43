use crate::auth::provider::fake::{
    self, FakeProvider, Options, TokenEndpoint, CLIENT_ID, CLIENT_SECRET, NONCE, NOW,
};

use super::*;

const CODE: &str = "code-abc/123+=";
const VERIFIER: &str = "verifier-0123456789-0123456789-0123456789-abc";
const REDIRECT: &str = "https://app.example.com/auth/oauth2/oidc/callback";

/// A fake whose token endpoint expects [`CODE`], [`VERIFIER`] and
/// [`REDIRECT`] and answers a signed ID token when `with_id_token`;
/// `methods` is what it announces.
async fn setup(methods: Option<&[&str]>, with_id_token: bool) -> (FakeProvider, Provider) {
    let key = fake::rsa_a();
    let options = Options {
        auth_methods: methods.map(|list| list.iter().map(|m| m.to_string()).collect()),
        token: Some(TokenEndpoint {
            code: CODE.into(),
            verifier: VERIFIER.into(),
            redirect_uri: REDIRECT.into(),
        }),
        ..Options::default()
    };
    let fake = FakeProvider::start(options, fake::jwks(std::slice::from_ref(&key.jwk))).await;
    if with_id_token {
        fake.set_id_token(Some(fake::sign(&key, &fake::id_claims(&fake.issuer()))));
    }
    let provider = Provider::discover(&fake.oidc_spec())
        .await
        .expect("discovered");
    (fake, provider)
}

/// Basic client authentication: the code and verifier go to the token
/// endpoint and the ID token that comes back validates.
#[tokio::test]
async fn exchange_with_basic_auth() {
    let (fake, provider) = setup(Some(&["client_secret_basic"]), true).await;
    assert_eq!(provider.client_auth(), ClientAuth::Basic);

    let tokens = provider
        .exchange_code(&fake.oidc_spec(), CODE, VERIFIER, REDIRECT)
        .await
        .expect("exchanged");
    assert_eq!(tokens.access_token, "access-token-value");
    assert_eq!(tokens.expires_in, Some(Duration::from_secs(3600)));
    let identity = provider
        .validate_id_token(&tokens.id_token, NONCE, NOW)
        .expect("a valid ID token");
    assert_eq!(identity.subject, "user-sub");
}

/// `client_secret_post` when that is all the provider announces.
#[tokio::test]
async fn exchange_with_post_auth() {
    let (fake, provider) = setup(Some(&["client_secret_post"]), true).await;
    assert_eq!(provider.client_auth(), ClientAuth::Post);
    let tokens = provider
        .exchange_code(&fake.oidc_spec(), CODE, VERIFIER, REDIRECT)
        .await
        .expect("exchanged");
    assert_eq!(tokens.id_token.split('.').count(), 3);
}

/// Without an announcement, basic is used (the discovery default).
#[tokio::test]
async fn exchange_defaults_to_basic() {
    let (fake, provider) = setup(None, true).await;
    assert_eq!(provider.client_auth(), ClientAuth::Basic);
    let result = provider
        .exchange_code(&fake.oidc_spec(), CODE, VERIFIER, REDIRECT)
        .await;
    assert!(result.is_ok(), "{result:?}");
}

/// A wrong PKCE verifier is refused by the provider, and the error names
/// the OAuth error without echoing the code, verifier or secret.
#[tokio::test]
async fn wrong_verifier_is_refused() {
    let (fake, provider) = setup(Some(&["client_secret_basic"]), true).await;
    let error = provider
        .exchange_code(
            &fake.oidc_spec(),
            CODE,
            "wrong-verifier-wrong-verifier-wrong-verifier",
            REDIRECT,
        )
        .await
        .expect_err("refused");
    assert!(matches!(&error, ExchangeError::Refused { error, .. } if error == "invalid_grant"));
    let text = error.to_string();
    for secret in [CODE, VERIFIER, CLIENT_SECRET, "wrong-verifier"] {
        assert!(!text.contains(secret), "{text}");
    }
}

/// A wrong client secret is refused as `invalid_client`.
#[tokio::test]
async fn wrong_secret_is_refused() {
    let (fake, provider) = setup(Some(&["client_secret_basic"]), true).await;
    let mut spec = fake.oidc_spec();
    spec.client_secret = Some(crate::config::Secret("not-it".into()));
    let error = provider
        .exchange_code(&spec, CODE, VERIFIER, REDIRECT)
        .await
        .expect_err("refused");
    assert!(matches!(&error, ExchangeError::Refused { error, .. } if error == "invalid_client"));
}

/// A token response without `id_token` is an error, not a sign-in.
#[tokio::test]
async fn missing_id_token() {
    let (fake, provider) = setup(Some(&["client_secret_basic"]), false).await;
    let error = provider
        .exchange_code(&fake.oidc_spec(), CODE, VERIFIER, REDIRECT)
        .await
        .expect_err("refused");
    assert!(matches!(error, ExchangeError::NoIdToken), "{error}");
}

/// Without a client secret nothing is sent.
#[tokio::test]
async fn missing_secret() {
    let (fake, provider) = setup(None, true).await;
    let mut spec = fake.oidc_spec();
    spec.client_secret = None;
    let result = provider
        .exchange_code(&spec, CODE, VERIFIER, REDIRECT)
        .await;
    assert!(matches!(result, Err(ExchangeError::NoSecret)));
}

/// The authorization URL keeps the endpoint's own query and carries
/// every sign-in parameter, encoded.
#[tokio::test]
async fn authorization_url_parameters() {
    let (fake, provider) = setup(None, false).await;
    let url =
        provider.authorization_url(&fake.oidc_spec(), REDIRECT, "st&te", NONCE, "chal-lenge_");

    let expected = format!(
        "{}/authorize?p=flow&response_type=code&client_id={CLIENT_ID}\
         &redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Foauth2%2Foidc%2Fcallback\
         &scope=openid%20email%20profile&state=st%26te&nonce={NONCE}\
         &code_challenge=chal-lenge_&code_challenge_method=S256",
        fake.origin
    );
    assert_eq!(url, expected);
}

/// The end-session URL carries the post-logout redirect and client id;
/// none when the provider announces no end-session endpoint.
#[tokio::test]
async fn end_session_url() {
    let (fake, provider) = setup(None, false).await;
    let url = provider.end_session_url("https://app.example.com/");
    let expected = format!(
        "{}/logout?post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2F&client_id={CLIENT_ID}",
        fake.origin
    );
    assert_eq!(url, Some(expected));

    let options = Options {
        end_session: false,
        ..Options::default()
    };
    let bare = FakeProvider::start(options, fake::jwks(&[fake::rsa_a().jwk])).await;
    let provider = Provider::discover(&bare.oidc_spec())
        .await
        .expect("discovered");
    assert_eq!(provider.end_session_url("https://app.example.com/"), None);
}

/// A token set's Debug shows no token.
#[test]
fn token_set_debug_is_redacted() {
    let tokens = TokenSet {
        id_token: "id-token-value".into(),
        access_token: "access-token-value".into(),
        expires_in: None,
    };
    let text = format!("{tokens:?}");
    assert!(!text.contains("token-value"), "{text}");
}

/// Only RFC 3986 unreserved characters stay as they are.
#[test]
fn encoding() {
    assert_eq!(encode("aZ09-._~"), "aZ09-._~");
    assert_eq!(encode("a b/c?d=e&f#g%"), "a%20b%2Fc%3Fd%3De%26f%23g%25");
    assert_eq!(encode("é"), "%C3%A9");
}
