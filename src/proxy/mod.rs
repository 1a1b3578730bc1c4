//! The per-request service: classify, decide, then refuse, relay a WebSocket, or forward
//! plain HTTP.
//!
//! Life of a request (docs/architecture.md): `handshake::classify` (400/405/426) →
//! `Gate::decide` (deny → 403/503 with a reason, or 101 + close in `deny = "close"` mode)
//! → upstream handshake (502 when unreachable or invalid; its own status when it refuses)
//! → 101 to the client → the client connection's task runs `relay::relay` until the
//! session ends.
//!
//! Here: the service itself, refusals and plain-HTTP forwarding; `session.rs` opens an
//! admitted WebSocket session; `conn.rs` holds what a client connection carries across
//! requests (its `max_connections` slot, the work its upgrade starts, its client
//! certificate); `policy.rs` holds what a reload replaces; `respond.rs` builds the
//! responses and close frames; `plain.rs` forwards plain HTTP, `body.rs` bounds its
//! request body's pace; `record.rs` records decisions, including a refusal caused by the
//! upstream.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderMap, Request, Response, Uri, Version};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::token::offered_protocols;
use crate::auth::trace::NoTrace;
use crate::auth::{Denial, Gate, Grant, RequestView};
use crate::config::{DenyMode, ServerConfig, SessionExpiry, TokenSource};
use crate::domain::clock::unix_now;
use crate::domain::refusal::Refusal;
use crate::domain::session_id::SessionId;
use crate::net::tls::ClientCertificate;
use crate::relay::{self, Extensions, RelaySettings};
use crate::sessions::{Registration, Registry, SessionRecord};
use crate::telemetry::metrics::{
    BypassResult, HandshakeOutcome, Metrics, RelayCounters, UpstreamErrorKind,
};
use crate::telemetry::{self, Caller, Decision, SessionSummary, Verdict};
use crate::upstream::{self, Forwarding, UpgradeRequest, UpstreamError, WebSocketOutcome};
use crate::ws::handshake::{self, WebSocketRequest};

mod admit;
mod body;
mod conn;
mod first;
mod plain;
mod policy;
mod record;
mod refresh;
mod respond;
mod session;

pub use conn::{AfterUpgrade, ClientConn, Slot};
pub use first::MAX_HEAD_BYTES;
#[doc(hidden)]
pub(crate) use first::read_head_for_fuzzing;
pub use policy::Policy;

pub use respond::denial_response;
use respond::{boxed, close_after_upgrade, handshake_refusal, switching_protocols};

