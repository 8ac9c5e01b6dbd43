//! The typed settings that the rest of supervise reads.
//!
//! Everything here has already been interpolated, parsed and validated by
//! the loader in the parent module: durations are `Duration`s, signals are
//! `Signal`s, relative paths are resolved against the config file's folder.
//! Nothing outside `config` ever sees YAML.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use nix::sys::signal::Signal;

/// A whole, valid `supervisor.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file this was read from, for log lines and `check`.
    pub path: PathBuf,

    /// The processes to run, in the file's order: started in this order,
    /// stopped in the reverse one.
    pub processes: Vec<ProcessSpec>,

    /// The listener, routes and upstreams; `None` when the file has no
    /// `proxy:` section, and then nothing listens (health included).
    pub proxy: Option<ProxySpec>,

    /// Where supervise answers its own health checks.
    pub health: HealthSpec,

    /// Sign-in; `None` when the file has no `auth:` section, and then
    /// every route is public.
    pub auth: Option<AuthSpec>,
}

/// The `auth:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSpec {
    pub provider: ProviderSpec,
    /// The application (client) id registered with the provider. Empty
    /// for `dev`.
    pub client_id: String,
    /// Required for `azure` and `oidc`; `None` for `dev`.
    pub client_secret: Option<Secret>,
    /// Asked for at sign-in; default `[openid, email, profile]`, and
    /// `openid` is always among them.
    pub scopes: Vec<String>,
    /// The site's public origin, `https://app.example.com` (no path):
    /// redirect URIs are built from it, never from the request's Host.
    /// `http://` is accepted only for a loopback host. Held as
    /// `scheme://host[:port]/`. For `dev` without one, the loopback
    /// listener's address (`http://127.0.0.1:PORT/`, `https` with `tls`);
    /// a listener on port 0 gives port 0 here, since the port is known
    /// only once bound.
    pub public_url: http::Uri,
    pub session: SessionSpec,
    /// Accepted `aud` values of bearer tokens. Default: the client id and
    /// `api://<client id>` (Azure's application ID URI).
    pub audiences: Vec<String>,
    /// Identity headers sent upstream start with this. Default
    /// `X-Auth-Request-`.
    pub header_prefix: String,
    /// PEM bundle of CAs trusted for the provider's HTTPS endpoints, in
    /// place of the system's.
    pub ca_bundle: Option<PathBuf>,
    /// Clock skew allowed when checking `exp` and `nbf`. Default 60s.
    pub leeway: Duration,
}

/// Who signs users in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSpec {
    /// Azure AD / Entra ID, one tenant: issuer
    /// `https://login.microsoftonline.com/<tenant>/v2.0`. `tenant_id` is a
    /// GUID or a domain, lowercased; `authority` is `scheme://host[:port]/`.
    Azure {
        tenant_id: String,
        authority: http::Uri,
    },
    /// Any OpenID Connect issuer, found through its discovery document.
    Oidc { issuer: String },
    /// A sign-in page served by supervise itself; loopback listeners only.
    Dev,
}

/// `auth.session`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// The first signs; every one verifies (rotation). Each at least 32
    /// bytes.
    pub secrets: Vec<Secret>,
    /// How long a session lasts. Default 8h.
    pub ttl: Duration,
    /// The cookie's name. Default `supervise_session`.
    pub cookie: String,
}

/// A value that must never reach a log line or an error message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `allow:` on a route: a signed-in user passes when any list matches
/// (role, group, whole email, or the domain after the email's last `@`).
/// All lists empty lets every signed-in user through. `emails` and
/// `email_domains` are lowercased: compare them with the identity's
/// email lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowRule {
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub emails: Vec<String>,
    pub email_domains: Vec<String>,
}

/// The `proxy:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySpec {
    /// Where to accept connections, e.g. `0.0.0.0:5001`.
    pub listen: SocketAddr,

    /// Serve HTTPS with this certificate instead of plain HTTP.
    pub tls: Option<TlsSpec>,

    /// Peers whose `X-Forwarded-*` headers are believed (the load
    /// balancer's subnets). Everyone else's are replaced. Default: none.
    pub trusted_proxies: Vec<IpNet>,

    /// Threads of the async runtime. 1 (the default) runs everything on
    /// the main thread, which measured fastest on small machines.
    pub workers: usize,

    pub timeouts: Timeouts,

    /// The most bytes of request headers accepted from a client (default
    /// 64 KiB); more gets 431.
    pub max_header_bytes: usize,

    /// How long a request may wait for its upstream's process to be ready
    /// again before it is answered 503 (default 10s).
    pub retry_window: Duration,

    /// How many requests may wait at once across all upstreams (default
    /// 1024); beyond that they are answered 503 at once.
    pub max_waiting: usize,

    /// How long in-flight requests get to finish after SIGTERM (default
    /// 20s).
    pub drain_timeout: Duration,

    /// The upstreams, in file order; names are unique.
    pub upstreams: Vec<UpstreamSpec>,

    /// The routes, in file order. Matching picks the most specific one,
    /// whatever the order (see the proxy's router).
    pub routes: Vec<RouteSpec>,
}

