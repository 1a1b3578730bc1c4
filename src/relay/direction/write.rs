//! A direction's output: the approved bytes, then wsgate's own close once at a frame
//! boundary (queued, held back or released by the session), then a flush; and the stall
//! clock that a peer reading nothing starts.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::time::Instant;

use super::{Direction, Mode, Output};
use crate::net::shutdown::Shutdown;
use crate::ws::close::CloseFrame;

impl Direction {
    /// Queues wsgate's own close for the output, to be written at the next frame boundary.
    /// Does nothing if the output already carries (or has queued) a close or is dead.
    pub(in crate::relay) fn inject_close(&mut self, code: u16, reason: &str) {
        if self.output != Output::Open || self.close_relayed || self.injected.is_some() {
            return;
        }
        self.injected = Some(Box::new(CloseFrame::new(code, reason, self.mask_output)));
        self.injected_written = 0;
        if self.mode == Mode::Relay {
            self.mode = Mode::Finish;
        }
    }

    /// Queues wsgate's own close for the output like `inject_close`, but keeps relaying the
    /// input meanwhile: the close is written in place of the input peer's own close, or
    /// once the input ends, breaks a rule or is drained, or after `release_close`.
    pub(in crate::relay) fn hold_close(&mut self, code: u16, reason: &str) {
        let relaying = self.mode == Mode::Relay;
        self.inject_close(code, reason);
        if relaying && self.mode == Mode::Finish {
            self.mode = Mode::Hold;
        }
    }

    /// A close queued by `hold_close` is still waiting for the input peer's close.
    pub(in crate::relay) fn holds_close(&self) -> bool {
        self.mode == Mode::Hold && self.injected.is_some()
    }

    /// Sends the held close after the frame in flight; nothing more is relayed after it.
    pub(in crate::relay) fn release_close(&mut self) {
        if self.mode == Mode::Hold {
            self.mode = Mode::Finish;
        }
    }

    /// Writes nothing more to the output (its peer is gone, or it cannot be finished).
    pub(in crate::relay) fn cut_output(&mut self) {
        self.output = Output::Dead;
        self.injected = None;
        self.written = self.approved;
        self.stalled_since = None;
    }

    /// Nothing more will be written to the output.
    pub(in crate::relay) fn output_settled(&self) -> bool {
        match self.output {
            Output::Dead => true,
            Output::CloseSent => !self.need_flush && self.written == self.approved,
            Output::Open => false,
        }
    }

    /// Writes the approved bytes, then wsgate's close once at a frame boundary, then flushes.
    /// A close toward a peer that has sent its own is the last thing that peer is sent: it
    /// goes with the FIN (`Shutdown::poll_write_last`).
    pub(super) fn poll_output<W>(
        &mut self,
        cx: &mut Context<'_>,
        writer: &mut W,
    ) -> Poll<io::Result<()>>
    where
        W: Shutdown,
    {
        if self.output == Output::Dead {
            self.written = self.approved;
            return Poll::Ready(Ok(()));
        }
        // Nothing is approved after a relayed close: these bytes end with it.
        let last = self.close_relayed && self.output_peer_closed;
        while self.written < self.approved {
            let pending = self
                .buf
                .get(self.written..self.approved)
                .unwrap_or_default();
            self.written += ready!(write_some(
                writer,
                cx,
                pending,
                last,
                &mut self.stalled_since
            ))?;
            self.need_flush = true;
        }
        if self.close_relayed {
            self.output = Output::CloseSent;
        }
        let at_boundary = matches!(self.mode, Mode::Drain | Mode::Discard);
        if self.output == Output::Open
            && at_boundary
            && let Some(frame) = self.injected.as_deref()
        {
            let bytes = frame.as_bytes();
            let last = self.output_peer_closed;
            while let Some(rest) = bytes.get(self.injected_written..).filter(|r| !r.is_empty()) {
                self.injected_written +=
                    ready!(write_some(writer, cx, rest, last, &mut self.stalled_since))?;
                self.need_flush = true;
            }
            self.injected = None;
            self.output = Output::CloseSent;
        }
        if self.need_flush {
            let polled = Pin::new(&mut *writer).poll_flush(cx);
            ready!(note_progress(&mut self.stalled_since, polled))?;
            self.need_flush = false;
        }
        Poll::Ready(Ok(()))
    }
}

/// One write of `bytes` (`last`: the last the output will carry), how many were taken
/// (never 0: a write of none is an error), with the stall clock noted.
#[inline]
fn write_some<W>(
    writer: &mut W,
    cx: &mut Context<'_>,
    bytes: &[u8],
    last: bool,
    stalled_since: &mut Option<Instant>,
) -> Poll<io::Result<usize>>
where
    W: Shutdown,
{
    let polled = if last {
        writer.poll_write_last(cx, bytes)
    } else {
        Pin::new(writer).poll_write(cx, bytes)
    };
    match ready!(note_progress(stalled_since, polled))? {
        0 => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
        n => Poll::Ready(Ok(n)),
    }
}

/// Notes whether an output moved: a `Pending` write starts (or continues) a stall, anything
/// else ends it. Time is read only when a stall starts.
fn note_progress<T>(
    stalled_since: &mut Option<Instant>,
    polled: Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    if polled.is_pending() {
        if stalled_since.is_none() {
            *stalled_since = Some(Instant::now());
        }
    } else {
        *stalled_since = None;
    }
    polled
}
