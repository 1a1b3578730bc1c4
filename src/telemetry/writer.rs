//! The coalescing log writer: log calls append to one shared buffer, a background thread
//! writes it out in bursts.
//!
//! `tracing_appender::non_blocking` sent each line through a channel and woke its worker
//! thread for nearly every line (a futex wake plus crossbeam's `sched_yield` spinning,
//! ~0.5 futex + 0.45 `sched_yield` + 0.5 `write` per handshake under strace), and those
//! wakeups context-switched on the proxy's own cores. Here a log call only copies its line
//! into a `Vec` under a mutex: no system call and no wakeup, except for the first line
//! after the buffer was emptied, which wakes the thread ("wsgate-log"). The thread then
//! waits [`COALESCE`] so the rest of the burst gathers, takes the whole buffer and writes
//! it with one `write_all`. An idle process makes no wakeups at all: the thread waits
//! without a timeout while the buffer is empty.
//!
//! Backpressure, for when the output stalls (a stuck pipe, a full disk): above
//! [`HIGH_WATER`] the thread is woken at once instead of after the pause; at
//! [`HARD_CAP`] a log call blocks until the thread has taken the buffer, so lines are
//! delayed but never dropped (what `non_blocking`'s `lossy(false)` did). Memory stays
//! bounded at about twice the cap: one buffer being written, one filling.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the thread waits after the first line of a burst before writing: long enough
/// to gather a burst of handshakes into one `write(2)`, short enough that `tail -f` and
/// tests waiting for a line do not notice. Under sustained load this caps the writes at
/// ~50 a second.
const COALESCE: Duration = Duration::from_millis(20);
/// Queued bytes above which the thread writes without waiting out [`COALESCE`].
const HIGH_WATER: usize = 1 << 20;
/// Queued bytes at which log calls block until the thread takes the buffer (the output is
/// stuck; better to slow down than to lose lines or grow without bound).
const HARD_CAP: usize = 16 << 20;
/// How long dropping the [`LogGuard`] waits for the queued lines to be written. Bounded
/// so that a stuck stdout cannot keep the process from exiting.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(5);
/// After writing a batch, a buffer that grew beyond this (a burst) is released instead of
/// kept for reuse.
const KEEP_CAPACITY: usize = 256 * 1024;

/// The thresholds of one writer; [`Limits::DEFAULT`] in production, smaller in tests.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) coalesce: Duration,
    pub(super) high_water: usize,
    pub(super) hard_cap: usize,
}

impl Limits {
    pub(super) const DEFAULT: Limits = Limits {
        coalesce: COALESCE,
        high_water: HIGH_WATER,
        hard_cap: HARD_CAP,
    };
}

/// The `MakeWriter` handed to the subscriber: every line it gets is queued for the
/// thread.
#[derive(Clone)]
pub(super) struct CoalescingWriter(Arc<Shared>);

/// Keeps the thread running; dropping it writes everything queued and joins the thread.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The writer installed by `init_logging`, for [`flush`] on paths that exit the process
/// without unwinding to the guard.
static INSTALLED: OnceLock<CoalescingWriter> = OnceLock::new();

struct Shared {
    state: Mutex<State>,
    /// Wakes the thread: a line arrived in an empty buffer, the buffer crossed the high
    /// water mark, a flush was asked for, or shutdown.
    work: Condvar,
    /// Wakes those waiting on the thread (log calls blocked at the cap, [`flush`], the
    /// guard's drop): it took the buffer, finished a write, or exited.
    progress: Condvar,
    /// Where batches go. Behind its own lock so that log calls never wait for a `write`,
    /// only for the copy of a line.
    sink: Mutex<Box<dyn Write + Send>>,
    limits: Limits,
}

