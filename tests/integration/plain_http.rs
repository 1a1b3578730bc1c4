//! Plain HTTP requests on a route go to the same upstream under the same policy (a Cloud
//! Run service has one ingress port, so REST calls pass through wsgate too).

use crate::denials::{TOKEN_EXPIRED, TOKEN_MISSING, assert_http_refusal};
use crate::support::tokens::{self, alice};
use crate::support::{Claims, EchoUpstream, ScriptedUpstream, TestProxy, Upgrade};

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

#[tokio::test]
async fn a_request_body_that_stops_arriving_is_cut_with_408_not_held_for_the_response_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An upstream that accepts and waits for the whole body, as most do before answering.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream_url = format!("http://{}", upstream.local_addr().expect("addr"));
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = upstream.accept().await {
            held.push(stream);
        }
    });
    // The response timeout (60 s by default) is beyond the test's patience; the body's
    // bound is the handshake timeout.
    let proxy = TestProxy::builder()
        .upstream(&upstream_url)
        .server_setting("handshake_timeout = \"1s\"")
        .start()
        .await;
    let mut client = tokio::net::TcpStream::connect(proxy.addr())
        .await
        .expect("connect");
    let head = format!(
        "POST /api/items HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: 100\r\n\r\nonly ten b",
        proxy.addr(),
        alice()
    );
    client.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    crate::support::within(
        "the proxy to give up on the body",
        client.read_to_end(&mut raw),
    )
    .await
    .expect("read");
    let response = crate::support::raw::parse(&raw).expect("a response");
    assert_eq!(response.status, 408, "{response:?}");
    assert_eq!(response.json()["error"], "body_timeout");
    holder.abort();
}

#[tokio::test]
async fn an_absolute_form_target_names_the_forwarded_host_not_the_host_header() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = alice();
    let plain = format!(
        "GET http://front.example:8080/api/items HTTP/1.1\r\nHost: other.example\r\n\
         Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let response = crate::support::raw::exchange(proxy.addr(), plain.as_bytes()).await;
    assert_eq!(response.status, 200, "{response:?}");
    let upgrade = format!(
        "GET http://user@front.example/ws HTTP/1.1\r\nHost: other.example\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let (head, _stream) =
        crate::support::raw::exchange_head(proxy.addr(), upgrade.as_bytes()).await;
    assert_eq!(head.status, 101, "{head:?}");
    assert_eq!(
        upstream.request(0).await.one("X-Forwarded-Host"),
        "front.example:8080"
    );
    let seen = upstream.request(1).await;
    assert_eq!(seen.one("X-Forwarded-Host"), "front.example");
    assert_eq!(seen.target, "/ws", "origin-form upstream");
}

#[tokio::test]
async fn hop_by_hop_headers_of_a_plain_response_never_reach_the_client() {
    let upstream = ScriptedUpstream::answering(
        "HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authenticate: Basic realm=\"upstream\"\r\nX-End: kept\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let response = Upgrade::plain_get("/api/items")
        .bearer(&alice())
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body_text(), "ok");
    assert_eq!(response.header("x-end"), Some("kept"), "{response:?}");
    for hop in [
        "x-hop",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
    ] {
        assert_eq!(response.header(hop), None, "{hop}: {response:?}");
    }
}
