//! Opening an admitted WebSocket upgrade: the upstream opening handshake under what is
//! left of the handshake budget, then the client's 101, or the refusal. Shared by
//! hyper's service (`open_session`) and the first request read by hand (`first.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::HeaderValue;
use http::{HeaderMap, Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use super::answer::Answer;
use super::session::{Session, relay_settings};
use super::{Body, ClientConn, Policy, Proxy};
use crate::auth::token::offered_protocols;
use crate::auth::{Gate, Grant};
use crate::config::TokenSource;
use crate::domain::refusal::Refusal;
use crate::domain::session_id::SessionId;
use crate::relay::Extensions;
use crate::sessions::Registration;
use crate::telemetry::metrics::HandshakeOutcome;
use crate::upstream::{self, Forwarding, UpgradeRequest, WebSocketOutcome};
use crate::ws::handshake::{self, WebSocketRequest};

/// An upstream that switched protocols.
pub(super) struct Opened {
    /// The client's 101, with the upstream's subprotocol (or the protocol marker the
    /// client offered: a browser needs one of its offers echoed), its extensions, and the
    /// session's id.
    pub switching: Answer,
    /// What runs once the 101 is out.
    pub session: Session,
    /// An empty buffer with room for the 101's bytes (the upstream exchange's).
    pub spare: Vec<u8>,
}

/// Why there is no session to open.
pub(super) enum NotOpened {
    /// The upstream answered something other than a 101: relay that answer (boxed: a
    /// refusal is the rare path, and the enum stays the size of the common one).
    Relay(Box<Answer>),
    /// The upstream could not be reached or its 101 was invalid: refuse with this reason.
    Refuse(Refusal),
}

impl Proxy {
    /// The upstream opening handshake for a granted upgrade, under what is left of the
    /// handshake budget; counted and logged.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn open_upstream(
        &self,
        policy: &Policy,
        grant: &Grant,
        ws: &WebSocketRequest,
        session: SessionId,
        uri: &Uri,
        headers: &HeaderMap,
        client: SocketAddr,
        started: Instant,
    ) -> Result<Opened, NotOpened> {
        let gate = &policy.gate;
        let config = gate.config();
        let route = policy.names.series(config, grant.route);
        let key = handshake::new_key();
        let upgrade = UpgradeRequest::new(
            config,
            &policy.upstream,
            &upstream::upstream_path(config, uri.path(), uri.query()),
            headers,
            &Forwarding {
                client,
                secure: self.secure,
                websocket: true,
                grant,
                target_host: upstream::target_host(uri).as_ref(),
                session: Some(session),
                assertion: policy.assertion.as_ref(),
            },
            &key,
        );
        let outcome = match upgrade {
            Ok(upgrade) => {
                // What is left of the budget bounds the whole upstream handshake
                // (`UpstreamError::Timeout` when it runs out), each step's own timer ending
                // at it when it comes first.
                policy
                    .upstream
                    .open_websocket(
                        upgrade,
                        started.checked_add(config.server.handshake_timeout),
                    )
                    .await
            }
            Err(error) => Err(error),
        };
        let elapsed = started.elapsed().as_secs_f64();
        match outcome {
            Ok(WebSocketOutcome::Upgraded {
                io,
                protocol,
                extensions,
                spare,
            }) => {
                self.metrics
                    .handshake(&route, HandshakeOutcome::Allowed, elapsed);
                let settings = relay_settings(
                    gate,
                    grant,
                    Extensions::negotiated(extensions.as_ref().map(HeaderValue::as_bytes)),
                );
                Ok(Opened {
                    switching: Answer::switching_protocols(
                        ws,
                        protocol.or_else(|| marker_offered(gate, headers)),
                        extensions,
                        Some(session),
                    ),
                    session: Session {
                        io,
                        settings,
                        route,
                    },
                    spare,
                })
            }
            Ok(WebSocketOutcome::Refused(response)) => {
                self.metrics
                    .handshake(&route, HandshakeOutcome::UpstreamDeclined, elapsed);
                tracing::info!(
                    route = route.path(),
                    client = %client,
                    status = response.status().as_u16(),
                    "upstream refused the upgrade; relayed its answer with Connection: close"
                );
                Err(NotOpened::Relay(Box::new(Answer::from(response))))
            }
            Err(error) => {
                let reason =
                    self.record_upstream_refusal(policy, grant, client, true, &error, started);
                Err(NotOpened::Refuse(reason))
            }
        }
    }

    /// hyper's path: the upstream handshake, then the 101 for hyper to send, with the
    /// session queued on the client connection for when hyper hands the stream over.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn open_session(
        self: Arc<Self>,
        policy: Arc<Policy>,
        grant: Grant,
        registration: Registration,
        ws: WebSocketRequest,
        request: Request<Incoming>,
        on_upgrade: hyper::upgrade::OnUpgrade,
        client: SocketAddr,
        started: Instant,
        conn: ClientConn,
    ) -> Response<Body> {
        let headers = request.headers();
        let opened = match self
            .open_upstream(
                &policy,
                &grant,
                &ws,
                registration.id(),
                request.uri(),
                headers,
                client,
                started,
            )
            .await
        {
            Ok(opened) => opened,
            Err(NotOpened::Relay(answer)) => return answer.into_response(),
            Err(NotOpened::Refuse(reason)) => {
                return self.refuse(&policy.gate, Some(&ws), headers, on_upgrade, reason, &conn);
            }
        };
        let upgraded = async move { on_upgrade.await.ok().map(TokioIo::new) };
        self.queue_session(&conn, upgraded, opened.session, grant, client, registration);
        opened.switching.into_response()
    }
}

/// The configured protocol marker, if the client offered it.
pub(super) fn marker_offered(gate: &Gate, headers: &HeaderMap) -> Option<HeaderValue> {
    let offered: Vec<&str> = offered_protocols(headers).collect();
    gate.config()
        .auth
        .token_sources
        .iter()
        .find_map(|source| match source {
            TokenSource::Protocol(marker) if offered.contains(&marker.as_str()) => {
                HeaderValue::from_str(marker).ok()
            }
            _ => None,
        })
}
