//! Deadlines on a client connection: how long a client may take to send a
//! request head (`proxy.timeouts.client_header`), and how long a
//! keep-alive connection may sit idle between requests
//! (`proxy.timeouts.client_idle`).
//!
//! hyper has one timer for both: its header read timeout starts as soon
//! as it waits for the next request, so an idle keep-alive connection
//! runs out its time as if it were a slow client. A load balancer keeps
//! its connections to targets open for a minute or more, and a short
//! header timeout then closes them under it. So [`Deadlines`] wraps the
//! connection's byte stream below hyper and keeps the two apart:
//!
//! - a new connection, and one that has received the first bytes of its
//!   next request, has `client_header` to get a request to the service;
//! - a connection with no request in flight and nothing received since
//!   its last response has `client_idle`;
//! - while a request is in flight (from the service being called until
//!   its response body is dropped), reads have no deadline: a slow
//!   upstream has its own timeouts, and a long download must not be cut.
//!
//! When a deadline passes, the next read fails with `TimedOut` and hyper
//! closes the connection. The service marks requests in flight through
//! [`InFlight`]; the response body carries the mark, as [`Tracked`].
//!
//! HTTP/2 multiplexes requests and exchanges frames of its own while idle,
//! so after its connection preface only the idle deadline applies:
//! `client_idle` with no stream open. A connection that switched protocols
//! (a WebSocket) has no deadline at all from then on: it is not HTTP any
//! more, and its own protocol decides when it is idle.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep_until, Instant, Sleep};

/// What every HTTP/2 connection starts with (RFC 9113, section 3.4); its
/// first bytes are enough to tell it from any HTTP/1 request line.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// The two limits, from `proxy.timeouts`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header: Duration,
    pub idle: Duration,
}

/// Counts a connection's requests: how many went to the service, and how
/// many of those have not finished sending their response.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    entered: AtomicUsize,
    open: AtomicUsize,
    /// The connection's reader while it waits with a request in flight:
    /// hyper does not read again after a response unless woken, and the
    /// idle deadline must start when the last response is out.
    reader: Mutex<Option<Waker>>,
    /// Set once a response has switched protocols.
    upgraded: AtomicBool,
}

impl InFlight {
    /// Marks one request in flight until the returned mark is dropped.
    pub fn enter(&self) -> Busy {
        self.0.entered.fetch_add(1, Ordering::Relaxed);
        self.0.open.fetch_add(1, Ordering::Relaxed);
        Busy(self.0.clone())
    }

    fn entered(&self) -> usize {
        self.0.entered.load(Ordering::Relaxed)
    }

    fn is_upgraded(&self) -> bool {
        self.0.upgraded.load(Ordering::Relaxed)
    }

    fn any_open(&self) -> bool {
        self.0.open.load(Ordering::Relaxed) > 0
    }

    /// Wakes `waker` when the last request in flight ends.
    fn wake_when_done(&self, waker: &Waker) {
        let mut reader = self.0.reader.lock().unwrap_or_else(PoisonError::into_inner);
        match &*reader {
            Some(stored) if stored.will_wake(waker) => {}
            _ => *reader = Some(waker.clone()),
        }
    }
}

/// One request in flight; see [`InFlight::enter`].
#[derive(Debug)]
pub struct Busy(Arc<Counts>);

impl Busy {
    /// Marks the connection as switched to another protocol by this
    /// request: from now on no deadline applies to it.
    pub fn upgraded(&self) {
        self.0.upgraded.store(true, Ordering::Relaxed);
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::Relaxed) == 1 {
            let reader = self
                .0
                .reader
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(reader) = reader {
                reader.wake();
            }
        }
    }
}

/// A response body that keeps its request marked in flight until hyper
/// has sent it to the end (or given up on it) and drops it.
#[derive(Debug)]
pub struct Tracked<B> {
    body: B,
    _busy: Busy,
}

impl<B> Tracked<B> {
    pub fn new(body: B, busy: Busy) -> Tracked<B> {
        Tracked { body, _busy: busy }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Where a connection is between requests, which decides its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// New, or the next request has begun: `client_header` from then.
    Head(Instant),
    /// Nothing in flight, nothing received since: `client_idle` from then.
    Idle(Instant),
    /// A request in flight: no deadline.
    Busy,
}

/// What the first bytes said about the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// This many bytes of the HTTP/2 preface seen so far, and all matched.
    Unknown(usize),
    Http1,
    Http2,
}

/// A client connection's byte stream with its deadlines.
#[derive(Debug)]
pub struct Deadlines<S> {
    inner: S,
    limits: Limits,
    in_flight: InFlight,
    /// `in_flight.entered()` when the phase was last updated.
    last_entered: usize,
    phase: Phase,
    protocol: Protocol,
    /// Armed at or before the current deadline, never after it; when it
    /// fires early it is moved on, so a request costs no timer update.
    timer: Pin<Box<Sleep>>,
}

