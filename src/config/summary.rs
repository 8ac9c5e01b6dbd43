//! `Config::summary`: what `supervise check` prints about a valid file.
//!
//! Values from the environment never appear: the command and `env` are
//! shown as the file writes them (`${TOKEN}`, not the token), and an
//! `env` value whose name suggests a secret is shown as `<redacted>` even
//! when the file spells it out. Header values set by routes are treated
//! the same way, with one difference: the loader keeps no written text
//! for them, so one that came from the environment is shown as
//! `<from the environment>`. A respond body is shown by its length only.
//! The working directory, the readiness target, the listener, TLS files,
//! upstream URLs and redirect targets are shown resolved, since what they
//! point at is what matters when checking a file, and none of them is a
//! place for a secret. So are the ids and URLs of the `auth` section; its
//! secrets never are: the client secret reads `<redacted>`, and session
//! secrets are counted, not shown.

use http::{HeaderName, HeaderValue};

use super::duration::format as duration;
use super::headers::is_secret_header;
use super::types::{
    AllowRule, AuthMode, AuthSpec, Config, HeaderRules, ProbeTarget, ProcessSpec, ProviderSpec,
    ProxySpec, ReadyProbe, RestartPolicy, RouteAction, RouteSpec, SessionSpec, UpstreamSpec,
};

/// An `env` name holding any of these, in any case, is redacted.
pub(super) const SECRET_WORDS: [&str; 7] = [
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
];

impl Config {
    /// A listing of every process with everything it will run with, then
    /// the proxy with its upstreams and routes in file order, then sign-in,
    /// then the health path; one setting per line, for `supervise check`;
    /// safe to print.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!("config: {}", self.path.display())];
        for process in &self.processes {
            lines.push(String::new());
            process_lines(process, &mut lines);
        }
        if let Some(proxy) = &self.proxy {
            lines.push(String::new());
            proxy_lines(proxy, &mut lines);
        }
        if let Some(auth) = &self.auth {
            lines.push(String::new());
            auth_lines(auth, &mut lines);
        }
        lines.push(String::new());
        lines.push("health".to_string());
        let served = if self.proxy.is_some() {
            ""
        } else {
            " (not served: the file has no proxy to listen with)"
        };
        lines.push(format!("  path:     {}{served}", self.health.path));
        let metrics = self.health.metrics.as_deref().unwrap_or("off");
        lines.push(format!("  metrics:  {metrics}"));
        lines.push(String::new());
        lines.join("\n")
    }
}

fn process_lines(process: &ProcessSpec, lines: &mut Vec<String>) {
    lines.push(format!("process {}", process.name));
    let cwd = process.cwd.as_ref().map(|cwd| cwd.display().to_string());
    let mut field = |label: &str, value: String| lines.push(format!("  {label:<10}{value}"));

    field("command:", format!("{:?}", process.as_written.command));
    field(
        "cwd:",
        cwd.unwrap_or_else(|| "(supervise's own)".to_string()),
    );
    for (index, (name, value)) in process.as_written.env.iter().enumerate() {
        let label = if index == 0 { "env:" } else { "" };
        field(label, format!("{name}={}", env_value(name, value)));
    }
    field("restart:", restart(process));
    field("backoff:", backoff(process));
    field("stop:", stop(process));
    field(
        "ready:",
        process.ready.as_ref().map_or_else(not_probed, ready),
    );
    field("required:", required(process.required).to_string());
}

fn env_value(name: &str, value: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if SECRET_WORDS.iter().any(|word| upper.contains(word)) {
        return "<redacted>".to_string();
    }
    value.escape_debug().to_string()
}

fn restart(process: &ProcessSpec) -> String {
    let policy = match process.restart {
        RestartPolicy::Always => "always",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Never => return "never".to_string(),
    };
    format!(
        "{policy}, at most {} restarts in {}, then the process has failed",
        process.max_restarts,
        duration(process.restart_window)
    )
}

