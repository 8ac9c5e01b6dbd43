//! The reverse proxy in front of the supervised processes: one listener,
//! routes decided on the normalised path, upstreams forwarded to with
//! hyper, and supervise's own health endpoint.
//!
//! The request side ("downstream") is [`server`] (connections, drain) and
//! [`service`] (one request: health, route, action). The upstream side is
//! [`forward`] (hold-and-retry around a process restart) over [`pool`]
//! (connections). [`path`] and [`route`] decide where a request goes;
//! [`headers`] rewrites what crosses; [`error`] is the one place errors
//! become HTTP answers; [`access`] writes the access log.

pub mod access;
pub mod body;
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

/// Everything needed to serve: the bound listener and the shared state.
pub struct Proxy {
    server: Server,
}

impl Proxy {
    /// Wires routes, upstreams and health to the processes' states.
    pub fn new(
        listener: TcpListener,
        spec: &ProxySpec,
        health: &HealthSpec,
        processes: Vec<ProcessView>,
        draining: watch::Receiver<bool>,
        tls: Option<TlsAcceptor>,
        auth: Option<Arc<Auth>>,
    ) -> Proxy {
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
        let health_path = health.path.clone();
        let health_spec_metrics = health.metrics.clone();
        // The dev provider has no keys to report.
        let provider = auth
            .as_ref()
            .filter(|auth| auth.spec.provider != ProviderSpec::Dev)
            .map(|auth| auth.provider.clone());
        let health = HealthView {
            processes,
            upstreams: health_upstreams,
            draining,
            provider,
        };
        let identity_prefix = auth.as_ref().map_or_else(
            || DEFAULT_IDENTITY_PREFIX.to_owned(),
            |auth| auth.spec.header_prefix.clone(),
        );

        let service = Service {
            router: Router::new(spec.routes.clone()),
            upstreams,
            health_path,
            health,
            trusted: spec.trusted_proxies.clone(),
            tls: spec.tls.is_some(),
            ids: RequestIds::new(),
            holds: Holds::new(spec.max_waiting, spec.retry_window),
            auth,
            identity_prefix,
            metrics: Arc::new(Metrics::new(&spec.routes)),
            metrics_path: health_spec_metrics,
        };
        let server = Server::new(listener, Arc::new(service), spec, tls);
        Proxy { server }
    }

    /// Serves until `draining` turns true, then drains (see [`server`]).
    pub async fn run(self, draining: watch::Receiver<bool>) {
        self.server.run(draining).await
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
