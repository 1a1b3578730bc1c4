//! Listeners, the accept loop, the connection limit and the drain; [`run`].
//!
//! The accept loop only accepts: TLS, request reading, auth and the upstream dial all run
//! in the connection's task under the handshake timeout. A connection over
//! `max_connections` is still answered (503 `overloaded`, or 101 + 1013 in close mode) by a
//! small, separately bounded pool, and beyond that pool it is closed at once.
//!
//! Shutdown runs in three bounded steps: *when* (`shutdown` completes), *tell* (readiness
//! false, stop accepting, cancel sessions: each relay sends 1001 `server_shutdown` to both
//! sides), *wait* (the tracker, under `drain_timeout`; whatever is left is cut).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, PublishedKeys};
use crate::auth::Gate;
use crate::config::Config;
use crate::net::tls::ListenerTls;
use crate::proxy::{ClientConn, MAX_HEAD_BYTES, Policy, Proxy, Slot};
use crate::relay::RelayCounters;
use crate::sessions::{AdminApi, Registry};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::{Metrics, ReloadResult};

/// Already-bound listeners handed to [`run`].
pub struct Listeners {
    pub proxy: TcpListener,
    pub admin: TcpListener,
}

/// Serves until `shutdown` completes, then drains within `server.drain_timeout`.
pub async fn run(
    config: Arc<Config>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let gate = Gate::new(config.clone()).map_err(|errors| io::Error::other(errors.to_string()))?;
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(Metrics::new(&registry));
    let (_reloads, no_reloads) = tokio::sync::mpsc::channel(1);
    serve(gate, listeners, registry, metrics, shutdown, no_reloads).await
}

