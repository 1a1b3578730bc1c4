//! An opened WebSocket session on the client connection: queued on the connection's own
//! task, it runs the relay once its 101 is out, then records how it ended (log line and
//! metrics); its limits and deadline come from the policy and the grant.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::{CLOSE_TIMEOUT, ClientConn, Proxy};
use crate::auth::{Gate, Grant};
use crate::config::SessionExpiry;
use crate::domain::clock::unix_now;
use crate::net::shutdown::Shutdown;
use crate::relay::{self, Extensions, RelaySettings};
use crate::sessions::Registration;
use crate::telemetry::metrics::RouteSeries;
use crate::telemetry::{self, SessionSummary};
use crate::timer::Timer;
use crate::upstream;

/// A session waiting for its client's 101 to go out.
pub(super) struct Session {
    pub io: upstream::Upgraded,
    pub settings: RelaySettings,
    /// The configured route and its series, for the session's metrics and log line.
    pub route: Arc<RouteSeries>,
}

impl Proxy {
    /// Queues the session on the client connection's task: once `client_io` yields the
    /// stream whose 101 has been sent, the relay, then the session's log line and metrics.
    ///
    /// One `async` block holds everything, so each value is stored once in the boxed
    /// future an idle session costs: an `async fn` awaited from such a block stores its
    /// arguments a second time (measured: 2,288 bytes per session against 1,520). For the
    /// same reason `session`'s fields are moved out where they are used: destructured
    /// into locals, the route would be stored twice (24 bytes more per session).
    pub(super) fn queue_session<C, F>(
        self: &Arc<Self>,
        conn: &ClientConn,
        client_io: F,
        session: Session,
        grant: Grant,
        client: SocketAddr,
        registration: Registration,
    ) where
        F: Future<Output = Option<C>> + Send + 'static,
        C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Shutdown + Unpin + Send + 'static,
    {
        let proxy = self.clone();
        let slot = conn.slot.clone();
        conn.run_after_upgrade(self.sessions.track_future(async move {
            let _slot = slot;
            let Some(client_io) = client_io.await else {
                return;
            };
            let started = Instant::now();
            proxy.metrics.session_opened(&session.route);
            let end = relay::relay_controlled(
                client_io,
                session.io,
                session.settings,
                &proxy.counters,
                proxy.shutdown.clone(),
                Some(registration.control()),
            )
            .await;
            let id = registration.id();
            // Deregistered as the session ends, before its log line.
            drop(registration);
            telemetry::record_session_closed(
                &proxy.metrics,
                &SessionSummary {
                    route: &session.route,
                    client,
                    session: id,
                    user: grant.user.as_deref(),
                    initiator: end.initiator,
                    code: end.code,
                    reason: end.reason,
                    duration: started.elapsed(),
                    frames_to_upstream: end.frames_to_upstream,
                    frames_to_client: end.frames_to_client,
                    bytes_to_upstream: end.bytes_to_upstream,
                    bytes_to_client: end.bytes_to_client,
                },
            );
        }));
    }
}

pub(super) fn relay_settings(gate: &Gate, grant: &Grant, extensions: Extensions) -> RelaySettings {
    let config = gate.config();
    let expires_at = match (config.auth.session_expiry, grant.expires_at) {
        (SessionExpiry::Close, Some(exp)) => {
            let deadline = exp.saturating_add(config.auth.leeway.as_secs());
            let remaining = deadline.saturating_sub(unix_now());
            // An absurdly distant exp (docs/security-cases.md K5) is as good as no deadline.
            tokio::time::Instant::now().checked_add(Duration::from_secs(remaining))
        }
        (SessionExpiry::Close, None) | (SessionExpiry::Keep, _) => None,
    };
    RelaySettings {
        max_frame_bytes: config.server.max_frame_bytes,
        max_message_bytes: config.server.max_message_bytes,
        idle_timeout: config.server.idle_timeout,
        max_session_duration: config.server.max_session_duration,
        expires_at,
        extensions,
        close_timeout: CLOSE_TIMEOUT,
        send_timeout: config.server.send_timeout,
        max_pings_per_second: config.server.max_pings_per_second,
        timer: Timer::coarse(),
    }
}
