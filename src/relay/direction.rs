//! One direction of the relay: reads one peer, scans frame boundaries, writes the other.
//!
//! The buffer holds, in order: bytes approved by the scanner but not yet written
//! (`written..approved`), bytes skipped (while draining, or a peer's close replaced by
//! wsgate's own: `approved..scanned`), and a short unscanned tail (`scanned..filled`): a
//! partial header or a partial control frame. New bytes are read only once everything
//! approved is written (backpressure), so the buffer never holds more than one read. It is
//! allocated on the first byte and released when the direction goes idle with nothing
//! pending, so an idle session holds no relay buffer. It starts at 2 KiB when the first
//! read was short and grows to 16 KiB, then 64 KiB, for bulk transfers.

mod read;
mod scan;
mod write;

use std::task::{Context, Poll};

use tokio::io::AsyncRead;
use tokio::time::Instant;

use super::scanner::Scanner;
use super::violation::Violation;
use crate::net::shutdown::Shutdown;
use crate::ws::close::CloseFrame;
use read::{READS_PER_POLL, release};

/// What happens to the bytes read from this direction's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Scan strictly and relay.
    Relay,
    /// Relay like `Relay` while wsgate's close waits to be written in place of the peer's
    /// own close (or until the input ends, breaks a rule or is drained, or on release).
    Hold,
    /// Relay only the rest of the frame in flight, then drain (a close waits to be injected).
    Finish,
    /// Relay nothing more; skip whole frames, watching for the peer's close.
    Drain,
    /// Relay and parse nothing more (the peer's close was seen, or the stream is lost).
    Discard,
}

/// The state of this direction's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Output {
    Open,
    /// A close frame, relayed or wsgate's own, has been written; nothing more follows it.
    CloseSent,
    /// Writing failed or was cut off; nothing more is written.
    Dead,
}

/// Something the session must decide about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// The input peer's valid close frame was approved for relay.
    Close { code: u16 },
    /// The input peer broke a framing rule; nothing of the offending frame was relayed.
    Violation(Violation),
    /// EOF or a read error.
    InputEnded,
    /// A write or flush error.
    OutputFailed,
}

#[derive(Debug)]
pub(super) struct Direction {
    scanner: Scanner,
    mode: Mode,
    /// Frames wsgate writes toward the upstream are masked.
    mask_output: bool,
    buf: Vec<u8>,
    written: usize,
    approved: usize,
    scanned: usize,
    filled: usize,
    injected: Option<Box<CloseFrame>>,
    injected_written: usize,
    close_relayed: bool,
    need_flush: bool,
    activity: bool,
    /// Since when the output has accepted nothing while bytes wait for it (the peer does
    /// not read); cleared by any progress. The session ends a stall at `send_timeout`.
    pub(super) stalled_since: Option<Instant>,
    pub(super) input_done: bool,
    /// The input peer sent a close frame (relayed, or seen while draining).
    pub(super) peer_closed: bool,
    /// The output peer sent a close frame (the other direction's `peer_closed`, set by the
    /// session before each poll): the close this output carries is then the last thing it
    /// will ever be sent, written with its FIN (`Shutdown::poll_write_last`).
    pub(super) output_peer_closed: bool,
    pub(super) output: Output,
    /// Frames relayed (wsgate's own close is not counted).
    pub(super) frames: u64,
    /// Payload bytes of the frames relayed, counted like `frames` when the scanner passes
    /// them on (wsgate's own close is not counted; frame headers and mask keys are not
    /// payload).
    pub(super) bytes: u64,
}

/// A session that ends gives its probe-sized buffer back too: a short session (one
/// message, or only the close) otherwise allocated, zeroed and freed one per direction
/// that got data.
impl Drop for Direction {
    fn drop(&mut self) {
        release(std::mem::take(&mut self.buf));
    }
}

impl Direction {
    pub(super) fn new(scanner: Scanner, mask_output: bool) -> Direction {
        Direction {
            scanner,
            mode: Mode::Relay,
            mask_output,
            buf: Vec::new(),
            written: 0,
            approved: 0,
            scanned: 0,
            filled: 0,
            injected: None,
            injected_written: 0,
            close_relayed: false,
            need_flush: false,
            activity: false,
            stalled_since: None,
            input_done: false,
            peer_closed: false,
            output_peer_closed: false,
            output: Output::Open,
            frames: 0,
            bytes: 0,
        }
    }

    /// Moves bytes until something needs the session's decision (`Ready`) or nothing more
    /// can happen before a wake-up (`Pending`, with every blocked operation registered).
    pub(super) fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
    ) -> Poll<Event>
    where
        R: AsyncRead + Unpin,
        W: Shutdown,
    {
        let mut reads = 0;
        loop {
            if let Some(event) = self.scan_buffered() {
                return Poll::Ready(event);
            }
            match self.poll_output(cx, writer) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => {
                    self.cut_output();
                    return Poll::Ready(Event::OutputFailed);
                }
                Poll::Pending => return Poll::Pending,
            }
            self.compact();
            if self.input_done {
                return Poll::Pending;
            }
            if reads == READS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match self.poll_fill(cx, reader) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    self.input_done = true;
                    return Poll::Ready(Event::InputEnded);
                }
                Poll::Ready(Ok(_)) => reads += 1,
                Poll::Pending => {
                    if self.filled == 0 {
                        release(std::mem::take(&mut self.buf));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Stops relaying the input at once; frames are still skipped to notice a close.
    pub(super) fn drain(&mut self) {
        if matches!(self.mode, Mode::Relay | Mode::Hold | Mode::Finish) {
            self.mode = Mode::Drain;
        }
    }

    /// Stops relaying and parsing the input.
    pub(super) fn discard(&mut self) {
        self.mode = Mode::Discard;
    }

    /// Part of a frame has been written to the output and the rest is still to come.
    pub(super) fn mid_frame_on_output(&self) -> bool {
        matches!(self.mode, Mode::Relay | Mode::Hold | Mode::Finish) && self.scanner.mid_frame()
    }

    /// Whether any bytes were relayed since the last call.
    pub(super) fn take_activity(&mut self) -> bool {
        std::mem::take(&mut self.activity)
    }
}

#[cfg(test)]
mod tests;
