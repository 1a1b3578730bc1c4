//! Plain HTTP requests on a route go to the same upstream under the same policy (a Cloud
//! Run service has one ingress port, so REST calls pass through wsgate too).

use crate::denials::{TOKEN_EXPIRED, TOKEN_MISSING, assert_http_refusal};
use crate::support::tokens::{self, alice};
use crate::support::{Claims, EchoUpstream, TestProxy, Upgrade};

#[tokio::test]
async fn plain_get_with_a_token_is_proxied_with_identity() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = alice();

    let response = Upgrade::plain_get("/api/items?page=2")
        .bearer(&token)
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body_text(), "upstream saw GET /api/items?page=2");
    assert_eq!(
        response.header("x-upstream"),
        Some("echo"),
        "upstream headers relayed"
    );

    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-User"), "alice");
    assert_eq!(seen.one("X-Auth-Method"), "jwt");
    assert!(!seen.has("Authorization"));
    assert!(!seen.has("Upgrade"), "a plain request stays plain");
}

#[tokio::test]
async fn plain_get_without_a_token_is_refused_before_the_upstream() {
    let upstream = EchoUpstream::start().await;
    for mode in ["http", "close"] {
        let proxy = TestProxy::builder()
            .upstream(&upstream.url())
            .deny(mode)
            .start()
            .await;
        let response = Upgrade::plain_get("/api/items").send(proxy.addr()).await;
        // There is no WebSocket to close on a plain request: the refusal is HTTP in
        // both modes.
        assert_http_refusal(&response, TOKEN_MISSING);
    }
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn plain_get_with_an_expired_token_is_refused() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let expired = Claims::valid_for("alice")
        .set("exp", tokens::now() - 3600)
        .sign();
    let response = Upgrade::plain_get("/api/items")
        .bearer(&expired)
        .send(proxy.addr())
        .await;
    assert_http_refusal(&response, TOKEN_EXPIRED);
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn plain_get_query_token_is_removed_before_forwarding() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = alice();
    let response = Upgrade::plain_get(&format!("/api/items?access_token={token}&page=3"))
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    let seen = upstream.request(0).await;
    assert_eq!(seen.target, "/api/items?page=3");
}

#[tokio::test]
async fn plain_get_on_an_anonymous_route_is_proxied_as_anonymous() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let response = Upgrade::plain_get("/public/status")
        .header("X-Auth-User", "mallory")
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-Method"), "anonymous");
    assert!(
        seen.aliases_of("X-Auth-User").is_empty(),
        "{:?}",
        seen.headers
    );
}
