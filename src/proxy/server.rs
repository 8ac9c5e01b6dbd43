//! The listener: accepting connections, serving HTTP/1.1 and h2c on them
//! with hyper, and draining on shutdown.
//!
//! Draining, in order: the health endpoint turns 503 (it reads the same
//! flag); idle keep-alive connections close and busy ones close after
//! their current response; new connections are still accepted but served
//! one request each, so the load balancer's health checks see the 503;
//! once no connection is left, or `drain_timeout` has passed, the
//! listener closes and new connections are refused.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_rustls::TlsAcceptor;

use crate::config::ProxySpec;
use crate::proxy::deadline::{self, Deadlines, InFlight, Tracked};
use crate::proxy::service::Service;

/// Pause after a failed `accept` (out of file descriptors, say), so the
/// loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A bound listener and what its connections serve.
pub struct Server {
    listener: TcpListener,
    /// What requests are served with; replaced on reload.
    services: watch::Receiver<Arc<Service>>,
    /// For connections accepted while running.
    builder: Arc<auto::Builder<TokioExecutor>>,
    /// For connections accepted while draining: no keep-alive.
    closing: Arc<auto::Builder<TokioExecutor>>,
    drain_timeout: Duration,
    connections: Connections,
    tls: Option<Tls>,
    limits: deadline::Limits,
}

/// The TLS side of a listener: the acceptor and how long a client may
/// take over its handshake.
#[derive(Clone)]
struct Tls {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
}

impl Server {
    pub fn new(
        listener: TcpListener,
        services: watch::Receiver<Arc<Service>>,
        spec: &ProxySpec,
        tls: Option<TlsAcceptor>,
    ) -> Server {
        // A handshake is the TLS part of sending the request head, so the
        // same bound applies to slow clients.
        let handshake_timeout = spec.timeouts.client_header;
        Server {
            listener,
            services,
            builder: Arc::new(builder(spec, true)),
            closing: Arc::new(builder(spec, false)),
            drain_timeout: spec.drain_timeout,
            connections: Connections::default(),
            tls: tls.map(|acceptor| Tls {
                acceptor,
                handshake_timeout,
            }),
            limits: deadline::Limits {
                header: spec.timeouts.client_header,
                idle: spec.timeouts.client_idle,
            },
        }
    }

    /// Serves until `draining` turns true and the drain is over.
    pub async fn run(self, mut draining: watch::Receiver<bool>) {
        {
            let mut drain = pin!(wait_true(draining.clone()));
            loop {
                tokio::select! {
                    () = &mut drain => break,
                    accepted = self.listener.accept() => {
                        self.spawn(accepted, &self.builder, &draining).await
                    }
                }
            }
        }
        self.drain(&mut draining).await;
    }

    async fn drain(&self, draining: &mut watch::Receiver<bool>) {
        let open = self.connections.open();
        tracing::info!(open_connections = open, timeout = ?self.drain_timeout, "draining");
        let deadline = Instant::now() + self.drain_timeout;
        let mut idle = pin!(self.connections.idle());
        loop {
            tokio::select! {
                () = &mut idle => break,
                () = sleep_until(deadline) => {
                    tracing::warn!(open_connections = self.connections.open(),
                        "drain timeout passed; closing the listener anyway");
                    break;
                }
                accepted = self.listener.accept() => {
                    self.spawn(accepted, &self.closing, draining).await
                }
            }
        }
        tracing::info!("listener closed");
    }

    async fn spawn(
        &self,
        accepted: std::io::Result<(TcpStream, SocketAddr)>,
        builder: &Arc<auto::Builder<TokioExecutor>>,
        draining: &watch::Receiver<bool>,
    ) {
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                sleep(ACCEPT_BACKOFF).await;
                return;
            }
        };
        let connection = Connection {
            services: self.services.clone(),
            builder: builder.clone(),
            guard: self.connections.enter(),
            peer,
            limits: self.limits,
        };
        let _ = stream.set_nodelay(true);
        let draining = draining.clone();
        match self.tls.clone() {
            None => tokio::spawn(connection.serve(stream, draining)),
            Some(tls) => tokio::spawn(connection.serve_tls(stream, tls, draining)),
        };
    }
}

fn builder(spec: &ProxySpec, keep_alive: bool) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Slow and idle clients are bounded by `deadline`, below hyper: its own
    // header timeout would also count a keep-alive connection's idle time.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(spec.max_header_bytes.max(8192))
        .keep_alive(keep_alive);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(spec.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// One accepted connection.
struct Connection {
    services: watch::Receiver<Arc<Service>>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    guard: ConnectionGuard,
    peer: SocketAddr,
    limits: deadline::Limits,
}

impl Connection {
    async fn serve_tls(self, stream: TcpStream, tls: Tls, draining: watch::Receiver<bool>) {
        match timeout(tls.handshake_timeout, tls.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.serve(stream, draining).await,
            Ok(Err(error)) => tracing::debug!(peer = %self.peer, %error, "TLS handshake failed"),
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }

    async fn serve<S>(self, stream: S, draining: watch::Receiver<bool>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (services, peer) = (self.services, self.peer);
        let in_flight = InFlight::default();
        let io = TokioIo::new(Deadlines::new(stream, self.limits, in_flight.clone()));
        // Each request takes the service current when it arrives, so a
        // reload applies to keep-alive connections from their next request.
        let handler = service_fn(move |request| {
            let busy = in_flight.enter();
            // Boxed: a request's future is about 5 KiB, and hyper moves it
            // into place more than once; copying it showed in profiles
            // (memmove from 6.2 to 4.8% of supervise's CPU under wrk).
            let handling = Box::pin(services.borrow().clone().handle(peer, request));
            async move {
                let response = handling.await?;
                if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    busy.upgraded();
                }
                Ok::<_, Infallible>(response.map(|body| Tracked::new(body, busy)))
            }
        });
        let mut connection = pin!(self.builder.serve_connection_with_upgrades(io, handler));

        // Already draining: this connection was built without keep-alive;
        // shutting it down now could close it before its one request.
        if !*draining.borrow() {
            tokio::select! {
                result = connection.as_mut() => return log_end(peer, result),
                () = wait_true(draining) => connection.as_mut().graceful_shutdown(),
            }
        }
        log_end(peer, connection.await);
        drop(self.guard);
    }
}

fn log_end(peer: SocketAddr, result: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// Resolves once the flag is true; never if its sender is gone first.
async fn wait_true(mut flag: watch::Receiver<bool>) {
    while !*flag.borrow_and_update() {
        if flag.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Counts open connections, so the drain knows when it is done.
#[derive(Debug, Clone, Default)]
struct Connections {
    open: Arc<AtomicUsize>,
    closed: Arc<Notify>,
}

impl Connections {
    fn enter(&self) -> ConnectionGuard {
        self.open.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Resolves when no connection is open.
    async fn idle(&self) {
        loop {
            // Registered before the check, so a close in between is seen.
            let closed = self.closed.notified();
            if self.open() == 0 {
                return;
            }
            closed.await;
        }
    }
}

struct ConnectionGuard(Connections);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}
