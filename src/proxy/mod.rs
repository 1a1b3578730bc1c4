//! The per-request service: classify, decide, then refuse, relay a WebSocket, or forward
//! plain HTTP.
//!
//! Life of a request (docs/architecture.md): `handshake::classify` (400/405/426) →
//! `Gate::decide` (deny → 403/503 with a reason, or 101 + close in `deny = "close"` mode)
//! → upstream handshake (502 when unreachable or invalid; its own status when it refuses)
//! → 101 to the client → a session task runs `relay::relay` until the session ends.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::token::offered_protocols;
use crate::auth::trace::NoTrace;
use crate::auth::{AuthMethod, Denial, Gate, Grant, RequestView};
use crate::config::{DenyMode, ServerConfig, SessionExpiry, TokenSource};
use crate::handshake::{self, WebSocketRequest};
use crate::metrics::{AuthMethodLabel, BypassResult, HandshakeOutcome, Metrics, UpstreamErrorKind};
use crate::reason::Reason;
use crate::relay::{self, RelayCounters, RelaySettings};
use crate::telemetry::{self, Decision, SessionSummary};
use crate::upstream::{self, Forwarding, Upstream, UpstreamError, WebSocketOutcome};

mod respond;

use respond::{close_after_upgrade, handshake_refusal, strip_hop_by_hop, switching_protocols};
pub use respond::{close_frame, denial_response};

/// Response body type for every answer wsgate gives.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// How long wsgate waits for the peer's reply after sending its own close frame.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

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

/// One client connection as requests see it: its place under `max_connections`, and the
/// work that continues on it once hyper hands over the upgraded stream.
#[derive(Clone)]
pub struct ClientConn {
    pub slot: Slot,
    pub after_upgrade: AfterUpgrade,
}

impl ClientConn {
    pub fn new(slot: Slot) -> ClientConn {
        ClientConn {
            slot,
            after_upgrade: AfterUpgrade::default(),
        }
    }
}

type UpgradeWork = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// What runs on a connection after its upgrade: the relay, or a close-mode refusal.
///
/// The connection's own task runs it once the HTTP connection future has handed the
/// stream over (`take`), instead of a task spawned per session: one task spawn and one
/// cross-task wake-up fewer per handshake (docs/performance.md). It must not hold the
/// `ClientConn` (a cycle); it holds the `Slot`.
#[derive(Clone, Default)]
pub struct AfterUpgrade(Arc<std::sync::Mutex<Option<UpgradeWork>>>);

impl AfterUpgrade {
    /// Queues `work` for the connection's task. A connection upgrades at most once; should
    /// a second piece of work ever arrive, it runs in a task of its own.
    fn run(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut queued = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if queued.is_some() {
            tokio::spawn(work);
        } else {
            *queued = Some(Box::pin(work));
        }
    }