struct State {
    /// Lines queued and not yet taken by the thread.
    queued: Vec<u8>,
    /// The thread waits for the buffer to become non-empty: the next line must wake it.
    idle: bool,
    /// The thread has taken a batch and is writing it.
    writing: bool,
    /// Someone waits for everything queued to be written: skip the coalescing pause.
    urgent: bool,
    shutdown: bool,
    /// The thread has exited (or never started): lines go straight to the sink.
    finished: bool,
    /// How many threads wait on `progress`; it is only signalled when some do.
    waiting: usize,
}

/// Starts the thread writing to `sink` and returns the writer to install and its guard.
/// If the thread cannot be started, lines are written to `sink` directly, one `write` per
/// line, rather than lost.
pub(super) fn coalescing(
    sink: Box<dyn Write + Send>,
    limits: Limits,
) -> (CoalescingWriter, LogGuard) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queued: Vec::new(),
            idle: false,
            writing: false,
            urgent: false,
            shutdown: false,
            finished: false,
            waiting: 0,
        }),
        work: Condvar::new(),
        progress: Condvar::new(),
        sink: Mutex::new(sink),
        limits,
    });
    let thread = std::thread::Builder::new()
        .name("wsgate-log".to_owned())
        .spawn({
            let shared = Arc::clone(&shared);
            move || shared.run()
        });
    let thread = match thread {
        Ok(thread) => Some(thread),
        Err(error) => {
            eprintln!(
                "wsgate: cannot start the log writer thread ({error}); writing logs directly"
            );
            shared.lock().finished = true;
            None
        }
    };
    let writer = CoalescingWriter(Arc::clone(&shared));
    (writer, LogGuard { shared, thread })
}

/// Remembers `writer` as the one [`flush`] flushes (the first one installed wins).
pub(super) fn set_installed(writer: CoalescingWriter) {
    let _ = INSTALLED.set(writer);
}

/// Writes everything queued so far by the installed writer, waiting at most `patience`
/// (the output may be stuck). For paths that end the process with
/// `std::process::exit`, which skips the [`LogGuard`]'s drop.
pub fn flush(patience: Duration) {
    if let Some(writer) = INSTALLED.get() {
        writer.0.flush(patience);
    }
}

/// Queues one whole line (ending in `\n`) on the installed writer, behind every line
/// logged before it; without an installed writer (tests, logging never started) it goes
/// straight to stdout.
pub(super) fn write_line(line: &[u8]) -> io::Result<()> {
    match INSTALLED.get() {
        Some(writer) => writer.0.append(line),
        None => io::stdout().lock().write_all(line),
    }
}

impl CoalescingWriter {
    /// Writes everything queued so far, waiting at most `patience`.
    #[cfg(test)]
    pub(super) fn flush(&self, patience: Duration) {
        self.0.flush(patience);
    }
}

impl<'a> MakeWriter<'a> for CoalescingWriter {
    type Writer = Append<'a>;

    fn make_writer(&'a self) -> Append<'a> {
        Append(&self.0)
    }
}

/// What one log call writes through: each `write` (tracing-subscriber makes one per line)
/// is queued whole.
pub(super) struct Append<'a>(&'a Shared);

impl Write for Append<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.append(bytes)?;
        Ok(bytes.len())
    }

    /// Nothing: lines are flushed by the thread, and forcing a `write(2)` per line is what
    /// this writer exists to avoid.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_one();
        let finished = self
            .shared
            .wait_for(SHUTDOWN_PATIENCE, |state| state.finished);
        match self.thread.take() {
            Some(thread) if finished => {
                let _ = thread.join();
            }
            // Still blocked in a write: leave it to die with the process.
            Some(_) => eprintln!(
                "wsgate: log output stuck for {SHUTDOWN_PATIENCE:?}; exiting without the last log lines"
            ),
            None => {}
        }
    }
}

