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

use crate::admin::{self, Health};
use crate::auth::Gate;
use crate::config::{Config, TlsFiles};
use crate::metrics::{Metrics, ReloadResult};
use crate::proxy::{ClientConn, MAX_HEAD_BYTES, Policy, Proxy, Slot};
use crate::relay::RelayCounters;

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
    let health = Health::new();
    let admin_stop = CancellationToken::new();
    let admin_task = tokio::spawn(admin::serve(
        listeners.admin,
        registry,
        health.clone(),
        admin_stop.clone(),
    ));

    let tls = match &config.server.tls {
        Some(files) => Some(tls_acceptor(files)?),
        None => None,
    };
    let handles = metrics.relay_counters();
    let proxy = Arc::new(Proxy::new(
        Arc::new(Policy::new(gate)?),
        metrics.clone(),
        RelayCounters {
            frames_to_upstream: handles.frames_to_upstream,
            bytes_to_upstream: handles.bytes_to_upstream,
            frames_to_client: handles.frames_to_client,
            bytes_to_client: handles.bytes_to_client,
        },
        CancellationToken::new(),
        TaskTracker::new(),
        tls.is_some(),
    ));
    let reloader = {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            while let Some(gate) = reloads.recv().await {
                apply_reload(&proxy, gate);
            }
        })
    };
    let connections = TaskTracker::new();
    let limit = Arc::new(Semaphore::new(config.server.max_connections));
    // Over-limit connections get an answer from a small pool, not a task each.
    let overflow = Arc::new(Semaphore::new(config.server.max_connections / 16 + 64));
    let stop_accepting = CancellationToken::new();

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
        tls,
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
    admin_stop.cancel();
    let _ = admin_task.await;
    Ok(())
}

/// The one reload entry point: SIGHUP and file changes (`commands/watch.rs`) both end
/// here. The new gate becomes the policy for new requests as one unit; keys that need a
/// restart keep their running values and are named in the log line and by
/// `result="restart_required"`.
fn apply_reload(proxy: &Proxy, gate: Gate) {
    // Compared with what the process started with: such a key stays unapplied until a
    // restart, however many reloads come in between.
    let restart = crate::config::restart_required(&proxy.server, &gate.config().server);
    match Policy::new(gate) {
        Ok(policy) => {
            let previous = proxy.policy();
            policy.gate.adopt_keys(&previous.gate);
            policy.gate.start_key_refresh(proxy.metrics.clone());
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
            Some(&format!("upstream: {error}")),
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
    tls: Option<TlsAcceptor>,
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
        match limit.clone().try_acquire_owned() {
            Ok(permit) => {
                let proxy = proxy.clone();
                let tls = tls.clone();
                let conn = ClientConn::new(Slot::new(permit, Some(proxy.metrics.clone())));
                connections.spawn(serve_client(stream, peer, proxy, tls, conn));
            }
            Err(_) => match overflow.clone().try_acquire_owned() {
                Ok(permit) => {
                    let proxy = proxy.clone();
                    let tls = tls.clone();
                    connections.spawn(async move {
                        let conn = ClientConn::new(Slot::new(permit, None));
                        match tls {
                            None => serve_overloaded(stream, peer, proxy, conn).await,
                            Some(acceptor) => {
                                if let Some(stream) =
                                    tls_handshake(&acceptor, stream, peer, &proxy).await
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
    tls: Option<TlsAcceptor>,
    conn: ClientConn,
) {
    let after_upgrade = conn.after_upgrade.clone();
    match tls {
        None => Box::pin(serve_connection(stream, peer, proxy, conn)).await,
        Some(acceptor) => {
            let Some(stream) = Box::pin(tls_handshake(&acceptor, stream, peer, &proxy)).await
            else {
                return;
            };
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

/// Builds the client-facing TLS acceptor (HTTP/1.1 only: ALPN offers `http/1.1`).
pub fn tls_acceptor(files: &TlsFiles) -> io::Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert_file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("server.tls.cert_file {}: {e}", files.cert_file.display()),
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(&files.key_file).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("server.tls.key_file {}: {e}", files.key_file.display()),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("server.tls: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
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
