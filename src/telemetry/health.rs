//! The process's readiness: flags flipped by startup, key loading, the session store and
//! shutdown, read by the admin listener's `/readyz`. Readiness never depends on the
//! upstream: a sidecar that waits for its app while the app waits for it deadlocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The process's readiness, flipped by startup, key loading and shutdown.
#[derive(Debug, Default)]
pub struct Health {
    listening: AtomicBool,
    keys_loaded: AtomicBool,
    draining: AtomicBool,
    /// A shared session store has not answered yet.
    sessions_waiting: AtomicBool,
}

/// Why `/readyz` answers 503; the one-word body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// The proxy listener is not serving yet.
    Starting,
    /// An issuer enabled in this environment has no keys.
    KeysUnavailable,
    /// A graceful shutdown is under way.
    Draining,
    /// The shared session store (Redis) has not answered yet.
    SessionsUnavailable,
}

impl Health {
    /// Not ready: nothing is listening, no keys are loaded, no drain.
    pub fn new() -> Arc<Health> {
        Arc::new(Health::default())
    }

    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::SeqCst);
    }

    pub fn set_keys_loaded(&self, loaded: bool) {
        self.keys_loaded.store(loaded, Ordering::SeqCst);
    }

    pub fn set_draining(&self, draining: bool) {
        self.draining.store(draining, Ordering::SeqCst);
    }

    pub fn set_sessions_waiting(&self, waiting: bool) {
        self.sessions_waiting.store(waiting, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }

    /// `Ok` when ready, else the first reason not to be; a drain outranks everything,
    /// since it is the one state that will not resolve itself.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if self.draining.load(Ordering::SeqCst) {
            Err(NotReady::Draining)
        } else if !self.listening.load(Ordering::SeqCst) {
            Err(NotReady::Starting)
        } else if !self.keys_loaded.load(Ordering::SeqCst) {
            Err(NotReady::KeysUnavailable)
        } else if self.sessions_waiting.load(Ordering::SeqCst) {
            Err(NotReady::SessionsUnavailable)
        } else {
            Ok(())
        }
    }
}

impl NotReady {
    pub fn as_str(self) -> &'static str {
        match self {
            NotReady::Starting => "starting",
            NotReady::KeysUnavailable => "keys_unavailable",
            NotReady::Draining => "draining",
            NotReady::SessionsUnavailable => "sessions_unavailable",
        }
    }
}
