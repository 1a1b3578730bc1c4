//! A connection's first request is read by hand when it is a WebSocket upgrade, and
//! everything else is left to hyper (src/proxy/first.rs). These scenarios pin the seams:
//! an upgrade after a plain request on the same connection (hyper's path), frames sent
//! right behind the upgrade request, the head limits hyper answers, a head that never
//! completes, and the drain while a connection has sent nothing.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::support::raw::{RawResponse, find_head_end, parse};
use crate::support::tokens::alice;
use crate::support::{EchoUpstream, TestProxy, Upgrade, expect_echo, within};

/// Reads one response with a `Content-Length` body, or a `101` head, leaving the
/// connection open and nothing after the response consumed.
pub(crate) async fn read_one_response(stream: &mut TcpStream) -> RawResponse {
    let mut raw = Vec::new();
    within("one response", async {
        let mut byte = [0u8; 1];
        loop {
            if let Some(end) = find_head_end(&raw) {
                let head = parse(&raw).expect("a response head");
                let length = head
                    .header("content-length")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if head.status == 101 || raw.len() >= end + length {
                    return;
                }
            }
            let n = stream.read(&mut byte).await.expect("read a response");
            assert_eq!(
                n,
                1,
                "closed mid-response: {:?}",
                String::from_utf8_lossy(&raw)
            );
            raw.push(byte[0]);
        }
    })
    .await;
    parse(&raw).expect("a complete response")
}

/// A plain GET that keeps the connection open (HTTP/1.1's default).
pub(crate) fn keep_alive_get(proxy: std::net::SocketAddr, target: &str, token: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {proxy}\r\nAuthorization: Bearer {token}\r\n\r\n")
        .into_bytes()
}

/// Reads until the proxy closes the connection; what it sent before closing.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    within("the proxy to close the connection", async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    raw
}

#[tokio::test]
async fn an_upgrade_after_a_plain_request_on_one_connection_gets_the_same_gate_and_relay() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = alice();
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");

    stream
        .write_all(&keep_alive_get(proxy.addr(), "/api/items", &token))
        .await
        .unwrap();
    let response = read_one_response(&mut stream).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(!response.says_connection_close(), "{response:?}");

    // The same connection, now asking to upgrade: hyper's path, not the first request's.
    let upgrade = Upgrade::to("/ws").bearer(&token);
    stream
        .write_all(&upgrade.to_bytes(proxy.addr()))
        .await
        .unwrap();
    let response = read_one_response(&mut stream).await;
    assert_eq!(response.status, 101, "{response:?}");
    let mut session = WebSocketStream::from_raw_socket(stream, Role::Client, None).await;
    expect_echo(&mut session, "after a plain request").await;

    let seen = upstream.request(1).await;
    assert_eq!(seen.one("X-Auth-User"), "alice");
    assert!(!seen.has("Authorization"));
}

#[tokio::test]
async fn a_refused_upgrade_after_a_plain_request_gets_the_same_reason() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
    stream
        .write_all(&keep_alive_get(proxy.addr(), "/api/items", &alice()))
        .await
        .unwrap();
    assert_eq!(read_one_response(&mut stream).await.status, 200);

    let upgrade = Upgrade::to("/ws");
    stream
        .write_all(&upgrade.to_bytes(proxy.addr()))
        .await
        .unwrap();
    let response = parse(&read_until_closed(&mut stream).await).expect("a response");
    assert_eq!(response.status, 403, "{response:?}");
    assert_eq!(response.header("x-wsgate-reason"), Some("token_missing"));
    assert_eq!(
        upstream.connections(),
        1,
        "only the plain request reached it"
    );
}

#[tokio::test]
async fn frames_sent_right_behind_the_upgrade_request_reach_the_upstream_first() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");

    // One write: the request, then a masked text frame "early" before any 101.
    let mut bytes = Upgrade::to("/ws").bearer(&alice()).to_bytes(proxy.addr());
    let mask = [0x11, 0x22, 0x33, 0x44];
    bytes.extend_from_slice(&[0x81, 0x80 | 5]);
    bytes.extend_from_slice(&mask);
    bytes.extend(b"early".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&bytes).await.unwrap();

    let response = read_one_response(&mut stream).await;
    assert_eq!(response.status, 101, "{response:?}");
    let mut session = WebSocketStream::from_raw_socket(stream, Role::Client, None).await;
    use futures_util::StreamExt;
    let echoed = within("the early frame's echo", session.next())
        .await
        .expect("a message")
        .expect("a valid frame");
    assert_eq!(echoed.into_text().unwrap().as_str(), "early");
    expect_echo(&mut session, "and then the rest").await;
}

#[tokio::test]
async fn a_request_head_over_64_kib_is_answered_431_and_the_proxy_carries_on() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let big = "a".repeat(70 * 1024);
    let response = Upgrade::to("/ws")
        .bearer(&alice())
        .header("X-Big", &big)
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 431, "{:?}", response.headers);

    let mut many = Upgrade::to("/ws").bearer(&alice());
    for i in 0..120 {
        many = many.header(&format!("X-Line-{i}"), "v");
    }
    let response = many.send(proxy.addr()).await;
    assert_eq!(response.status, 431, "{:?}", response.headers);

    assert_eq!(upstream.connections(), 0);
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut session, "still serving").await;
}

#[tokio::test]
async fn a_head_that_never_completes_is_closed_at_the_handshake_timeout_without_an_answer() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .server_setting("handshake_timeout = \"1s\"")
        .start()
        .await;
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        .await
        .unwrap();
    let answered = read_until_closed(&mut stream).await;
    assert!(
        answered.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&answered)
    );
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn the_drain_closes_a_connection_that_has_sent_nothing_yet() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .server_setting("drain_timeout = \"30s\"")
        .server_setting("handshake_timeout = \"60s\"")
        .start()
        .await;
    let mut idle = TcpStream::connect(proxy.addr()).await.expect("connect");
    // A served request proves the idle connection was accepted before the drain.
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut session, "before the drain").await;
    drop(session);

    // Well within drain_timeout and the handshake timeout: the idle connection does not
    // hold the drain up.
    within("the drain", proxy.shutdown()).await;
    assert!(read_until_closed(&mut idle).await.is_empty());
}
