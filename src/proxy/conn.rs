//! What one client connection carries across its requests: its place under
//! `max_connections` ([`Slot`]), the work its upgrade starts ([`AfterUpgrade`]), run by
//! the connection's own task once hyper hands the stream over, and the client certificate
//! its TLS handshake presented.

use std::future::Future;
use std::sync::Arc;

use crate::net::tls::ClientCertificate;
use crate::telemetry::metrics::Metrics;

/// A connection's place under `max_connections`. Cloned into whatever outlives the HTTP
/// connection (a session, a close-mode refusal), so the slot is freed only when the last
/// of them ends: an upgraded session keeps counting against the limit.
#[derive(Clone)]
pub struct Slot(#[allow(dead_code)] Arc<SlotInner>);

struct SlotInner {
    _permit: tokio::sync::OwnedSemaphorePermit,
    /// Set for slots under the limit: they are what `wsgate_connections_active` counts.
    metrics: Option<Arc<Metrics>>,
}

impl Slot {
    pub fn new(permit: tokio::sync::OwnedSemaphorePermit, metrics: Option<Arc<Metrics>>) -> Slot {
        if let Some(metrics) = &metrics {
            metrics.connection_opened();
        }
        Slot(Arc::new(SlotInner {
            _permit: permit,
            metrics,
        }))
    }
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        if let Some(metrics) = &self.metrics {
            metrics.connection_closed();
        }
    }
}

/// One client connection as requests see it: its place under `max_connections`, the
/// client certificate its TLS handshake presented, and the work that continues on it
/// once hyper hands over the upgraded stream. The certificate and the work share one
/// allocation per connection.
#[derive(Clone)]
pub struct ClientConn {
    pub slot: Slot,
    state: Arc<ConnState>,
}

struct ConnState {
    /// The client certificate presented on this connection, judged once after the TLS
    /// handshake; the same for every request on it.
    certificate: ClientCertificate,
    /// See [`AfterUpgrade`].
    upgrade_work: std::sync::Mutex<Option<UpgradeWork>>,
}

impl ClientConn {
    /// `certificate`: what the TLS handshake's client presented (`NotRequested` without
    /// TLS).
    pub fn new(slot: Slot, certificate: ClientCertificate) -> ClientConn {
        ClientConn {
            slot,
            state: Arc::new(ConnState {
                certificate,
                upgrade_work: std::sync::Mutex::new(None),
            }),
        }
    }

    pub fn certificate(&self) -> &ClientCertificate {
        &self.state.certificate
    }

    /// The handle the connection's task takes its upgrade's work from.
    pub fn after_upgrade(&self) -> AfterUpgrade {
        AfterUpgrade(self.state.clone())
    }

    /// Queues `work` for the connection's task. A connection upgrades at most once; should
    /// a second piece of work ever arrive, it runs in a task of its own.
    pub(super) fn run_after_upgrade(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut queued = match self.state.upgrade_work.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if queued.is_some() {
            tokio::spawn(work);
        } else {
            *queued = Some(Box::pin(work));
        }
    }
}

type UpgradeWork = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// What runs on a connection after its upgrade: the relay, or a close-mode refusal.
///
/// The connection's own task runs it once the HTTP connection future has handed the
/// stream over (`take`), instead of a task spawned per session: one task spawn and one
/// cross-task wake-up fewer per handshake (docs/performance.md). The work must not hold
/// the `ClientConn` (a cycle); it holds the `Slot`.
pub struct AfterUpgrade(Arc<ConnState>);

impl AfterUpgrade {
    /// The queued work, if any.
    pub fn take(&self) -> Option<UpgradeWork> {
        match self.0.upgrade_work.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}
