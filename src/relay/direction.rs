//! One direction of the relay: reads one peer, scans frame boundaries, writes the other.
//!
//! The buffer holds, in order: bytes approved by the scanner but not yet written
//! (`written..approved`), bytes skipped (while draining, or a peer's close replaced by
//! wsgate's own: `approved..scanned`), and a short unscanned tail (`scanned..filled`): a
//! partial header or a partial control frame. New bytes are read only once everything
//! approved is written (backpressure), so the buffer never holds more than one read. It is
//! allocated on the first byte and released when the direction goes idle with nothing
//! pending, so an idle session holds no relay buffer. It starts at 2 KiB when the first
//! read was short and grows to 16 KiB for bulk transfers.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::frame::{ControlFrame, Scan, Scanner, Skip, Violation};

/// Read size and buffer size per active direction.
pub(super) const BUFFER_SIZE: usize = 16 * 1024;
/// A direction whose 16 KiB buffer fills in one read is moving bulk data: a larger buffer
/// halves the syscalls per megabyte (measured: 16 KiB messages went from 20.8 to 9.1 µs of
/// proxy CPU each, docs/performance.md). Released like the others when the peer goes quiet.
pub(super) const BULK_BUFFER_SIZE: usize = 64 * 1024;
/// A read into a stack buffer first, so a direction whose peer is quiet allocates nothing.
const PROBE_SIZE: usize = 2 * 1024;
/// Reads per poll before yielding to the other direction and the rest of the runtime.
const READS_PER_POLL: u32 = 16;
/// Released probe-sized buffers kept per thread for the next direction that gets data.
const SPARE_BUFFERS: usize = 64;

