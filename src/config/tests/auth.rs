//! Tests of the `auth:` section and of routes' sign-in settings through
//! `load_str`: PRODUCT.md's example, the oidc and dev providers, every
//! default, the place of each kind of error, the secure default of
//! routes, and that no secret reaches a message, the summary or `Debug`.

use std::time::Duration;

use http::Uri;
use proptest::prelude::*;

use super::*;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "0f3c7a4e-5b1d-4c2e-9f00-1234567890ab";
const CLIENT_SECRET: &str = "client~secret~never~printed";
const SESSION_SECRET: &str = "session-secret-never-printed-0123456789abcdef";
const SECOND_SECRET: &str = "second-secret-never-printed-0123456789abcdef";
const SHORT_SECRET: &str = "short-secret-not-printed";

/// The environment ECS would inject, plus a too-short secret.
fn auth_env(name: &str) -> Option<String> {
    let value = match name {
        "AZURE_TENANT_ID" => TENANT,
        "AZURE_CLIENT_ID" => CLIENT_ID,
        "AZURE_CLIENT_SECRET" => CLIENT_SECRET,
        "SESSION_SECRET" => SESSION_SECRET,
        "SECOND_SECRET" => SECOND_SECRET,
        "SHORT_SECRET" => SHORT_SECRET,
        "PORT" => "5000",
        "PATH" => "/bin:/usr/bin",
        _ => return None,
    };
    Some(value.to_string())
}

/// Every secret value of [`auth_env`].
const SECRETS: [&str; 4] = [CLIENT_SECRET, SESSION_SECRET, SECOND_SECRET, SHORT_SECRET];

fn load_auth(text: &str) -> Result<Loaded, LoadError> {
    load_str(text, config_path(), &auth_env)
}

fn auth_loaded(text: &str) -> Loaded {
    match load_auth(text) {
        Ok(loaded) => loaded,
        Err(error) => panic!("failed to load:\n{error}"),
    }
}

fn auth_of(text: &str) -> AuthSpec {
    auth_loaded(text).config.auth.expect("an auth section")
}

fn auth_errors(text: &str) -> Vec<Diagnostic> {
    match load_auth(text) {
        Err(LoadError::Invalid { errors }) => errors,
        Err(other) => panic!("not an invalid-config error: {other}"),
        Ok(loaded) => panic!("loaded a bad config: {:?}", loaded.config),
    }
}

/// Asserts exactly one error, at `line:column` under `key_path`, whose
/// message contains `fragment`, and that it shows no secret.
fn assert_auth_error(text: &str, line: usize, column: usize, key_path: &str, fragment: &str) {
    let found = auth_errors(text);
    assert_eq!(found.len(), 1, "expected one error, got:\n{found:#?}");
    let error = &found[0];
    let place = (error.line, error.column, error.key_path.as_str());
    assert_eq!(place, (line, column, key_path), "{error}");
    assert!(
        error.message.contains(fragment),
        "{fragment:?} not in: {error}"
    );
    assert_no_secret(&error.to_string());
}

fn assert_no_secret(shown: &str) {
    for secret in SECRETS {
        assert!(!shown.contains(secret), "a secret leaked in:\n{shown}");
    }
}

/// Lines 1 to 8: a process, and a proxy on loopback up to `routes:`.
const HEAD: &str = "processes:
  web:
    command: [sh]
