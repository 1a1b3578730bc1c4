//! A plain-HTTP request body that must keep arriving.
//!
//! The head of a request is read under `server.handshake_timeout` (hyper's
//! `header_read_timeout`); its body is streamed to the upstream as it comes. Without a
//! bound of its own, a client trickling its body (or sending none of the length it
//! announced) would hold its connection slot and an upstream connection until
//! `upstream.response_timeout`. So every wait for the next piece of the body is bounded by
//! the same `handshake_timeout`: past it the body ends with an error, the upstream request
//! is abandoned, and the client gets `408 body_timeout` (when no response has started).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// `body` with at most `idle` of waiting for the client between two of its frames (and
/// before the first).
pub(super) struct TimedBody {
    inner: Incoming,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    /// A wait for the client is under way (the deadline counts). Between a frame and the
    /// next poll the upstream may be slow to take it: that time is not the client's.
    waiting: bool,
    timed_out: Arc<AtomicBool>,
}

/// Why the body ended early.
#[derive(Debug)]
pub(super) enum BodyError {
    /// The client's connection failed mid-body.
    Client(hyper::Error),
    /// No body bytes for the idle bound.
    Timeout,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Client(err) => write!(f, "client body: {err}"),
            BodyError::Timeout => f.write_str("client body stalled past handshake_timeout"),
        }
    }
}

impl std::error::Error for BodyError {}

impl TimedBody {
    /// The wrapped body, and a flag that turns true if it timed out.
    pub(super) fn new(inner: Incoming, idle: Duration) -> (TimedBody, Arc<AtomicBool>) {
        let timed_out = Arc::new(AtomicBool::new(false));
        let body = TimedBody {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            waiting: false,
            timed_out: timed_out.clone(),
        };
        (body, timed_out)
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame.map(|result| result.map_err(BodyError::Client)));
        }
        if !this.waiting {
            this.waiting = true;
            let next = Instant::now() + this.idle;
            this.deadline.as_mut().reset(next);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyError::Timeout)));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
