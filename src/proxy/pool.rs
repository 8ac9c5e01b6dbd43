//! Connections to one upstream: opening them (with the connect timeout)
//! and keeping idle ones for reuse.
//!
//! The pool is ours rather than hyper-util's client so that forwarding can
//! tell apart "could not connect", "connected but the request was never
//! sent" and "sent, then it failed": only the first two are safe to retry
//! for any method (see `forward`). A connection goes back to the pool when
//! its response body was read to the end; one that was dropped midway is
//! closed.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::proxy::body::ProxyBody;

/// At most this many idle connections are kept per upstream; more are
/// closed when returned.
const MAX_IDLE: usize = 256;

/// Why no connection could be had.
#[derive(Debug)]
pub enum ConnectError {
    Io(io::Error),
    TimedOut(Duration),
    Handshake(hyper::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Io(error) => write!(f, "connect failed: {error}"),
            ConnectError::TimedOut(after) => write!(f, "connect timed out after {after:?}"),
            ConnectError::Handshake(error) => write!(f, "HTTP/1 handshake failed: {error}"),
        }
    }
}

/// Idle connections to one upstream address.
#[derive(Debug)]
pub struct Pool {
    /// `host:port` to connect to.
    address: String,
    connect_timeout: Duration,
    idle_timeout: Duration,
    idle: Mutex<VecDeque<Idle>>,
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<ProxyBody>,
    since: Instant,
}

/// A connection in use; see [`Pooled::release`].
#[derive(Debug)]
pub struct Pooled {
    pub sender: SendRequest<ProxyBody>,
    pool: Arc<Pool>,
}

impl Pooled {
    /// Puts the connection back for reuse. Called when a response body has
    /// been read to its end; a connection dropped any other way closes.
    pub fn release(self) {
        self.pool.put(self.sender);
    }
}

impl Pool {
    pub fn new(address: String, connect_timeout: Duration, idle_timeout: Duration) -> Pool {
        Pool {
            address,
            connect_timeout,
            idle_timeout,
            idle: Mutex::new(VecDeque::new()),
        }
    }

    /// An idle connection that is still open, or a new one.
    pub async fn checkout(self: &Arc<Self>) -> Result<Pooled, ConnectError> {
        while let Some(mut sender) = self.take_idle() {
            // Ready within a moment, or closed: the previous response on it
            // has been read to its end already.
            if sender.ready().await.is_ok() {
                return Ok(Pooled {
                    sender,
                    pool: self.clone(),
                });
            }
        }
        let sender = self.connect(false).await?;
        Ok(Pooled {
            sender,
            pool: self.clone(),
        })
    }

    /// A new connection, never pooled afterwards when `upgrades` is set:
    /// after a protocol switch it belongs to the WebSocket (or whatever
    /// was negotiated).
    pub async fn connect(&self, upgrades: bool) -> Result<SendRequest<ProxyBody>, ConnectError> {
        let connecting = TcpStream::connect(&self.address);
        let stream = match timeout(self.connect_timeout, connecting).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(ConnectError::Io(error)),
            Err(_) => return Err(ConnectError::TimedOut(self.connect_timeout)),
        };
        // Small requests and responses: waiting to fill packets only adds
        // latency.
        let _ = stream.set_nodelay(true);

        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(ConnectError::Handshake)?;
        let address = self.address.clone();
        tokio::spawn(async move {
            let result = match upgrades {
                true => connection.with_upgrades().await,
                false => connection.await,
            };
            if let Err(error) = result {
                tracing::debug!(upstream = %address, %error, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    fn take_idle(&self) -> Option<SendRequest<ProxyBody>> {
        let mut idle = self.lock();
        while let Some(entry) = idle.pop_back() {
            if entry.since.elapsed() < self.idle_timeout && !entry.sender.is_closed() {
                return Some(entry.sender);
            }
        }
        None
    }

    fn put(&self, sender: SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push_back(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        // A panic while holding the lock cannot leave the queue half
        // changed: every use is one push or pop.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