proxy:
  listen: 127.0.0.1:5001
  upstreams:
    app: {url: \"http://127.0.0.1:5000\", process: web}
  routes:
";

/// Lines 9 and 10: one route to `app`, without an `auth` setting.
const ROUTE: &str = "    - path: /*\n      upstream: app\n";

/// Lines 11 to 18: a valid Azure section, its values from the
/// environment; keys added after it start on line 19.
const AZURE: &str = "auth:
  provider: azure
  tenant_id: ${AZURE_TENANT_ID}
  client_id: ${AZURE_CLIENT_ID}
  client_secret: ${AZURE_CLIENT_SECRET}
  public_url: https://app.example.com
  session:
    secrets: [${SESSION_SECRET}]
";

/// The Azure file, with `extra` after the auth section (from line 19).
fn azure(extra: &str) -> String {
    format!("{HEAD}{ROUTE}{AZURE}{extra}")
}

/// The Azure file with `from` replaced by `to` in the auth section.
fn azure_with(from: &str, to: &str) -> String {
    assert!(AZURE.contains(from), "{from}");
    format!("{HEAD}{ROUTE}{}", AZURE.replace(from, to))
}

/// The file with `routes` (from line 9) and the Azure section after.
fn routes_with_auth(routes: &str) -> String {
    format!("{HEAD}{routes}{AZURE}")
}

/// The file with `routes` and no auth section.
fn routes_without_auth(routes: &str) -> String {
    format!("{HEAD}{routes}")
}

fn uri(text: &str) -> Uri {
    text.parse().expect("a URI")
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

const PRODUCT_PROXY_AND_AUTH: &str = r#"
proxy:
  listen: 0.0.0.0:${PORT:-5001}       # 80 on Fargate, 5001 locally: one variable switches
  upstreams:
    flask:
      url: http://127.0.0.1:5000
      process: backend                # requests wait while this process restarts
  routes:                             # the most specific path wins; order breaks ties
    - path: /*                        # a trailing * is a prefix match; otherwise exact
      upstream: flask
      auth: required                  # required | optional | public
      allow: { roles: [reader, admin] }
    - path: /api/health
      upstream: flask
      auth: public
    - path: /test*
      respond: { status: 200, body: "tested!!!" }

auth:
  provider: azure                     # azure | oidc (any issuer) | dev (local only)
  tenant_id: ${AZURE_TENANT_ID}
  client_id: ${AZURE_CLIENT_ID}
  client_secret: ${AZURE_CLIENT_SECRET}
  scopes: [openid, email, profile]
  public_url: https://app.example.com # redirect URIs are built from this, never from Host
  session:
    secrets: [${SESSION_SECRET}]      # first signs; all verify (rotation)
    ttl: 8h

health:
  path: /healthz
"#;

/// The Azure section with every default, as PRODUCT.md's example gives.
fn expected_azure() -> AuthSpec {
    AuthSpec {
        provider: ProviderSpec::Azure {
            tenant_id: TENANT.to_string(),
            authority: uri("https://login.microsoftonline.com/"),
        },
        client_id: CLIENT_ID.to_string(),
        client_secret: Some(Secret(CLIENT_SECRET.to_string())),
        scopes: strings(&["openid", "email", "profile"]),
        public_url: uri("https://app.example.com/"),
        session: SessionSpec {
            secrets: vec![Secret(SESSION_SECRET.to_string())],
            ttl: Duration::from_secs(8 * 3600),
            cookie: "supervise_session".to_string(),
        },
        audiences: vec![CLIENT_ID.to_string(), format!("api://{CLIENT_ID}")],
        header_prefix: "X-Auth-Request-".to_string(),
        ca_bundle: None,
        leeway: Duration::from_secs(60),
    }
}

/// PRODUCT.md's whole example, with its variables set, loads to the
/// expected `AuthSpec` and route rules; `/test*`, which says nothing of
/// sign-in, needs it by default.
#[test]
fn product_example_with_auth_loads() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("examples/flask")).expect("folders");
    let text = format!("{PRODUCT_EXAMPLE}{PRODUCT_PROXY_AND_AUTH}");
    let loaded = load_str(&text, &dir.path().join("supervisor.yaml"), &auth_env);
    let config = loaded.expect("valid").config;
    assert_eq!(config.auth, Some(expected_azure()));
    let routes = config.proxy.expect("a proxy").routes;
    let modes: Vec<AuthMode> = routes.iter().map(|route| route.auth).collect();
    let expected = [AuthMode::Required, AuthMode::Public, AuthMode::Required];
    assert_eq!(modes, expected);
    assert_eq!(routes[0].allow.roles, ["reader", "admin"]);
    assert_eq!(routes[1].allow, AllowRule::default());
}

/// The smallest Azure section takes every default of the contract.
#[test]
fn azure_defaults() {
    let loaded = auth_loaded(&azure(""));
    assert_eq!(loaded.config.auth, Some(expected_azure()));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

/// Every setting can be changed; `openid` is added when missing, a
/// relative CA bundle starts at the config's folder, a loopback
/// authority stands in for Azure, and tenants are lowercased.
#[test]
fn every_setting() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("ca.pem"), "").expect("a file");
    let text = azure_with("${AZURE_TENANT_ID}", "Contoso.onmicrosoft.com").replace(
        "[${SESSION_SECRET}]",
        "[${SESSION_SECRET}, ${SECOND_SECRET}]",
    ) + "    ttl: 1h\n    cookie: __Host-app\n  authority: http://127.0.0.1:8080\n  \
           scopes: [email, offline_access]\n  audiences: [api://app]\n  \
           header_prefix: X-User-\n  ca_bundle: ca.pem\n  leeway: 5m\n";
    let loaded = load_str(&text, &dir.path().join("s.yaml"), &auth_env).expect("valid");
    let auth = loaded.config.auth.expect("an auth section");
    let provider = ProviderSpec::Azure {
        tenant_id: "contoso.onmicrosoft.com".to_string(),
        authority: uri("http://127.0.0.1:8080/"),
    };
    assert_eq!(auth.provider, provider);
    assert_eq!(auth.scopes, ["openid", "email", "offline_access"]);
    assert_eq!(auth.session.secrets.len(), 2);
    assert_eq!(auth.session.secrets[1].expose(), SECOND_SECRET);
    assert_eq!(auth.session.ttl, Duration::from_secs(3600));
    assert_eq!(auth.session.cookie, "__Host-app");
    assert_eq!(auth.audiences, ["api://app"]);
    assert_eq!(auth.header_prefix, "X-User-");
    assert_eq!(auth.ca_bundle, Some(dir.path().join("ca.pem")));
    assert_eq!(auth.leeway, Duration::from_secs(300));
}

/// An oidc provider keeps its issuer exactly as written, trailing slash
/// included, and takes the same client settings.
#[test]
fn oidc_provider() {
    let text = azure_with(
        "  tenant_id: ${AZURE_TENANT_ID}\n",
        "  issuer: http://localhost:3000/oidc/\n",
    )
    .replace("provider: azure", "provider: oidc");
    let auth = auth_of(&text);
    let issuer = "http://localhost:3000/oidc/".to_string();
    assert_eq!(auth.provider, ProviderSpec::Oidc { issuer });
    assert_eq!(auth.client_id, CLIENT_ID);
    assert_eq!(auth.audiences[1], format!("api://{CLIENT_ID}"));
    let text = azure_with(
        "  tenant_id: ${AZURE_TENANT_ID}\n",
        "  issuer: https://idp.example.com/realms/app\n",
    )
    .replace("provider: azure", "provider: oidc");
    let issuer = "https://idp.example.com/realms/app".to_string();
    assert_eq!(auth_of(&text).provider, ProviderSpec::Oidc { issuer });
}

/// The dev provider needs no client and defaults its public URL to the
/// loopback listener; `check` warns that it is not for production.
#[test]
fn dev_provider() {
    let text = format!(
        "{HEAD}{ROUTE}auth:\n  provider: dev\n  session: {{secrets: [${{SESSION_SECRET}}]}}\n"
    );
    let loaded = auth_loaded(&text);
    let auth = loaded.config.auth.expect("an auth section");
    assert_eq!(auth.provider, ProviderSpec::Dev);
    assert_eq!(auth.client_id, "");
    assert_eq!(auth.client_secret, None);
    assert_eq!(auth.public_url, uri("http://127.0.0.1:5001/"));
    assert!(auth.audiences.is_empty());
    assert_eq!(auth.scopes, ["openid", "email", "profile"]);
    let warnings = loaded.warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let place = (
        warnings[0].line,
        warnings[0].column,
        warnings[0].key_path.as_str(),
    );
    assert_eq!(place, (12, 13, "auth.provider"));
    assert!(warnings[0]
        .message
        .starts_with("dev sign-in is not for production"));
    let ipv6 = text.replace("127.0.0.1:5001", "\"[::1]:5002\"");
    assert_eq!(auth_of(&ipv6).public_url, uri("http://[::1]:5002/"));
}

/// The dev provider's default public URL is https when the proxy
/// serves TLS.
#[test]
fn dev_public_url_follows_tls() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for name in ["cert.pem", "key.pem"] {
        std::fs::write(dir.path().join(name), "").expect("a file");
    }
    let text = format!(
        "{HEAD}{ROUTE}  tls: {{cert: cert.pem, key: key.pem}}\nauth:\n  provider: dev\n  \
         session: {{secrets: [${{SESSION_SECRET}}]}}\n"
    );
    let loaded = load_str(&text, &dir.path().join("s.yaml"), &auth_env).expect("valid");
    let auth = loaded.config.auth.expect("an auth section");
    assert_eq!(auth.public_url, uri("https://127.0.0.1:5001/"));
}

/// The dev provider on a listener other machines reach is refused.
#[test]
fn dev_provider_on_every_interface() {
    let text = format!(
        "{HEAD}{ROUTE}auth:\n  provider: dev\n  session: {{secrets: [${{SESSION_SECRET}}]}}\n"
    )
    .replace("127.0.0.1:5001", "0.0.0.0:5001");
    let message = "the dev provider signs anyone in; it only runs on a loopback listener, \
                   and `proxy.listen` on line 5 is not one";
    assert_auth_error(&text, 12, 13, "auth.provider", message);
}

/// A missing `tenant_id` is placed at the auth mapping and names the
/// provider that needs it.
#[test]
fn missing_tenant() {
    let text = azure_with("  tenant_id: ${AZURE_TENANT_ID}\n", "");
    let message = "missing required key `tenant_id`: `provider: azure` needs it";
    assert_auth_error(&text, 12, 3, "auth.tenant_id", message);
}

/// A multi-tenant alias is refused, saying why, without naming which
/// alias a variable held.
#[test]
fn multi_tenant_alias() {
    for alias in ["common", "Organizations", "consumers"] {
        let text = azure_with("${AZURE_TENANT_ID}", alias);
        let message = "is a multi-tenant alias";
        assert_auth_error(&text, 13, 14, "auth.tenant_id", message);
        let error = &auth_errors(&text)[0];
        assert!(
            error.message.contains("no issuer could be checked"),
            "{error}"
        );
    }
}

/// A tenant that is neither a GUID nor a domain is refused.
#[test]
fn bad_tenant_shape() {
    let text = azure_with("${AZURE_TENANT_ID}", "my-tenant");
    let message = "`my-tenant` is not a tenant id";
    assert_auth_error(&text, 13, 14, "auth.tenant_id", message);
}

/// An issuer over plain HTTP to another machine is refused.
#[test]
fn bad_issuer_scheme() {
    let text = azure_with(
        "  tenant_id: ${AZURE_TENANT_ID}\n",
        "  issuer: http://idp.example.com\n",
    )
    .replace("provider: azure", "provider: oidc");
    let message = "`http://idp.example.com` uses `http://` on a host that is not loopback";
    assert_auth_error(&text, 13, 11, "auth.issuer", message);
    let text = text.replace("http://idp.example.com", "\"https://idp.example.com/?x=1\"");
    assert_auth_error(&text, 13, 11, "auth.issuer", "has a query");
}

/// A short secret written in the file is refused by its index, with how
/// to make one, and never quoted.
#[test]
fn short_secret() {
    let text = azure_with("[${SESSION_SECRET}]", "[${SESSION_SECRET}, tooshort]");
    let message = "session secret 1 is shorter than 32 bytes";
    assert_auth_error(&text, 18, 34, "auth.session.secrets[1]", message);
    let error = auth_errors(&text)[0].to_string();
    assert!(error.contains("`openssl rand -base64 48`"), "{error}");
    assert!(!error.contains("tooshort"), "{error}");
}

/// A short secret from `${SHORT_SECRET}` is refused without its value.
#[test]
fn short_secret_from_the_environment() {
    let text = azure_with("${SESSION_SECRET}", "${SHORT_SECRET}");
    let message = "session secret 0 is shorter than 32 bytes";
    assert_auth_error(&text, 18, 15, "auth.session.secrets[0]", message);
}

/// Secrets must be a non-empty list; a scalar in its place is not quoted.
#[test]
fn secrets_list() {
    let text = azure_with("[${SESSION_SECRET}]", "[]");
    let message = "list at least one secret; make one with `openssl rand -base64 48`";
    assert_auth_error(&text, 18, 14, "auth.session.secrets", message);
    let text = azure_with("[${SESSION_SECRET}]", "pasted-into-the-file");
    assert_auth_error(
        &text,
        18,
        14,
        "auth.session.secrets",
        "expected a list of secrets",
    );
    let shown = auth_errors(&text)[0].to_string();
    assert!(!shown.contains("pasted-into-the-file"), "{shown}");
}

/// A missing `client_secret` is placed at the auth mapping.
#[test]
fn missing_client_secret() {
    let text = azure_with("  client_secret: ${AZURE_CLIENT_SECRET}\n", "");
    let message = "missing required key `client_secret`: `provider: azure` needs it";
    assert_auth_error(&text, 12, 3, "auth.client_secret", message);
}

/// An unknown key of `auth` lists the allowed ones.
#[test]
fn unknown_auth_key() {
    let text = azure("  tenant: x\n");
    let message = "unknown key `tenant`; allowed keys: provider, tenant_id, authority";
    assert_auth_error(&text, 19, 3, "auth.tenant", message);
}

/// A key of another provider is refused at the key, naming its owner.
#[test]
fn keys_of_another_provider() {
    let text = azure("  issuer: https://idp.example.com\n");
    let message = "`issuer` is not a setting of `provider: azure`; it is for `provider: oidc`";
    assert_auth_error(&text, 19, 3, "auth.issuer", message);
    let text = format!(
        "{HEAD}{ROUTE}auth:\n  provider: dev\n  client_id: x\n  \
         session: {{secrets: [${{SESSION_SECRET}}]}}\n"
    );
    let message = "`client_id` is not a setting of `provider: dev`";
    assert_auth_error(&text, 13, 3, "auth.client_id", message);
}

/// An `auth` section without a `proxy` one is refused at its key.
#[test]
fn auth_without_proxy() {
    let text = format!("processes:\n  web:\n    command: [sh]\n{AZURE}");
    let message = "`auth` needs a `proxy` section: sign-in happens in the proxy";
    assert_auth_error(&text, 4, 1, "auth", message);
}

/// `public_url` must be an https origin, or http on loopback.
#[test]
fn bad_public_urls() {
    let cases = [
        ("http://app.example.com", "not loopback"),
        ("https://app.example.com/app", "has a path"),
        ("\"https://app.example.com/?a=b\"", "has a query"),
        ("app.example.com", "is not an `https://` URL"),
    ];
    for (url, fragment) in cases {
        let text = azure_with("https://app.example.com", url);
        assert_auth_error(&text, 16, 15, "auth.public_url", fragment);
    }
    let text = azure_with("  public_url: https://app.example.com\n", "");
    assert_auth_error(&text, 12, 3, "auth.public_url", "missing required key");
}

/// Smaller settings each say what is wrong with them.
#[test]
fn bad_settings() {
    let cases = [
        ("  leeway: 6m\n", "auth.leeway", 11, "is longer than 5m"),
        (
            "  header_prefix: X-User\n",
            "auth.header_prefix",
            18,
            "does not end with `-`",
        ),
        (
            "  header_prefix: \"X User-\"\n",
            "auth.header_prefix",
            18,
            "valid header name",
        ),
        (
            "  scopes: [openid, \"a b\"]\n",
            "auth.scopes[1]",
            20,
            "is not a scope",
        ),
        (
            "  audiences: []\n",
            "auth.audiences",
            14,
            "list at least one audience",
        ),
        (
            "  ca_bundle: no/ca.pem\n",
            "auth.ca_bundle",
            14,
            "does not exist",
        ),
        (
            "  authority: http://login.example.com\n",
            "auth.authority",
            14,
            "not loopback",
        ),
    ];
    for (extra, key_path, column, fragment) in cases {
        assert_auth_error(&azure(extra), 19, column, key_path, fragment);
    }
    let text = azure("    cookie: \"a;b\"\n");
    assert_auth_error(
        &text,
        19,
        13,
        "auth.session.cookie",
        "is not a valid cookie name",
    );
    let text = azure("    ttl: 0s\n");
    assert_auth_error(
        &text,
        19,
        10,
        "auth.session.ttl",
        "must be longer than zero",
    );
}

/// An unknown provider is named; its keys are still read, not called
/// missing or out of place.
#[test]
fn unknown_provider() {
    let text =
        azure_with("provider: azure", "provider: okta").replace("${AZURE_TENANT_ID}", "common");
    let found = auth_errors(&text);
    let places: Vec<(usize, usize, &str)> = found
        .iter()
        .map(|e| (e.line, e.column, e.key_path.as_str()))
        .collect();
    assert_eq!(
        places,
        [(12, 13, "auth.provider"), (13, 14, "auth.tenant_id")]
    );
    let message = "`okta` is not a provider; expected azure, oidc or dev";
    assert_eq!(found[0].message, message);
}

/// Many mistakes across the section are all reported, in file order.
#[test]
fn every_auth_error_in_one_run() {
    let text = format!(
        "{HEAD}    - {{path: /auth/*, upstream: app}}\n    \
         - {{path: /open, upstream: app, auth: public, allow: {{roles: [a]}}}}\n\
         auth:\n  provider: azure\n  tenant_id: common\n  client_id: ${{AZURE_CLIENT_ID}}\n  \
         public_url: http://example.com\n  session: {{secrets: [${{SHORT_SECRET}}]}}\n  \
         leeway: 1h\n"
    );
    let found = auth_errors(&text);
    let places: Vec<(usize, &str)> = found
        .iter()
        .map(|e| (e.line, e.key_path.as_str()))
        .collect();
    let expected = [
        (9, "proxy.routes[0].path"),
        (10, "proxy.routes[1].allow"),
        (12, "auth.client_secret"),
        (13, "auth.tenant_id"),
        (15, "auth.public_url"),
        (16, "auth.session.secrets[0]"),
        (17, "auth.leeway"),
    ];
    assert_eq!(places, expected);
    assert_no_secret(&load_auth(&text).expect_err("invalid").to_string());
}

/// With an `auth` section a route without `auth:` needs sign-in; without
/// one it is public; modes written out are kept.
#[test]
fn route_auth_defaults() {
    let routes =
        "    - {path: /*, upstream: app}\n    - {path: /a, upstream: app, auth: optional}\n    \
                  - {path: /b, upstream: app, auth: public}\n";
    let modes = |text: &str| -> Vec<AuthMode> {
        let proxy = auth_loaded(text).config.proxy.expect("a proxy");
        proxy.routes.iter().map(|route| route.auth).collect()
    };
    let expected = [AuthMode::Required, AuthMode::Optional, AuthMode::Public];
    assert_eq!(modes(&routes_with_auth(routes)), expected);
    let public_only = "    - {path: /*, upstream: app}\n";
    assert_eq!(modes(&routes_without_auth(public_only)), [AuthMode::Public]);
    let text = routes_without_auth(routes);
    assert_auth_error(&text, 10, 39, "proxy.routes[1].auth", "no `auth` section");
}

/// `allow` is read into the route's rule, emails and domains lowercased,
/// on required and optional routes.
#[test]
fn allow_rules() {
    let routes = "    - path: /*
      upstream: app
      allow:
        roles: [Reader]
        groups: [g-1]
        emails: [Ann@Example.com]
        email_domains: [Example.COM]
    - {path: /o, upstream: app, auth: optional, allow: {roles: [x]}}
";
    let proxy = auth_loaded(&routes_with_auth(routes))
        .config
        .proxy
        .expect("a proxy");
    let expected = AllowRule {
        roles: strings(&["Reader"]),
        groups: strings(&["g-1"]),
        emails: strings(&["ann@example.com"]),
        email_domains: strings(&["example.com"]),
    };
    assert_eq!(proxy.routes[0].allow, expected);
    assert_eq!(proxy.routes[1].allow.roles, ["x"]);
}

/// `allow` on a public route, or in a file without `auth`, is refused at
/// its key.
#[test]
fn allow_on_a_public_route() {
    let routes = "    - {path: /*, upstream: app, auth: public, allow: {roles: [a]}}\n";
    let message = "`allow` needs `auth: required` (or `optional`)";
    assert_auth_error(
        &routes_with_auth(routes),
        9,
        47,
        "proxy.routes[0].allow",
        message,
    );
    let routes = "    - {path: /*, upstream: app, allow: {roles: [a]}}\n";
    let message = "`allow` needs `auth: required`, and sign-in needs an `auth` section";
    assert_auth_error(
        &routes_without_auth(routes),
        9,
        33,
        "proxy.routes[0].allow",
        message,
    );
}

/// Emails need one `@` with text on both sides; domains no `@`.
#[test]
fn bad_emails_and_domains() {
    let route = |allow: &str| {
        routes_with_auth(&format!(
            "    - path: /*\n      upstream: app\n      allow: {allow}\n"
        ))
    };
    let text = route("{emails: [ann@example.com, \"@example.com\"]}");
    let message = "`@example.com` is not an email address";
    assert_auth_error(&text, 11, 41, "proxy.routes[0].allow.emails[1]", message);
    let text = route("{email_domains: [\"@example.com\"]}");
    let message = "`@example.com` holds `@`; write only the domain";
    assert_auth_error(
        &text,
        11,
        31,
        "proxy.routes[0].allow.email_domains[0]",
        message,
    );
    let text = route("{email_domains: [example]}");
    let message = "`example` is not a domain name";
    assert_auth_error(
        &text,
        11,
        31,
        "proxy.routes[0].allow.email_domains[0]",
        message,
    );
    let text = route("{users: [ann]}");
    assert_auth_error(
        &text,
        11,
        15,
        "proxy.routes[0].allow.users",
        "unknown key `users`",
    );
}

/// `/auth/` belongs to supervise when the file has an `auth` section;
/// `/*` and paths merely starting with `/auth` elsewhere are fine.
#[test]
fn reserved_auth_paths() {
    for path in ["/auth*", "/auth/*", "/auth/login", "/auth/oauth2/*"] {
        let routes = format!("    - path: {path}\n      upstream: app\n");
        let message = "is on supervise's own sign-in paths";
        assert_auth_error(
            &routes_with_auth(&routes),
            9,
            13,
            "proxy.routes[0].path",
            message,
        );
        auth_loaded(&routes_without_auth(&routes));
    }
    for path in ["/*", "/auth", "/authors/*", "/api/auth/*"] {
        let routes = format!("    - path: {path}\n      upstream: app\n");
        auth_loaded(&routes_with_auth(&routes));
    }
}

/// No secret appears in the summary, in `Debug` of the config, or in any
/// error, while the summary shows what `check` should.
#[test]
fn secrets_never_shown() {
    let text = azure_with(
        "[${SESSION_SECRET}]",
        "[${SESSION_SECRET}, ${SECOND_SECRET}]",
    );
    let config = auth_loaded(&text).config;
    let summary = config.summary();
    let debug = format!("{config:?}");
    assert_no_secret(&summary);
    assert_no_secret(&debug);
    for expected in [
        &format!("auth\n  provider:      azure, tenant {TENANT}, authority https://login.microsoftonline.com/\n"),
        &format!("  client_id:     {CLIENT_ID}\n  client_secret: <redacted>\n"),
        "  scopes:        openid email profile\n",
        "  public_url:    https://app.example.com/\n",
        "  session:       cookie supervise_session, lasts 8h, 2 secrets, the first signs, all verify\n",
        &format!("  audiences:     {CLIENT_ID}, api://{CLIENT_ID}\n"),
        "  header_prefix: X-Auth-Request-\n",
        "  leeway:        1m\n",
        "  route /* → upstream app (required)\n    allow every signed-in user\n",
    ] {
        assert!(summary.contains(expected), "{expected:?} not in:\n{summary}");
    }
    let texts = [
        azure_with("${AZURE_TENANT_ID}", "${AZURE_CLIENT_SECRET}"),
        azure_with("${AZURE_CLIENT_ID}", "\"${AZURE_CLIENT_SECRET} x\""),
        azure_with("https://app.example.com", "${AZURE_CLIENT_SECRET}"),
        azure_with("[${SESSION_SECRET}]", "${SESSION_SECRET}"),
        azure_with("[${SESSION_SECRET}]", "[${SHORT_SECRET}, ${SHORT_SECRET}]"),
        azure("  header_prefix: ${AZURE_CLIENT_SECRET}\n  scopes: [\"${SESSION_SECRET} x\"]\n"),
        azure("    cookie: \"${SESSION_SECRET};\"\n  audiences: [\"${SESSION_SECRET} \"]\n"),
    ];
    for text in texts {
        assert_no_secret(&load_auth(&text).expect_err("invalid").to_string());
    }
}

/// The summary shows the dev provider and a route's allow rule.
#[test]
fn summary_of_dev_and_allow() {
    let routes =
        "    - {path: /*, upstream: app, allow: {roles: [a, b], email_domains: [x.org]}}\n";
    let text = format!(
        "{HEAD}{routes}auth:\n  provider: dev\n  session: {{secrets: [${{SESSION_SECRET}}]}}\n"
    );
    let summary = auth_loaded(&text).config.summary();
    for expected in [
        "  provider:      dev, a sign-in page for anyone; not for production\n",
        "  client_id:     (none)\n  client_secret: (none)\n",
        "  public_url:    http://127.0.0.1:5001/\n",
        "  session:       cookie supervise_session, lasts 8h, 1 secret\n",
        "    allow any of: roles a, b; email domains x.org\n",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} not in:\n{summary}"
        );
    }
}

/// A valid file with every auth setting, to damage below.
const FULL: &str = "processes:\n  web:\n    command: [sh]\nproxy:\n  listen: 127.0.0.1:0\n  \
                    upstreams:\n    app: {url: \"http://h:1\", process: web}\n  routes:\n    \
                    - {path: /*, upstream: app, allow: {roles: [r], emails: [a@b.c]}}\n    \
                    - {path: /p, upstream: app, auth: public}\nauth:\n  provider: oidc\n  \
                    issuer: https://idp.example.com/\n  client_id: app\n  \
                    client_secret: ${AZURE_CLIENT_SECRET}\n  scopes: [email]\n  \
                    public_url: https://a.example.com\n  session: {secrets: \
                    [${SESSION_SECRET}], ttl: 1h, cookie: s}\n  audiences: [app]\n  \
                    header_prefix: X-A-\n  leeway: 10s\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The loader never panics on an auth file with a piece cut out or
    /// put in, every error is inside the file, and none shows a secret.
    #[test]
    fn never_panics_on_damaged_auth_files(
        at in 0usize..FULL.len(),
        cut in 0usize..8,
        insert in "[a-z0-9:{}\\[\\]/*@.,\"'&!|#$ \n-]{0,6}",
    ) {
        let end = (at + cut).min(FULL.len());
        let text = format!("{}{insert}{}", &FULL[..at], &FULL[end..]);
        if let Err(LoadError::Invalid { errors }) = load_auth(&text) {
            let lines = text.split('\n').count();
            for error in errors {
                prop_assert!(error.line >= 1 && error.line <= lines, "{}", error);
                prop_assert!(error.column >= 1);
                let shown = error.to_string();
                prop_assert!(SECRETS.iter().all(|secret| !shown.contains(secret)), "{}", shown);
            }
        }
    }
}

/// The file that the property test above damages is valid as it is.
#[test]
fn full_auth_file_is_valid() {
    let auth = auth_of(FULL);
    assert_eq!(auth.scopes, ["openid", "email"]);
    assert_eq!(auth.session.cookie, "s");
}