/// Response body type for every answer wsgate gives.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// How long wsgate waits for the peer's reply after sending its own close frame.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

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

    /// Serves one request. Never fails: every problem becomes a response.
    pub async fn handle(
        self: Arc<Self>,
        mut request: Request<Incoming>,
        client: SocketAddr,
        conn: ClientConn,
    ) -> Result<Response<Body>, Infallible> {
        let started = Instant::now();
        if request.uri().path() == self.registry.refresh_path() {
            return Ok(self.refresh(request, client, &conn.certificate).await);
        }
        let on_upgrade = hyper::upgrade::on(&mut request);
        let websocket = match handshake::classify(
            request.method(),
            request.version(),
            request.uri().path(),
            request.headers(),
        ) {
            Ok(ws) => ws,
            Err(error) => return Ok(handshake_refusal(error)),
        };
        // From here on the request's path is the normalized one: judged and forwarded.
        match handshake::normalized_uri(request.uri()) {
            Ok(uri) => *request.uri_mut() = uri,
            Err(error) => return Ok(handshake_refusal(error)),
        }
        let policy = self.policy();
        let decision = self
            .decide(
                &policy,
                request.uri(),
                request.headers(),
                websocket.is_some(),
                client,
                &conn.certificate,
                started,
            )
            .await;
        Ok(match (decision, websocket) {
            (Err(reason), websocket) => self.refuse(
                &policy.gate,
                websocket.as_ref(),
                request.headers(),
                on_upgrade,
                reason,
                &conn,
            ),
            (Ok((grant, Some(registration))), Some(ws)) => {
                self.open_session(
                    policy.clone(),
                    grant,
                    registration,
                    ws,
                    request,
                    on_upgrade,
                    client,
                    started,
                    conn,
                )
                .await
            }
            // A WebSocket grant always carries its registration (`admit`).
            (Ok((_, None)), Some(_)) => denial_response(Refusal::Overloaded),
            (Ok((grant, _)), None) => self.forward(&policy, grant, request, client, started).await,
        })
    }

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
            let budget = self.handshake_timeout().saturating_sub(started.elapsed());
            match tokio::time::timeout(budget, gate.decide(&view, unix_now(), &mut NoTrace)).await {
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
            Ok(grant) => match self.admit(gate, &grant, websocket, client).await {
                Ok(registration) => Ok((grant, registration)),
                Err(denial) => Err(denial),
            },
            Err(denial) => Err(denial),
        };
        let config = gate.config();
        match decision {
            Err(denial) => {
                let route = config.route(denial.route).path.as_str();
                self.record_denial(gate, &denial, route, client, websocket, started);
                Err(denial.reason)
            }
            Ok((grant, registration)) => {
                let route = config.route(grant.route).path.as_str();
                self.record_grant(gate, &grant, route, client, websocket, started);
                Ok((grant, registration))
            }
        }
    }

    /// Answers a connection over `max_connections`.
    pub fn overloaded(
        &self,
        mut request: Request<Incoming>,
        client: SocketAddr,
        conn: ClientConn,
    ) -> Response<Body> {
        let started = Instant::now();
        let on_upgrade = hyper::upgrade::on(&mut request);
        let policy = self.policy();
        let gate = &policy.gate;
        let checked = handshake::classify(
            request.method(),
            request.version(),
            request.uri().path(),
            request.headers(),
        )
        .and_then(|ws| Ok((ws, handshake::normalized_uri(request.uri())?)));
        match checked {
            Err(error) => handshake_refusal(error),
            Ok((ws, uri)) => {
                let denial = Denial {
                    route: gate.route_id(uri.path()),
                    reason: Refusal::Overloaded,
                    issuer: None,
                };
                let route = gate.config().route(denial.route).path.as_str();
                self.record_denial(gate, &denial, route, client, ws.is_some(), started);
                self.refuse(
                    gate,
                    ws.as_ref(),
                    request.headers(),
                    on_upgrade,
                    Refusal::Overloaded,
                    &conn,
                )
            }
        }
    }

    /// A refusal in the configured deny mode: HTTP status, or 101 then a close frame.
    fn refuse(
        &self,
        gate: &Gate,
        websocket: Option<&WebSocketRequest>,
        headers: &HeaderMap,
        on_upgrade: hyper::upgrade::OnUpgrade,
        reason: Refusal,
        conn: &ClientConn,
    ) -> Response<Body> {
        match websocket {
            Some(ws) if gate.config().auth.deny == DenyMode::Close => {
                let protocol = close_mode_protocol(gate, headers);
                let slot = conn.slot.clone();
                conn.after_upgrade
                    .run(self.sessions.track_future(async move {
                        close_after_upgrade(on_upgrade, reason).await;
                        drop(slot);
                    }));
                boxed(switching_protocols(ws, protocol, None, None))
            }
            _ => denial_response(reason),
        }
    }

    fn record_denial(
        &self,
        gate: &Gate,
        denial: &Denial,
        route: &str,
        client: SocketAddr,
        websocket: bool,
        started: Instant,
    ) {
        let verdict = Verdict::Denied(denial.reason);
        self.record_decision(
            gate,
            denial.issuer,
            route,
            client,
            websocket,
            started,
            verdict,
        );
        let bypass_result = match denial.reason {
            Refusal::E2eBypassDisabled => Some(BypassResult::Disabled),
            Refusal::E2eKeyInvalid => Some(BypassResult::Invalid),
            _ => None,
        };
        if let Some(result) = bypass_result {
            self.metrics.e2e_bypass("none", result);
        }
    }

    fn record_grant(
        &self,
        gate: &Gate,
        grant: &Grant,
        route: &str,
        client: SocketAddr,
        websocket: bool,
        started: Instant,
    ) {
        let config = gate.config();
        let verdict = Verdict::Allowed(Caller {
            method: grant.method,
            user: grant.user.as_deref(),
        });
        self.record_decision(
            gate,
            grant.issuer,
            route,
            client,
            websocket,
            started,
            verdict,
        );
        if let Some(key) = grant.bypass_key.map(|k| config.e2e_bypass.key(k)) {
            self.metrics.e2e_bypass(&key.name, BypassResult::Accepted);
            tracing::warn!(
                audit = "e2e_bypass",
                key = key.name.as_str(),
                user = grant.user.as_deref().unwrap_or(""),
                client = %client,
                route,
                "end-to-end test bypass used"
            );
        }
    }
}

/// The configured protocol marker, if the client offered it.
fn marker_offered(gate: &Gate, headers: &HeaderMap) -> Option<HeaderValue> {
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

/// In close mode a browser only sees the close if the 101 names one of its offers.
fn close_mode_protocol(gate: &Gate, headers: &HeaderMap) -> Option<HeaderValue> {
    marker_offered(gate, headers).or_else(|| {
        offered_protocols(headers)
            .next()
            .and_then(|p| HeaderValue::from_str(p).ok())
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
