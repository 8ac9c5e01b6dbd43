//! Readiness probes: when a started process may be sent traffic.
//!
//! A probe only ever moves a process from starting to ready. It never
//! restarts anything: a process that stays unready is left running and
//! reported, since killing a slow starter only makes it slower.

use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

use crate::config::{ProbeTarget, ReadyProbe};

/// How long a process may stay unready before a warning says so.
const SLOW_START: Duration = Duration::from_secs(30);

/// Why one probe attempt failed; logged at debug, never fatal.
#[derive(Debug)]
enum ProbeError {
    Connect(std::io::Error),
    Http(hyper::Error),
    Status(http::StatusCode),
    TimedOut,
    BadUrl,
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Connect(error) => write!(f, "connect failed: {error}"),
            ProbeError::Http(error) => write!(f, "HTTP request failed: {error}"),
            ProbeError::Status(status) => write!(f, "answered {status}"),
            ProbeError::TimedOut => f.write_str("timed out"),
            ProbeError::BadUrl => f.write_str("URL has no host"),
        }
    }
}

/// Resolves once the probe passes; retries every `interval` until then.
pub async fn wait_ready(process: &str, probe: &ReadyProbe) {
    let started = Instant::now();
    let mut warned = false;
    loop {
        let attempt = timeout(probe.timeout, attempt(&probe.target)).await;
        match attempt.unwrap_or(Err(ProbeError::TimedOut)) {
            Ok(()) => return,
            Err(error) => tracing::debug!(process, %error, "not ready yet"),
        }
        if !warned && started.elapsed() >= SLOW_START {
            warned = true;
            tracing::warn!(process, waited = ?started.elapsed(), "still not ready");
        }
        sleep(probe.interval).await;
    }
}

async fn attempt(target: &ProbeTarget) -> Result<(), ProbeError> {
    match target {
        ProbeTarget::Tcp(address) => connect(address).await.map(drop),
        ProbeTarget::Http(url) => http_get(url).await,
    }
}

async fn connect(address: &str) -> Result<TcpStream, ProbeError> {
    TcpStream::connect(address)
        .await
        .map_err(ProbeError::Connect)
}

/// One GET on a fresh connection; any 2xx passes.
async fn http_get(url: &http::Uri) -> Result<(), ProbeError> {
    let authority = url.authority().ok_or(ProbeError::BadUrl)?;
    let port = authority.port_u16().unwrap_or(80);
    let stream = connect(&format!("{}:{port}", authority.host())).await?;

    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(ProbeError::Http)?;
    tokio::spawn(connection);

    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let request = http::Request::get(path)
        .header(http::header::HOST, authority.as_str())
        .header(http::header::USER_AGENT, "supervise-probe")
        .body(Empty::<Bytes>::new())
        .map_err(|_| ProbeError::BadUrl)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(ProbeError::Http)?;

    if response.status().is_success() {
        Ok(())
    } else {
        Err(ProbeError::Status(response.status()))
    }
}
