//! Forwarding to an upstream, holding requests while its process restarts.
//!
//! When an upstream is linked to a supervised process, a request waits
//! (up to `retry_window`, and only while fewer than `max_waiting` others
//! wait) until the process is ready, and is tried again when the attempt
//! fails in a way that is safe to repeat:
//!
//! - the connection could not be opened, or the request was handed back
//!   unsent by hyper: the upstream never saw it, so any method is retried;
//! - it was sent but no response came: retried only for idempotent methods
//!   without a body (RFC 9110 §9.2.2), from a copy of the request head.
//!   For those, a response with a length counts only once the first bytes
//!   of its body are in, so a backend killed between its head and its body
//!   is asked again rather than leaving the client with a cut answer.
//!
//! Anything else fails with 502 or 504 at once; after the window the
//! answer is 503 with `Retry-After`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response};
use http_body::Body as _;
use tokio::sync::watch;
use tokio::time::{timeout, timeout_at, Instant};

use crate::proxy::body::ProxyBody;
use crate::proxy::error::ProxyError;
use crate::proxy::pool::Pool;
use crate::supervision::state::{ProcessState, ProcessStatus};

/// How long to wait for news of the process after a failed attempt while
/// it still looks ready: the reaper may not have seen it die yet.
const SETTLE: Duration = Duration::from_millis(20);

/// Requests that wait for an upstream, counted across all upstreams.
#[derive(Debug)]
pub struct Holds {
    waiting: AtomicUsize,
    max: usize,
    window: Duration,
}

impl Holds {
    pub fn new(max: usize, window: Duration) -> Holds {
        Holds {
            waiting: AtomicUsize::new(0),
            max,
            window,
        }
    }

    /// A place in the waiting line, or `None` when it is full.
    fn enter(&self) -> Option<HoldGuard<'_>> {
        let before = self.waiting.fetch_add(1, Ordering::Relaxed);
        let guard = HoldGuard(self);
        (before < self.max).then_some(guard)
    }
}

struct HoldGuard<'a>(&'a Holds);

impl Drop for HoldGuard<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One upstream: where it is and which process, if any, serves it.
#[derive(Debug)]
pub struct Upstream {
    pub name: Arc<str>,
    pool: Arc<Pool>,
    /// Replaces the client's `Host` when set.
    pub host: Option<HeaderValue>,
    process: Option<watch::Receiver<ProcessStatus>>,
    response_timeout: Duration,
}

impl Upstream {
    pub fn new(
        name: &str,
        pool: Pool,
        host: Option<HeaderValue>,
        process: Option<watch::Receiver<ProcessStatus>>,
        response_timeout: Duration,
    ) -> Upstream {
        let name = Arc::from(name);
        Upstream {
            name,
            pool: Arc::new(pool),
            host,
            process,
            response_timeout,
        }
    }

    /// Whether the linked process is ready; `None` when there is none.
    pub fn ready(&self) -> Option<bool> {
        let process = self.process.as_ref()?;
        Some(process.borrow().state == ProcessState::Ready)
    }

    /// Sends `request` and returns the response head with its body still
    /// streaming.
    pub async fn forward(
        &self,
        mut request: Request<ProxyBody>,
        holds: &Holds,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let mut attempt = Attempt::new(self, &request, holds);
        loop {
            attempt.wait_ready().await?;
            let mut connection = match self.pool.checkout().await {
                Ok(connection) => connection,
                Err(error) => {
                    let error = ProxyError::Connect {
                        upstream: self.name.to_string(),
                        error,
                    };
                    Box::pin(attempt.again(error)).await?;
                    continue;
                }
            };

            let sending = connection.sender.try_send_request(request);
            let (unsent, error) = match timeout(self.response_timeout, sending).await {
                Ok(Ok(response)) => {
                    let response = response.map(ProxyBody::stream);
                    let read = match attempt.reads_ahead(&response) {
                        false => Ok(response),
                        true => Box::pin(self.read_ahead(response)).await?,
                    };
                    match read {
                        Ok(response) => return Ok(response.map(|b| b.with_connection(connection))),
                        Err(error) => (None, error),
                    }
                }
                Ok(Err(mut failed)) => (failed.take_message(), failed.into_error()),
                Err(_) => return Err(self.timed_out()),
            };
            let error = self.failed(error);
            request = match unsent.or_else(|| attempt.replay()) {
                Some(request) => request,
                None => return Err(error),
            };
            // Boxed, as the read ahead is: rare paths whose state would
            // make every request's future larger (and copied).
            Box::pin(attempt.again(error)).await?;
        }
    }

    /// Reads the first frame of `response`'s body (see
    /// [`Attempt::reads_ahead`]); an error then means no response came.
    async fn read_ahead(
        &self,
        mut response: Response<ProxyBody>,
    ) -> Result<Result<Response<ProxyBody>, hyper::Error>, ProxyError> {
        match timeout(self.response_timeout, response.body_mut().read_ahead()).await {
            Ok(Ok(())) => Ok(Ok(response)),
            Ok(Err(error)) => Ok(Err(error)),
            Err(_) => Err(self.timed_out()),
        }
    }