/// [`run`] with a prepared gate and metrics (the binary builds them to report errors
/// early). Each `Gate` received on `reloads` becomes the policy for new requests; live
/// sessions keep the policy they started with.
pub async fn serve(
    gate: Gate,
    listeners: Listeners,
    registry: prometheus::Registry,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
    mut reloads: tokio::sync::mpsc::Receiver<Gate>,
) -> io::Result<()> {
    let config = gate.config().clone();
    metrics.set_max_connections(config.server.max_connections);
    gate.start_key_refresh(metrics.clone());
    gate.attach_metrics(&metrics);
    let health = Health::new();
    let keys = PublishedKeys::new();
    let admin_stop = CancellationToken::new();
    let sessions = Registry::new(&config.sessions, metrics.clone()).map_err(io::Error::other)?;
    let admin_api = config.admin.token.clone().map(|token| AdminApi {
        token,
        registry: sessions.clone(),
        default_ttl: default_revocation_ttl(&config),
        issuers: config
            .auth
            .issuers
            .iter()
            .map(|issuer| (issuer.name.clone(), issuer.issuer.clone()))
            .collect(),
    });
    let admin_task = tokio::spawn(admin::serve(
        listeners.admin,
        registry,
        health.clone(),
        keys.clone(),
        admin_api,
        admin_stop.clone(),
    ));

    let handles = metrics.relay_counters();
    let policy = Arc::new(Policy::new(gate)?);
    let secure = policy.tls.is_some();
    publish(&policy, &keys, &metrics);
    let proxy = Arc::new(Proxy::new(
        policy,
        metrics.clone(),
        RelayCounters {
            frames_to_upstream: handles.frames_to_upstream,
            bytes_to_upstream: handles.bytes_to_upstream,
            frames_to_client: handles.frames_to_client,
            bytes_to_client: handles.bytes_to_client,
        },
        CancellationToken::new(),
        TaskTracker::new(),
        secure,
        sessions,
    ));
    let reloader = {
        let proxy = proxy.clone();
        let sessions_shape = crate::config::restart_shape(&config);
        tokio::spawn(async move {
            while let Some(gate) = reloads.recv().await {
                apply_reload(&proxy, gate, &keys, &sessions_shape);
            }
        })
    };
    let connections = TaskTracker::new();
    let limit = Arc::new(Semaphore::new(config.server.max_connections));
    // Over-limit connections get an answer from a small pool, not a task each.
    let overflow = Arc::new(Semaphore::new(config.server.max_connections / 16 + 64));
    let stop_accepting = CancellationToken::new();

    let session_link = proxy.registry.start(health.clone());
    health.set_keys_loaded(proxy.policy().gate.keys_ready());
    let key_readiness = tokio::spawn(track_key_readiness(proxy.clone(), health.clone()));
    health.set_listening(true);
    tracing::info!(
        listen = %listeners.proxy.local_addr()?,
        upstream = %config.upstream.url,
        environment = config.environment.as_str(),
        "wsgate serving"
    );

    // The accept loop is a task of its own, so it runs on a runtime worker like the
    // connections it spawns. Polled here it would run wherever `serve` is awaited, which
    // for `wsgate run` is the main thread inside `block_on`: every new connection was then
    // handed from that thread to a worker (a futex wake-up and a context switch each,
    // docs/performance.md).
    let mut accept = tokio::spawn(accept_loop(
        listeners.proxy,
        proxy.clone(),
        limit,
        overflow,
        connections.clone(),
        stop_accepting.clone(),
    ));
    tokio::select! {
        _ = &mut accept => {}
        () = shutdown => {}
    }
    // Ending the loop closes the listening socket now, so new clients are refused at once
    // instead of waiting in the kernel's backlog for the whole drain. An aborted task's
    // future is dropped before its handle resolves.
    accept.abort();
    let _ = accept.await;

    // Tell. The drain timeout is the one in force now (a reload may have changed it).
    let drain_timeout = proxy.policy().gate.config().server.drain_timeout;
    tracing::info!(
        sessions = proxy.sessions.len(),
        connections = connections.len(),
        drain_timeout_ms = drain_timeout.as_millis() as u64,
        "shutdown: draining"
    );
    health.set_draining(true);
    metrics.set_draining(true);
    stop_accepting.cancel();
    proxy.shutdown.cancel();
    connections.close();
    proxy.sessions.close();

    // Wait.
    let drained = tokio::time::timeout(drain_timeout, async {
        proxy.sessions.wait().await;
        connections.wait().await;
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("shutdown: drained"),
        Err(_) => tracing::warn!(
            sessions = proxy.sessions.len(),
            connections = connections.len(),
            "shutdown: drain_timeout reached; cutting the remaining connections"
        ),
    }
    reloader.abort();
    key_readiness.abort();
    if let Some(link) = session_link {
        link.abort();
    }
    admin_stop.cancel();
    let _ = admin_task.await;
    Ok(())
}

/// What every (re)load makes public: the assertion's JWKS on the admin listener, the
/// certificates' expiry dates, and a warning when the assertion key was generated here.
fn publish(policy: &Policy, keys: &PublishedKeys, metrics: &Metrics) {
    keys.set(policy.assertion.as_ref().map(|a| a.jwks()));
    for (certificate, not_after) in policy.certificate_expiry() {
        metrics.certificate_expiry(certificate, not_after);
    }
    if let Some(assertion) = &policy.assertion {
        if assertion.generated() {
            tracing::warn!(
                kid = assertion.current_key().kid(),
                "identity.assertion.key_file is not set: signing with a key generated at start; \
                 other replicas (and this one after a restart) sign with different keys"
            );
        }
    }
}

/// A revocation's default `ttl`: long enough to outlive any token it can match, i.e.
/// `auth.max_lifetime` plus the leeway; without a lifetime limit, a day
/// ([`crate::sessions::DEFAULT_TTL`]).
pub fn default_revocation_ttl(config: &Config) -> Duration {
    config
        .auth
        .max_lifetime
        .map_or(crate::sessions::DEFAULT_TTL, |max| {
            max.saturating_add(config.auth.leeway)
        })
        .min(crate::sessions::MAX_TTL)
}

/// The one reload entry point: SIGHUP and file changes (`commands/watch.rs`) both end
/// here. The new gate becomes the policy for new requests as one unit; keys that need a
/// restart keep their running values and are named in the log line and by
/// `result="restart_required"`.
fn apply_reload(proxy: &Proxy, gate: Gate, keys: &PublishedKeys, sessions_shape: &str) {
    // Compared with what the process started with: such a key stays unapplied until a
    // restart, however many reloads come in between.
    let mut restart = crate::config::restart_required(&proxy.server, &gate.config().server);
    if crate::config::restart_shape(gate.config()) != sessions_shape {
        restart.push(crate::config::SESSIONS_RESTART_KEY);
    }
    match Policy::new(gate) {
        Ok(mut policy) => {
            let previous = proxy.policy();
            if let Some(old) = &previous.assertion {
                policy.assertion = policy.assertion.take().map(|a| a.adopt_generated(old));
            }
            // The listener is TLS or not for the life of the process: a reload changes its
            // files, never whether it has any.
            if policy.tls.is_some() != proxy.secure {
                policy.tls = if proxy.secure {
                    previous.tls.clone()
                } else {
                    None
                };
            }
            publish(&policy, keys, &proxy.metrics);
            policy.gate.adopt_keys(&previous.gate);
            policy.gate.start_key_refresh(proxy.metrics.clone());
            policy.gate.attach_metrics(&proxy.metrics);
            proxy.replace_policy(Arc::new(policy));
            previous.gate.stop_key_refresh();
            if restart.is_empty() {
                crate::telemetry::record_config_reload(&proxy.metrics, ReloadResult::Success, None);
            } else {
                crate::telemetry::record_config_reload(
                    &proxy.metrics,
                    ReloadResult::RestartRequired,
                    Some(&restart.join(", ")),
                );
            }
        }
        Err(error) => crate::telemetry::record_config_reload(
            &proxy.metrics,
            ReloadResult::Error,
            Some(&error.to_string()),
        ),
    }
}

/// Keeps `/readyz`'s key flag equal to the current gate's: false while an enabled remote
/// issuer has no keys (before the first fetch, after `jwks_max_stale`).
async fn track_key_readiness(proxy: Arc<Proxy>, health: Arc<Health>) {
    loop {
        let policy = proxy.policy();
        let mut changed = policy.gate.watch_keys();
        health.set_keys_loaded(policy.gate.keys_ready());
        drop(policy);
        // Err: the gate is gone (replaced by a reload); look at the new one.
        let _ = changed.changed().await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    limit: Arc<Semaphore>,
    overflow: Arc<Semaphore>,
    connections: TaskTracker,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // EMFILE/ENFILE and friends: back off instead of spinning (hyper 0.14's
                // sleep_on_errors behaviour).
                tracing::warn!(%error, "accept failed; backing off");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // The TLS material in force now: a reload swaps it for new handshakes only.
        let tls = if proxy.secure {
            proxy.policy().tls.clone()
        } else {
            None
        };
        match limit.clone().try_acquire_owned() {
            Ok(permit) => {
                let proxy = proxy.clone();
                let conn = ClientConn::new(Slot::new(permit, Some(proxy.metrics.clone())));
                connections.spawn(serve_client(stream, peer, proxy, tls, conn));
            }
            Err(_) => match overflow.clone().try_acquire_owned() {
                Ok(permit) => {
                    let proxy = proxy.clone();
                    connections.spawn(async move {
                        let conn = ClientConn::new(Slot::new(permit, None));
                        match tls {
                            None => serve_overloaded(stream, peer, proxy, conn).await,
                            Some(tls) => {
                                if let Some(stream) =
                                    tls_handshake(&tls.acceptor, stream, peer, &proxy).await
                                {
                                    serve_overloaded(stream, peer, proxy, conn).await;
                                }
                            }
                        }
                    });
                }
                Err(_) => {
                    crate::telemetry::record_connection_rejected_overloaded(&proxy.metrics, peer);
                    drop(stream);
                }
            },
        }
    }
}

fn http1_builder(proxy: &Proxy) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(proxy.handshake_timeout())
        // Largest request head; beyond it hyper answers 431.
        .max_buf_size(MAX_HEAD_BYTES)
        .half_close(false);
    builder
}