impl<S> Deadlines<S> {
    /// Wraps a connection that has just been accepted (after its TLS
    /// handshake, if any): its request head is due within `limits.header`.
    pub fn new(inner: S, limits: Limits, in_flight: InFlight) -> Deadlines<S> {
        let now = Instant::now();
        Deadlines {
            inner,
            limits,
            in_flight,
            last_entered: 0,
            phase: Phase::Head(now),
            protocol: Protocol::Unknown(0),
            timer: Box::pin(sleep_until(now + limits.header)),
        }
    }

    /// The phase as of now: a request that has gone to the service makes
    /// the connection busy; the end of the last one makes it idle. hyper
    /// need not read while a request is in flight (a fixed answer is sent
    /// before it reads again), so requests that came and went since the
    /// last read count as well as one still open.
    fn update_phase(&mut self) {
        let entered = self.in_flight.entered();
        let came_and_went = entered != self.last_entered;
        self.last_entered = entered;
        self.phase = if self.in_flight.any_open() || self.in_flight.is_upgraded() {
            Phase::Busy
        } else if came_and_went || self.phase == Phase::Busy {
            // A reader waiting while busy is woken when the last response
            // is out (see `Counts::reader`), so its end is about now.
            Phase::Idle(Instant::now())
        } else {
            self.phase
        };
    }

    /// Bytes arrived: on an idle HTTP/1 connection they begin a request.
    fn received(&mut self, bytes: &[u8]) {
        if let Protocol::Unknown(seen) = self.protocol {
            self.protocol = detect(seen, bytes);
        }
        if matches!(self.phase, Phase::Idle(_)) && self.protocol != Protocol::Http2 {
            self.phase = Phase::Head(Instant::now());
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Head(since) => Some(since + self.limits.header),
            Phase::Idle(since) => Some(since + self.limits.idle),
            Phase::Busy => None,
        }
    }

    /// Whether the current deadline has passed; otherwise the timer will
    /// wake `cx` no later than the deadline.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.deadline() else {
            return false;
        };
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= deadline {
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
        false
    }

    fn timed_out(&self) -> io::Error {
        let what = match self.phase {
            Phase::Idle(_) => "idle keep-alive connection passed proxy.timeouts.client_idle",
            _ => "request head not received within proxy.timeouts.client_header",
        };
        io::Error::new(io::ErrorKind::TimedOut, what)
    }
}

