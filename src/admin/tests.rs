//! The admin listener over real sockets: each endpoint's answer, readiness following
//! `Health`, and a stop that does not wait for idle keep-alive connections.

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
    metrics.denied("/ws", crate::domain::refusal::Refusal::TokenMissing);
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