fn backoff(process: &ProcessSpec) -> String {
    let backoff = &process.backoff;
    format!(
        "{} doubling up to {}, reset after {} of running",
        duration(backoff.min),
        duration(backoff.max),
        duration(backoff.reset_after)
    )
}

fn stop(process: &ProcessSpec) -> String {
    let signal = process.stop_signal.as_str();
    let timeout = duration(process.stop_timeout);
    format!("{signal} to the process group, SIGKILL after {timeout}")
}

fn ready(probe: &ReadyProbe) -> String {
    let target = match &probe.target {
        ProbeTarget::Http(uri) => format!("GET {uri}"),
        ProbeTarget::Tcp(address) => format!("connect to {address}"),
    };
    let (interval, timeout) = (duration(probe.interval), duration(probe.timeout));
    format!("{target} every {interval}, each try at most {timeout}")
}

fn not_probed() -> String {
    "(no probe: ready once started)".to_string()
}

fn required(required: bool) -> &'static str {
    if required {
        "yes, giving up on it ends supervise"
    } else {
        "no"
    }
}

fn proxy_lines(proxy: &ProxySpec, lines: &mut Vec<String>) {
    lines.push("proxy".to_string());
    let mut field = |label: &str, value: String| lines.push(format!("  {label:<10}{value}"));
    field("listen:", listen(proxy));
    field("trusted:", trusted(proxy));
    field("workers:", workers(proxy.workers));
    field("timeouts:", timeouts(proxy));
    field("limits:", limits(proxy));
    field("waiting:", waiting(proxy));
    for upstream in &proxy.upstreams {
        lines.push(format!("  upstream {}", upstream_line(upstream)));
    }
    for route in &proxy.routes {
        route_lines(route, lines);
    }
}

fn listen(proxy: &ProxySpec) -> String {
    match &proxy.tls {
        Some(tls) => format!(
            "{}, HTTPS with certificate {} and key {}",
            proxy.listen,
            tls.cert.display(),
            tls.key.display()
        ),
        None => format!("{}, plain HTTP", proxy.listen),
    }
}

fn trusted(proxy: &ProxySpec) -> String {
    if proxy.trusted_proxies.is_empty() {
        return "none: X-Forwarded-* headers are replaced for every client".to_string();
    }
    let networks: Vec<String> = proxy
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    networks.join(", ")
}

fn workers(workers: usize) -> String {
    if workers == 1 {
        "1 (everything on the main thread)".to_string()
    } else {
        format!("{workers} threads")
    }
}

fn timeouts(proxy: &ProxySpec) -> String {
    let timeouts = &proxy.timeouts;
    format!(
        "connect {}, response headers {}, upstream idle {}, client headers {}, client idle {}",
        duration(timeouts.connect),
        duration(timeouts.response_header),
        duration(timeouts.idle),
        duration(timeouts.client_header),
        duration(timeouts.client_idle)
    )
}

fn limits(proxy: &ProxySpec) -> String {
    format!(
        "request headers up to {} bytes; {} for requests in flight after SIGTERM",
        proxy.max_header_bytes,
        duration(proxy.drain_timeout)
    )
}

fn waiting(proxy: &ProxySpec) -> String {
    if proxy.retry_window.is_zero() {
        return "none: a request to a process that is not ready gets 503 at once".to_string();
    }
    format!(
        "up to {} for a restarting process, at most {} requests at once",
        duration(proxy.retry_window),
        proxy.max_waiting
    )
}

fn upstream_line(upstream: &UpstreamSpec) -> String {
    let mut line = format!("{}: {}", upstream.name, upstream.url);
    if let Some(process) = &upstream.process {
        line.push_str(&format!(", process {process}"));
    }
    if let Some(host) = &upstream.host {
        line.push_str(&format!(", Host {host}"));
    }
    line
}

