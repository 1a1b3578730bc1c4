//! A direction's input buffer: reading the peer (a stack probe first, so a quiet peer
//! costs no allocation), growing the buffer for bulk transfers, moving the unscanned tail
//! to the front, and the per-thread spare buffers that directions going idle give back.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

use super::{Direction, Mode};

/// Read size and buffer size per active direction.
const BUFFER_SIZE: usize = 16 * 1024;
/// A direction whose 16 KiB buffer fills in one read is moving bulk data: a larger buffer
/// halves the syscalls per megabyte (measured: 16 KiB messages went from 20.8 to 9.1 µs of
/// proxy CPU each, docs/performance.md). Released like the others when the peer goes quiet.
const BULK_BUFFER_SIZE: usize = 64 * 1024;
/// A read into a stack buffer first, so a direction whose peer is quiet allocates nothing.
pub(super) const PROBE_SIZE: usize = 2 * 1024;
/// Reads per poll before yielding to the other direction and the rest of the runtime.
pub(super) const READS_PER_POLL: u32 = 16;
/// Released probe-sized buffers kept per thread for the next direction that gets data.
const SPARE_BUFFERS: usize = 64;

thread_local! {
    /// Probe-sized buffers released by directions that went idle. Sessions exchanging
    /// small messages go idle after every message, and a fresh 2 KiB buffer per message
    /// and direction (zeroed, then freed) was a visible share of the relay's own CPU
    /// (docs/performance.md): glibc serves 2 KiB from its slower bins, not its per-thread
    /// cache. At most `SPARE_BUFFERS` (128 KiB) per thread are kept; a buffer's old
    /// contents are never read (only `..filled` is).
    pub(super) static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A spare probe-sized buffer, if this thread has one.
fn take_spare() -> Option<Vec<u8>> {
    SPARE.with_borrow_mut(Vec::pop)
}

/// Keeps `buf` for reuse if it is probe-sized and there is room; else frees it.
pub(super) fn release(buf: Vec<u8>) {
    if buf.len() == PROBE_SIZE {
        SPARE.with_borrow_mut(|spare| {
            if spare.len() < SPARE_BUFFERS {
                spare.push(buf);
            }
        });
    }
}

impl Direction {
    /// Once everything approved is written, moves the unscanned tail to the front.
    pub(super) fn compact(&mut self) {
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
    pub(super) fn poll_fill<R>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
    ) -> Poll<io::Result<usize>>
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