/// The protocol after `bytes`, when `seen` bytes of the HTTP/2 preface
/// have already matched.
fn detect(seen: usize, bytes: &[u8]) -> Protocol {
    let rest = &H2_PREFACE[seen..];
    let n = rest.len().min(bytes.len());
    if rest[..n] != bytes[..n] {
        Protocol::Http1
    } else if seen + n == H2_PREFACE.len() {
        Protocol::Http2
    } else {
        Protocol::Unknown(seen + n)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadlines<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.update_phase();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let received = &buf.filled()[before..];
                if !received.is_empty() {
                    this.received(received);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.in_flight.is_upgraded() => Poll::Pending,
            Poll::Pending if this.phase == Phase::Busy => {
                this.in_flight.wake_when_done(cx.waker());
                // The last response may have ended on another thread in
                // between; then nobody is left to wake this reader.
                if !this.in_flight.any_open() {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(this.timed_out())),
            polled => polled,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadlines<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

    const LIMITS: Limits = Limits {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(75),
    };

    fn connection() -> (Deadlines<DuplexStream>, DuplexStream, InFlight) {
        let (server, client) = duplex(1024);
        let in_flight = InFlight::default();
        (
            Deadlines::new(server, LIMITS, in_flight.clone()),
            client,
            in_flight,
        )
    }

    /// A connection whose client has sent `first`, already read.
    async fn after_sending(first: &[u8]) -> (Deadlines<DuplexStream>, DuplexStream, InFlight) {
        let (mut conn, mut client, in_flight) = connection();
        client.write_all(first).await.expect("write");
        read(&mut conn).await.expect("the first bytes");
        (conn, client, in_flight)
    }

    /// A connection whose client has sent one request head, already read.
    async fn after_a_request() -> (Deadlines<DuplexStream>, DuplexStream, InFlight) {
        after_sending(b"GET / HTTP/1.1\r\n\r\n").await
    }

    /// Asserts that a read is still waiting after an hour (paused) time.
    async fn waits_an_hour(conn: &mut Deadlines<DuplexStream>) {
        let reading = tokio::time::timeout(Duration::from_secs(3600), read(conn));
        assert!(reading.await.is_err(), "still waiting after an hour");
    }

    /// Reads once; `Err` is the deadline's error.
    async fn read(conn: &mut Deadlines<DuplexStream>) -> io::Result<Vec<u8>> {
        let mut buf = [0; 64];
        let n = conn.read(&mut buf).await?;
        Ok(buf[..n].to_vec())
    }

    /// Reads once, expecting the deadline's error, and returns how long
    /// (paused) time went on until then.
    async fn time_out(conn: &mut Deadlines<DuplexStream>) -> Duration {
        let started = Instant::now();
        let error = read(conn).await.expect_err("a deadline");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        started.elapsed()
    }

    /// A connection that sends nothing is closed after `client_header`.
    #[tokio::test(start_paused = true)]
    async fn silent_new_connection_gets_the_header_limit() {
        let (mut conn, _client, _) = connection();
        assert_eq!(time_out(&mut conn).await, LIMITS.header);
    }

    /// After a response, an idle keep-alive connection has `client_idle`,
    /// not `client_header`.
    #[tokio::test(start_paused = true)]
    async fn idle_keep_alive_gets_the_idle_limit() {
        let (mut conn, _client, in_flight) = after_a_request().await;

        drop(in_flight.enter());
        assert_eq!(time_out(&mut conn).await, LIMITS.idle);
    }

    /// The first bytes of the next request start the header limit again.
    #[tokio::test(start_paused = true)]
    async fn next_request_gets_the_header_limit() {
        let (mut conn, mut client, in_flight) = after_a_request().await;
        drop(in_flight.enter());
        read_after_idle(&mut conn, &mut client, Duration::from_secs(60)).await;
        assert_eq!(time_out(&mut conn).await, LIMITS.header);
    }

    /// While a request is in flight, reads wait as long as it takes.
    #[tokio::test(start_paused = true)]
    async fn no_deadline_while_a_request_is_in_flight() {
        let (mut conn, _client, in_flight) = after_a_request().await;

        let busy = in_flight.enter();
        waits_an_hour(&mut conn).await;
        drop(busy);
        assert_eq!(time_out(&mut conn).await, LIMITS.idle);
    }

    /// A read that began while a request was in flight is woken when its
    /// response ends, and the idle limit counts from then.
    #[tokio::test(start_paused = true)]
    async fn waiting_reader_is_woken_when_the_response_ends() {
        let (mut conn, _client, in_flight) = after_a_request().await;

        let busy = in_flight.enter();
        let started = Instant::now();
        // Another task ends the response, so only the reader's own wakers
        // can wake the read.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(busy);
        });
        let read = tokio::time::timeout(Duration::from_secs(3600), read(&mut conn)).await;
        let error = read
            .expect("woken, not left waiting")
            .expect_err("a deadline");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5) + LIMITS.idle);
    }

    /// After a protocol switch, reads wait as long as it takes, whatever
    /// arrives.
    #[tokio::test(start_paused = true)]
    async fn no_deadline_after_a_protocol_switch() {
        let (mut conn, mut client, in_flight) = after_a_request().await;
        in_flight.enter().upgraded();

        read_after_idle(&mut conn, &mut client, Duration::from_secs(600)).await;
        waits_an_hour(&mut conn).await;
    }

    /// An HTTP/2 connection's frames while idle do not start the header
    /// limit: it is closed after `client_idle` with no stream open.
    #[tokio::test(start_paused = true)]
    async fn http2_frames_while_idle_keep_the_idle_limit() {
        let (mut conn, mut client, in_flight) =
            after_sending(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        drop(in_flight.enter());
        read_after_idle(&mut conn, &mut client, Duration::from_secs(30)).await;
        let left = LIMITS.idle - Duration::from_secs(30);
        assert_eq!(time_out(&mut conn).await, left);
    }

    /// Sends a few bytes after `after` of idle time and reads them.
    async fn read_after_idle(
        conn: &mut Deadlines<DuplexStream>,
        client: &mut DuplexStream,
        after: Duration,
    ) {
        let reading = read(conn);
        let sending = async {
            tokio::time::sleep(after).await;
            client.write_all(b"GET").await.expect("write");
        };
        let (received, ()) = tokio::join!(reading, sending);
        assert!(!received.expect("bytes").is_empty());
    }

    /// The preface is recognised across reads of any size; anything else
    /// is HTTP/1 from its first differing byte.
    #[test]
    fn protocol_detection() {
        assert_eq!(detect(0, b"GET / HTTP/1.1"), Protocol::Http1);
        assert_eq!(detect(0, b"PRI"), Protocol::Unknown(3));
        assert_eq!(detect(3, b" * HTTP/2.0\r\n"), Protocol::Http2);
        assert_eq!(detect(0, b"PRIX"), Protocol::Http1);
        assert_eq!(detect(0, H2_PREFACE), Protocol::Http2);
        assert_eq!(detect(0, b"P"), Protocol::Unknown(1));
    }
}
