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
