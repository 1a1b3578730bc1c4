//! Deadlines kept off the event loops: [`Timer::coarse`] hands out deadlines that one
//! process-wide thread ("wsgate-timer") fires, so a serving runtime with no tokio timer
//! pending waits in `epoll_wait` without a timeout.
//!
//! With any tokio timer pending, every wait of the runtime's event loop has a finite
//! timeout: the kernel arms and cancels a high-resolution timer around each
//! `epoll_wait`, and tokio's time driver takes its lock and reads the clock around each
//! park. A relay session always has one (the token's `exp`, the idle and close deadlines),
//! and a single client's 64 B round trip cost 8.4 % more with it, twice measured
//! (`docs/performance.md`, "Fifteenth pass"). nginx keeps the same cost out of its loop
//! with `timer_resolution`.
//!
//! The thread holds the deadlines in order and sleeps until the earliest plus [`SLACK`],
//! firing everything due by then at once: a deadline fires at or after its instant, never
//! before, and at most [`SLACK`] (plus scheduling) after. Registering a deadline takes a
//! mutex and inserts it; it wakes the thread only when it is due before the thread's next
//! wake-up (less the slack), which a stream of equal timeouts never is. A deadline that is
//! dropped or reset before it fires is removed at once, so the thread holds only the live
//! ones. Polling a deadline that is not due reads the clock and, with the same waker as
//! before, takes no lock.
//!
//! [`Timer::Tokio`] gives tokio's own timers behind the same type: for code that runs on
//! paused tokio time (the relay's and the upstream's unit tests), and if the thread could
//! not be started.

// The timer thread runs on the system's monotonic clock, which tokio's `Instant` wraps:
// its deadlines cannot follow paused time, and `Timer::Tokio` is there for code that must.
#![allow(clippy::disallowed_types)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::clock::budget_end;

/// How late the thread may fire a deadline to fire others with it: one wake-up serves
/// every deadline due within this of the earliest.
pub const SLACK: Duration = Duration::from_millis(10);

/// Where deadlines are kept: the process-wide timer thread, or tokio's timer wheel of the
/// runtime that polls them.
#[derive(Debug, Clone)]
pub enum Timer {
    /// tokio's timers (they follow paused time in tests).
    Tokio,
    /// The timer thread.
    Coarse(Coarse),
}

/// A handle on the process-wide timer thread.
#[derive(Debug, Clone)]
pub struct Coarse(&'static Shared);

/// The error of [`Timer::timeout_at`]: the deadline came first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl Timer {
    /// The process-wide timer thread, started on first use; tokio's timers if the thread
    /// cannot be started (said once in the log).
    pub fn coarse() -> Timer {
        static SHARED: OnceLock<Option<&'static Shared>> = OnceLock::new();
        let shared = SHARED.get_or_init(|| {
            let shared: &'static Shared = Box::leak(Box::new(Shared {
                state: Mutex::new(State {
                    due: BTreeMap::new(),
                    next_id: 0,
                    thread: Sleep::Busy,
                }),
                changed: Condvar::new(),
            }));
            match std::thread::Builder::new()
                .name("wsgate-timer".into())
                .spawn(move || shared.run())
            {
                Ok(_) => Some(shared),
                Err(error) => {
                    tracing::warn!(
                        error = %error,
                        "cannot start the timer thread; deadlines use the event loops' timers"
                    );
                    None
                }
            }
        });
        match shared {
            Some(shared) => Timer::Coarse(Coarse(shared)),
            None => Timer::Tokio,
        }
    }

    /// A deadline at `at`; nothing is registered until it is first polled.
    pub fn deadline(&self, at: Instant) -> Deadline {
        Deadline(match self {
            Timer::Tokio => Kind::Tokio(Box::pin(tokio::time::sleep_until(at))),
            Timer::Coarse(Coarse(shared)) => Kind::Coarse(Entry {
                shared,
                at: at.into_std(),
                registered: None,
            }),
        })
    }

    /// The clock its deadlines are kept on: tokio's (paused in tests) or the system's
    /// monotonic clock, which the timer thread reads.
    pub fn now(&self) -> Instant {
        match self {
            Timer::Tokio => Instant::now(),
            Timer::Coarse(_) => Instant::from_std(std::time::Instant::now()),
        }
    }

    /// A deadline `duration` from now.
    pub fn sleep(&self, duration: Duration) -> Deadline {
        self.deadline(budget_end(self.now(), duration))
    }

    /// `future`'s output, unless `at` comes first. The future is polled first, as
    /// `tokio::time::timeout_at` does: one that is ready at once never registers the
    /// deadline.
    pub fn timeout_at<F: Future>(&self, at: Instant, future: F) -> Timeout<F> {
        Timeout {
            future,
            deadline: self.deadline(at),
        }
    }

    /// `future`'s output, unless `duration` passes first (from now, not from the first
    /// poll).
    pub fn timeout<F: Future>(&self, duration: Duration, future: F) -> Timeout<F> {
        self.timeout_at(budget_end(self.now(), duration), future)
    }
}

pin_project_lite::pin_project! {
    /// [`Timer::timeout_at`]'s future: the wrapped future, stored once beside its
    /// deadline.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        deadline: Deadline,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(this.deadline).poll(cx).map(|()| Err(Elapsed))
    }
}

/// A resettable deadline: a future that completes at or after its instant.
#[derive(Debug)]
pub struct Deadline(Kind);

#[derive(Debug)]
enum Kind {
    Tokio(Pin<Box<tokio::time::Sleep>>),
    Coarse(Entry),
}

