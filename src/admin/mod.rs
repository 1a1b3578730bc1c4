//! The admin listener: `/metrics`, `/healthz`, `/readyz`, `/.well-known/jwks.json`
//! (the signed identity assertion's public keys, 404 while `[identity.assertion]` is off),
//! and session control's `/admin/*` (`sessions::admin_response`, behind `[admin] token`).
//!
//! It runs on its own port (`server.admin_listen`) so probes and scrapes never compete
//! with proxied traffic. [`Health`] holds the readiness flags the rest of wsgate flips;
//! `/readyz` turns 503 while a drain is under way, so the caller keeps this listener
//! running through the drain and cancels `stop` only afterwards. Readiness never depends
//! on the upstream: a sidecar that waits for its app while the app waits for it deadlocks.

pub mod jwks;
mod routes;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::sessions::AdminApi;
use crate::telemetry::health::Health;
use crate::timer::Timer;
use jwks::PublishedKeys;

/// A client gets this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// After `stop`, requests already being answered get this long to finish.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Pause after an accept error (e.g. EMFILE) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves the admin endpoints on `listener` until `stop` is cancelled.
///
/// On `stop`, accepting ends at once, idle keep-alive connections are closed, and requests
/// in flight get a short grace period before their connections are dropped.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    health: Arc<Health>,
    keys: Arc<PublishedKeys>,
    sessions: Option<AdminApi>,
    stop: CancellationToken,
) {
    let state = Arc::new(State {
        registry,
        health,
        keys,
        sessions,
    });
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    tracing::warn!(error = %error, "admin listener accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        connections.spawn(serve_connection(stream, state.clone(), stop.clone()));
    }
    drop(listener);
    let finished = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(STOP_GRACE, finished).await.is_err() {
        tracing::debug!(
            connections = connections.len(),
            "admin connections cut off at stop"
        );
    }
    // Dropping the set aborts whatever is still running.
}

/// What every admin request needs.
struct State {
    registry: Registry,
    health: Arc<Health>,
    keys: Arc<PublishedKeys>,
    /// `None` without `[admin] token`: `/admin/*` is 404.
    sessions: Option<AdminApi>,
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    state: Arc<State>,
    stop: CancellationToken,
) {
    let service = service_fn(move |request: Request<Incoming>| {
        let state = state.clone();
        async move {
            let path = request.uri().path();
            let response = if path == "/admin" || path.starts_with("/admin/") {
                routes::session_control(&state, request).await
            } else {
                routes::respond(&state, &request)
            };
            Ok::<_, Infallible>(response)
        }
    });
    let connection = http1::Builder::new()
        .timer(Timer::coarse())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Probes that hang up early or send garbage are routine: not worth a warning.
        tracing::debug!(error = %error, "admin connection ended with an error");
    }
}

#[cfg(test)]
mod tests;