    /// The queued work, if any.
    pub fn take(&self) -> Option<UpgradeWork> {
        match self.0.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}

/// What a reload replaces as one unit: the decision policy and the upstream it guards.
/// A request takes one `Arc<Policy>` at its start and uses it to the end, so no handshake
/// ever sees half of an old config and half of a new one.
pub struct Policy {
    pub gate: Gate,
    pub upstream: Upstream,
}

impl Policy {
    pub fn new(gate: Gate) -> std::io::Result<Policy> {
        let upstream = Upstream::new(&gate.config().upstream)?;
        Ok(Policy { gate, upstream })
    }
}

/// Shared state for every connection on the proxy listener.
pub struct Proxy {
    policy: RwLock<Arc<Policy>>,
    /// Listener-level settings fixed at startup (reloads do not rebind or resize).
    pub server: ServerConfig,
    pub metrics: Arc<Metrics>,
    pub counters: RelayCounters,
    /// Fires when the drain starts; sessions send 1001 `server_shutdown`.
    pub shutdown: CancellationToken,
    /// Every session task, so the drain can wait for them.
    pub sessions: TaskTracker,
    /// The client listener is TLS.
    pub secure: bool,
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
    ) -> Proxy {
        Proxy {
            server: policy.gate.config().server.clone(),
            policy: RwLock::new(policy),
            metrics,
            counters,
            shutdown,
            sessions,
            secure,
        }
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a new policy for new requests; sessions keep the one they started with.
    pub fn replace_policy(&self, policy: Arc<Policy>) {
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
        let policy = self.policy();
        let gate = &policy.gate;
        if self.shutdown.is_cancelled() {
            let denial = Denial {
                route: gate.route_index(request.uri().path()),
                reason: Reason::ServerShutdown,
                issuer: None,
            };
            let route = gate.config().routes[denial.route].path.as_str();
            self.record_denial(gate, &denial, route, client, websocket.is_some(), started);
            return Ok(self.refuse(
                gate,
                websocket.as_ref(),
                &request,
                on_upgrade,
                denial.reason,
                &conn,
            ));
        }
        let config = gate.config();
        let view = RequestView {
            path: request.uri().path(),
            query: request.uri().query(),
            headers: request.headers(),
        };
        // A decision can wait on a JWKS refetch; it never outlives the handshake budget.
        let budget = self
            .server
            .handshake_timeout
            .saturating_sub(started.elapsed());
        let decision = match tokio::time::timeout(
            budget,
            gate.decide(&view, unix_now(), &mut NoTrace),
        )
        .await
        {
            Ok(decision) => decision,
            Err(_) => Err(Denial {
                route: gate.route_index(view.path),
                reason: Reason::KeysUnavailable,
                issuer: None,
            }),
        };
        let route_index = match &decision {
            Ok(grant) => grant.route,
            Err(denial) => denial.route,
        };
        let route = config.routes[route_index].path.as_str();
        match decision {
            Err(denial) => {
                self.record_denial(gate, &denial, route, client, websocket.is_some(), started);
                Ok(self.refuse(
                    gate,
                    websocket.as_ref(),
                    &request,
                    on_upgrade,
                    denial.reason,
                    &conn,
                ))
            }
            Ok(grant) => {
                self.record_grant(gate, &grant, route, client, websocket.is_some(), started);
                match websocket {
                    Some(ws) => Ok(self
                        .open_session(
                            policy.clone(),
                            grant,
                            ws,
                            request,
                            on_upgrade,
                            client,
                            started,
                            conn,
                        )
                        .await),
                    None => Ok(self.forward(&policy, grant, request, client).await),
                }
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
        match handshake::classify(
            request.method(),
            request.version(),
            request.uri().path(),
            request.headers(),
        ) {
            Err(error) => handshake_refusal(error),
            Ok(ws) => {
                let denial = Denial {
                    route: gate.route_index(request.uri().path()),
                    reason: Reason::Overloaded,
                    issuer: None,
                };
                let route = gate.config().routes[denial.route].path.as_str();
                self.record_denial(gate, &denial, route, client, ws.is_some(), started);
                self.refuse(
                    gate,
                    ws.as_ref(),
                    &request,
                    on_upgrade,
                    Reason::Overloaded,
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
        request: &Request<Incoming>,
        on_upgrade: hyper::upgrade::OnUpgrade,
        reason: Reason,
        conn: &ClientConn,
    ) -> Response<Body> {
        match websocket {
            Some(ws) if gate.config().auth.deny == DenyMode::Close => {
                let protocol = close_mode_protocol(gate, request);
                let slot = conn.slot.clone();
                conn.after_upgrade
                    .run(self.sessions.track_future(async move {
                        close_after_upgrade(on_upgrade, reason).await;
                        drop(slot);
                    }));
                switching_protocols(ws, protocol, None)
            }
            _ => denial_response(reason),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn open_session(
        self: Arc<Self>,
        policy: Arc<Policy>,
        grant: Grant,
        ws: WebSocketRequest,
        request: Request<Incoming>,
        on_upgrade: hyper::upgrade::OnUpgrade,
        client: SocketAddr,
        started: Instant,
        conn: ClientConn,
    ) -> Response<Body> {
        let gate = &policy.gate;
        let config = gate.config();
        let route = config.routes[grant.route].path.clone();
        let key = handshake::new_key();
        let mut upstream_request = Request::builder()
            .method(http::Method::GET)
            .uri(upstream::upstream_path(
                config,
                request.uri().path(),
                request.uri().query(),
            ))
            .version(Version::HTTP_11)
            .body(Empty::<Bytes>::new())
            .unwrap_or_default();
        *upstream_request.headers_mut() = upstream::upstream_headers(
            config,
            &policy.upstream,
            request.headers(),
            &Forwarding {
                client,
                secure: self.secure,
                websocket: true,
                grant: &grant,
            },
        );
        let headers = upstream_request.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        if let Ok(value) = HeaderValue::from_str(&key) {
            headers.insert(header::SEC_WEBSOCKET_KEY, value);
        }

        let budget = config
            .server
            .handshake_timeout
            .saturating_sub(started.elapsed());
        let outcome = match tokio::time::timeout(
            budget,
            policy.upstream.open_websocket(upstream_request, &key),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout),
        };
        let elapsed = started.elapsed().as_secs_f64();
        let (io, protocol, extensions) = match outcome {
            Ok(WebSocketOutcome::Upgraded {
                io,
                protocol,
                extensions,
            }) => (io, protocol, extensions),
            Ok(WebSocketOutcome::Refused(response)) => {
                self.metrics
                    .handshake(&route, HandshakeOutcome::UpstreamDeclined, elapsed);
                tracing::info!(
                    route = route.as_str(),
                    client = %client,
                    status = response.status().as_u16(),
                    "upstream refused the upgrade; relayed its answer with Connection: close"
                );
                return response.map(|b| b.map_err(|never| match never {}).boxed());
            }
            Err(error) => {
                let reason = match error {
                    UpstreamError::Rejected(_) => Reason::UpstreamRejected,
                    UpstreamError::Connect(_)
                    | UpstreamError::Timeout
                    | UpstreamError::Tls(_)
                    | UpstreamError::Protocol(_) => Reason::UpstreamUnavailable,
                };
                let kind = upstream_kind(&error);
                telemetry::record_upstream_error(
                    &self.metrics,
                    kind,
                    &route,
                    client,
                    &error.to_string(),
                );
                let outcome = if reason == Reason::UpstreamRejected {
                    HandshakeOutcome::UpstreamRejected
                } else {
                    HandshakeOutcome::UpstreamError
                };
                self.metrics.handshake(&route, outcome, elapsed);
                return self.refuse(gate, Some(&ws), &request, on_upgrade, reason, &conn);
            }
        };
        self.metrics
            .handshake(&route, HandshakeOutcome::Allowed, elapsed);

        // The client offered `MARKER, <token>`: a browser needs one of its offers echoed.
        let protocol = protocol.or_else(|| marker_offered(gate, &request));
        let settings = relay_settings(gate, &grant, extensions.is_some());
        let proxy = self.clone();
        let slot = conn.slot.clone();
        conn.after_upgrade
            .run(self.sessions.track_future(async move {
                let _slot = slot;
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let started = Instant::now();
                proxy.metrics.session_opened(&route);
                let end = relay::relay(
                    TokioIo::new(upgraded),
                    io,
                    settings,
                    &proxy.counters,
                    proxy.shutdown.clone(),
                )
                .await;
                telemetry::record_session_closed(
                    &proxy.metrics,
                    &SessionSummary {
                        route: &route,
                        client,
                        user: grant.user.as_deref(),
                        initiator: match end.initiator {
                            relay::Initiator::Client => crate::metrics::InitiatorLabel::Client,
                            relay::Initiator::Upstream => crate::metrics::InitiatorLabel::Upstream,
                            relay::Initiator::Proxy => crate::metrics::InitiatorLabel::Proxy,
                        },
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
        switching_protocols(&ws, protocol, extensions)
    }

    /// Plain HTTP under the same policy, streamed both ways.
    async fn forward(
        &self,
        policy: &Policy,
        grant: Grant,
        request: Request<Incoming>,
        client: SocketAddr,
    ) -> Response<Body> {
        let config = policy.gate.config();
        let route = config.routes[grant.route].path.as_str();
        let (parts, body) = request.into_parts();
        let mut upstream_request = Request::new(body);
        *upstream_request.method_mut() = parts.method.clone();
        *upstream_request.version_mut() = Version::HTTP_11;
        match upstream::upstream_path(config, parts.uri.path(), parts.uri.query()).parse() {
            Ok(uri) => *upstream_request.uri_mut() = uri,
            Err(_) => return denial_response(Reason::UpstreamUnavailable),
        }
        *upstream_request.headers_mut() = upstream::upstream_headers(
            config,
            &policy.upstream,
            &parts.headers,
            &Forwarding {
                client,
                secure: self.secure,
                websocket: false,
                grant: &grant,
            },
        );
        match policy.upstream.forward(upstream_request).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, body.boxed())
            }
            Err(error) => {
                let kind = upstream_kind(&error);
                telemetry::record_upstream_error(
                    &self.metrics,
                    kind,
                    route,
                    client,
                    &error.to_string(),
                );
                denial_response(Reason::UpstreamUnavailable)
            }
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
        let config = gate.config();
        let issuer = denial
            .issuer
            .and_then(|i| config.auth.issuers.get(i))
            .map(|i| i.name.as_str());
        telemetry::record_denied(
            &self.metrics,
            &Decision {
                route,
                client,
                websocket,
                method: None,
                user: None,
                issuer,
                reason: Some(denial.reason),
                duration: started.elapsed(),
            },
        );
        let bypass_result = match denial.reason {
            Reason::E2eBypassDisabled => Some(BypassResult::Disabled),
            Reason::E2eKeyInvalid => Some(BypassResult::Invalid),
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
        let method = match grant.method {
            AuthMethod::Jwt => AuthMethodLabel::Jwt,
            AuthMethod::E2eBypass => AuthMethodLabel::E2eBypass,
            AuthMethod::Anonymous => AuthMethodLabel::Anonymous,
        };
        let issuer = grant
            .issuer
            .and_then(|i| config.auth.issuers.get(i))
            .map(|i| i.name.as_str());
        telemetry::record_allowed(
            &self.metrics,
            &Decision {
                route,
                client,
                websocket,
                method: Some(method),
                user: grant.user.as_deref(),
                issuer,
                reason: None,
                duration: started.elapsed(),
            },
        );
        if let Some(key) = grant.bypass_key.and_then(|k| config.e2e_bypass.keys.get(k)) {
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

fn upstream_kind(error: &UpstreamError) -> UpstreamErrorKind {
    match error {
        UpstreamError::Connect(_) | UpstreamError::Protocol(_) => UpstreamErrorKind::Connect,
        UpstreamError::Timeout => UpstreamErrorKind::Timeout,
        UpstreamError::Tls(_) => UpstreamErrorKind::Tls,
        UpstreamError::Rejected(_) => UpstreamErrorKind::Rejected,
    }
}

fn relay_settings(gate: &Gate, grant: &Grant, extensions_negotiated: bool) -> RelaySettings {
    let config = gate.config();
    let expires_at = match (config.auth.session_expiry, grant.expires_at) {
        (SessionExpiry::Close, Some(exp)) => {
            let deadline = exp.saturating_add(config.auth.leeway.as_secs());
            let remaining = deadline.saturating_sub(unix_now());
            // An absurdly distant exp (K5) is as good as no deadline.
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
        extensions_negotiated,
        close_timeout: CLOSE_TIMEOUT,
    }
}

/// The configured protocol marker, if the client offered it.
fn marker_offered(gate: &Gate, request: &Request<Incoming>) -> Option<HeaderValue> {
    let offered: Vec<&str> = offered_protocols(request.headers()).collect();
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
fn close_mode_protocol(gate: &Gate, request: &Request<Incoming>) -> Option<HeaderValue> {
    marker_offered(gate, request).or_else(|| {
        offered_protocols(request.headers())
            .next()
            .and_then(|p| HeaderValue::from_str(p).ok())
    })
}

/// Wall-clock seconds since the Unix epoch (token times are wall-clock, RFC 7519).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
