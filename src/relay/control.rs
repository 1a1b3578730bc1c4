//! [`Control`]: what session control asks of a running relay from outside it: end the
//! session with a reason (a revocation: 1008 `token_revoked` to the client, 1001 to the
//! upstream, as a token expiry does), or move the token's expiry deadline (a refresh).
//!
//! The relay is one future polled in the connection's task; a request is a flag and a
//! value under a lock, and a wake-up of that task. The relay looks at the lock only when
//! the flag is set, so an idle session costs one atomic load per poll.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context;

use futures_util::task::AtomicWaker;
use tokio::time::Instant;

use crate::domain::close_reason::CloseReason;

/// A handle on one relay; cloned by whoever may act on the session.
#[derive(Clone, Default)]
pub struct Control(Arc<Inner>);

#[derive(Default)]
struct Inner {
    pending: AtomicBool,
    requests: Mutex<Requests>,
    waker: AtomicWaker,
}

/// What has been asked since the relay last looked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Requests {
    /// End the session: this reason's code to the client, 1001 to the upstream.
    pub close: Option<CloseReason>,
    /// The new token-expiry deadline (`None`: none).
    pub expires_at: Option<Option<Instant>>,
}

impl Control {
    pub fn new() -> Control {
        Control::default()
    }

    /// Ends the session with `reason` at the next frame boundary.
    pub fn close(&self, reason: CloseReason) {
        self.update(|requests| {
            requests.close.get_or_insert(reason);
        });
    }

    /// Replaces the session's token-expiry deadline.
    pub fn set_expiry(&self, expires_at: Option<Instant>) {
        self.update(|requests| requests.expires_at = Some(expires_at));
    }

    fn update(&self, change: impl FnOnce(&mut Requests)) {
        {
            let mut requests = match self.0.requests.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            change(&mut requests);
        }
        self.0.pending.store(true, Ordering::Release);
        self.0.waker.wake();
    }

    /// What was asked since the last call; registers the relay's task for the next ask.
    pub(super) fn take(&self, cx: &mut Context<'_>) -> Option<Requests> {
        self.0.waker.register(cx.waker());
        if !self.0.pending.swap(false, Ordering::Acquire) {
            return None;
        }
        let mut requests = match self.0.requests.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        Some(std::mem::take(&mut *requests))
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Control")
    }
}