impl Shared {
    /// The state, even if a thread panicked while holding the lock: the buffer is only
    /// ever appended to or swapped whole, so it is consistent either way.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues one line, waking the thread only when it is needed.
    fn append(&self, line: &[u8]) -> io::Result<()> {
        if line.is_empty() {
            return Ok(());
        }
        let limits = self.limits;
        let mut state = self.lock();
        if state.queued.len() >= limits.hard_cap && !state.finished {
            state.waiting += 1;
            while state.queued.len() >= limits.hard_cap && !state.finished {
                state = self
                    .progress
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            state.waiting -= 1;
        }
        if state.finished {
            drop(state);
            return self.write_out(line);
        }
        let before = state.queued.len();
        state.queued.extend_from_slice(line);
        let after = state.queued.len();
        let wake = (before == 0 && state.idle)
            || (before < limits.high_water && after >= limits.high_water);
        drop(state);
        if wake {
            self.work.notify_one();
        }
        Ok(())
    }

    /// Writes `bytes` to the sink now.
    fn write_out(&self, bytes: &[u8]) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        sink.write_all(bytes)?;
        sink.flush()
    }

    /// Asks the thread to write everything queued now and waits (at most `patience`) until
    /// it has.
    fn flush(&self, patience: Duration) {
        {
            let mut state = self.lock();
            if state.finished || (state.queued.is_empty() && !state.writing) {
                return;
            }
            state.urgent = true;
        }
        self.work.notify_one();
        self.wait_for(patience, |state| {
            state.finished || (state.queued.is_empty() && !state.writing)
        });
    }

    /// Waits on `progress` until `done` holds or `patience` runs out; returns whether
    /// `done` held.
    // A Condvar waits real time, so the deadline is std's real-time clock, not tokio's
    // (pausable) one: under paused time the loop would never reach it.
    #[allow(clippy::disallowed_types)]
    fn wait_for(&self, patience: Duration, done: impl Fn(&State) -> bool) -> bool {
        use std::time::Instant;
        let deadline = Instant::now() + patience;
        let mut state = self.lock();
        state.waiting += 1;
        while !done(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .progress
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.waiting -= 1;
        done(&state)
    }

    /// Signals `progress` if anyone waits on it.
    fn progressed(&self, state: &State) {
        if state.waiting > 0 {
            self.progress.notify_all();
        }
    }

    /// The thread: wait for lines, pause to gather the burst, write it, repeat; on shutdown
    /// write what is left and exit.
    fn run(&self) {
        // Marks the thread finished however it ends, so that nobody waits for it forever.
        let _finish = Finish(self);
        let limits = self.limits;
        let mut batch = Vec::new();
        let mut reported = false;
        let mut state = self.lock();
        loop {
            while state.queued.is_empty() && !state.shutdown {
                state.urgent = false;
                state.idle = true;
                state = self
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.idle = false;
            }
            if state.queued.is_empty() {
                break; // shut down, and everything written
            }
            if !state.shutdown && !state.urgent && state.queued.len() < limits.high_water {
                state = self
                    .work
                    .wait_timeout_while(state, limits.coalesce, |state| {
                        !state.shutdown && !state.urgent && state.queued.len() < limits.high_water
                    })
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut state.queued, &mut batch);
            state.writing = true;
            // Log calls blocked at the cap can go on.
            self.progressed(&state);
            drop(state);

            if let Err(error) = self.write_out(&batch) {
                // Nowhere better to say so than stderr, and only once: the output is
                // probably gone for good (a closed pipe).
                if !reported {
                    eprintln!("wsgate: cannot write log lines: {error}");
                    reported = true;
                }
            }
            batch.clear();
            if batch.capacity() > KEEP_CAPACITY {
                batch = Vec::new();
            }

            state = self.lock();
            state.writing = false;
            if state.queued.is_empty() {
                state.urgent = false;
            }
            self.progressed(&state);
        }
    }
}

/// Sets `finished` when the thread ends, even by a panic: from then on lines go straight
/// to the sink, and log calls blocked at the cap or a guard waiting to join are released.
struct Finish<'a>(&'a Shared);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.finished = true;
        self.0.progressed(&state);
    }
}