impl Deadline {
    /// The instant it completes at (or after).
    pub fn deadline(&self) -> Instant {
        match &self.0 {
            Kind::Tokio(sleep) => sleep.deadline(),
            Kind::Coarse(entry) => Instant::from_std(entry.at),
        }
    }

    /// Moves it to `at`, whether or not it has completed.
    pub fn reset(&mut self, at: Instant) {
        match &mut self.0 {
            Kind::Tokio(sleep) => sleep.as_mut().reset(at),
            Kind::Coarse(entry) => entry.reset(at.into_std()),
        }
    }

    /// Whether its instant has passed.
    pub fn is_elapsed(&self) -> bool {
        self.deadline() <= Instant::now()
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.get_mut().0 {
            Kind::Tokio(sleep) => sleep.as_mut().poll(cx),
            Kind::Coarse(entry) => entry.poll(cx),
        }
    }
}

/// hyper's timer (`header_read_timeout` of the connections hyper serves) on the same
/// deadlines.
impl hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Timer::sleep(self, duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.deadline(Instant::from_std(deadline)))
    }

    fn now(&self) -> std::time::Instant {
        Timer::now(self).into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<Deadline>() {
            Some(deadline) => deadline.get_mut().reset(Instant::from_std(new_deadline)),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

impl hyper::rt::Sleep for Deadline {}

type Key = (std::time::Instant, u64);

/// The timer thread's state, shared with every deadline.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the thread: a deadline due before its next wake-up was registered.
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// The registered deadlines in the order they are due, each with the waker of the task
    /// that polled it last. The id makes equal instants distinct keys.
    due: BTreeMap<Key, Waker>,
    next_id: u64,
    thread: Sleep,
}

/// What the thread is doing, so that a registration wakes it only when it must.
#[derive(Debug, Clone, Copy)]
enum Sleep {
    /// Firing, or about to look at `due` again: it will see anything registered now.
    Busy,
    /// Asleep until this instant.
    Until(std::time::Instant),
    /// Asleep with nothing registered.
    Forever,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still holds a consistent map.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `key`; wakes the thread if it would otherwise fire it more than [`SLACK`]
    /// late.
    fn insert(&self, state: &mut State, key: Key, waker: Waker) {
        state.due.insert(key, waker);
        let wake = match state.thread {
            Sleep::Busy => false,
            Sleep::Forever => true,
            Sleep::Until(until) => key.0.checked_add(SLACK).is_some_and(|late| late < until),
        };
        if wake {
            state.thread = Sleep::Busy;
            self.changed.notify_one();
        }
    }

    /// The thread's loop: fire what is due, sleep until the earliest deadline left plus
    /// the slack, or until woken.
    fn run(&self) {
        let mut fired: Vec<Waker> = Vec::new();
        let mut state = self.lock();
        loop {
            let now = std::time::Instant::now();
            while let Some(entry) = state.due.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                fired.push(entry.remove());
            }
            if !fired.is_empty() {
                state.thread = Sleep::Busy;
                drop(state);
                for waker in fired.drain(..) {
                    // A waker that panics must not take every other deadline with this
                    // thread: the panic is reported by the hook and the thread goes on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
                }
                state = self.lock();
                continue;
            }
            state = match state.due.first_key_value().map(|(key, _)| key.0) {
                None => {
                    state.thread = Sleep::Forever;
                    self.changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner)
                }
                Some(earliest) => match earliest.checked_add(SLACK) {
                    Some(until) => {
                        state.thread = Sleep::Until(until);
                        self.changed
                            .wait_timeout(state, until.saturating_duration_since(now))
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                    // Past what an `Instant` holds: as good as never.
                    None => {
                        state.thread = Sleep::Forever;
                        self.changed
                            .wait(state)
                            .unwrap_or_else(PoisonError::into_inner)
                    }
                },
            };
            state.thread = Sleep::Busy;
        }
    }
}

/// A deadline on the timer thread.
#[derive(Debug)]
struct Entry {
    shared: &'static Shared,
    at: std::time::Instant,
    /// Its id and the waker it was registered with, once polled; the thread removes the
    /// key when it fires it, `reset` and drop when it has not.
    registered: Option<(u64, Waker)>,
}

impl Entry {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if std::time::Instant::now() >= self.at {
            return Poll::Ready(());
        }
        match &mut self.registered {
            Some((_, waker)) if waker.will_wake(cx.waker()) => Poll::Pending,
            Some((id, waker)) => {
                let mut state = self.shared.lock();
                match state.due.get_mut(&(self.at, *id)) {
                    Some(registered) => {
                        registered.clone_from(cx.waker());
                        waker.clone_from(cx.waker());
                        Poll::Pending
                    }
                    // Fired between the clock read above and the lock.
                    None => Poll::Ready(()),
                }
            }
            None => {
                let mut state = self.shared.lock();
                let id = state.next_id;
                state.next_id += 1;
                self.shared
                    .insert(&mut state, (self.at, id), cx.waker().clone());
                self.registered = Some((id, cx.waker().clone()));
                Poll::Pending
            }
        }
    }

    fn reset(&mut self, at: std::time::Instant) {
        let old = std::mem::replace(&mut self.at, at);
        if let Some((id, waker)) = &self.registered {
            let mut state = self.shared.lock();
            let removed = state.due.remove(&(old, *id));
            self.shared.insert(&mut state, (at, *id), waker.clone());
            drop(state);
            // A waker's drop may run arbitrary code: never under the lock.
            drop(removed);
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some((id, _)) = &self.registered {
            // Dropped after the statement has released the lock.
            let _removed = self.shared.lock().due.remove(&(self.at, *id));
        }
    }
}

#[cfg(test)]
mod tests;