/// One client connection's task: the TLS handshake (on a TLS listener), HTTP/1.1 with
/// upgrades until the connection closes or the drain ends it, then, in the same task,
/// whatever its upgrade started (the session's relay).
///
/// The TLS and HTTP stages are boxed and freed when they end: this task lives as long as
/// the session, and inline they would size its allocation for the whole session (measured:
/// idle sessions grew from 3.2 to 7.6 KiB each).
async fn serve_client(
    stream: TcpStream,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
    tls: Option<ListenerTls>,
    conn: ClientConn,
) {
    let after_upgrade = conn.after_upgrade.clone();
    match tls {
        None => Box::pin(serve_connection(stream, peer, proxy, conn)).await,
        Some(tls) => {
            let Some(stream) = Box::pin(tls_handshake(&tls.acceptor, stream, peer, &proxy)).await
            else {
                return;
            };
            let conn = conn.with_certificate(tls.client_certificate(stream.get_ref().1));
            drop(tls);
            Box::pin(serve_connection(stream, peer, proxy, conn)).await;
        }
    }
    if let Some(session) = after_upgrade.take() {
        session.await;
    }
}

/// One client connection: its first request if it is a WebSocket upgrade, read and
/// answered by hand (`proxy::first`); otherwise HTTP/1.1 with upgrades through hyper,
/// until the connection closes or the drain ends it.
async fn serve_connection<S>(stream: S, peer: SocketAddr, proxy: Arc<Proxy>, conn: ClientConn)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(stream) = proxy.first_request(stream, peer, &conn).await else {
        return;
    };
    let service = {
        let proxy = proxy.clone();
        service_fn(move |request| proxy.clone().handle(request, peer, conn.clone()))
    };
    let connection = http1_builder(&proxy)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = &mut connection => {
            if let Err(error) = result {
                tracing::debug!(%error, client = %peer, "client connection ended with an error");
            }
        }
        () = proxy.shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A connection over the limit: answer its first request with `overloaded`, then close.
