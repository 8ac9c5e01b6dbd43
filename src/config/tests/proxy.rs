//! Tests of the `proxy:` and `health:` sections through `load_str`: the
//! product example, every default, the place of each kind of error, the
//! warnings, and what `supervise check` prints.

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use proptest::prelude::*;

use super::*;

/// A file with one process, `web`, and a proxy section whose body is
/// `body` (indented by two spaces; the first line of `body` is line 5).
fn file(body: &str) -> String {
    format!("processes:\n  web:\n    command: [sh]\nproxy:\n{body}")
}

/// A valid proxy body: lines 5 to 10.
const MINIMAL: &str = "  listen: 127.0.0.1:0
  upstreams:
    app: {url: \"http://127.0.0.1:5000\", process: web}
  routes:
    - path: /*
      upstream: app
";

/// The minimal proxy with `extra` appended to its body, from line 11.
fn minimal_with(extra: &str) -> String {
    file(&format!("{MINIMAL}{extra}"))
}

/// The minimal proxy with one more route, `route`, from line 11.
fn with_route(route: &str) -> String {
    minimal_with(route)
}

fn proxy_of(text: &str) -> ProxySpec {
    loaded(text).config.proxy.expect("a proxy section")
}

fn route_of(text: &str) -> RouteSpec {
    proxy_of(text).routes.pop().expect("a route")
}

fn header(name: &str, value: &str) -> (HeaderName, HeaderValue) {
    let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
    (name, HeaderValue::from_str(value).expect("a header value"))
}

const PRODUCT_PROXY: &str = r#"
proxy:
  listen: 0.0.0.0:${PORT:-5001}       # 80 on Fargate, 5001 locally: one variable switches
  upstreams:
    flask:
      url: http://127.0.0.1:5000
      process: backend                # requests wait while this process restarts
  routes:                             # the most specific path wins; order breaks ties
    - path: /*                        # a trailing * is a prefix match; otherwise exact
      upstream: flask
      auth: public                    # required | optional | public
    - path: /api/health
      upstream: flask
      auth: public
    - path: /test*
      respond: { status: 200, body: "tested!!!" }

health:
  path: /healthz
"#;

/// PRODUCT.md's `proxy:` and `health:` (with public routes) load to the
/// expected settings, without a warning.
#[test]
fn product_example_proxy_loads() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("examples/flask")).expect("folders");
    let text = format!("{PRODUCT_EXAMPLE}{PRODUCT_PROXY}");
    let loaded = load_str(&text, &dir.path().join("supervisor.yaml"), &env).expect("valid");
    // The example's `python3` may not be on this machine's PATH; that
    // warning is not about the proxy.
    let warnings = loaded
        .warnings
        .iter()
        .filter(|w| !w.key_path.starts_with("processes"));
    assert_eq!(warnings.count(), 0, "{:?}", loaded.warnings);
    assert_eq!(loaded.config.proxy, Some(expected_product_proxy()));
    assert_eq!(loaded.config.health.path, "/healthz");
}

fn expected_product_proxy() -> ProxySpec {
    let flask = || RouteAction::Upstream("flask".to_string());
    let route = |path: PathPattern, action: RouteAction, line: usize| RouteSpec {
        path,
        action,
        auth: AuthMode::Public,
        allow: Default::default(),
        header_up: HeaderRules::default(),
        header_down: HeaderRules::default(),
        line,
    };
    let respond = RouteAction::Respond {
        status: StatusCode::OK,
        body: "tested!!!".to_string(),
        headers: Vec::new(),
    };
    ProxySpec {
        // PORT is 5000 in these tests' environment.
        listen: "0.0.0.0:5000".parse().expect("an address"),
        upstreams: vec![UpstreamSpec {
            name: "flask".to_string(),
            url: "http://127.0.0.1:5000/".parse().expect("a URL"),
            process: Some("backend".to_string()),
            host: None,
        }],
        routes: vec![
            route(PathPattern::Prefix("/".to_string()), flask(), 23),
            route(PathPattern::Exact("/api/health".to_string()), flask(), 26),
            route(PathPattern::Prefix("/test".to_string()), respond, 29),
        ],
        ..expected_defaults("0.0.0.0:5000")
    }
}

/// A proxy with every default and no upstreams or routes.
fn expected_defaults(listen: &str) -> ProxySpec {
    ProxySpec {
        listen: listen.parse().expect("an address"),
        tls: None,
        trusted_proxies: Vec::new(),
        workers: 1,
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            response_header: Duration::from_secs(60),
            idle: Duration::from_secs(90),
            client_header: Duration::from_secs(10),
            client_idle: Duration::from_secs(75),
        },
        max_header_bytes: 65536,
        retry_window: Duration::from_secs(10),
        max_waiting: 1024,
        drain_timeout: Duration::from_secs(20),
        upstreams: Vec::new(),
        routes: Vec::new(),
    }
}

/// Every setting left out takes the contract's default, and so does
/// every setting of a route.
#[test]
fn defaults() {
    let proxy = proxy_of(&file(MINIMAL));
    let expected = ProxySpec {
        upstreams: proxy.upstreams.clone(),
        routes: proxy.routes.clone(),
        ..expected_defaults("127.0.0.1:0")
    };
    assert_eq!(proxy, expected);
    let route = &proxy.routes[0];
    assert_eq!(route.auth, AuthMode::Public);
    assert_eq!(route.header_up, HeaderRules::default());
    assert_eq!(route.header_down, HeaderRules::default());
    assert_eq!(proxy.upstreams[0].host, None);

    let respond = route_of(&with_route("    - path: /r\n      respond: {}\n"));
    let expected = RouteAction::Respond {
        status: StatusCode::OK,
        body: String::new(),
        headers: Vec::new(),
    };
    assert_eq!(respond.action, expected);
    let redirect = route_of(&with_route(
        "    - path: /old\n      redirect: {to: /new}\n",
    ));
    let expected = RouteAction::Redirect {
        to: "/new".to_string(),
        status: StatusCode::FOUND,
    };
    assert_eq!(redirect.action, expected);
}

/// Without `proxy:` nothing listens; without `health:` the path is
/// `/healthz`; `upstreams` may be left out when no route uses one.
#[test]
fn absent_sections() {
    let config = loaded(&with("")).config;
    assert_eq!(config.proxy, None);
    assert_eq!(config.health, HealthSpec::default());
    assert_eq!(config.health.path, "/healthz");
    let text = file("  listen: 127.0.0.1:0\n  routes:\n    - {path: /, respond: {}}\n");
    assert!(proxy_of(&text).upstreams.is_empty());
    let text = format!("{}  upstreams:\n", &text);
    assert!(proxy_of(&text).upstreams.is_empty());
}

/// Every setting can be changed, and is read as written.
#[test]
fn every_setting() {
    let text = file(
        "  listen: \"[::1]:8443\"
  trusted_proxies: [10.0.0.0/16, 127.0.0.1, \"::1\", fd00::/8]
  workers: 4
  timeouts: {connect: 1s, response_header: 2s, idle: 3s, client_header: 4s, client_idle: 5s}
  max_header_bytes: 16KiB
  retry_window: 0s
  max_waiting: 0
  drain_timeout: 5s
  upstreams:
    a.b-c_1: {url: \"http://localhost\", host: \"example.com:8080\"}
  routes:
    - {path: /, upstream: a.b-c_1}
",
    );
    let proxy = proxy_of(&text);
    assert_eq!(
        proxy.listen,
        "[::1]:8443".parse::<SocketAddr>().expect("ok")
    );
    let networks: Vec<String> = proxy
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        networks,
        ["10.0.0.0/16", "127.0.0.1/32", "::1/128", "fd00::/8"]
    );
    assert_eq!(proxy.workers, 4);
    let seconds = |s| Duration::from_secs(s);
    let timeouts = Timeouts {
        connect: seconds(1),
        response_header: seconds(2),
        idle: seconds(3),
        client_header: seconds(4),
        client_idle: seconds(5),
    };
    assert_eq!(proxy.timeouts, timeouts);
    assert_eq!(proxy.max_header_bytes, 16 * 1024);
    assert_eq!(proxy.retry_window, Duration::ZERO);
    assert_eq!(proxy.max_waiting, 0);
    assert_eq!(proxy.drain_timeout, seconds(5));
    let upstream = proxy.upstream("a.b-c_1").expect("the upstream");
    assert_eq!(upstream.url.to_string(), "http://localhost:80/");
    assert_eq!(upstream.process, None);
    assert_eq!(upstream.host.as_deref(), Some("example.com:8080"));
    assert!(proxy.upstream("nope").is_none());
}

/// A route with every setting: auth mode, header rules, respond headers.
#[test]
fn full_route() {
    let route = route_of(&with_route(
        "    - path: /teapot
      respond:
        status: 418
        body: short and stout
        headers: {Content-Type: text/plain, X-Count: 2}
      auth: public
      header_up: {set: {X-From: supervise}, remove: [Cookie, x-debug]}
      header_down:
        remove: [Server]
",
    ));
    let expected = RouteAction::Respond {
        status: StatusCode::IM_A_TEAPOT,
        body: "short and stout".to_string(),
        headers: vec![header("content-type", "text/plain"), header("x-count", "2")],
    };
    assert_eq!(route.action, expected);
    assert_eq!(route.line, 11);
    let names = |names: &[&'static str]| -> Vec<HeaderName> {
        names.iter().map(|n| HeaderName::from_static(n)).collect()
    };
    assert_eq!(route.header_up.remove, names(&["cookie", "x-debug"]));
    assert_eq!(route.header_up.set, [header("x-from", "supervise")]);
    assert_eq!(route.header_down.remove, names(&["server"]));
    assert!(route.header_down.set.is_empty());
}

/// TLS files are resolved against the config file's folder.
#[test]
fn tls_files_are_resolved() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("certs")).expect("a folder");
    for name in ["certs/cert.pem", "certs/key.pem"] {
        std::fs::write(dir.path().join(name), "").expect("a file");
    }
    let text = minimal_with("  tls: {cert: certs/cert.pem, key: certs/key.pem}\n");
    let loaded = load_str(&text, &dir.path().join("s.yaml"), &env).expect("valid");
    let tls = loaded.config.proxy.and_then(|proxy| proxy.tls);
    let expected = TlsSpec {
        cert: dir.path().join("certs/cert.pem"),
        key: dir.path().join("certs/key.pem"),
    };
    assert_eq!(tls, Some(expected));
}

/// A listen host that is a name, not an IP, is refused; localhost is
/// 127.0.0.1.
#[test]
fn listen_on_a_host_name() {
    let text = file(&MINIMAL.replace("127.0.0.1:0", "example.com:80"));
    assert_error(
        &text,
        5,
        11,
        "proxy.listen",
        "names a host, not an IP address",
    );
    let text = file(&MINIMAL.replace("127.0.0.1:0", "localhost:5001"));
    assert_eq!(
        proxy_of(&text).listen,
        SocketAddr::from(([127, 0, 0, 1], 5001))
    );
}

/// `listen` and `routes` are required, placed at the proxy mapping.
#[test]
fn required_keys() {
    let text = file(&MINIMAL.replace("  listen: 127.0.0.1:0\n", ""));
    assert_error(&text, 5, 3, "proxy.listen", "missing required key `listen`");
    let text = file("  listen: 127.0.0.1:0\n");
    assert_error(&text, 5, 3, "proxy.routes", "missing required key `routes`");
    let text = file("  listen: 127.0.0.1:0\n  routes: []\n");
    assert_error(&text, 6, 11, "proxy.routes", "must list at least one route");
}

/// An unknown key of the proxy lists the allowed ones.
#[test]
fn unknown_proxy_key() {
    let text = minimal_with("  listen_on: x\n");
    assert_error(
        &text,
        11,
        3,
        "proxy.listen_on",
        "allowed keys: listen, tls, trusted_proxies",
    );
}

/// Missing TLS files are both reported, saying where they were looked for.
#[test]
fn missing_tls_files() {
    let found = errors(&minimal_with("  tls: {cert: cert.pem, key: /no/key.pem}\n"));
    let places: Vec<(usize, usize, &str)> = found
        .iter()
        .map(|e| (e.line, e.column, e.key_path.as_str()))
        .collect();
    assert_eq!(
        places,
        [(11, 15, "proxy.tls.cert"), (11, 30, "proxy.tls.key")]
    );
    let looked = "file `cert.pem` does not exist (looked for `/srv/app/cert.pem`)";
    assert_eq!(found[0].message, looked);
    assert_eq!(found[1].message, "file `/no/key.pem` does not exist");
    let text = minimal_with("  tls: {cert: /etc/passwd}\n");
    assert_error(&text, 11, 8, "proxy.tls.key", "missing required key `key`");
}

/// A trusted network with host bits set names the network meant.
#[test]
fn trusted_proxy_with_host_bits() {
    let text = minimal_with("  trusted_proxies: [127.0.0.1, 10.0.0.1/8]\n");
    let message = "`10.0.0.1/8` has bits set after the prefix; the network is `10.0.0.0/8`";
    assert_error(&text, 11, 32, "proxy.trusted_proxies[1]", message);
}

/// A prefix longer than the address is refused; so is a host name.
#[test]
fn trusted_proxy_prefix_and_names() {
    let text = minimal_with("  trusted_proxies:\n    - 10.0.0.0/33\n");
    let message = "`10.0.0.0/33` has a prefix longer than the address's 32 bits";
    assert_error(&text, 12, 7, "proxy.trusted_proxies[0]", message);
    let text = minimal_with("  trusted_proxies: [alb.internal]\n");
    assert_error(
        &text,
        11,
        21,
        "proxy.trusted_proxies[0]",
        "is not an IP address or network",
    );
}

/// Workers run from 1 to 64.
#[test]
fn workers_out_of_range() {
    let text = minimal_with("  workers: 65\n");
    assert_error(
        &text,
        11,
        12,
        "proxy.workers",
        "`65` is out of range; expected 1 to 64",
    );
    let text = minimal_with("  workers: 0\n");
    assert_error(&text, 11, 12, "proxy.workers", "expected 1 to 64");
}

/// Timeouts must be longer than zero; the retry window may be zero.
#[test]
fn zero_timeout() {
    let text = minimal_with("  timeouts:\n    idle: 0s\n");
    assert_error(
        &text,
        12,
        11,
        "proxy.timeouts.idle",
        "must be longer than zero",
    );
    assert_eq!(
        proxy_of(&minimal_with("  retry_window: 0s\n")).retry_window,
        Duration::ZERO
    );
}

/// Header limits outside 1KiB to 1MiB, or not sizes, are refused.
#[test]
fn header_limit_out_of_range() {
    let text = minimal_with("  max_header_bytes: 512\n");
    let message = "`512` is out of range; expected 1KiB (1024) to 1MiB (1048576)";
    assert_error(&text, 11, 21, "proxy.max_header_bytes", message);
    let text = minimal_with("  max_header_bytes: 64 KiB\n");
    assert_error(&text, 11, 21, "proxy.max_header_bytes", "is not a size");
    assert_eq!(
        proxy_of(&minimal_with("  max_header_bytes: 1MiB\n")).max_header_bytes,
        1 << 20
    );
}

/// An https upstream is refused, saying TLS to upstreams is unsupported.
#[test]
fn https_upstream() {
    let text = file(&MINIMAL.replace("http://127.0.0.1:5000", "https://127.0.0.1:5000"));
    let message = "`https://127.0.0.1:5000` uses https, but TLS to upstreams is not supported";
    assert_error(&text, 7, 16, "proxy.upstreams.app.url", message);
}

/// An upstream URL with a path is refused.
#[test]
fn upstream_url_with_a_path() {
    let text = file(&MINIMAL.replace("5000\"", "5000/api\""));
    assert_error(&text, 7, 16, "proxy.upstreams.app.url", "has a path");
}

/// An upstream naming an unknown process lists the known ones.
#[test]
fn upstream_of_an_unknown_process() {
    let text = file(&MINIMAL.replace("process: web", "process: backend"));
    let message = "`backend` is not a process of this file; the processes are: web";
    assert_error(&text, 7, 50, "proxy.upstreams.app.process", message);
}

/// A process with errors of its own is still known by name.
#[test]
fn upstream_of_a_process_with_errors() {
    let text = file(MINIMAL).replace("command: [sh]", "command: []");
    assert_error(
        &text,
        3,
        14,
        "processes.web.command",
        "the command is empty",
    );
}

/// Upstream names follow the rules of process names; `url` is required.
#[test]
fn upstream_name_and_url() {
    let text = file(
        &MINIMAL
            .replace("    app:", "    \"my app\":")
            .replace("upstream: app", "upstream: my app"),
    );
    assert_error(
        &text,
        7,
        5,
        "proxy.upstreams.my app",
        "upstream name `my app` may only hold",
    );
    let text = file(&MINIMAL.replace("url: \"http://127.0.0.1:5000\", ", ""));
    assert_error(
        &text,
        7,
        10,
        "proxy.upstreams.app.url",
        "missing required key `url`",
    );
}

/// A `host` override must be a valid Host header.
#[test]
fn bad_host_override() {
    let text = file(&MINIMAL.replace("process: web", "host: \"a b\""));
    assert_error(
        &text,
        7,
        47,
        "proxy.upstreams.app.host",
        "is not a valid `Host` header",
    );
}

/// A route naming an unknown upstream lists the known ones.
#[test]
fn route_to_an_unknown_upstream() {
    let text = with_route("    - path: /x\n      upstream: api\n");
    let message = "no upstream is named `api`; the upstreams are: app";
    assert_error(&text, 12, 17, "proxy.routes[1].upstream", message);
    let text = file("  listen: 127.0.0.1:0\n  routes:\n    - {path: /, upstream: app}\n");
    assert_error(
        &text,
        7,
        27,
        "proxy.routes[0].upstream",
        "the file defines none",
    );
}

/// A route that does nothing, or two things, is refused.
#[test]
fn route_actions() {
    let text = with_route("    - path: /x\n      auth: public\n");
    assert_error(&text, 11, 7, "proxy.routes[1]", "set what the route does");
    let text = with_route("    - path: /x\n      upstream: app\n      respond: {}\n");
    let message = "a route does one thing, but this one has both `upstream` and `respond`";
    assert_error(&text, 13, 7, "proxy.routes[1].respond", message);
}

/// A route's path must be in normalised form, and is required.
#[test]
fn route_paths() {
    let cases = [
        ("api", "does not start with `/`"),
        ("/a//b", "holds `//`"),
        ("/a/../b", "`.` or `..` segment"),
        ("/a%2fb", "write it `/a%2Fb`"),
        ("/a*b", "`*` is allowed only as the last character"),
        ("\"/a?b\"", "never the query string"),
    ];
    for (path, fragment) in cases {
        let text = with_route(&format!("    - path: {path}\n      upstream: app\n"));
        assert_error(&text, 11, 13, "proxy.routes[1].path", fragment);
    }
    let text = with_route("    - upstream: app\n");
    assert_error(
        &text,
        11,
        7,
        "proxy.routes[1].path",
        "missing required key `path`",
    );
}

/// Sign-in modes need an `auth` section; bad modes are named.
#[test]
fn auth_modes() {
    let text = with_route("    - path: /x\n      upstream: app\n      auth: required\n");
    let message = "route needs sign-in but the file has no `auth` section";
    assert_error(&text, 13, 13, "proxy.routes[1].auth", message);
    let text = with_route("    - path: /x\n      upstream: app\n      auth: optional\n");
    assert_error(&text, 13, 13, "proxy.routes[1].auth", "no `auth` section");
    let text = with_route("    - path: /x\n      upstream: app\n      auth: private\n");
    let message = "`private` is not an auth mode; expected public, optional or required";
    assert_error(&text, 13, 13, "proxy.routes[1].auth", message);
}

/// With an `auth` section, routes may sign users in.
#[test]
fn auth_modes_with_an_auth_section() {
    let text = format!(
        "{}auth:\n  provider: dev\n  session: {{secrets: [\"{}\"]}}\n",
        with_route("    - path: /x\n      upstream: app\n      auth: optional\n"),
        "s".repeat(32)
    );
    let route = route_of(&text);
    assert_eq!(route.auth, AuthMode::Optional);
}

/// `allow` without an `auth` section is refused at its key: it would
/// read as a rule and let everyone through.
#[test]
fn allow_without_an_auth_section() {
    let text = with_route("    - path: /x\n      upstream: app\n      allow: {roles: [admin]}\n");
    let message = "`allow` needs `auth: required`, and sign-in needs an `auth` section";
    assert_error(&text, 13, 7, "proxy.routes[1].allow", message);
}

/// Header names and values are checked, naming the key.
#[test]
fn bad_headers() {
    let route = "    - path: /x\n      upstream: app\n      header_up:\n        set:\n";
    let text = with_route(&format!("{route}          \"X Bad\": 1\n"));
    assert_error(
        &text,
        15,
        11,
        "proxy.routes[1].header_up.set.X Bad",
        "is not a valid header name",
    );
    let text = with_route(&format!("{route}          X-Bell: \"a\\x07b\"\n"));
    assert_error(
        &text,
        15,
        19,
        "proxy.routes[1].header_up.set.X-Bell",
        "is not a valid header value",
    );
    let text = with_route(&format!("{route}          Content-Length: 5\n"));
    assert_error(
        &text,
        15,
        11,
        "proxy.routes[1].header_up.set.Content-Length",
        "cannot be set",
    );
    let text = with_route(&format!("{route}          X-A: 1\n          x-a: 2\n"));
    let message = "header `x-a` is already set on line 15";
    assert_error(&text, 16, 11, "proxy.routes[1].header_up.set.x-a", message);
    let text =
        with_route("    - path: /x\n      upstream: app\n      header_down: {remove: [\"a:b\"]}\n");
    assert_error(
        &text,
        13,
        30,
        "proxy.routes[1].header_down.remove[0]",
        "is not a valid header name",
    );
}

/// Status codes: 100 to 599, final ones for `respond`, redirect ones
/// for `redirect`; a redirect needs a target.
#[test]
fn status_codes() {
    let respond = |status: &str| {
        with_route(&format!(
            "    - path: /x\n      respond: {{status: {status}}}\n"
        ))
    };
    let message = "`700` is not an HTTP status; expected 100 to 599";
    assert_error(
        &respond("700"),
        12,
        25,
        "proxy.routes[1].respond.status",
        message,
    );
    assert_error(
        &respond("101"),
        12,
        25,
        "proxy.routes[1].respond.status",
        "informational",
    );
    let redirect =
        |body: &str| with_route(&format!("    - path: /x\n      redirect: {{{body}}}\n"));
    let message = "`200` is not a redirect status; use 301, 302, 303, 307 or 308";
    assert_error(
        &redirect("to: /y, status: 200"),
        12,
        34,
        "proxy.routes[1].redirect.status",
        message,
    );
    assert_error(
        &redirect("status: 301"),
        12,
        17,
        "proxy.routes[1].redirect.to",
        "missing required key `to`",
    );
    assert_error(
        &redirect("to: \"\""),
        12,
        22,
        "proxy.routes[1].redirect.to",
        "is empty",
    );
    let route = route_of(&redirect("to: \"https://example.com/a\", status: 308"));
    let expected = RouteAction::Redirect {
        to: "https://example.com/a".to_string(),
        status: StatusCode::PERMANENT_REDIRECT,
    };
    assert_eq!(route.action, expected);
}

/// The health path follows the rules of an exact route path.
#[test]
fn health_paths() {
    let text = with("health:\n  path: /status/live\n");
    assert_eq!(loaded(&text).config.health.path, "/status/live");
    let text = with("health:\n  path: /healthz*\n");
    assert_error(
        &text,
        5,
        9,
        "health.path",
        "the health path is matched exactly",
    );
    let text = with("health:\n  path: healthz\n");
    assert_error(&text, 5, 9, "health.path", "does not start with `/`");
    let text = with("health:\n  port: 1\n");
    assert_error(&text, 5, 3, "health.port", "allowed keys: path");
}

/// Many mistakes across the proxy are all reported, in file order.
#[test]
fn every_proxy_error_in_one_run() {
    let text = file(
        "  listen: example.com:80
  workers: 0
  upstreams:
    app: {url: \"https://x\", process: nope}
  routes:
    - path: api
      upstream: missing
      allow: {}
",
    );
    let found = errors(&text);
    let places: Vec<(usize, &str)> = found
        .iter()
        .map(|e| (e.line, e.key_path.as_str()))
        .collect();
    let expected = [
        (5, "proxy.listen"),
        (6, "proxy.workers"),
        (8, "proxy.upstreams.app.url"),
        (8, "proxy.upstreams.app.process"),
        (10, "proxy.routes[0].path"),
        (11, "proxy.routes[0].upstream"),
        (12, "proxy.routes[0].allow"),
    ];
    assert_eq!(places, expected);
}

/// Errors about values from the environment quote the file's text only.
#[test]
fn proxy_errors_never_show_environment_values() {
    let texts = [
        file(&MINIMAL.replace("127.0.0.1:0", "${SECRET}")),
        file(&MINIMAL.replace("http://127.0.0.1:5000", "http://${SECRET}/x")),
        file(&MINIMAL.replace("process: web", "process: ${SECRET}")),
        minimal_with("  trusted_proxies: [\"${SECRET}\"]\n"),
        minimal_with("  max_header_bytes: ${SECRET}\n"),
        with_route("    - path: /${SECRET}%\n      upstream: ${SECRET}\n      auth: ${SECRET}\n"),
        with_route("    - path: /x\n      upstream: app\n      header_up: {set: {\"${SECRET} x\": \"${SECRET}\\n\"}}\n"),
        with("health:\n  path: ${SECRET}\n"),
    ];
    for text in texts {
        let shown = load_text(&text).expect_err("invalid").to_string();
        assert!(!shown.contains("hunter2"), "leaked in:\n{shown}");
        assert!(shown.contains("${SECRET}"), "{shown}");
    }
}

/// A route with the same pattern as an earlier one is a warning there.
#[test]
fn duplicate_route_warning() {
    let loaded = loaded(&with_route("    - path: /*\n      respond: {}\n"));
    let warnings = loaded.warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let place = (
        warnings[0].line,
        warnings[0].column,
        warnings[0].key_path.as_str(),
    );
    assert_eq!(place, (11, 13, "proxy.routes[1].path"));
    let message = "`/*` is also the path of the route on line 9, which wins the tie";
    assert!(warnings[0].message.starts_with(message), "{}", warnings[0]);
    // `/x` and `/x*` are different patterns.
    let text =
        with_route("    - path: /x\n      respond: {}\n    - path: /x*\n      respond: {}\n");
    assert!(loaded_warnings(&text).is_empty());
}

fn loaded_warnings(text: &str) -> Vec<Diagnostic> {
    loaded(text).warnings
}

/// Routes on or under the health path are warned about; a catch-all and
/// a listener on every interface without TLS are not.
#[test]
fn health_path_warnings() {
    let route = |path: &str| with_route(&format!("    - path: {path}\n      respond: {{}}\n"));
    for path in ["/healthz", "/healthz*", "/healthz/deep", "/healthz/*"] {
        let warnings = loaded_warnings(&route(path));
        assert_eq!(warnings.len(), 1, "{path}: {warnings:?}");
        assert_eq!(warnings[0].key_path, "proxy.routes[1].path");
        assert!(
            warnings[0].message.contains("health path"),
            "{}",
            warnings[0]
        );
    }
    for path in ["/health", "/healthzz", "/api/healthz"] {
        assert!(loaded_warnings(&route(path)).is_empty(), "{path}");
    }
    let text = format!("{}health:\n  path: /status\n", route("/status"));
    assert_eq!(loaded_warnings(&text).len(), 1);
    let public = file(&MINIMAL.replace("127.0.0.1:0", "0.0.0.0:80"));
    assert!(loaded_warnings(&public).is_empty());
}

/// The summary shows the proxy, upstreams and routes in file order, and
/// the health path.
#[test]
fn summary_lists_the_proxy() {
    let text = minimal_with(
        "    - path: /test*\n      respond: {status: 200, body: \"tested!!!\"}\n    \
         - path: /old\n      redirect: {to: /new, status: 301}\n      auth: public\n  \
         trusted_proxies: [10.0.0.0/16]\n",
    );
    let summary = loaded(&text).config.summary();
    for expected in [
        "proxy\n  listen:   127.0.0.1:0, plain HTTP\n",
        "  trusted:  10.0.0.0/16\n",
        "  workers:  1 (everything on the main thread)\n",
        "  timeouts: connect 5s, response headers 1m, upstream idle 1m30s, client headers 10s, client idle 1m15s\n",
        "  limits:   request headers up to 65536 bytes; 20s for requests in flight after SIGTERM\n",
        "  waiting:  up to 10s for a restarting process, at most 1024 requests at once\n",
        "  upstream app: http://127.0.0.1:5000/, process web\n",
        "  route /* → upstream app (public)\n  route /test* → respond 200, 9-byte body (public)\n  \
         route /old → redirect 301 to /new (public)\n",
        "health\n  path:     /healthz\n",
    ] {
        assert!(summary.contains(expected), "{expected:?} not in:\n{summary}");
    }
    let summary = loaded(&with("")).config.summary();
    assert!(
        summary.contains("/healthz (not served: the file has no proxy"),
        "{summary}"
    );
}

/// Header values in the summary and in `Debug`: secret names redacted,
/// values from the environment hidden, others shown.
#[test]
fn summary_and_debug_hide_header_secrets() {
    let text = with_route(
        "    - path: /x
      upstream: app
      header_up:
        set:
          X-Api-Key: literal-key
          X-Stage: production
          X-Forwarded-Host: \"${SECRET}\"
        remove: [Cookie]
      header_down: {set: {Set-Cookie: \"a=b\"}}
",
    );
    let config = loaded(&text).config;
    let summary = config.summary();
    for expected in [
        "    header_up remove cookie\n",
        "    header_up set x-api-key: <redacted>\n",
        "    header_up set x-stage: production\n",
        "    header_up set x-forwarded-host: <from the environment>\n",
        "    header_down set set-cookie: <redacted>\n",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} not in:\n{summary}"
        );
    }
    let debug = format!("{config:?}");
    for hidden in [SECRET, "literal-key", "a=b"] {
        assert!(
            !summary.contains(hidden) && !debug.contains(hidden),
            "{hidden}"
        );
    }
    assert!(debug.contains("production"), "{debug}");
}

/// A valid file with every kind of proxy setting, to damage below.
const FULL: &str = "processes:\n  web:\n    command: [sh]\nproxy:\n  listen: 127.0.0.1:0\n  \
                    trusted_proxies: [10.0.0.0/8, \"::1\"]\n  timeouts: {idle: 1s}\n  \
                    max_header_bytes: 8KiB\n  upstreams:\n    app: {url: \"http://h:1\", \
                    process: web, host: h}\n  routes:\n    - {path: /*, upstream: app}\n    \
                    - path: /t\n      respond: {status: 201, body: x, headers: {A: b}}\n      \
                    header_up: {set: {X: y}, remove: [Z]}\n    - {path: /r, redirect: {to: /}}\n\
                    health: {path: /h}\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The loader never panics on a proxy file with a piece cut out or
    /// put in, and every error it reports is inside the file.
    #[test]
    fn never_panics_on_damaged_proxy_files(
        at in 0usize..FULL.len(),
        cut in 0usize..8,
        insert in "[a-z0-9:{}\\[\\]/*%.,\"'&!|#$ \n-]{0,6}",
    ) {
        let end = (at + cut).min(FULL.len());
        let text = format!("{}{insert}{}", &FULL[..at], &FULL[end..]);
        if let Err(LoadError::Invalid { errors }) = load_text(&text) {
            let lines = text.split('\n').count();
            for error in errors {
                prop_assert!(error.line >= 1 && error.line <= lines, "{}", error);
                prop_assert!(error.column >= 1);
            }
        }
    }
}

/// The file that the property test above damages is valid as it is.
#[test]
fn full_file_is_valid() {
    let proxy = proxy_of(FULL);
    assert_eq!(proxy.routes.len(), 3);
    assert_eq!(proxy.max_header_bytes, 8192);
}
