//! The upstream's answer to the upgrade decides whether a session exists. A refusal
//! (200/426/302...) is relayed with `Connection: close` and the connection is never turned
//! into a tunnel, so a request smuggled behind the upgrade never reaches the upstream. An
//! invalid 101 is a 502 `upstream_rejected`.

use crate::denials::{UPSTREAM_REJECTED, UPSTREAM_UNAVAILABLE, assert_http_refusal};
use crate::support::raw;
use crate::support::tokens::alice;
use crate::support::{ScriptedUpstream, TestProxy, Upgrade};

const SMUGGLED: &str = "GET /internal/smuggled HTTP/1.1\r\nHost: backend.internal\r\n\r\n";

/// The upstream answers the upgrade with `status_line` and `body`; the client pipelines a
/// second request right behind its upgrade request.
async fn refused_upgrade_is_relayed_and_never_a_tunnel(
    status_line: &str,
    extra_headers: &str,
    body: &str,
) {
    let upstream = ScriptedUpstream::answering(&format!(
        "HTTP/1.1 {status_line}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    ))
    .await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;

    let mut bytes = Upgrade::to("/ws").bearer(&alice()).to_bytes(proxy.addr());
    bytes.extend_from_slice(SMUGGLED.as_bytes());
    let response = raw::exchange(proxy.addr(), &bytes).await;

    let code: u16 = status_line[..3].parse().expect("status code");
    assert_eq!(
        response.status, code,
        "the upstream's status is relayed: {response:?}"
    );
    assert_eq!(response.body_text(), body, "the upstream's body is relayed");
    assert!(
        response.says_connection_close(),
        "Connection: close: {response:?}"
    );
    assert_eq!(
        response.response_count(),
        1,
        "the pipelined request was never answered: {:?}",
        String::from_utf8_lossy(&response.raw)
    );

    let connection = upstream.finished_connection(0).await;
    assert!(
        !connection.received_text().contains("smuggled"),
        "a smuggled request reached the upstream: {:?}",
        connection.received_text()
    );
    assert_eq!(upstream.connections(), 1, "no second upstream connection");
}

#[tokio::test]
async fn failed_upstream_upgrade_is_never_a_tunnel() {
    refused_upgrade_is_relayed_and_never_a_tunnel("200 OK", "", "not a websocket server").await;
}

#[tokio::test]
async fn upstream_426_is_relayed_and_never_a_tunnel() {
    refused_upgrade_is_relayed_and_never_a_tunnel(
        "426 Upgrade Required",
        "Sec-WebSocket-Version: 13\r\n",
        "upgrade required",
    )
    .await;
}

#[tokio::test]
async fn upstream_redirect_is_relayed_and_never_a_tunnel() {
    refused_upgrade_is_relayed_and_never_a_tunnel(
        "302 Found",
        "Location: https://login.example/\r\n",
        "go log in",
    )
    .await;
}

#[tokio::test]
async fn upstream_403_is_relayed_and_never_a_tunnel() {
    refused_upgrade_is_relayed_and_never_a_tunnel("403 Forbidden", "", "backend says no").await;
}

#[tokio::test]
async fn chunked_refusal_is_relayed_decoded_and_never_a_tunnel() {
    let upstream = ScriptedUpstream::answering(
        "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\nRetry-After: 5\r\n\r\n8;ext=1\r\ndraining\r\n6\r\n, bye!\r\n0\r\n\r\n",
    )
    .await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let mut bytes = Upgrade::to("/ws").bearer(&alice()).to_bytes(proxy.addr());
    bytes.extend_from_slice(SMUGGLED.as_bytes());
    let response = raw::exchange(proxy.addr(), &bytes).await;

    assert_eq!(response.status, 503, "{response:?}");
    assert_eq!(
        response.body_text(),
        "draining, bye!",
        "decoded, not re-chunked"
    );
    assert_eq!(response.header("retry-after"), Some("5"));
    assert_eq!(response.header("transfer-encoding"), None, "{response:?}");
    assert!(response.says_connection_close(), "{response:?}");
    assert_eq!(response.response_count(), 1);
    let connection = upstream.finished_connection(0).await;
    assert!(!connection.received_text().contains("smuggled"));
}

/// The upstream answers 101 with `response`; the client gets 502 `upstream_rejected`
/// and its pipelined request never reaches the upstream.
async fn invalid_101_is_rejected(upstream: ScriptedUpstream, request: Upgrade) {
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let mut bytes = request.to_bytes(proxy.addr());
    bytes.extend_from_slice(SMUGGLED.as_bytes());
    let response = raw::exchange(proxy.addr(), &bytes).await;
    assert_http_refusal(&response, UPSTREAM_REJECTED);
    assert_eq!(
        response.response_count(),
        1,
        "{:?}",
        String::from_utf8_lossy(&response.raw)
    );
    let connection = upstream.finished_connection(0).await;
    assert!(
        !connection.received_text().contains("smuggled"),
        "{:?}",
        connection.received_text()
    );
}

#[tokio::test]
async fn upstream_101_without_an_accept_key_is_rejected() {
    let upstream = ScriptedUpstream::answering(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .await;
    invalid_101_is_rejected(upstream, Upgrade::to("/ws").bearer(&alice())).await;
}

#[tokio::test]
async fn upstream_101_with_a_wrong_accept_key_is_rejected() {
    let upstream = ScriptedUpstream::answering(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    )
    .await;
    invalid_101_is_rejected(upstream, Upgrade::to("/ws").bearer(&alice())).await;
}

#[tokio::test]
async fn upstream_101_selecting_an_unoffered_subprotocol_is_rejected() {
    let upstream = ScriptedUpstream::accepting_with(&["Sec-WebSocket-Protocol: admin"]).await;
    invalid_101_is_rejected(
        upstream,
        Upgrade::to("/ws")
            .bearer(&alice())
            .header("Sec-WebSocket-Protocol", "chat"),
    )
    .await;
}

#[tokio::test]
async fn upstream_101_adding_an_unoffered_extension_is_rejected() {
    let upstream =
        ScriptedUpstream::accepting_with(&["Sec-WebSocket-Extensions: permessage-deflate"]).await;
    invalid_101_is_rejected(upstream, Upgrade::to("/ws").bearer(&alice())).await;
}

#[tokio::test]
async fn upstream_101_upgrading_to_another_protocol_is_rejected() {
    let upstream = ScriptedUpstream::start(|_| {
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n".to_vec()
    })
    .await;
    invalid_101_is_rejected(upstream, Upgrade::to("/ws").bearer(&alice())).await;
}

#[tokio::test]
async fn upstream_101_with_frames_in_the_same_segment_loses_nothing() {
    // A correct 101 immediately followed by a text frame "early" (unmasked, server to client).
    let upstream = ScriptedUpstream::start(|seen| {
        let key = seen
            .values("sec-websocket-key")
            .first()
            .map(|k| k.to_string())
            .unwrap_or_default();
        let mut bytes = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes())
        )
        .into_bytes();
        bytes.extend_from_slice(&[0x81, 5]);
        bytes.extend_from_slice(b"early");
        bytes
    })
    .await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    use futures_util::StreamExt;
    let first = crate::support::within("the early frame", session.next())
        .await
        .expect("a message")
        .expect("a valid frame");
    assert_eq!(
        first,
        tokio_tungstenite::tungstenite::Message::text("early")
    );
}

/// A proxy whose own handshake budget is far beyond the test's patience: an answer
/// proves the upstream's answer has a bound of its own (`connect_timeout`, 2 s here).
async fn patient_proxy(upstream: &ScriptedUpstream) -> TestProxy {
    TestProxy::builder()
        .upstream(&upstream.url())
        .server_setting("handshake_timeout = \"120s\"")
        .start()
        .await
}

#[tokio::test]
async fn an_upstream_that_never_answers_the_upgrade_is_unavailable_not_a_hang() {
    let upstream = ScriptedUpstream::start(|_| Vec::new()).await;
    let proxy = patient_proxy(&upstream).await;
    let response = Upgrade::to("/ws").bearer(&alice()).send(proxy.addr()).await;
    assert_http_refusal(&response, UPSTREAM_UNAVAILABLE);
    let metrics = proxy.metrics().await;
    assert_eq!(
        crate::support::metric_value(
            &metrics,
            "wsgate_upstream_errors_total",
            &[("kind", "timeout")]
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_close_delimited_refusal_on_a_connection_kept_open_reaches_the_client_as_sent() {
    let upstream = ScriptedUpstream::answering(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nnot you",
    )
    .await;
    let proxy = patient_proxy(&upstream).await;
    let response = Upgrade::to("/ws").bearer(&alice()).send(proxy.addr()).await;
    assert_eq!(response.status, 403, "{response:?}");
    assert_eq!(response.body_text(), "not you");
    assert!(response.says_connection_close(), "{response:?}");
}