async fn serve_overloaded<S>(stream: S, peer: SocketAddr, proxy: Arc<Proxy>, conn: ClientConn)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let after_upgrade = conn.after_upgrade.clone();
    let service = {
        let proxy = proxy.clone();
        service_fn(move |request| {
            let response = proxy.overloaded(request, peer, conn.clone());
            async move { Ok::<_, Infallible>(response) }
        })
    };
    let connection = http1_builder(&proxy)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let _ = tokio::time::timeout(
        proxy.handshake_timeout() + crate::proxy::CLOSE_TIMEOUT,
        connection,
    )
    .await;
    if let Some(refusal) = after_upgrade.take() {
        refusal.await;
    }
}

/// Every TLS file the configuration names, loaded as serving would (the listener's
/// certificate and key, its client CA, the upstream's CA and client certificate): what
/// `check` and a reload must refuse before anything is swapped in.
pub fn check_tls(config: &Config) -> io::Result<()> {
    if let Some(files) = &config.server.tls {
        ListenerTls::new(files)?;
    }
    crate::upstream::Upstream::new(&config.upstream).map(|_| ())
}

/// The TLS handshake, inside the connection task and under the handshake timeout.
async fn tls_handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    proxy: &Proxy,
) -> Option<TlsStream<TcpStream>> {
    let timeout = proxy.handshake_timeout();
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%error, client = %peer, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(client = %peer, "TLS handshake timed out");
            None
        }
    }
}
