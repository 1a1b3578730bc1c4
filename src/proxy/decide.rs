//! The one decision path, for hyper's service and for the first request read by hand:
//! the auth decision under what is left of the handshake budget, the drain's refusal,
//! then session control (`admit.rs`), logged and counted once (`record.rs`).

use std::net::SocketAddr;

use http::{HeaderMap, Uri};
use tokio::time::Instant;

use super::{Policy, Proxy};
use crate::auth::trace::NoTrace;
use crate::auth::{Denial, Grant, RequestView};
use crate::domain::clock::{budget_end, unix_now};
use crate::domain::refusal::Refusal;
use crate::net::tls::ClientCertificate;
use crate::sessions::Registration;

impl Proxy {
    /// The decision on a request that passed the syntax checks, logged and counted: the
    /// grant (with, for a WebSocket upgrade, its registered session), or the reason to
    /// refuse with. The one decision path for hyper's service and for the first request
    /// read by hand (`first.rs`); revocations and caps are judged here, before any
    /// upstream is dialled.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn decide(
        &self,
        policy: &Policy,
        uri: &Uri,
        headers: &HeaderMap,
        websocket: bool,
        client: SocketAddr,
        certificate: &ClientCertificate,
        started: Instant,
    ) -> Result<(Grant, Option<Registration>), Refusal> {
        let gate = &policy.gate;
        let decision = if self.shutdown.is_cancelled() {
            Err(Denial {
                route: gate.route_id(uri.path()),
                reason: Refusal::ServerShutdown,
                issuer: None,
            })
        } else {
            let view = RequestView {
                path: uri.path(),
                query: uri.query(),
                headers,
                client_cert: certificate,
            };
            // A decision can wait on a JWKS refetch; it never outlives the handshake budget.
            // On the timer thread like every other deadline of the handshake: a decision
            // that is ready at once (every one that needs no fetch) registers nothing.
            let deadline = budget_end(started, self.handshake_timeout());
            match self
                .timer
                .timeout_at(deadline, gate.decide(&view, unix_now(), &mut NoTrace))
                .await
            {
                Ok(decision) => decision,
                Err(_) => Err(Denial {
                    route: gate.route_id(view.path),
                    reason: Refusal::KeysUnavailable,
                    issuer: None,
                }),
            }
        };
        // A WebSocket decision that finished after the drain began (it waited on a JWKS
        // refetch) opens no session the drain would close at once: the client is told to
        // go elsewhere. A plain request already in flight is still served, as hyper's
        // graceful shutdown finishes in-flight requests.
        let decision = match decision {
            Ok(grant) if websocket && self.shutdown.is_cancelled() => Err(Denial {
                route: grant.route,
                reason: Refusal::ServerShutdown,
                issuer: grant.issuer,
            }),
            decision => decision,
        };
        // Session control: revocations, then (WebSocket) caps and registration.
        let decision = match decision {
            Ok(grant) => self
                .admit(policy, &grant, websocket, client)
                .await
                .map(|registration| (grant, registration)),
            Err(denial) => Err(denial),
        };
        match decision {
            Err(denial) => {
                self.record_denial(policy, &denial, client, websocket, started);
                Err(denial.reason)
            }
            Ok((grant, registration)) => {
                self.record_grant(policy, &grant, client, websocket, started);
                Ok((grant, registration))
            }
        }
    }
}
