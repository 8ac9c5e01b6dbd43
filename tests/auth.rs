//! Sign-in against a real OpenID provider (the npm `oidc-provider`, see
//! `tests/oidc/`), in front of the real Flask example: the whole flow over
//! HTTP and in headless Chromium, sessions shared by two instances, bearer
//! tokens, and every refusal the sign-in issue lists, each checked to
//! reach nothing behind the proxy.

mod common;

use common::oidc::{encode, form_action, query_param, resolve, Agent, Provider};
use common::{get, send, Supervise};
use nix::sys::signal::Signal;
use serde_json::{json, Value};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test-session-secret";
const CLIENT_SECRET: &str = "supervise-client-secret";

/// The provider's config with one client whose callbacks are on `ports`,
/// authenticating at the token endpoint with `method`, the only one the
/// provider announces.
fn provider_config(ports: &[u16], method: &str) -> Value {
    let redirects: Vec<String> = ports
        .iter()
        .flat_map(|p| {
            ["oidc", "azure"]
                .map(|kind| format!("http://127.0.0.1:{p}/auth/oauth2/{kind}/callback"))
        })
        .collect();
    let logouts: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/"))
        .collect();
    json!({ "client_auth_methods": [method], "clients": [{
        "client_id": "supervise",
        "client_secret": CLIENT_SECRET,
        "redirect_uris": redirects,
        "post_logout_redirect_uris": logouts,
        "token_endpoint_auth_method": method,
    }]})
}

/// The Flask example behind supervise on `port`, signing in with `auth`
/// (YAML, 2 spaces deep), routes as in the seed: `/api/health` public,
/// `/test*` fixed, `/admin*` for admins, everything else signed in.
fn config(port: u16, backend: u16, auth: &str) -> String {
    config_behind(port, port, backend, auth)
}

