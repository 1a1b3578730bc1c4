//! [`Wakers`]: which of a relay's sources woke its task, so that a wake-up polls only what
//! it concerns.
//!
//! A relay is one future in its connection's task, waiting on three sources: the direction
//! toward the upstream (the client's input, the upstream's output), the direction toward
//! the client, and the rest (the timer, the shutdown token, session control). Polling all
//! of them on every wake-up made each message in one direction also poll the other
//! direction (a read that finds nothing and registers its waker again under the socket's
//! lock), the shutdown token (two locks), the timer and session control: measured with
//! callgrind, a third of the relay's own instructions per 64-byte message.
//!
//! So each source gets its own waker, which notes that it fired and then wakes the task;
//! a wake-up polls only the sources whose waker fired (the session polls both directions
//! again after any decision of its own). A source polled with its waker is registered
//! with it until it fires, so a source not polled misses nothing. The first wake-ups poll
//! everything with the task's waker, as does any wake-up after the task's waker changed:
//! a session that ends at once or stays idle allocates nothing for this.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};

/// Wake-ups polled with the task's waker before the sources get their own: the sessions
/// that end or go idle within them (a refused or short one, an idle one) allocate nothing.
/// One in tests, so that every relay test runs both ways.
const PLAIN_POLLS: u32 = if cfg!(test) { 1 } else { 8 };

/// The sources a wake-up is to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Woken {
    pub to_upstream: bool,
    pub to_client: bool,
    /// The timer, the shutdown token and session control.
    pub others: bool,
}

impl Woken {
    pub(super) const ALL: Woken = Woken {
        to_upstream: true,
        to_client: true,
        others: true,
    };
}

/// The relay's per-source wakers, once it has them.
#[derive(Default)]
pub(super) struct Wakers {
    plain_polls: u32,
    /// Boxed: an idle session's future holds a pointer, not three wakers (72 bytes).
    sources: Option<Box<Sources>>,
}

struct Sources {
    to_upstream: Source,
    to_client: Source,
    others: Source,
}

/// One source's waker, and the flag it sets before waking the task.
struct Source {
    flag: Arc<Flag>,
    waker: Waker,
}

struct Flag {
    fired: AtomicBool,
    task: Waker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Set before the task is woken: the poll that wake-up causes sees it.
        self.fired.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

impl Source {
    fn new(task: &Waker) -> Source {
        let flag = Arc::new(Flag {
            fired: AtomicBool::new(false),
            task: task.clone(),
        });
        Source {
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// Whether the source's waker fired since the last call.
    fn take(&self) -> bool {
        self.flag.fired.load(Ordering::Relaxed) && self.flag.fired.swap(false, Ordering::Acquire)
    }
}

impl Wakers {
    /// The sources this wake-up of the task (whose waker is `task`) is to poll.
    pub(super) fn woken(&mut self, task: &Waker) -> Woken {
        if let Some(sources) = &self.sources {
            if sources.others.flag.task.will_wake(task) {
                return Woken {
                    to_upstream: sources.to_upstream.take(),
                    to_client: sources.to_client.take(),
                    others: sources.others.take(),
                };
            }
        } else if self.plain_polls < PLAIN_POLLS {
            self.plain_polls += 1;
            return Woken::ALL;
        }
        // Every source is polled now, and so registered with its new waker.
        self.sources = Some(Box::new(Sources {
            to_upstream: Source::new(task),
            to_client: Source::new(task),
            others: Source::new(task),
        }));
        Woken::ALL
    }

    /// The waker for the direction toward the upstream (`task` until there are wakers).
    pub(super) fn to_upstream<'a>(&'a self, task: &'a Waker) -> &'a Waker {
        self.sources.as_ref().map_or(task, |s| &s.to_upstream.waker)
    }

    /// The waker for the direction toward the client.
    pub(super) fn to_client<'a>(&'a self, task: &'a Waker) -> &'a Waker {
        self.sources.as_ref().map_or(task, |s| &s.to_client.waker)
    }

    /// The waker for the timer, the shutdown token and session control.
    pub(super) fn others<'a>(&'a self, task: &'a Waker) -> &'a Waker {
        self.sources.as_ref().map_or(task, |s| &s.others.waker)
    }
}
