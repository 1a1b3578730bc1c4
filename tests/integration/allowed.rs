//! Allowed flows: each token source admits the caller, the upstream learns who the caller
//! is from injected headers only, and the credential itself is not forwarded.

use crate::support::tokens::{self, alice};
use crate::support::{Claims, EchoUpstream, Seen, TestProxy, Upgrade, expect_echo};

/// The identity every allowed `alice` session must present upstream.
fn assert_alice_identity(seen: &Seen, proxy: &TestProxy) {
    assert_eq!(seen.one("X-Auth-User"), "alice");
    assert_eq!(seen.one("X-Auth-Method"), "jwt");
    assert_eq!(seen.one("X-Auth-Email"), "alice@example.com");
    let forwarded_for = seen.one("X-Forwarded-For");
    assert!(
        forwarded_for.trim().ends_with("127.0.0.1"),
        "X-Forwarded-For names the client: {forwarded_for}"
    );
    assert_eq!(seen.one("X-Forwarded-Proto"), "http");
    assert_eq!(seen.one("X-Forwarded-Host"), proxy.addr().to_string());
}

fn assert_token_absent(seen: &Seen, token: &str) {
    let head = format!("{} {} {:?}", seen.method, seen.target, seen.headers);
    for segment in tokens::segments(token) {
        assert!(
            !head.contains(segment),
            "a token segment reached the upstream: {head}"
        );
    }
}

#[tokio::test]
async fn bearer_header_admits_the_caller_and_identity_reaches_the_upstream() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = alice();

    let (mut session, response) = Upgrade::to("/ws/room/42")
        .bearer(&token)
        .open(proxy.addr())
        .await;
    assert_eq!(response.status(), 101);
    expect_echo(&mut session, "hello through wsgate").await;

    let seen = upstream.request(0).await;
    assert_eq!(seen.target, "/ws/room/42");
    assert_alice_identity(&seen, &proxy);
    assert!(
        !seen.has("Authorization"),
        "Authorization is not forwarded by default: {:?}",
        seen.headers
    );
    assert_token_absent(&seen, &token);
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let (mut session, _) = Upgrade::to("/ws")
        .header("Authorization", &format!("bearer {}", alice()))
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "lowercase scheme").await;
}

#[tokio::test]
async fn forward_token_passes_authorization_through() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .forward_token()
        .start()
        .await;
    let token = alice();
    let (mut session, _) = Upgrade::to("/ws").bearer(&token).open(proxy.addr()).await;
    expect_echo(&mut session, "forwarded").await;
    let seen = upstream.request(0).await;
    assert_eq!(seen.one("Authorization"), format!("Bearer {token}"));
}

#[tokio::test]
async fn query_token_admits_the_caller_and_is_removed_from_the_forwarded_path() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = alice();

    let (mut session, _) = Upgrade::to(&format!("/ws/room?room=7&access_token={token}&lang=en"))
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "query token").await;

    let seen = upstream.request(0).await;
    assert_alice_identity(&seen, &proxy);
    assert_token_absent(&seen, &token);
    assert!(
        !seen.target.contains("access_token"),
        "token parameter removed: {}",
        seen.target
    );
    let (path, query) = seen.target.split_once('?').expect("other parameters kept");
    assert_eq!(path, "/ws/room");
    let mut params: Vec<&str> = query.split('&').collect();
    params.sort_unstable();
    assert_eq!(params, ["lang=en", "room=7"]);
}

#[tokio::test]
async fn query_token_alone_leaves_no_dangling_question_mark() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let (mut session, _) = Upgrade::to(&format!("/ws?access_token={}", alice()))
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "only the token").await;
    let seen = upstream.request(0).await;
    assert_eq!(seen.target, "/ws");
}

#[tokio::test]
async fn cookie_token_admits_a_caller_from_an_allowed_origin() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .cookie_tokens(&["https://app.example"])
        .start()
        .await;
    let token = alice();

    let (mut session, _) = Upgrade::to("/ws")
        .header("Origin", "https://app.example")
        .header("Cookie", &format!("theme=dark; access_token={token}"))
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "cookie token").await;

    let seen = upstream.request(0).await;
    assert_alice_identity(&seen, &proxy);
    assert_token_absent(&seen, &token);
}

