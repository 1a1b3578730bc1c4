//! Serving: [`serve`] runs a built [`Policy`] on already-bound [`Listeners`] until its
//! shutdown future completes, then drains; [`run`] is the same from a `Config`.
//!
//! `wsgate run`, `wsgate demo` and the integration tests all start a server through these
//! two functions; the policy comes from [`runtime`], the one place a configuration is
//! turned into what runs. Per connection, see `accept.rs`; reloads, see `reload.rs`.
//!
//! Shutdown runs in three bounded steps: *when* (`shutdown` completes), *tell* (readiness
//! false, stop accepting, cancel sessions: each relay sends 1001 `server_shutdown` to both
//! sides), *wait* (the tracker, under `drain_timeout`; whatever is left is cut).

mod accept;
mod listeners;
mod reload;
pub mod runtime;
mod threads;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use listeners::Listeners;

use crate::admin::{self, jwks::PublishedKeys};
use crate::config::Config;
use crate::proxy::{Policy, Proxy};
use crate::sessions::{AdminApi, Registry};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;

/// Builds the policy for `config` ([`runtime::build`]), then [`serve`]s it with a fresh
/// metrics registry and no reloads until `shutdown` completes.
pub async fn run(
    config: Arc<Config>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let policy = runtime::build(config).map_err(|errors| io::Error::other(errors.to_string()))?;
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(Metrics::new(&registry));
    let (_reloads, no_reloads) = tokio::sync::mpsc::channel(1);
    serve(policy, listeners, registry, metrics, shutdown, no_reloads).await
}

/// Serves `policy` on `listeners` until `shutdown` completes, then drains within
/// `server.drain_timeout`. Each `Policy` received on `reloads` becomes the policy for new
/// requests (`reload.rs`); live sessions keep the policy they started with.
pub async fn serve(
    policy: Policy,
    listeners: Listeners,
    registry: prometheus::Registry,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
    mut reloads: tokio::sync::mpsc::Receiver<Policy>,
) -> io::Result<()> {
    let config = policy.gate.config().clone();
    metrics.set_max_connections(config.server.max_connections);
    policy.gate.start_key_refresh(metrics.clone());
    policy.gate.attach_metrics(&metrics);
    let health = Health::new();
    let keys = PublishedKeys::new();
    let admin_stop = CancellationToken::new();
    let sessions = Registry::new(&config.sessions, metrics.clone()).map_err(io::Error::other)?;
    let admin_task = tokio::spawn(admin::serve(
        listeners.admin,
        registry,
        health.clone(),
        keys.clone(),
        session_control(&config, &sessions),
        admin_stop.clone(),
    ));

    let policy = Arc::new(policy);
    let secure = policy.tls.is_some();
    reload::publish(&policy, &keys, &metrics);
    let proxy = Arc::new(Proxy::new(
        policy,
        metrics.clone(),
        metrics.relay_counters(),
        CancellationToken::new(),
        TaskTracker::new(),
        secure,
        sessions,
    ));
    let reloader = {
        let proxy = proxy.clone();
        let sessions_shape = crate::config::restart_shape(&config);
        tokio::spawn(async move {
            while let Some(policy) = reloads.recv().await {
                reload::apply_reload(&proxy, policy, &keys, &sessions_shape);
            }
        })
    };
    let connections = TaskTracker::new();
    let stop_accepting = CancellationToken::new();
    let accepting = accept::Accepting {
        proxy: proxy.clone(),
        limit: Arc::new(Semaphore::new(config.server.max_connections)),
        // Over-limit connections get an answer from a small pool, not a task each.
        overflow: Arc::new(Semaphore::new(config.server.max_connections / 16 + 64)),
        connections: connections.clone(),
        stop: stop_accepting.clone(),
    };
    let listen = listeners.proxy.local_addr()?;
    // With more than one thread, every connection is served by the serving threads and
    // this runtime serves none (`threads.rs`); with one, this runtime accepts them. Either
    // starts before readiness says the server serves.
    let (accept, serving_threads) = if listeners.threads > 1 {
        let threads =
            threads::ServingThreads::start(listeners.proxy, listeners.threads, &accepting).await?;
        (None, Some(threads))
    } else {
        // A task of its own, so `serve` only waits for the shutdown beside it.
        let accept = tokio::spawn(accept::accept_loop(listeners.proxy, accepting));
        (Some(accept), None)
    };

    let session_link = proxy.registry.start(health.clone());
    health.set_keys_loaded(proxy.policy().gate.keys_ready());
    let key_readiness = tokio::spawn(reload::track_key_readiness(proxy.clone(), health.clone()));
    health.set_listening(true);
    tracing::info!(
        %listen,
        upstream = %config.upstream.url,
        environment = config.environment.as_str(),
        threads = serving_threads.as_ref().map_or(1, threads::ServingThreads::len),
        "wsgate serving"
    );

    match accept {
        Some(mut accept) => {
            tokio::select! {
                _ = &mut accept => {}
                () = shutdown => {}
            }
            // Ending the loop closes the listening socket now, so new clients are refused
            // at once instead of waiting in the kernel's backlog for the whole drain. An
            // aborted task's future is dropped before its handle resolves.
            stop_accepting.cancel();
            accept.abort();
            let _ = accept.await;
        }
        None => shutdown.await,
    }
    // Every thread's loop ends and closes its socket; none accepts after this.
    stop_accepting.cancel();
    if let Some(threads) = &serving_threads {
        threads.stopped_accepting().await;
    }

    drain(&proxy, &connections, &health, &metrics).await;
    if let Some(threads) = serving_threads {
        threads.cut().await;
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

/// Tell, then wait: readiness false, every session told `server_shutdown`, then the
/// sessions and connections waited for under the drain timeout in force now (a reload
/// may have changed it); whatever is left is cut.
async fn drain(proxy: &Proxy, connections: &TaskTracker, health: &Health, metrics: &Metrics) {
    // Tell.
    let drain_timeout = proxy.policy().gate.config().server.drain_timeout;
    tracing::info!(
        sessions = proxy.sessions.len(),
        connections = connections.len(),
        drain_timeout_ms = drain_timeout.as_millis() as u64,
        "shutdown: draining"
    );
    health.set_draining(true);
    metrics.set_draining(true);
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
}

/// Session control's `/admin/*` as configured: `None` without `[admin] token`.
fn session_control(config: &Config, sessions: &Arc<Registry>) -> Option<AdminApi> {
    config.admin.token.clone().map(|token| AdminApi {
        token,
        registry: sessions.clone(),
        default_ttl: default_revocation_ttl(config),
        issuers: config
            .auth
            .issuers
            .iter()
            .map(|issuer| (issuer.name.clone(), issuer.issuer.clone()))
            .collect(),
    })
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
