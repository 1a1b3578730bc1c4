//! An admitted WebSocket upgrade: the upstream opening handshake, the 101 to the client,
//! and the session (the relay and its log line) on the client connection. Shared by
//! hyper's service (`open_session`) and the first request read by hand (`first.rs`).

use super::*;

/// An upstream that switched protocols: what the client's 101 and the relay need.
pub(super) struct Opened {
    pub io: upstream::Upgraded,
    /// For the client's 101: the upstream's choice, or the protocol marker the client
    /// offered (a browser needs one of its offers echoed).
    pub protocol: Option<HeaderValue>,
    pub extensions: Option<HeaderValue>,
    pub settings: RelaySettings,
    /// Named in the client's 101 and the session's log line.
    pub session: SessionId,
}

/// Why there is no session to open.
pub(super) enum NotOpened {
    /// The upstream answered something other than a 101: relay that answer.
    Relay(Response<Bytes>),
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
        session: SessionId,
        uri: &Uri,
        headers: &HeaderMap,
        client: SocketAddr,
        started: Instant,
    ) -> Result<Opened, NotOpened> {
        let gate = &policy.gate;
        let config = gate.config();
        let route = config.route(grant.route).path.as_str();
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
        match outcome {
            Ok(WebSocketOutcome::Upgraded {
                io,
                protocol,
                extensions,
            }) => {
                self.metrics
                    .handshake(route, HandshakeOutcome::Allowed, elapsed);
                Ok(Opened {
                    io,
                    protocol: protocol.or_else(|| marker_offered(gate, headers)),
                    settings: relay_settings(
                        gate,
                        grant,
                        Extensions::negotiated(extensions.as_ref().map(HeaderValue::as_bytes)),
                    ),
                    extensions,
                    session,
                })
            }
            Ok(WebSocketOutcome::Refused(response)) => {
                self.metrics
                    .handshake(route, HandshakeOutcome::UpstreamDeclined, elapsed);
                tracing::info!(
                    route,
                    client = %client,
                    status = response.status().as_u16(),
                    "upstream refused the upgrade; relayed its answer with Connection: close"
                );
                Err(NotOpened::Relay(response))
            }
            Err(error) => {
                let reason =
                    self.record_upstream_refusal(gate, grant, route, client, true, &error, started);
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
                registration.id(),
                request.uri(),
                headers,
                client,
                started,
            )
            .await
        {
            Ok(opened) => opened,
            Err(NotOpened::Relay(response)) => return boxed(response),
            Err(NotOpened::Refuse(reason)) => {
                return self.refuse(&policy.gate, Some(&ws), headers, on_upgrade, reason, &conn);
            }
        };
        let Opened {
            io,
            protocol,
            extensions,
            settings,
            session,
        } = opened;
        let route = policy.gate.config().route(grant.route).path.clone();
        let upgraded = async move { on_upgrade.await.ok().map(TokioIo::new) };
        self.queue_session(
            &conn,
            upgraded,
            io,
            settings,
            route,
            grant,
            client,
            registration,
        );
        boxed(switching_protocols(
            &ws,
            protocol,
            extensions,
            Some(session),
        ))
    }

    /// Queues the session on the client connection's task: once `client_io` yields the
    /// stream whose 101 has been sent, the relay, then the session's log line and metrics.
    ///
    /// One `async` block holds everything, so each value is stored once in the boxed
    /// future an idle session costs: an `async fn` awaited from such a block stores its
    /// arguments a second time (measured: 2,288 bytes per session against 1,520).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn queue_session<C, F>(
        self: &Arc<Self>,
        conn: &ClientConn,
        client_io: F,
        upstream_io: upstream::Upgraded,
        settings: RelaySettings,
        route: String,
        grant: Grant,
        client: SocketAddr,
        registration: Registration,
    ) where
        F: Future<Output = Option<C>> + Send + 'static,
        C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let proxy = self.clone();
        let slot = conn.slot.clone();
        conn.after_upgrade
            .run(self.sessions.track_future(async move {
                let _slot = slot;
                let Some(client_io) = client_io.await else {
                    return;
                };
                let started = Instant::now();
                proxy.metrics.session_opened(&route);
                let end = relay::relay_controlled(
                    client_io,
                    upstream_io,
                    settings,
                    &proxy.counters,
                    proxy.shutdown.clone(),
                    Some(registration.control()),
                )
                .await;
                let session = registration.id();
                // Deregistered as the session ends, before its log line.
                drop(registration);
                telemetry::record_session_closed(
                    &proxy.metrics,
                    &SessionSummary {
                        route: &route,
                        client,
                        session,
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

fn relay_settings(gate: &Gate, grant: &Grant, extensions: Extensions) -> RelaySettings {
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
        extensions,
        close_timeout: CLOSE_TIMEOUT,
        send_timeout: config.server.send_timeout,
        max_pings_per_second: config.server.max_pings_per_second,
    }
}
