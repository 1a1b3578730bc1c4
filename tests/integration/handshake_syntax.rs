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
