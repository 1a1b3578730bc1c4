//! An admitted WebSocket upgrade: the upstream opening handshake, the 101 to the client,
//! and the session (the relay and its log line) queued on the client connection.

use super::*;

impl Proxy {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn open_session(
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
        let upgrade = UpgradeRequest::new(
            config,
            &policy.upstream,
            &upstream::upstream_path(config, request.uri().path(), request.uri().query()),
            request.headers(),
            &Forwarding {
                client,
                secure: self.secure,
                websocket: true,
                grant: &grant,
            },
            &key,
        );
        let budget = config
            .server
            .handshake_timeout
            .saturating_sub(started.elapsed());
        let outcome = match upgrade {
            Ok(upgrade) => {
                match tokio::time::timeout(budget, policy.upstream.open_websocket(upgrade)).await {
                    Ok(result) => result,
                    Err(_) => Err(UpstreamError::Timeout),
                }
            }
            Err(error) => Err(error),
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
        send_timeout: config.server.send_timeout,
        max_pings_per_second: config.server.max_pings_per_second,
    }
}
