//! RFC 6455 request checks happen before anything else reaches the upstream: a request
//! that is not a well-formed WebSocket upgrade is answered by wsgate itself.

use crate::support::tokens::alice;
use crate::support::{EchoUpstream, RawResponse, TestProxy, Upgrade};

/// Sends `request` (carrying a valid token) and returns the answer, asserting the
/// upstream was never contacted.
async fn answer_to(request: Upgrade) -> RawResponse {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let response = request.bearer(&alice()).send(proxy.addr()).await;
    assert_eq!(
        upstream.connections(),
        0,
        "a malformed upgrade never reaches the upstream"
    );
    response
}

#[tokio::test]
async fn post_upgrade_is_refused() {
    let response = answer_to(Upgrade::to("/ws").method("POST")).await;
    assert!(
        matches!(response.status, 400 | 405),
        "POST upgrade: {response:?}"
    );
}

#[tokio::test]
async fn websocket_version_other_than_13_gets_426_naming_13() {
    let response = answer_to(Upgrade::to("/ws").replace("Sec-WebSocket-Version", "8")).await;
    assert_eq!(response.status, 426, "{response:?}");
    assert_eq!(response.header("sec-websocket-version"), Some("13"));
}

#[tokio::test]
async fn websocket_key_that_is_not_16_base64_bytes_is_refused() {
    for key in ["short", "dG9vIHNob3J0", "!!!!not-base64!!!!!!!!=="] {
        let response = answer_to(Upgrade::to("/ws").replace("Sec-WebSocket-Key", key)).await;
        assert_eq!(response.status, 400, "key {key:?}: {response:?}");
    }
}

#[tokio::test]
async fn missing_websocket_key_is_refused() {
    let response = answer_to(Upgrade::to("/ws").without("Sec-WebSocket-Key")).await;
    assert_eq!(response.status, 400, "{response:?}");
}

#[tokio::test]
async fn upgrade_to_h2c_is_refused() {
    let response = answer_to(
        Upgrade::to("/ws")
            .replace("Upgrade", "h2c")
            .replace("Connection", "Upgrade, HTTP2-Settings")
            .without("Sec-WebSocket-Key")
            .without("Sec-WebSocket-Version")
            .header("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
    )
    .await;
    assert_eq!(response.status, 400, "{response:?}");
}

#[tokio::test]
async fn upgrade_carrying_a_body_is_refused() {
    let response = answer_to(Upgrade::to("/ws").body(b"hello")).await;
    assert_eq!(response.status, 400, "{response:?}");
}

#[tokio::test]
async fn admin_endpoints_are_not_served_on_the_proxy_listener() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let response = Upgrade::plain_get("/metrics").send(proxy.addr()).await;
    assert!(
        !response.body_text().contains("wsgate_"),
        "metrics leaked on the public listener: {response:?}"
    );
}

/// Sends raw request bytes and returns the answer, asserting the upstream was never
/// contacted.
async fn raw_answer(request: &str) -> crate::support::RawResponse {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let response = crate::support::raw::exchange(proxy.addr(), request.as_bytes()).await;
    assert_eq!(upstream.connections(), 0, "forwarded: {response:?}");
    response
}

#[tokio::test]
async fn a_host_that_is_not_a_valid_host_is_refused_before_anything_is_forwarded() {
    let token = alice();
    for host in ["bad host/x", "a/b", "user@example.com", "example.com:80x"] {
        let upgrade = format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        );
        let plain = format!(
            "GET /api/items HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        for request in [upgrade, plain] {
            let response = raw_answer(&request).await;
            assert_eq!(response.status, 400, "{host}: {response:?}");
            assert_eq!(response.json()["error"], "bad_host", "{host}: {response:?}");
        }
    }
}

#[tokio::test]
async fn content_length_beside_transfer_encoding_is_refused_before_anything_is_forwarded() {
    let token = alice();
    for framing in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
    ] {
        let request = format!(
            "POST /api/items HTTP/1.1\r\nHost: example.com\r\nAuthorization: Bearer {token}\r\n\
             {framing}\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let response = raw_answer(&request).await;
        assert_eq!(response.status, 400, "{framing}: {response:?}");
        assert_eq!(
            response.json()["error"],
            "ambiguous_body_length",
            "{framing}: {response:?}"
        );
    }
}