/// `route PATH → ACTION (AUTH)`, then one line per header setting.
fn route_lines(route: &RouteSpec, lines: &mut Vec<String>) {
    let action = match &route.action {
        RouteAction::Upstream(name) => format!("upstream {name}"),
        RouteAction::Respond { status, body, .. } => {
            format!("respond {}, {}-byte body", status.as_u16(), body.len())
        }
        RouteAction::Redirect { to, status } => format!("redirect {} to {to}", status.as_u16()),
    };
    lines.push(format!(
        "  route {} → {action} ({})",
        route.path, route.auth
    ));
    if let RouteAction::Respond { headers, .. } = &route.action {
        for (name, value) in headers {
            lines.push(format!("    respond header {}", header(name, value)));
        }
    }
    if route.auth != AuthMode::Public {
        lines.push(format!("    allow {}", allow(&route.allow)));
    }
    rule_lines("header_up", &route.header_up, lines);
    rule_lines("header_down", &route.header_down, lines);
}

fn rule_lines(label: &str, rules: &HeaderRules, lines: &mut Vec<String>) {
    for name in &rules.remove {
        lines.push(format!("    {label} remove {name}"));
    }
    for (name, value) in &rules.set {
        lines.push(format!("    {label} set {}", header(name, value)));
    }
}

/// `name: value`, the value hidden when it may be a secret.
fn header(name: &HeaderName, value: &HeaderValue) -> String {
    let shown = if is_secret_header(name.as_str()) {
        "<redacted>".to_string()
    } else if value.is_sensitive() {
        "<from the environment>".to_string()
    } else {
        String::from_utf8_lossy(value.as_bytes())
            .escape_debug()
            .to_string()
    };
    format!("{name}: {shown}")
}

/// Who may pass a route that signs users in.
fn allow(rule: &AllowRule) -> String {
    let lists = [
        ("roles", &rule.roles),
        ("groups", &rule.groups),
        ("emails", &rule.emails),
        ("email domains", &rule.email_domains),
    ];
    let parts: Vec<String> = lists
        .iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(label, values)| format!("{label} {}", values.join(", ")))
        .collect();
    if parts.is_empty() {
        return "every signed-in user".to_string();
    }
    format!("any of: {}", parts.join("; "))
}

fn auth_lines(auth: &AuthSpec, lines: &mut Vec<String>) {
    lines.push("auth".to_string());
    let mut field = |label: &str, value: String| lines.push(format!("  {label:<15}{value}"));
    field("provider:", provider(&auth.provider));
    let none = || "(none)".to_string();
    let client_id = Some(auth.client_id.clone()).filter(|id| !id.is_empty());
    field("client_id:", client_id.unwrap_or_else(none));
    let secret = auth
        .client_secret
        .as_ref()
        .map(|_| "<redacted>".to_string());
    field("client_secret:", secret.unwrap_or_else(none));
    field("scopes:", auth.scopes.join(" "));
    field("public_url:", auth.public_url.to_string());
    field("session:", session(&auth.session));
    let audiences = Some(auth.audiences.join(", ")).filter(|list| !list.is_empty());
    field("audiences:", audiences.unwrap_or_else(none));
    field("header_prefix:", auth.header_prefix.clone());
    let ca_bundle = auth
        .ca_bundle
        .as_ref()
        .map(|path| path.display().to_string());
    field(
        "ca_bundle:",
        ca_bundle.unwrap_or_else(|| "(the system's)".to_string()),
    );
    field("leeway:", duration(auth.leeway));
}

fn provider(provider: &ProviderSpec) -> String {
    match provider {
        ProviderSpec::Azure {
            tenant_id,
            authority,
        } => format!("azure, tenant {tenant_id}, authority {authority}"),
        ProviderSpec::Oidc { issuer } => format!("oidc, issuer {issuer}"),
        ProviderSpec::Dev => "dev, a sign-in page for anyone; not for production".to_string(),
    }
}

/// The cookie, the lifetime and how many secrets; never the secrets.
fn session(session: &SessionSpec) -> String {
    let count = session.secrets.len();
    let secrets = if count == 1 {
        "1 secret".to_string()
    } else {
        format!("{count} secrets, the first signs, all verify")
    };
    format!(
        "cookie {}, lasts {}, {secrets}",
        session.cookie,
        duration(session.ttl)
    )
}