/// Like [`config`], for an instance listening on `port` behind a load
/// balancer whose public address is on `public`.
fn config_behind(public: u16, port: u16, backend: u16, auth: &str) -> String {
    format!(
        "processes:
  backend:
    command: [{python}, app.py]
    cwd: {cwd}
    env: {{ PORT: \"{backend}\" }}
    ready: {{ http: \"http://127.0.0.1:{backend}/api/health\", interval: 20ms }}
proxy:
  listen: 127.0.0.1:{port}
  upstreams:
    flask: {{ url: \"http://127.0.0.1:{backend}\", process: backend }}
  routes:
    - path: /*
      upstream: flask
      auth: required
      allow: {{ roles: [reader, admin] }}
    - path: /admin*
      upstream: flask
      auth: required
      allow: {{ roles: [admin] }}
    - path: /api/health
      upstream: flask
      auth: public
    - path: /test*
      respond: {{ body: \"tested!!!\" }}
      auth: public
auth:
  public_url: http://127.0.0.1:{public}
  session:
    secrets: [\"{SECRET}\"]
{auth}",
        python = common::python().display(),
        cwd = common::repo().join("examples/flask").display(),
    )
}

fn oidc_auth(provider: &Provider) -> String {
    format!(
        "  provider: oidc\n  issuer: {}\n  client_id: supervise\n  client_secret: {CLIENT_SECRET}\n",
        provider.issuer
    )
}

/// Starts supervise and waits for the backend to be ready.
fn start(config: &str) -> Supervise {
    let mut sup = Supervise::up(config);
    sup.listening();
    sup.wait_event("backend", "ready");
    sup
}

/// Signs `user` in through the provider's login and consent forms,
/// starting from `start` on the proxy at `port`; returns the URL the
/// sign-in ended on.
fn sign_in(agent: &mut Agent, port: u16, start: &str, user: &str) -> String {
    let proxy = format!("http://127.0.0.1:{port}");
    let (url, page) = agent.follow(&format!("{proxy}{start}"), "");
    assert_eq!(page.status, 200, "login page at {url}: {}", page.text());
    let login = resolve(&url, &form_action(&page.text()));
    let form = format!("login={}&password={}-password", encode(user), encode(user));
    let (url, page) = agent.follow_from("POST", &login, Some(&form), &format!("{proxy}/auth/"));

    // The consent page, unless the provider remembers the grant.
    let (url, _) = if page.status == 200 && page.text().contains("consent-form") {
        let confirm = resolve(&url, &form_action(&page.text()));
        agent.follow_from("POST", &confirm, Some(""), &format!("{proxy}/auth/"))
    } else {
        (url, page)
    };
    assert!(
        url.contains("/callback?"),
        "expected the callback, got {url}"
    );
    let (end, reply) = agent.follow(&url, "");
    assert_eq!(
        reply.status,
        200,
        "after the callback at {end}: {}",
        reply.text()
    );
    end
}

/// The whole sign-in over HTTP: a protected page sends the browser to the
/// provider, the login and consent forms are submitted, the callback sets
/// the session and lands on the page asked for, and the backend sees who
/// the user is; logout ends it.
#[test]
fn sign_in_over_http_reaches_the_backend_with_identity() {
    let (port, backend) = (common::free_port(), common::free_port());
    let provider = Provider::start(&provider_config(&[port], "client_secret_basic"), &[]);
    let mut sup = start(&config(port, backend, &oidc_auth(&provider)));

    let mut agent = Agent::default();
    let end = sign_in(&mut agent, port, "/whoami?from=test", "alice");
    assert_eq!(end, format!("http://127.0.0.1:{port}/whoami?from=test"));
    assert!(
        agent.jar.contains_key("supervise_session"),
        "{:?}",
        agent.jar
    );

    let whoami = agent
        .request("GET", &format!("http://127.0.0.1:{port}/whoami"), None, "")
        .json();
    assert_eq!(whoami["X-Auth-Request-User"], "alice");
    assert_eq!(whoami["X-Auth-Request-Email"], "alice@example.com");
    assert_eq!(whoami["X-Auth-Request-Roles"], "reader");

    // supervise's own cookies stop at the proxy; the site's others pass.
    agent.jar.insert("site_pref".into(), "dark".into());
    let echo = agent
        .request("GET", &format!("http://127.0.0.1:{port}/echo"), None, "")
        .json();
    let cookie = echo["headers"]["cookie"].as_str().unwrap_or("");
    assert!(cookie.contains("site_pref=dark"), "{cookie}");
    assert!(!cookie.contains("supervise_"), "{cookie}");

    let me = agent.request(
        "GET",
        &format!("http://127.0.0.1:{port}/auth/whoami"),
        None,
        "",
    );
    assert_eq!(
        (me.status, me.json()["subject"].as_str()),
        (200, Some("alice"))
    );

    // alice reads but is no admin: 403, and the backend never sees it.
    let admin = agent.request("GET", &format!("http://127.0.0.1:{port}/admin/x"), None, "");
    assert_eq!(admin.status, 403);

    let out = agent.request(
        "GET",
        &format!("http://127.0.0.1:{port}/auth/logout"),
        None,
        "",
    );
    assert_eq!(out.status, 302);
    assert!(!agent.jar.contains_key("supervise_session"));
    let after = agent.request(
        "GET",
        &format!("http://127.0.0.1:{port}/auth/whoami"),
        None,
        "",
    );
    assert_eq!(after.status, 401);

    sup.signal(Signal::SIGTERM);
    assert_eq!(sup.wait_exit().code(), Some(0));
    assert!(
        !sup.log().contains("GET /admin/x"),
        "the backend saw a refused request"
    );
}

/// Without a session, a browser navigation is redirected to sign-in with
/// the page to come back to, and an API call gets 401 with
/// `WWW-Authenticate`; public routes stay open.
#[test]
fn unauthenticated_requests() {
    let (port, backend) = (common::free_port(), common::free_port());
    let provider = Provider::start(&provider_config(&[port], "client_secret_basic"), &[]);
    let mut sup = start(&config(port, backend, &oidc_auth(&provider)));

    let html = send(
        port,
        "GET /home?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/html",
    )
    .expect("GET");
    assert_eq!(html.status, 302);
    assert_eq!(
        html.header("location"),
        Some("/auth/oauth2/oidc?rd=%2Fhome%3Fx%3D1")
    );

    let api = send(
        port,
        "GET /home HTTP/1.1\r\nHost: a\r\nAccept: application/json",
    )
    .expect("GET");
    assert_eq!(api.status, 401);
    assert!(api
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    let post = send(
        port,
        "POST /home HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\nContent-Length: 0",
    )
    .expect("POST");
    assert_eq!(post.status, 401);

    assert_eq!(get(port, "/api/health").expect("GET").status, 200);
    assert_eq!(get(port, "/test").expect("GET").text(), "tested!!!");
    sup.signal(Signal::SIGTERM);
    sup.wait_exit();
}

/// Two instances with one secret, as behind a load balancer without sticky
/// sessions: a sign-in started on one completes on the other, and each
/// accepts the other's session.
#[test]
fn two_instances_share_flows_and_sessions() {
    let (port_a, port_b) = (common::free_port(), common::free_port());
    let (backend_a, backend_b) = (common::free_port(), common::free_port());
    let provider = Provider::start(
        &provider_config(&[port_a, port_b], "client_secret_post"),
        &[],
    );
    let auth = oidc_auth(&provider);
    let mut a = start(&config(port_a, backend_a, &auth));
    let mut b = start(&config_behind(port_a, port_b, backend_b, &auth));

    // Both instances share one public URL (A's port stands in for the load
    // balancer's). Start on A; deliver the callback to B, as a load
    // balancer without sticky sessions might.
    let mut agent = Agent::default();
    let proxy_a = format!("http://127.0.0.1:{port_a}");
    let (url, page) = agent.follow(&format!("{proxy_a}/home"), "");
    let login = resolve(&url, &form_action(&page.text()));
    let (url, page) = agent.follow_from(
        "POST",
        &login,
        Some("login=bob&password=bob-password"),
        &format!("{proxy_a}/auth/"),
    );
    let url = if page.text().contains("consent-form") {
        let confirm = resolve(&url, &form_action(&page.text()));
        agent
            .follow_from("POST", &confirm, Some(""), &format!("{proxy_a}/auth/"))
            .0
    } else {
        url
    };
    let on_b = url.replace(&proxy_a, &format!("http://127.0.0.1:{port_b}"));
    let callback = agent.request("GET", &on_b, None, "");
    assert_eq!(callback.status, 302, "{}", callback.text());
    assert_eq!(callback.header("location"), Some("/home"));

    for port in [port_a, port_b] {
        let whoami = agent.request("GET", &format!("http://127.0.0.1:{port}/whoami"), None, "");
        assert_eq!(whoami.json()["X-Auth-Request-User"], "bob", "on {port}");
    }
    for sup in [&mut a, &mut b] {
        sup.signal(Signal::SIGTERM);
        assert_eq!(sup.wait_exit().code(), Some(0));
    }
}

/// One sign-in in headless Chromium (Debian's, driven by playwright-core):
/// the page the user asked for shows their identity from the backend.
#[test]
fn browser_sign_in() {
    let (port, backend) = (common::free_port(), common::free_port());
    let provider = Provider::start(
        &provider_config(&[port], "client_secret_basic"),
        &["--host", "127.0.0.2"],
    );
    let mut sup = start(&config(port, backend, &oidc_auth(&provider)));

    let out = std::process::Command::new("node")
        .arg(common::repo().join("tests/oidc/browser.mjs"))
        .args(["--start", &format!("http://127.0.0.1:{port}/whoami")])
        .args(["--user", "alice", "--password", "alice-password"])
        .args(["--expect-text", "alice@example.com"])
        .output()
        .expect("run the browser script (node, npm ci, apt-get install chromium)");
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("browser said: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["url"], format!("http://127.0.0.1:{port}/whoami"));
    assert!(result["cookies"]
        .as_array()
        .is_some_and(|c| c.iter().any(|n| n == "supervise_session")));
    sup.signal(Signal::SIGTERM);
    sup.wait_exit();
}

/// A query value for [`query_param`] users: the state of a sign-in URL.
#[allow(dead_code)]
fn state_of(url: &str) -> Option<&str> {
    query_param(url, "state")
}

/// A config whose `/whoami` is public (identity headers still stripped),
/// for tests that need a backend echo without signing in.
fn with_public_whoami(config: String) -> String {
    config.replace(
        "    - path: /api/health\n",
        "    - path: /whoami\n      upstream: flask\n      auth: public\n    - path: /api/health\n",
    )
}

/// Whether the backend logged a request line for `target`.
fn backend_saw(sup: &Supervise, target: &str) -> bool {
    let line = format!("\"GET {target} HTTP/1.1\"");
    sup.seen
        .iter()
        .any(|e| e["message"].as_str().is_some_and(|m| m.contains(&line)))
}

/// Hostile bearer tokens are refused with 401 (never a redirect), and none
/// of their requests reaches the backend; a good one passes.
#[test]
fn hostile_bearer_tokens_are_refused() {
    let (port, backend) = (common::free_port(), common::free_port());
    let provider = Provider::start(&provider_config(&[port], "client_secret_basic"), &[]);
    let mut sup = start(&config(port, backend, &oidc_auth(&provider)));
    let info = provider_info(&provider);
    let rsa_kid = info["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["role"] == "rsa"))
        .and_then(|k| k["kid"].as_str())
        .expect("the rsa key's kid")
        .to_owned();

    let hostile = [
        ("tampered", json!({"tamper": {"roles": ["admin"]}})),
        ("expired", json!({"exp_in": -600, "iat_in": -1200})),
        ("not-yet-valid", json!({"nbf_in": 600})),
        (
            "wrong-issuer",
            json!({"claims": {"iss": "http://evil.example"}}),
        ),
        ("wrong-audience", json!({"claims": {"aud": "someone-else"}})),
        ("alg-none", json!({"header": {"alg": "none"}})),
        ("hmac-with-public-key", json!({"header": {"alg": "HS256"}})),
        ("unknown-kid", json!({"header": {"kid": "no-such-kid"}})),
        (
            "foreign-key",
            json!({"key": "foreign", "header": {"kid": rsa_kid}}),
        ),
        ("no-kid", json!({"header": {"kid": null}})),
        (
            "alg-key-mismatch",
            json!({"header": {"alg": "ES256", "kid": rsa_kid}}),
        ),
    ];
    for (name, mint) in hostile {
        let token = provider.mint(mint);
        let target = format!("/whoami?case={name}");
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\nAuthorization: Bearer {token}"
        );
        let reply = send(port, &head).expect("GET");
        assert_eq!(reply.status, 401, "{name}: {}", reply.text());
        assert!(reply
            .header("www-authenticate")
            .is_some_and(|v| v.contains("invalid_token")));
        assert!(!backend_saw(&sup, &target), "{name} reached the backend");
    }

    let good = provider.mint(json!({}));
    let head = format!("GET /whoami HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {good}");
    let reply = send(port, &head).expect("GET");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["X-Auth-Request-User"], "alice");
    sup.signal(Signal::SIGTERM);
    sup.wait_exit();
    for (name, _) in [
        ("tampered", ()),
        ("alg-none", ()),
        ("hmac-with-public-key", ()),
    ] {
        assert!(
            !backend_saw(&sup, &format!("/whoami?case={name}")),
            "{name}"
        );
    }
}

fn provider_info(provider: &Provider) -> Value {
    let reply = get(provider.port, "/test/info").expect("provider info");
    reply.json()
}

/// The callback refuses a sign-in without its flow cookie (a forged or
/// replayed state), a replay of a finished one, and an ID token whose
/// nonce is not the one the sign-in sent.
#[test]
fn state_and_nonce_are_checked() {
    let (port, backend) = (common::free_port(), common::free_port());
    let provider = Provider::start(&provider_config(&[port], "client_secret_basic"), &[]);
    let mut sup = start(&config(port, backend, &oidc_auth(&provider)));
    let proxy = format!("http://127.0.0.1:{port}");

    // A callback nobody started: no flow cookie for its state.
    let forged = "/auth/oauth2/oidc/callback?code=abc&state=forged-state-value";
    assert_eq!(get(port, forged).expect("GET").status, 400);
    let missing = get(port, "/auth/oauth2/oidc/callback?code=abc").expect("GET");
    assert_eq!(missing.status, 400);

    // A finished sign-in cannot be replayed: its flow cookie is gone.
    let mut agent = Agent::default();
    let (url, page) = agent.follow(&format!("{proxy}/whoami"), "");
    let login = resolve(&url, &form_action(&page.text()));
    let form = "login=alice&password=alice-password";
    let (mut callback, page) =
        agent.follow_from("POST", &login, Some(form), &format!("{proxy}/auth/"));
    if page.text().contains("consent-form") {
        let confirm = resolve(&callback, &form_action(&page.text()));
        callback = agent
            .follow_from("POST", &confirm, Some(""), &format!("{proxy}/auth/"))
            .0;
    }
    assert_eq!(agent.request("GET", &callback, None, "").status, 302);
    let replay = agent.request("GET", &callback, None, "");
    assert_eq!(replay.status, 400, "a replayed callback was accepted");

    // The provider answers with an ID token for another nonce.
    provider.test_api(
        "/test/next-token",
        &json!({"claims": {"nonce": "not-the-one-sent"}}),
    );
    let mut other = Agent::default();
    let (url, page) = other.follow(&format!("{proxy}/whoami"), "");
    let login = resolve(&url, &form_action(&page.text()));
    let (mut callback, page) =
        other.follow_from("POST", &login, Some(form), &format!("{proxy}/auth/"));
    if page.text().contains("consent-form") {
        let confirm = resolve(&callback, &form_action(&page.text()));
        callback = other
            .follow_from("POST", &confirm, Some(""), &format!("{proxy}/auth/"))
            .0;
    }
    let reply = other.request("GET", &callback, None, "");
    assert_eq!(
        reply.status,
        400,
        "a wrong nonce was accepted: {}",
        reply.text()
    );
    assert!(!other.jar.contains_key("supervise_session"));
    sup.signal(Signal::SIGTERM);
    sup.wait_exit();
}

/// Identity headers a client sends, in upper, lower and underscore
/// spellings, never reach the backend, on a public route too; spoofed
/// forwarding headers cannot steer the sign-in redirect away from
/// `public_url`.
#[test]
fn spoofed_headers_are_ignored() {
    let (port, backend) = (common::free_port(), common::free_port());
    let provider = Provider::start(&provider_config(&[port], "client_secret_basic"), &[]);
    let mut sup = start(&with_public_whoami(config(
        port,
        backend,
        &oidc_auth(&provider),
    )));

    let head = "GET /whoami HTTP/1.1\r\nHost: a\r\nX-AUTH-REQUEST-USER: mallory\r\n\
        x-auth-request-email: mallory@evil.example\r\nX_Auth_Request_Roles: admin\r\n\
        X-Auth_Request-Groups: admins\r\nX-Auth-Request-Preferred-Username: mallory";
    let seen = send(port, head).expect("GET").json();
    for name in ["User", "Email", "Roles", "Groups", "Preferred-Username"] {
        assert_eq!(
            seen[format!("X-Auth-Request-{name}")],
            Value::Null,
            "{name}: {seen}"
        );
    }

    let head = "GET /auth/oauth2/oidc?rd=/home HTTP/1.1\r\nHost: evil.example\r\n\
        X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https";
    let start = send(port, head).expect("GET");
    assert_eq!(start.status, 302);
    let location = start.header("location").expect("a Location");
    let expected = encode(&format!(
        "http://127.0.0.1:{port}/auth/oauth2/oidc/callback"
    ));
    assert_eq!(
        query_param(location, "redirect_uri"),
        Some(expected.as_str()),
        "{location}"
    );
    assert!(!location.contains("evil"), "{location}");
    sup.signal(Signal::SIGTERM);
    sup.wait_exit();
}

/// After signing in, the user goes back only to a path on this site:
/// every open-redirect form falls back to `/`; a plain path is kept.
#[test]
fn redirect_after_sign_in_stays_on_site() {
    let (port, backend) = (common::free_port(), common::free_port());
    let dev = "  provider: dev\n";
    let config = config(port, backend, dev);
    let mut sup = start(&config);
    let cases = [
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/%09/evil.example", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("https://evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/%5Cevil.example", "/"),
        ("/home?x=1", "/home?x=1"),
    ];
    for (rd, expected) in cases {
        let form = format!("user=dev-user&roles=reader&rd={}", encode(rd));
        let head = format!(
            "POST /auth/dev HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        );
        let reply = common::send_raw(port, &head).expect("POST");
        assert_eq!(reply.status, 302, "{rd}");
        assert_eq!(reply.header("location"), Some(expected), "rd={rd}");
    }
    sup.signal(Signal::SIGTERM);
    sup.wait_exit();
}

/// Path tricks against the public route next to the protected catch-all
/// never reach a protected page without sign-in.
#[test]
fn path_tricks_do_not_bypass_sign_in() {
    let (port, backend) = (common::free_port(), common::free_port());
    let provider = Provider::start(&provider_config(&[port], "client_secret_basic"), &[]);
    let mut sup = start(&config(port, backend, &oidc_auth(&provider)));
    let tricks = [
        "/api/health/../whoami",
        "/api/health/%2e%2e/whoami",
        "/api/health/%2E%2E/whoami",
        "//api/health/../whoami",
        "/api/health%2F..%2Fwhoami",
        "/api/health;/../whoami",
        "/api/health/..;/whoami",
        "/API/HEALTH/../../whoami",
        "/api/health%23/../whoami",
        "/api/health%3F/../whoami",
        "/api/health/%2e%2e%2fwhoami",
        "/api%2fhealth",
        "/whoami;/api/health",
    ];
    for trick in tricks {
        let reply = get(port, trick).expect("GET");
        assert!(
            [400, 401].contains(&reply.status),
            "{trick}: {} {}",
            reply.status,
            reply.text()
        );
    }
    sup.signal(Signal::SIGTERM);
    sup.wait_exit();
    assert!(!sup
        .seen
        .iter()
        .any(|e| e["message"].as_str().is_some_and(|m| m.contains("whoami"))));
}

/// An Azure-shaped provider (issuer under `/{tenant}/v2.0`, `tid` and
/// `roles` in the tokens): sign-in works and carries the app roles, and a
/// token from another tenant is refused.
#[test]
fn azure_shaped_provider() {
    let tenant = "8f3c2a9e-4b1d-4e6f-9a7c-2d5e8b1f0c34";
    let (port, backend) = (common::free_port(), common::free_port());
    let provider = Provider::start(
        &provider_config(&[port], "client_secret_basic"),
        &["--tenant", tenant],
    );
    let authority = format!("http://127.0.0.1:{}", provider.port);
    let auth = format!(
        "  provider: azure\n  tenant_id: {tenant}\n  authority: {authority}\n  client_id: supervise\n  client_secret: {CLIENT_SECRET}\n"
    );
    let mut sup = start(&config(port, backend, &auth));

    let mut agent = Agent::default();
    let end = sign_in(&mut agent, port, "/whoami", "bob");
    assert_eq!(end, format!("http://127.0.0.1:{port}/whoami"));
    let seen = agent
        .request("GET", &format!("http://127.0.0.1:{port}/whoami"), None, "")
        .json();
    assert_eq!(seen["X-Auth-Request-User"], "bob");
    assert_eq!(seen["X-Auth-Request-Roles"], "admin,reader");
    let admin = agent.request("GET", &format!("http://127.0.0.1:{port}/admin/x"), None, "");
    assert_eq!(
        admin.status, 404,
        "bob is an admin: the backend answers (no such page)"
    );

    let other = format!("{authority}/0c5d1e2f-3a4b-4c6d-8e9f-a0b1c2d3e4f5/v2.0");
    let foreign = provider
        .mint(json!({"claims": {"tid": "0c5d1e2f-3a4b-4c6d-8e9f-a0b1c2d3e4f5", "iss": other}}));
    let head =
        format!("GET /whoami?other-tenant HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {foreign}");
    assert_eq!(send(port, &head).expect("GET").status, 401);
    let same = provider.mint(json!({}));
    let head = format!("GET /whoami HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {same}");
    assert_eq!(send(port, &head).expect("GET").status, 200);
    sup.signal(Signal::SIGTERM);
    sup.wait_exit();
}

/// A provider that is down at start-up degrades health (still 200, keys
/// not loaded) and makes sign-in answer 503 instead of stopping
/// supervise; once it is up, discovery succeeds in the background and
/// sign-in works.
#[test]
fn provider_down_at_start_up_degrades_health() {
    let (port, backend, idp) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let auth = format!(
        "  provider: oidc\n  issuer: http://127.0.0.1:{idp}\n  client_id: supervise\n  client_secret: {CLIENT_SECRET}\n"
    );
    let mut sup = start(&config(port, backend, &auth));

    let health = get(port, "/healthz").expect("GET");
    assert_eq!(health.status, 200);
    let report = health.json();
    assert_eq!(report["status"], "degraded", "{report}");
    assert_eq!(report["identity_provider"]["keys_loaded"], false);
    let start_sign_in = get(port, "/auth/oauth2/oidc?rd=/home").expect("GET");
    assert_eq!(start_sign_in.status, 503);

    let port_text = idp.to_string();
    let provider = Provider::start(
        &provider_config(&[port], "client_secret_basic"),
        &["--port", &port_text],
    );
    sup.wait_for("discovery", |e| {
        e["message"] == "identity provider discovered"
    });
    let report = get(port, "/healthz").expect("GET").json();
    assert_eq!(report["status"], "ok", "{report}");
    let mut agent = Agent::default();
    sign_in(&mut agent, port, "/whoami", "alice");
    drop(provider);
    sup.signal(Signal::SIGTERM);
    sup.wait_exit();
}