/// `proxy.tls`: PEM files, resolved against the config file's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `proxy.timeouts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection to an upstream (default 5s); then 502.
    pub connect: Duration,
    /// From the request sent until the upstream's response headers
    /// (default 60s); then 504.
    pub response_header: Duration,
    /// An idle pooled upstream connection is closed after this (default
    /// 90s).
    pub idle: Duration,
    /// How long a client may take to send its request headers, on a new
    /// connection or from the first byte of its next request (default
    /// 10s); a slower one is disconnected.
    pub client_header: Duration,
    /// How long a client's keep-alive connection may sit idle between
    /// requests (default 75s, more than an AWS load balancer's 60s, so
    /// supervise never closes a connection the balancer is about to use).
    pub client_idle: Duration,
}

/// An IPv4 or IPv6 network in CIDR form, e.g. `10.0.0.0/16`. A bare
/// address is a network of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network address, host bits already zero.
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// One entry under `proxy.upstreams`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// The key under `upstreams:`; routes name it.
    pub name: String,
    /// `http://host:port`, no path, no query; https is not supported.
    pub url: http::Uri,
    /// The supervised process behind it: requests wait while it restarts.
    /// Always names a process of this file.
    pub process: Option<String>,
    /// Sent as `Host` instead of the client's, when set.
    pub host: Option<String>,
}

/// One entry under `proxy.routes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub path: PathPattern,
    pub action: RouteAction,
    /// Default `required` in a file with an `auth` section, else `public`.
    pub auth: AuthMode,
    /// Who may pass when signed in; set only on routes with `auth:
    /// required` or `optional`, empty (everyone signed in) otherwise.
    pub allow: AllowRule,
    /// Applied to the request before it goes upstream.
    pub header_up: HeaderRules,
    /// Applied to the response before it goes to the client.
    pub header_down: HeaderRules,
    /// 1-based line of the route in the file, for logs and `check`.
    pub line: usize,
}

/// Which request paths a route takes, compared with the normalised path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    /// `path: /api/health`: only this path.
    Exact(String),
    /// `path: /test*`: every path starting with this text (`/test`,
    /// `/testing`, `/test/x`). `/*` is the prefix `/`.
    Prefix(String),
}

/// What a route does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAction {
    /// Forward to the upstream of this name.
    Upstream(String),
    /// Answer directly.
    Respond {
        status: StatusCode,
        body: String,
        headers: Vec<(HeaderName, HeaderValue)>,
    },
    /// Answer with a redirect to `to` (a URL or a path).
    Redirect { to: String, status: StatusCode },
}

/// Whether a route needs a signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Public,
    Optional,
    Required,
}

/// `header_up` / `header_down`: headers to remove, then headers to set
/// (replacing any of the same name).
///
/// A value set here (or under `respond.headers`) that came from the
/// environment, or whose header name suggests a secret, is marked
/// sensitive: `Debug` prints `Sensitive` instead of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRules {
    pub remove: Vec<HeaderName>,
    pub set: Vec<(HeaderName, HeaderValue)>,
}

/// The `health:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    /// Answered by supervise itself on the proxy's listener, before any
    /// route and never behind sign-in. Default `/healthz`.
    pub path: String,
    /// Where the Prometheus metrics are answered, on the same terms as
    /// health; `health.metrics: false` turns them off. Default `/metrics`.
    pub metrics: Option<String>,
}