    /// Opens a fresh connection for a protocol switch and sends the
    /// handshake; no retries, since the client is mid-handshake.
    pub async fn forward_upgrade(
        &self,
        request: Request<ProxyBody>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let connect = |error| ProxyError::Connect {
            upstream: self.name.to_string(),
            error,
        };
        let mut sender = self.pool.connect(true).await.map_err(connect)?;
        let sending = sender.send_request(request);
        match timeout(self.response_timeout, sending).await {
            Ok(Ok(response)) => Ok(response.map(ProxyBody::stream)),
            Ok(Err(error)) => Err(self.failed(error)),
            Err(_) => Err(self.timed_out()),
        }
    }

    fn failed(&self, error: hyper::Error) -> ProxyError {
        ProxyError::Upstream {
            upstream: self.name.to_string(),
            error,
        }
    }

    fn timed_out(&self) -> ProxyError {
        ProxyError::Timeout {
            upstream: self.name.to_string(),
            after: self.response_timeout,
        }
    }
}

/// How many times a request to an upstream without a process is tried
/// again after hyper handed it back unsent (a pooled connection the
/// upstream had just closed).
const UNLINKED_TRIES: u32 = 3;

/// The retry state of one request.
struct Attempt<'a> {
    upstream: &'a Upstream,
    holds: &'a Holds,
    status: Option<watch::Receiver<ProcessStatus>>,
    started: Instant,
    deadline: Instant,
    /// A copy of the head of a request that may be sent twice.
    replayable: Option<Head>,
    hold: Option<HoldGuard<'a>>,
    tries: u32,
}

impl<'a> Attempt<'a> {
    fn new(upstream: &'a Upstream, request: &Request<ProxyBody>, holds: &'a Holds) -> Self {
        let status = upstream.process.clone();
        let safe = is_idempotent(request.method()) && request.body().is_end_stream();
        let replayable = (status.is_some() && safe).then(|| Head::of(request));
        let started = Instant::now();
        Attempt {
            upstream,
            holds,
            status,
            started,
            deadline: started + holds.window,
            replayable,
            hold: None,
            tries: 0,
        }
    }

    /// Waits until the upstream's process is ready, within the window.
    async fn wait_ready(&mut self) -> Result<(), ProxyError> {
        let Some(status) = &mut self.status else {
            return Ok(());
        };
        if status.borrow_and_update().state == ProcessState::Ready {
            return Ok(());
        }
        self.enter_line()?;
        let deadline = self.deadline;
        let status = self.status.as_mut().expect("checked to be linked above");
        let ready = status.wait_for(|s| s.state == ProcessState::Ready);
        // A closed channel means supervise is stopping the process.
        let became_ready = matches!(timeout_at(deadline, ready).await, Ok(Ok(_)));
        match became_ready {
            true => Ok(()),
            false => Err(self.unavailable()),
        }
    }

    /// Decides whether to try again after `error`; waits a moment for news
    /// of the process first. Returns the error to answer with otherwise.
    async fn again(&mut self, error: ProxyError) -> Result<(), ProxyError> {
        self.tries += 1;
        let Some(status) = &mut self.status else {
            let unsent = !matches!(error, ProxyError::Connect { .. });
            return if unsent && self.tries <= UNLINKED_TRIES {
                Ok(())
            } else {
                Err(error)
            };
        };
        if Instant::now() >= self.deadline {
            return Err(self.unavailable());
        }
        tracing::debug!(upstream = %self.upstream.name, %error, tries = self.tries, "retrying");
        let _ = timeout(SETTLE, status.changed()).await;
        self.enter_line()
    }

    /// Whether `response`'s body is to be read ahead before it is passed
    /// on: for a request that may be sent again, when the body has a
    /// length. A body without one may be a stream whose first event comes
    /// much later, so its head is passed on at once.
    fn reads_ahead(&self, response: &Response<ProxyBody>) -> bool {
        let sized = response.body().size_hint().exact().is_some_and(|n| n > 0);
        self.replayable.is_some() && sized
    }

    /// Another copy of the request, if it may be sent again.
    fn replay(&self) -> Option<Request<ProxyBody>> {
        self.replayable.as_ref().map(Head::request)
    }

    fn enter_line(&mut self) -> Result<(), ProxyError> {
        if self.hold.is_none() {
            let busy = || ProxyError::Busy {
                upstream: self.upstream.name.to_string(),
            };
            self.hold = Some(self.holds.enter().ok_or_else(busy)?);
        }
        Ok(())
    }

    fn unavailable(&self) -> ProxyError {
        let waited = self.started.elapsed();
        ProxyError::Unavailable {
            upstream: self.upstream.name.to_string(),
            waited,
        }
    }
}

/// RFC 9110 §9.2.2: methods whose repetition has the same effect.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// The head of a bodiless request, kept to send it again.
struct Head {
    method: Method,
    uri: http::Uri,
    headers: http::HeaderMap,
}

impl Head {
    fn of(request: &Request<ProxyBody>) -> Head {
        let method = request.method().clone();
        Head {
            method,
            uri: request.uri().clone(),
            headers: request.headers().clone(),
        }
    }

    fn request(&self) -> Request<ProxyBody> {
        let mut request = Request::new(ProxyBody::empty());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}