#[tokio::test]
async fn cookie_token_from_a_foreign_origin_is_refused() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .cookie_tokens(&["https://app.example"])
        .start()
        .await;
    let response = Upgrade::to("/ws")
        .header("Origin", "https://evil.example")
        .header("Cookie", &format!("access_token={}", alice()))
        .send(proxy.addr())
        .await;
    crate::denials::assert_http_refusal(&response, crate::denials::ORIGIN_NOT_ALLOWED);
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn protocol_pair_token_is_stripped_and_the_app_protocol_is_relayed() {
    let upstream = EchoUpstream::selecting_protocol("chat").await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = alice();

    let (mut session, response) = Upgrade::to("/ws")
        .header("Sec-WebSocket-Protocol", &format!("bearer, {token}, chat"))
        .open(proxy.addr())
        .await;
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("chat"),
        "the upstream's choice reaches the client"
    );
    expect_echo(&mut session, "subprotocol token").await;

    let seen = upstream.request(0).await;
    assert_eq!(
        seen.offered_protocols(),
        ["chat"],
        "only the app protocol is offered upstream"
    );
    assert_alice_identity(&seen, &proxy);
    assert_token_absent(&seen, &token);
}

#[tokio::test]
async fn protocol_pair_answers_the_marker_when_the_upstream_picks_none() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = alice();

    let (mut session, response) = Upgrade::to("/ws")
        .header("Sec-WebSocket-Protocol", &format!("bearer, {token}"))
        .open(proxy.addr())
        .await;
    let selected = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        selected.as_deref(),
        Some("bearer"),
        "browsers need an offered protocol back"
    );
    expect_echo(&mut session, "marker only").await;

    let seen = upstream.request(0).await;
    assert!(
        seen.offered_protocols().is_empty(),
        "nothing left to offer upstream: {:?}",
        seen.headers
    );
    assert_token_absent(&seen, &token);
}

#[tokio::test]
async fn close_mode_refusal_answers_the_marker_so_browsers_read_the_reason() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .deny("close")
        .start()
        .await;
    let expired = Claims::valid_for("alice")
        .set("exp", tokens::now() - 3600)
        .sign();
    let (mut session, response) = Upgrade::to("/ws")
        .header("Sec-WebSocket-Protocol", &format!("bearer, {expired}"))
        .open(proxy.addr())
        .await;
    assert_eq!(response.status(), 101);
    let (code, reason) = crate::support::expect_close(&mut session).await;
    assert_eq!((code, reason.as_str()), (1008, "token_expired"));
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn route_without_auth_admits_anonymous_callers() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;

    let (mut session, _) = Upgrade::to("/public/lobby").open(proxy.addr()).await;
    expect_echo(&mut session, "anonymous").await;

    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-Method"), "anonymous");
    assert!(
        !seen.has("X-Auth-User"),
        "no user for anonymous: {:?}",
        seen.headers
    );
}

#[tokio::test]
async fn route_claims_admit_a_token_that_carries_the_scope() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = Claims::valid_for("root")
        .set("scope", "chat:read chat:admin")
        .sign();
    let (mut session, _) = Upgrade::to("/scoped")
        .bearer(&token)
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "admin scope").await;
    assert_eq!(upstream.request(0).await.one("X-Auth-User"), "root");
}

#[tokio::test]
async fn every_session_gets_its_own_unguessable_id_in_the_101() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (mut session, response) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
        assert_eq!(response.status(), 101);
        let id = response
            .headers()
            .get("X-Wsgate-Session")
            .and_then(|v| v.to_str().ok())
            .expect("a 101 names its session")
            .to_owned();
        assert_eq!(id.len(), 32, "128 bits as hex: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        expect_echo(&mut session, "still relayed").await;
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "two sessions never share an id");
    assert!(
        !upstream.request(0).await.has("X-Wsgate-Session"),
        "the id is the client's, not forwarded"
    );
}