thread_local! {
    /// Probe-sized buffers released by directions that went idle. Sessions exchanging
    /// small messages go idle after every message, and a fresh 2 KiB buffer per message
    /// and direction (zeroed, then freed) was a visible share of the relay's own CPU
    /// (docs/performance.md): glibc serves 2 KiB from its slower bins, not its per-thread
    /// cache. At most `SPARE_BUFFERS` (128 KiB) per thread are kept; a buffer's old
    /// contents are never read (only `..filled` is).
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A spare probe-sized buffer, if this thread has one.
fn take_spare() -> Option<Vec<u8>> {
    SPARE.with_borrow_mut(Vec::pop)
}

/// Keeps `buf` for reuse if it is probe-sized and there is room; else frees it.
fn release(buf: Vec<u8>) {
    if buf.len() == PROBE_SIZE {
        SPARE.with_borrow_mut(|spare| {
            if spare.len() < SPARE_BUFFERS {
                spare.push(buf);
            }
        });
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
    injected: Option<Box<ControlFrame>>,
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
    pub(super) output: Output,
    /// Frames relayed (wsgate's own close is not counted).
    pub(super) frames: u64,
    /// Payload bytes of the frames relayed, counted like `frames` when the scanner passes
    /// them on (wsgate's own close is not counted; frame headers and mask keys are not
    /// payload).
    pub(super) bytes: u64,
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
        W: AsyncWrite + Unpin,
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

    /// Queues wsgate's own close for the output, to be written at the next frame boundary.
    /// Does nothing if the output already carries (or has queued) a close or is dead.
    pub(super) fn inject_close(&mut self, code: u16, reason: &str) {
        if self.output != Output::Open || self.close_relayed || self.injected.is_some() {
            return;
        }
        self.injected = Some(Box::new(ControlFrame::close(
            code,
            reason,
            self.mask_output,
        )));
        self.injected_written = 0;
        if self.mode == Mode::Relay {
            self.mode = Mode::Finish;
        }
    }

    /// Queues wsgate's own close for the output like `inject_close`, but keeps relaying the
    /// input meanwhile: the close is written in place of the input peer's own close, or
    /// once the input ends, breaks a rule or is drained, or after `release_close`.
    pub(super) fn hold_close(&mut self, code: u16, reason: &str) {
        let relaying = self.mode == Mode::Relay;
        self.inject_close(code, reason);
        if relaying && self.mode == Mode::Finish {
            self.mode = Mode::Hold;
        }
    }

    /// A close queued by `hold_close` is still waiting for the input peer's close.
    pub(super) fn holds_close(&self) -> bool {
        self.mode == Mode::Hold && self.injected.is_some()
    }

    /// Sends the held close after the frame in flight; nothing more is relayed after it.
    pub(super) fn release_close(&mut self) {
        if self.mode == Mode::Hold {
            self.mode = Mode::Finish;
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

    /// Writes nothing more to the output (its peer is gone, or it cannot be finished).
    pub(super) fn cut_output(&mut self) {
        self.output = Output::Dead;
        self.injected = None;
        self.written = self.approved;
        self.stalled_since = None;
    }

    /// Part of a frame has been written to the output and the rest is still to come.
    pub(super) fn mid_frame_on_output(&self) -> bool {
        matches!(self.mode, Mode::Relay | Mode::Hold | Mode::Finish) && self.scanner.mid_frame()
    }

    /// Nothing more will be written to the output.
    pub(super) fn output_settled(&self) -> bool {
        match self.output {
            Output::Dead => true,
            Output::CloseSent => !self.need_flush && self.written == self.approved,
            Output::Open => false,
        }
    }

    /// Whether any bytes were relayed since the last call.
    pub(super) fn take_activity(&mut self) -> bool {
        std::mem::take(&mut self.activity)
    }

    fn scan_buffered(&mut self) -> Option<Event> {
        loop {
            let input = self.buf.get(self.scanned..self.filled).unwrap_or_default();
            match self.mode {
                Mode::Relay | Mode::Hold | Mode::Finish => {
                    if self.mode == Mode::Finish && !self.scanner.mid_frame() {
                        self.mode = Mode::Drain;
                        continue;
                    }
                    match self.scanner.scan(input) {
                        Scan::NeedMore => return None,
                        Scan::Relay { len, new_frame } => {
                            self.approve(len);
                            self.frames += u64::from(new_frame);
                            self.count_payload(len);
                        }
                        Scan::Close { len, code: _ } if self.mode == Mode::Hold => {
                            // wsgate's held close goes out in place of the peer's.
                            self.scanner.take_header_bytes();
                            self.scanned += len;
                            self.peer_closed = true;
                            self.mode = Mode::Discard;
                        }
                        Scan::Close { len, code } => {
                            self.approve(len);
                            self.frames += 1;
                            self.count_payload(len);
                            self.close_relayed = true;
                            self.peer_closed = true;
                            // Data after a close is dropped (RFC 6455 §5.5.1).
                            self.mode = Mode::Discard;
                            return Some(Event::Close { code });
                        }
                        Scan::Violation(violation) => {
                            self.mode = Mode::Drain;
                            return Some(Event::Violation(violation));
                        }
                    }
                }
                Mode::Drain => match self.scanner.skip(input) {
                    Skip::NeedMore => return None,
                    Skip::Skipped { len, close } => {
                        self.scanned += len;
                        if close {
                            self.peer_closed = true;
                            self.mode = Mode::Discard;
                        }
                    }
                    Skip::Lost => self.mode = Mode::Discard,
                },
                Mode::Discard => {
                    self.scanned = self.filled;
                    return None;
                }
            }
        }
    }

    /// Adds the payload among `len` bytes just passed on (their headers taken out).
    fn count_payload(&mut self, len: usize) {
        let headers = self.scanner.take_header_bytes();
        self.bytes += (len as u64).saturating_sub(headers);
    }

    fn approve(&mut self, len: usize) {
        self.approved += len;
        self.scanned = self.approved;
        self.activity = true;
    }

    /// Writes the approved bytes, then wsgate's close once at a frame boundary, then flushes.
    fn poll_output<W>(&mut self, cx: &mut Context<'_>, writer: &mut W) -> Poll<io::Result<()>>
    where
        W: AsyncWrite + Unpin,
    {
        if self.output == Output::Dead {
            self.written = self.approved;
            return Poll::Ready(Ok(()));
        }
        while self.written < self.approved {
            let pending = self
                .buf
                .get(self.written..self.approved)
                .unwrap_or_default();
            let polled = Pin::new(&mut *writer).poll_write(cx, pending);
            let n = ready!(note_progress(&mut self.stalled_since, polled))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
            self.need_flush = true;
        }
        if self.close_relayed {
            self.output = Output::CloseSent;
        }
        let at_boundary = matches!(self.mode, Mode::Drain | Mode::Discard);
        if self.output == Output::Open && at_boundary {
            if let Some(frame) = self.injected.as_deref() {
                let bytes = frame.as_bytes();
                while let Some(rest) = bytes.get(self.injected_written..).filter(|r| !r.is_empty())
                {
                    let polled = Pin::new(&mut *writer).poll_write(cx, rest);
                    let n = ready!(note_progress(&mut self.stalled_since, polled))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    self.injected_written += n;
                    self.need_flush = true;
                }
                self.injected = None;
                self.output = Output::CloseSent;
            }
        }
        if self.need_flush {
            let polled = Pin::new(&mut *writer).poll_flush(cx);
            ready!(note_progress(&mut self.stalled_since, polled))?;
            self.need_flush = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Once everything approved is written, moves the unscanned tail to the front.
    fn compact(&mut self) {
        if self.written != self.approved || (self.written == 0 && self.scanned == 0) {
            return;
        }
        let tail = self.scanned..self.filled;
        self.filled = tail.len();
        if !tail.is_empty() {
            self.buf.copy_within(tail, 0);
        }
        self.written = 0;
        self.approved = 0;
        self.scanned = 0;
    }

    /// Reads more input. Called only after `compact`, so the buffer holds at most a short
    /// tail and has room.
    fn poll_fill<R>(&mut self, cx: &mut Context<'_>, reader: &mut R) -> Poll<io::Result<usize>>
    where
        R: AsyncRead + Unpin,
    {
        if self.buf.is_empty() && self.mode != Mode::Discard {
            // Read straight into a spare buffer when there is one: no allocation, no copy.
            if let Some(spare) = take_spare() {
                self.buf = spare;
            }
        }
        if self.buf.is_empty() {
            let mut probe = [MaybeUninit::<u8>::uninit(); PROBE_SIZE];
            let mut read_buf = ReadBuf::uninit(&mut probe);
            ready!(Pin::new(&mut *reader).poll_read(cx, &mut read_buf))?;
            let got = read_buf.filled();
            if !got.is_empty() && self.mode != Mode::Discard {
                // A short read means the peer's burst fit the probe: start small.
                let size = if got.len() == PROBE_SIZE {
                    BUFFER_SIZE
                } else {
                    PROBE_SIZE
                };
                let mut buf = vec![0; size];
                if let Some(start) = buf.get_mut(..got.len()) {
                    start.copy_from_slice(got);
                }
                self.buf = buf;
                self.filled = got.len();
            }
            return Poll::Ready(Ok(got.len()));
        }
        let Some(space) = self.buf.get_mut(self.filled..).filter(|s| !s.is_empty()) else {
            // Unreachable while tails stay shorter than a control frame; fail closed.
            return Poll::Ready(Err(io::ErrorKind::OutOfMemory.into()));
        };
        let mut read_buf = ReadBuf::new(space);
        ready!(Pin::new(&mut *reader).poll_read(cx, &mut read_buf))?;
        let n = read_buf.filled().len();
        self.filled += n;
        if self.filled == self.buf.len() && self.buf.len() < BULK_BUFFER_SIZE {
            // The peer sends more than this buffer's worth at a time: grow a step
            // (probe → 16 KiB → 64 KiB).
            let next = if self.buf.len() < BUFFER_SIZE {
                BUFFER_SIZE
            } else {
                BULK_BUFFER_SIZE
            };
            self.buf.resize(next, 0);
        }
        Poll::Ready(Ok(n))
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::super::Extensions;
    use super::super::frame::{Limits, Sender};
    use super::*;

    #[tokio::test]
    async fn the_buffer_is_released_when_the_direction_goes_idle() {
        let limits = Limits {
            max_frame_bytes: 1 << 20,
            max_message_bytes: 1 << 20,
            extensions: Extensions::None,
        };
        let mut direction = Direction::new(Scanner::new(Sender::Upstream, limits), false);
        let (mut peer, mut input) = duplex(64 * 1024);
        let (mut output, _other_peer) = duplex(64 * 1024);
        let mut cx = Context::from_waker(Waker::noop());

        assert!(
            direction
                .poll(&mut cx, &mut input, &mut output)
                .is_pending()
        );
        assert_eq!(direction.buf.capacity(), 0, "nothing allocated before data");

        // A whole frame and the first byte of the next header.
        peer.write_all(&[0x82, 0x03, 1, 2, 3, 0x82])
            .await
            .expect("write");
        assert!(
            direction
                .poll(&mut cx, &mut input, &mut output)
                .is_pending()
        );
        assert_eq!(direction.frames, 1);
        assert_eq!(
            direction.bytes, 3,
            "payload bytes, the 2-byte header left out"
        );
        assert_eq!(direction.buf.len(), PROBE_SIZE, "a partial header is kept");

        peer.write_all(&[0x00]).await.expect("write");
        assert!(
            direction
                .poll(&mut cx, &mut input, &mut output)
                .is_pending()
        );
        assert_eq!(direction.frames, 2);
        assert_eq!(direction.buf.capacity(), 0, "released once idle");
    }

    #[tokio::test]
    async fn a_released_buffer_is_reused_by_the_next_burst() {
        let limits = Limits {
            max_frame_bytes: 1 << 20,
            max_message_bytes: 1 << 20,
            extensions: Extensions::None,
        };
        let mut direction = Direction::new(Scanner::new(Sender::Upstream, limits), false);
        let (mut peer, mut input) = duplex(64 * 1024);
        let (mut output, mut other_peer) = duplex(64 * 1024);
        let mut cx = Context::from_waker(Waker::noop());
        let spares = || SPARE.with_borrow(Vec::len);

        peer.write_all(&[0x82, 0x01, 7]).await.expect("write");
        assert!(
            direction
                .poll(&mut cx, &mut input, &mut output)
                .is_pending()
        );
        assert_eq!(direction.buf.capacity(), 0, "released once idle");
        let kept = spares();
        assert!(kept >= 1, "the idle direction's buffer is kept for reuse");

        peer.write_all(&[0x82, 0x01, 8]).await.expect("write");
        assert!(
            direction
                .poll(&mut cx, &mut input, &mut output)
                .is_pending()
        );
        assert_eq!(direction.frames, 2);
        assert_eq!(
            spares(),
            kept,
            "the next burst took a spare and gave it back"
        );
        let mut relayed = [0u8; 6];
        other_peer.read_exact(&mut relayed).await.expect("read");
        assert_eq!(relayed, [0x82, 0x01, 7, 0x82, 0x01, 8], "relayed verbatim");
    }
}
