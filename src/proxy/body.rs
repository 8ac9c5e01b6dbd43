//! [`ProxyBody`]: the one body type that flows through the proxy, in both
//! directions, without boxing.
//!
//! A body is empty, a fixed buffer (answers supervise makes itself), or a
//! stream from hyper (a client's request, an upstream's response), passed
//! on frame by frame so no whole body is ever held in memory. Two things
//! ride along on a body and act when it ends: the upstream connection it
//! came from, which goes back to the pool only if the body was read to its
//! end, and the access log record, written when the body is done (or the
//! client went away), so it can say how many bytes were sent.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use hyper::body::{Bytes, Incoming};

use crate::proxy::access::AccessRecord;
use crate::proxy::pool::Pooled;

/// A request or response body.
#[derive(Debug, Default)]
pub struct ProxyBody {
    kind: Kind,
    /// Returned to its pool when the stream ends cleanly.
    connection: Option<Pooled>,
    /// Written to the access log when this body is dropped.
    record: Option<AccessRecord>,
}

#[derive(Debug, Default)]
enum Kind {
    #[default]
    Empty,
    Full(Option<Bytes>),
    Stream(Incoming),
    /// A stream whose first frame was read ahead; see
    /// [`ProxyBody::read_ahead`].
    ReadAhead(Option<Frame<Bytes>>, Incoming),
}

impl ProxyBody {
    pub fn empty() -> ProxyBody {
        ProxyBody::default()
    }

    pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
        let bytes = bytes.into();
        let kind = if bytes.is_empty() {
            Kind::Empty
        } else {
            Kind::Full(Some(bytes))
        };
        ProxyBody {
            kind,
            ..ProxyBody::default()
        }
    }

    pub fn stream(incoming: Incoming) -> ProxyBody {
        ProxyBody {
            kind: Kind::Stream(incoming),
            ..ProxyBody::default()
        }
    }

    /// Hands `connection` back to its pool once this body has been read to
    /// its end.
    pub fn with_connection(mut self, connection: Pooled) -> ProxyBody {
        // An empty body may never be polled, so it cannot wait for its end.
        if self.is_end_stream() {
            connection.release();
        } else {
            self.connection = Some(connection);
        }
        self
    }

    /// Reads the first frame of a streamed body now, before the response
    /// is answered with: an upstream that dies between its response head
    /// and its body then fails here, while the request can still be sent
    /// again, rather than after the client was promised a response.
    pub async fn read_ahead(&mut self) -> Result<(), hyper::Error> {
        if let Kind::Stream(incoming) = &mut self.kind {
            let first = poll_fn(|cx| Pin::new(&mut *incoming).poll_frame(cx)).await;
            let first = first.transpose()?;
            if let Kind::Stream(incoming) = std::mem::take(&mut self.kind) {
                self.kind = Kind::ReadAhead(first, incoming);
            }
        }
        Ok(())
    }

    /// Writes `record` to the access log when this body is done.
    pub fn with_record(mut self, record: AccessRecord) -> ProxyBody {
        self.record = Some(record);
        self
    }

    fn count(&mut self, frame: &Frame<Bytes>) {
        if let (Some(record), Some(data)) = (&mut self.record, frame.data_ref()) {
            record.bytes += data.len() as u64;
        }
    }

    fn finished(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.release();
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(incoming) => Pin::new(incoming).poll_frame(cx),
            Kind::ReadAhead(first, incoming) => match first.take() {
                Some(frame) => Poll::Ready(Some(Ok(frame))),
                None => Pin::new(incoming).poll_frame(cx),
            },
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.count(frame);
                // hyper stops polling a body that says it has ended after
                // its last frame, so the end may never be seen as `None`.
                if self.is_end_stream() {
                    self.finished();
                }
            }
            Poll::Ready(None) => self.finished(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Stream(incoming) => incoming.is_end_stream(),
            Kind::ReadAhead(first, incoming) => first.is_none() && incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(incoming) => incoming.size_hint(),
            Kind::ReadAhead(first, incoming) => {
                let ahead = first
                    .as_ref()
                    .and_then(Frame::data_ref)
                    .map_or(0, |d| d.len());
                let rest = incoming.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + ahead as u64);
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + ahead as u64);
                }
                hint
            }
        }
    }
}
