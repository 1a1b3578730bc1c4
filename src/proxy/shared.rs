//! [`Proxy`]: what every connection on the proxy listener shares. The policy in force (a
//! reload swaps it whole, and each request keeps the one it started with), the
//! listener's settings as started, the metrics, the drain signal, and the sessions
//! (tracked for the drain, registered for session control).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Policy;
use crate::config::ServerConfig;
use crate::sessions::Registry;
use crate::telemetry::metrics::{Metrics, RelayCounters};
use crate::timer::Timer;

/// Shared state for every connection on the proxy listener.
pub struct Proxy {
    policy: RwLock<Arc<Policy>>,
    /// The policy's `server.handshake_timeout` in milliseconds, readable without the lock
    /// (every connection needs it before its first byte).
    handshake_timeout_ms: AtomicU64,
    /// Listener-level settings as started (reloads do not rebind or resize; see
    /// `config::restart_required`). Reloadable values come from [`Proxy::policy`].
    pub server: ServerConfig,
    pub metrics: Arc<Metrics>,
    pub counters: RelayCounters,
    /// Fires when the drain starts; sessions send 1001 `server_shutdown`.
    pub shutdown: CancellationToken,
    /// Every session task, so the drain can wait for them.
    pub sessions: TaskTracker,
    /// The client listener is TLS.
    pub secure: bool,
    /// Live sessions: revocations, caps, refresh (fixed at startup).
    pub registry: Arc<Registry>,
    /// Where the handshake's deadlines are kept: the timer thread, off the event loops.
    pub timer: Timer,
}

impl Proxy {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        policy: Arc<Policy>,
        metrics: Arc<Metrics>,
        counters: RelayCounters,
        shutdown: CancellationToken,
        sessions: TaskTracker,
        secure: bool,
        registry: Arc<Registry>,
    ) -> Proxy {
        Proxy {
            server: policy.gate.config().server.clone(),
            handshake_timeout_ms: AtomicU64::new(millis(
                policy.gate.config().server.handshake_timeout,
            )),
            policy: RwLock::new(policy),
            metrics,
            counters,
            shutdown,
            sessions,
            secure,
            registry,
            timer: Timer::coarse(),
        }
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// `server.handshake_timeout` in force: the budget from accept to the client's 101.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms.load(Ordering::Relaxed))
    }

    /// Swaps in a new policy for new requests; sessions keep the one they started with.
    pub fn replace_policy(&self, policy: Arc<Policy>) {
        self.handshake_timeout_ms.store(
            millis(policy.gate.config().server.handshake_timeout),
            Ordering::Relaxed,
        );
        match self.policy.write() {
            Ok(mut guard) => *guard = policy,
            Err(poisoned) => *poisoned.into_inner() = policy,
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
