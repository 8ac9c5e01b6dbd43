//! Readiness probes: when a started process may be sent traffic.
//!
//! A probe only ever moves a process from starting to ready. It never
//! restarts anything: a process that stays unready is left running and
//! reported, since killing a slow starter only makes it slower.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

use crate::client::{self, GetError};
use crate::config::{ProbeTarget, ReadyProbe};

/// How long a process may stay unready before a warning says so.
const SLOW_START: Duration = Duration::from_secs(30);

/// Why one probe attempt failed; logged at debug, never fatal.
#[derive(Debug)]
enum ProbeError {
    Connect(std::io::Error),
    Get(GetError),
    Status(http::StatusCode),
    TimedOut,
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Connect(error) => write!(f, "connect failed: {error}"),
            ProbeError::Get(error) => error.fmt(f),
            ProbeError::Status(status) => write!(f, "answered {status}"),
            ProbeError::TimedOut => f.write_str("timed out"),
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
        ProbeTarget::Tcp(address) => {
            TcpStream::connect(address)
                .await
                .map_err(ProbeError::Connect)?;
            Ok(())
        }
        ProbeTarget::Http(url) => match client::get(url, false).await {
            Ok((status, _)) if status.is_success() => Ok(()),
            Ok((status, _)) => Err(ProbeError::Status(status)),
            Err(error) => Err(ProbeError::Get(error)),
        },
    }
}
