//! The provider's side of the authorization-code flow: the URL a browser
//! is sent to ([`Provider::authorization_url`]), the exchange of the code
//! it comes back with for tokens ([`Provider::exchange_code`], through
//! the `oauth2` crate over supervise's own HTTPS client), and the URL
//! that ends the provider's session ([`Provider::end_session_url`]).
//!
//! State, nonce and PKCE values are made and kept by the sign-in flow;
//! the ID token returned here is checked by [`super::token`]. The code,
//! the PKCE verifier, the client secret and the tokens never reach a log
//! line or an error message.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeVerifier, RedirectUrl, RequestTokenError, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::http::HttpError;
use super::provider::{ClientAuth, Provider};
use crate::config::AuthSpec;

/// What the token endpoint answered to a code exchange.
#[derive(Clone)]
pub struct TokenSet {
    /// The ID token, still to be checked.
    pub id_token: String,
    pub access_token: String,
    /// The access token's lifetime, when the provider says.
    pub expires_in: Option<Duration>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("id_token", &"<redacted>")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Why a code exchange failed. `Display` is this layer's message; log it
/// with its causes (`crate::cli::chain`).
#[derive(Debug)]
pub enum ExchangeError {
    /// `auth.client_secret` is not set.
    NoSecret,
    /// The token endpoint or the redirect URI is not a URL.
    BadUrl(&'static str),
    /// The provider refused with an OAuth error (RFC 6749 §5.2), e.g.
    /// `invalid_grant` for an expired or replayed code.
    Refused {
        error: String,
        description: Option<String>,
    },
    /// The request did not get an answer.
    Request(HttpError),
    /// The answer was not a token response; `reason` says where it went
    /// wrong, never what it held.
    BadResponse(String),
    /// The answer had no `id_token`: the provider did not treat this as an
    /// OpenID Connect sign-in (is `openid` among the scopes?).
    NoIdToken,
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::NoSecret => f.write_str("auth.client_secret is not set"),
            ExchangeError::BadUrl(what) => write!(f, "the {what} is not a valid URL"),
            ExchangeError::Refused { error, description } => {
                write!(f, "the token endpoint refused: {error}")?;
                match description {
                    Some(description) => write!(f, " ({description})"),
                    None => Ok(()),
                }
            }
            ExchangeError::Request(_) => f.write_str("no answer from the token endpoint"),
            ExchangeError::BadResponse(reason) => {
                write!(
                    f,
                    "the token endpoint's answer is not a token response: {reason}"
                )
            }
            ExchangeError::NoIdToken => f.write_str("the token endpoint sent no id_token"),
        }
    }
}

impl std::error::Error for ExchangeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExchangeError::Request(error) => Some(error),
            _ => None,
        }
    }
}

/// The OpenID Connect addition to a token response (Core §3.1.3.3).
#[derive(Clone, Default, Serialize, Deserialize)]
struct OidcFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl fmt::Debug for OidcFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OidcFields(<redacted>)")
    }
}

impl ExtraTokenFields for OidcFields {}

type OidcTokenResponse = StandardTokenResponse<OidcFields, BasicTokenType>;

/// An `oauth2` client that knows only the token endpoint.
type TokenClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

impl Provider {
    /// Where to send the browser to sign in: the authorization endpoint
    /// with `response_type=code`, the scopes, `state`, `nonce` and the
    /// PKCE S256 challenge (RFC 7636 §4.3). A query the endpoint already
    /// has (Azure B2C's `?p=`) is kept.
    pub fn authorization_url(
        &self,
        spec: &AuthSpec,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        pkce_challenge: &str,
    ) -> String {
        let scope = spec.scopes.join(" ");
        let params = [
            ("response_type", "code"),
            ("client_id", spec.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("scope", scope.as_str()),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", pkce_challenge),
            ("code_challenge_method", "S256"),
        ];
        with_query(&self.authorization_endpoint, &params)
    }

    /// The provider's end-session URL with a redirect back to
    /// `post_logout_redirect` (OpenID Connect RP-Initiated Logout §2),
    /// when the provider announces one. `client_id` goes along because
    /// there is no ID token to hint with, and providers want to know
    /// whose redirect it is.
    pub fn end_session_url(&self, post_logout_redirect: &str) -> Option<String> {
        let endpoint = self.end_session_endpoint.as_deref()?;
        let params = [
            ("post_logout_redirect_uri", post_logout_redirect),
            ("client_id", self.client_id.as_str()),
        ];
        Some(with_query(endpoint, &params))
    }

    /// Exchanges an authorization code for tokens at the token endpoint,
    /// with the PKCE verifier and the redirect URI of the sign-in, the
    /// client authenticating as discovery announced.
    pub async fn exchange_code(
        &self,
        spec: &AuthSpec,
        code: &str,
        pkce_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, ExchangeError> {
        let client = self.token_client(spec)?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| ExchangeError::BadUrl("redirect URI"))?;
        let http = self.http.clone();
        let send = move |request: oauth2::HttpRequest| {
            let http = http.clone();
            async move { http.send(request).await }
        };

        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .set_redirect_uri(Cow::Owned(redirect))
            .request_async(&send)
            .await
            .map_err(exchange_error)?;
        token_set(response)
    }

    /// An `oauth2` client for this provider's token endpoint.
    fn token_client(&self, spec: &AuthSpec) -> Result<TokenClient, ExchangeError> {
        let secret = spec.client_secret.as_ref().ok_or(ExchangeError::NoSecret)?;
        let token_url = TokenUrl::new(self.token_endpoint.clone())
            .map_err(|_| ExchangeError::BadUrl("token endpoint"))?;
        let auth_type = match self.client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Post => AuthType::RequestBody,
        };
        Ok(oauth2::Client::new(ClientId::new(spec.client_id.clone()))
            .set_client_secret(ClientSecret::new(secret.expose().to_owned()))
            .set_token_uri(token_url)
            .set_auth_type(auth_type))
    }
}

/// The parts of a token response supervise keeps.
fn token_set(response: OidcTokenResponse) -> Result<TokenSet, ExchangeError> {
    let id_token = response
        .extra_fields()
        .id_token
        .clone()
        .ok_or(ExchangeError::NoIdToken)?;
    Ok(TokenSet {
        id_token,
        access_token: response.access_token().secret().clone(),
        expires_in: response.expires_in(),
    })
}

/// An `oauth2` failure as an [`ExchangeError`], dropping any response
/// body it carries: a body that failed to parse may still hold tokens.
fn exchange_error(error: RequestTokenError<HttpError, BasicErrorResponse>) -> ExchangeError {
    match error {
        RequestTokenError::ServerResponse(response) => ExchangeError::Refused {
            error: response.error().as_ref().to_owned(),
            description: response.error_description().cloned(),
        },
        RequestTokenError::Request(error) => ExchangeError::Request(error),
        RequestTokenError::Parse(error, _body) => {
            ExchangeError::BadResponse(format!("at {}", error.path()))
        }
        RequestTokenError::Other(reason) => ExchangeError::BadResponse(reason),
    }
}

/// `base` with `params` appended to its query, form-encoded.
fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = base.to_owned();
    let mut separator = if base.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        url.push(separator);
        url.push_str(name);
        url.push('=');
        url.push_str(&encode(value));
        separator = '&';
    }
    url
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests;