/// One entry under `processes:`.
#[derive(Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The key under `processes:`; used in every log line about it.
    pub name: String,

    /// The argv, never empty. A string in the file was split the way a
    /// POSIX shell splits words, without running a shell.
    pub command: Vec<String>,

    /// Working directory, already resolved against the config file's
    /// folder when it was relative. `None` runs in supervise's own.
    pub cwd: Option<PathBuf>,

    /// Variables set on top of the inherited environment, in file order.
    /// `PYTHONUNBUFFERED=1` is added by the loader unless listed here.
    pub env: Vec<(String, String)>,

    pub restart: RestartPolicy,
    pub backoff: Backoff,

    /// How many restarts `restart_window` may hold before the process is
    /// given up on.
    pub max_restarts: u32,
    pub restart_window: Duration,

    /// Sent to the whole process group to stop it.
    pub stop_signal: Signal,

    /// How long the group gets after `stop_signal` before SIGKILL.
    pub stop_timeout: Duration,

    /// Until this passes the process is starting, not ready.
    pub ready: Option<ReadyProbe>,

    /// Whether giving up on this process ends `supervise up`.
    pub required: bool,

    /// `command` and `env` as the file writes them, for `supervise check`
    /// and `Debug`, which must not show values from the environment.
    pub as_written: AsWritten,
}

/// Parts of a [`ProcessSpec`] as written in the file, before `${VAR}`
/// substitution, so without any value that came from the environment.
///
/// `env` may still hold a secret pasted into the file itself; `Debug`
/// shows only its keys, and `Config::summary` redacts by key name.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AsWritten {
    /// The argv, one word per item: each list item as written, or the
    /// command line as written, split like a shell would.
    pub command: Vec<String>,
    /// The same entries as `ProcessSpec::env`, in the same order, values
    /// as written; an added `PYTHONUNBUFFERED` appears as `1`.
    pub env: Vec<(String, String)>,
}

/// When a process that exited is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Whatever the exit status.
    Always,
    /// Only after a non-zero exit or a death by signal.
    OnFailure,
    /// Never; the process stays exited.
    Never,
}

/// The delay between consecutive failed runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the second restart in a row; the first is
    /// immediate, so a one-off crash costs nothing.
    pub min: Duration,
    /// The cap that doubling stops at.
    pub max: Duration,
    /// A run that lasted this long counts as stable: the next failure
    /// starts the backoff over.
    pub reset_after: Duration,
}

/// How to tell that a started process is ready for traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyProbe {
    pub target: ProbeTarget,
    /// Time between attempts.
    pub interval: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

/// What a readiness probe connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    /// A GET answered with a 2xx status. Only `http://` URLs.
    Http(http::Uri),
    /// A TCP connect that succeeds, as `host:port`.
    Tcp(String),
}

impl std::fmt::Debug for ProcessSpec {
    /// Environment values are left out: any of them may be a secret that
    /// ECS injected. The command is shown as written for the same reason:
    /// an argument may be `${TOKEN}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_keys: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ProcessSpec")
            .field("name", &self.name)
            .field("command", &self.as_written.command)
            .field("cwd", &self.cwd)
            .field("env_keys", &env_keys)
            .field("restart", &self.restart)
            .field("backoff", &self.backoff)
            .field("max_restarts", &self.max_restarts)
            .field("restart_window", &self.restart_window)
            .field("stop_signal", &self.stop_signal)
            .field("stop_timeout", &self.stop_timeout)
            .field("ready", &self.ready)
            .field("required", &self.required)
            .finish()
    }
}

impl std::fmt::Debug for AsWritten {
    /// Values of `env` are left out: the file itself may hold a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_keys: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("AsWritten")
            .field("command", &self.command)
            .field("env_keys", &env_keys)
            .finish()
    }
}

impl ProxySpec {
    /// The upstream named `name`, if the file defines one.
    pub fn upstream(&self, name: &str) -> Option<&UpstreamSpec> {
        self.upstreams.iter().find(|upstream| upstream.name == name)
    }
}

impl Default for Timeouts {
    /// The defaults of the product contract.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            response_header: Duration::from_secs(60),
            idle: Duration::from_secs(90),
            client_header: Duration::from_secs(10),
            client_idle: Duration::from_secs(75),
        }
    }
}

impl Default for HealthSpec {
    /// `/healthz`, as for a file without a `health:` section.
    fn default() -> Self {
        HealthSpec {
            path: "/healthz".to_string(),
            metrics: Some("/metrics".to_string()),
        }
    }
}

impl std::fmt::Display for PathPattern {
    /// As the file writes it: `/api/health`, `/test*`, `/*`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathPattern::Exact(path) => f.write_str(path),
            PathPattern::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

impl std::fmt::Display for AuthMode {
    /// As the file writes it: `public`, `optional` or `required`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthMode::Public => "public",
            AuthMode::Optional => "optional",
            AuthMode::Required => "required",
        })
    }
}
