//! The admin listener: `/metrics`, `/healthz`, `/readyz`, `/.well-known/jwks.json`
//! (the signed identity assertion's public keys, 404 while `[identity.assertion]` is off),
//! and session control's `/admin/*` (`sessions::admin_response`, behind `[admin] token`).
//!
//! It runs on its own port (`server.admin_listen`) so probes and scrapes never compete
//! with proxied traffic. [`Health`] holds the readiness flags the rest of wsgate flips;
//! `/readyz` turns 503 while a drain is under way, so the caller keeps this listener
//! running through the drain and cancels `stop` only afterwards. Readiness never depends
//! on the upstream: a sidecar that waits for its app while the app waits for it deadlocks.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::sessions::{AdminApi, MAX_BODY_BYTES, admin_response};
use crate::telemetry::health::Health;
use crate::telemetry::metrics;

/// A client gets this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// After `stop`, requests already being answered get this long to finish.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Pause after an accept error (e.g. EMFILE) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The JWKS document the admin listener publishes; replaced on every (re)load.
#[derive(Debug, Default)]
pub struct PublishedKeys(RwLock<Option<Bytes>>);

impl PublishedKeys {
    pub fn new() -> Arc<PublishedKeys> {
        Arc::new(PublishedKeys::default())
    }

    /// `None`: the assertion is off and the path answers 404.
    pub fn set(&self, jwks: Option<&str>) {
        let value = jwks.map(|text| Bytes::copy_from_slice(text.as_bytes()));
        match self.0.write() {
            Ok(mut guard) => *guard = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }

    fn current(&self) -> Option<Bytes> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// How long verifiers may cache the JWKS. Short, so a rotation (a new `next_key_file`)
/// reaches them within a minute; a verifier that meets an unknown `kid` refetches anyway.
const JWKS_MAX_AGE: &str = "public, max-age=60";

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
                session_control(&state, request).await
            } else {
                respond(&state, &request)
            };
            Ok::<_, Infallible>(response)
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
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

/// `/admin/*`: the body (bounded) read, then `sessions::admin_response`.
async fn session_control(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or unreadable",
            );
        }
    };
    admin_response(
        state.sessions.as_ref(),
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &body,
    )
    .await
}

/// Routes one admin request.
fn respond<B>(state: &State, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics::render(&state.registry));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(metrics::TEXT_CONTENT_TYPE),
            );
            response
        }
        "/healthz" => text(StatusCode::OK, "ok"),
        "/readyz" => match state.health.readiness() {
            Ok(()) => text(StatusCode::OK, "ready"),
            Err(not_ready) => text(StatusCode::SERVICE_UNAVAILABLE, not_ready.as_str()),
        },
        "/.well-known/jwks.json" => match state.keys.current() {
            Some(jwks) => {
                let mut response = Response::new(Full::new(jwks));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                headers.insert(
                    header::CACHE_CONTROL,
                    header::HeaderValue::from_static(JWKS_MAX_AGE),
                );
                response
            }
            None => text(StatusCode::NOT_FOUND, "not found"),
        },
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// A plain-text response that no cache keeps: probes must see the state of now.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::telemetry::metrics::Metrics;

    struct Admin {
        addr: SocketAddr,
        health: Arc<Health>,
        stop: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start() -> Admin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("bound address");
        let registry = Registry::new();
        let metrics = Metrics::new(&registry);
        metrics.denied("/ws", crate::domain::reason::Reason::TokenMissing);
        let health = Health::new();
        let stop = CancellationToken::new();
        let keys = PublishedKeys::new();
        keys.set(Some(r#"{"keys":[]}"#));
        let task = tokio::spawn(serve(
            listener,
            registry,
            health.clone(),
            keys,
            None,
            stop.clone(),
        ));
        Admin {
            addr,
            health,
            stop,
            task,
        }
    }

    /// One request on a fresh connection; returns the status, the raw head and the body.
    async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        (status, head.to_owned(), body.to_owned())
    }

    #[tokio::test]
    async fn metrics_are_served_as_prometheus_text() {
        let admin = start().await;
        let (status, head, body) = request(admin.addr, "GET", "/metrics").await;
        assert_eq!(status, 200);
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        assert!(body.contains("wsgate_build_info{version="), "{body}");
        assert!(
            body.contains("wsgate_auth_denied_total{reason=\"token_missing\",route=\"/ws\"} 1"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn healthz_is_ok_while_the_process_runs() {
        let admin = start().await;
        assert_eq!(request(admin.addr, "GET", "/healthz").await.0, 200);
        assert_eq!(request(admin.addr, "GET", "/healthz").await.2, "ok");
        admin.health.set_draining(true);
        assert_eq!(request(admin.addr, "GET", "/healthz").await.0, 200);
    }

    #[tokio::test]
    async fn readyz_follows_health() {
        let admin = start().await;
        let readyz = || request(admin.addr, "GET", "/readyz");
        let (status, _, body) = readyz().await;
        assert_eq!((status, body.as_str()), (503, "starting"));

        admin.health.set_listening(true);
        let (status, _, body) = readyz().await;
        assert_eq!((status, body.as_str()), (503, "keys_unavailable"));

        admin.health.set_keys_loaded(true);
        let (status, _, body) = readyz().await;
        assert_eq!((status, body.as_str()), (200, "ready"));
        assert!(admin.health.is_ready());

        admin.health.set_draining(true);
        let (status, _, body) = readyz().await;
        assert_eq!((status, body.as_str()), (503, "draining"));
        assert!(!admin.health.is_ready());
    }

    #[tokio::test]
    async fn the_jwks_is_served_as_json() {
        let admin = start().await;
        let (status, head, body) = request(admin.addr, "GET", "/.well-known/jwks.json").await;
        assert_eq!((status, body.as_str()), (200, r#"{"keys":[]}"#));
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_are_refused() {
        let admin = start().await;
        assert_eq!(request(admin.addr, "GET", "/nope").await.0, 404);
        let (status, head, _) = request(admin.addr, "POST", "/metrics").await;
        assert_eq!(status, 405);
        assert!(
            head.to_ascii_lowercase().contains("allow: get, head"),
            "{head}"
        );
        let (status, _, body) = request(admin.addr, "HEAD", "/healthz").await;
        assert_eq!((status, body.as_str()), (200, ""));
        assert_eq!(request(admin.addr, "GET", "/readyz?verbose=1").await.0, 503);
    }

    #[tokio::test]
    async fn stop_closes_idle_connections() {
        let admin = start().await;
        // An idle keep-alive connection must not hold up the stop.
        let mut idle = TcpStream::connect(admin.addr).await.expect("connect");
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n")
            .await
            .expect("write");
        let mut buffer = [0_u8; 512];
        let read = idle.read(&mut buffer).await.expect("read response");
        assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));

        admin.stop.cancel();
        tokio::time::timeout(Duration::from_secs(1), admin.task)
            .await
            .expect("serve returns promptly after stop")
            .expect("serve did not panic");
        let read = tokio::time::timeout(Duration::from_secs(1), idle.read(&mut buffer))
            .await
            .expect("the idle connection is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}
