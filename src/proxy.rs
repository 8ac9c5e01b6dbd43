//! The reverse proxy in front of the supervised processes: one listener,
//! routes decided on the normalised path, upstreams forwarded to with
//! hyper, and supervise's own health endpoint.
//!
//! The request side ("downstream") is [`server`] (connections, drain) and
//! [`service`] (one request: health, route, action). The upstream side is
//! [`forward`] (hold-and-retry around a process restart) over [`pool`]
//! (connections). [`path`] and [`route`] decide where a request goes;
//! [`headers`] rewrites what crosses; [`error`] is the one place errors
//! become HTTP answers; [`access`] writes the access log; [`deadline`]
//! bounds how long a client may be slow or idle.

pub mod access;
pub mod body;
pub mod deadline;
pub mod error;
pub mod forward;
pub mod headers;
pub mod path;
pub mod pool;
pub mod route;
pub mod server;
pub mod service;
pub mod tls;

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use http::HeaderValue;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::auth::gate::Auth;
use crate::auth::identity::IdentityHeaders;
use crate::config::{HealthSpec, ProviderSpec, ProxySpec, UpstreamSpec};
use crate::health::{HealthView, ProcessView};
use crate::metrics::Metrics;
use crate::proxy::access::RequestIds;
use crate::proxy::forward::{Holds, Upstream};
use crate::proxy::pool::Pool;
use crate::proxy::route::Router;
use crate::proxy::server::Server;
use crate::proxy::service::Service;

/// Identity headers' prefix when the file has no `auth:` section: what a
/// client sends under it is still removed, so a backend never believes a
/// spoofed one.
const DEFAULT_IDENTITY_PREFIX: &str = "X-Auth-Request-";

/// Binds the proxy's listener. Done before any process is spawned, so a
/// port already in use fails start-up cleanly.
pub async fn bind(spec: &ProxySpec) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(spec.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    Ok(listener)
}

/// What the proxy's per-request state is built from; all of it may change
/// when the configuration is reloaded.
pub struct Settings<'a> {
    pub spec: &'a ProxySpec,
    pub health: &'a HealthSpec,
    pub processes: Vec<ProcessView>,
    pub auth: Option<Arc<Auth>>,
}

/// The bound listener and what its connections serve.
pub struct Proxy {
    server: Server,
}

/// Swaps what the proxy serves while it runs (SIGHUP reload).
pub struct ProxyControl {
    services: watch::Sender<Arc<Service>>,
    draining: watch::Receiver<bool>,
}

impl Proxy {
    /// Wires routes, upstreams and health to the processes' states.
    pub fn new(
        listener: TcpListener,
        settings: Settings<'_>,
        draining: watch::Receiver<bool>,
        tls: Option<TlsAcceptor>,
    ) -> (Proxy, ProxyControl) {
        let spec = settings.spec;
        let service = Arc::new(build(settings, draining.clone(), None));
        let (services, receiver) = watch::channel(service);
        let server = Server::new(listener, receiver, spec, tls);
        (Proxy { server }, ProxyControl { services, draining })
    }

    /// Serves until `draining` turns true, then drains (see [`server`]).
    pub async fn run(self, draining: watch::Receiver<bool>) {
        self.server.run(draining).await
    }
}

impl ProxyControl {
    /// Serves `settings` from now on. Requests already in flight finish
    /// with what they started with; connections stay open.
    pub fn replace(&self, settings: Settings<'_>) {
        let current = self.services.borrow().clone();
        let service = build(settings, self.draining.clone(), Some(&current));
        self.services.send_replace(Arc::new(service));
    }

    /// The sign-in state now in use, to keep it when `auth:` is unchanged.
    pub fn auth(&self) -> Option<Arc<Auth>> {
        self.services.borrow().auth.clone()
    }
}

/// The per-request state for `settings`. Counters of `previous` carry
/// over when the routes are the same.
fn build(
    settings: Settings<'_>,
    draining: watch::Receiver<bool>,
    previous: Option<&Service>,
) -> Service {
    let Settings {
        spec,
        health,
        processes,
        auth,
    } = settings;
    let upstreams: HashMap<String, Arc<Upstream>> = spec
        .upstreams
        .iter()
        .map(|u| (u.name.clone(), Arc::new(upstream(u, spec, &processes))))
        .collect();
    let health_upstreams = spec
        .upstreams
        .iter()
        .filter_map(|u| Some((upstreams.get(&u.name)?.clone(), u.process.clone())))
        .collect();
    // The dev provider has no keys to report.
    let provider = auth
        .as_ref()
        .filter(|auth| auth.spec.provider != ProviderSpec::Dev)
        .map(|auth| auth.provider.clone());
    let prefix = auth
        .as_ref()
        .map_or(DEFAULT_IDENTITY_PREFIX, |auth| &auth.spec.header_prefix);
    let identity_headers = IdentityHeaders::new(prefix);
    let metrics = previous
        .map(|p| p.metrics.clone())
        .filter(|m| m.counts_routes(&spec.routes))
        .unwrap_or_else(|| Arc::new(Metrics::new(&spec.routes)));

    Service {
        router: Router::new(spec.routes.clone()),
        upstreams,
        health_path: health.path.clone(),
        health: HealthView {
            processes,
            upstreams: health_upstreams,
            draining,
            provider,
        },
        trusted: spec.trusted_proxies.clone(),
        tls: spec.tls.is_some(),
        ids: RequestIds::new(),
        holds: Holds::new(spec.max_waiting, spec.retry_window),
        auth,
        identity_headers,
        metrics,
        metrics_path: health.metrics.clone(),
    }
}

fn upstream(spec: &UpstreamSpec, proxy: &ProxySpec, processes: &[ProcessView]) -> Upstream {
    let authority = spec.url.authority().map_or("", |a| a.as_str());
    let port = spec.url.port_u16().unwrap_or(80);
    let host = spec.url.host().unwrap_or(authority);
    let address = format!("{host}:{port}");
    let pool = Pool::new(address, proxy.timeouts.connect, proxy.timeouts.idle);

    let process = spec.process.as_ref().and_then(|name| {
        processes
            .iter()
            .find(|p| &p.name == name)
            .map(|p| p.status.clone())
    });
    let host_header = spec
        .host
        .as_ref()
        .and_then(|h| HeaderValue::from_str(h).ok());
    Upstream::new(
        &spec.name,
        pool,
        host_header,
        process,
        proxy.timeouts.response_header,
    )
}
