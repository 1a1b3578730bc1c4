//! Refusals that are not auth denials are countable too: `upstream_unavailable`,
//! `upstream_rejected`, `overloaded` and `server_shutdown` each move the series that
//! docs/metrics.md names for them, through real sockets.
//!
//! The model: `wsgate_auth_denied_total{route, reason}` counts every refusal a client was
//! answered with, whatever its cause (an upstream failure after the auth decision
//! allowed the caller included); `wsgate_sessions_closed_total{reason}` counts sessions
//! wsgate ended; `wsgate_connections_rejected_total{reason}` counts connections over the
//! limit that were closed without an answer.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::denials::{OVERLOADED, UPSTREAM_UNAVAILABLE, assert_http_refusal};
use crate::support::metrics::series_of;
use crate::support::proxy::admin_get;
use crate::support::tokens::alice;
use crate::support::{
    EchoUpstream, ScriptedUpstream, TestProxy, Upgrade, closed_port_addr, eventually, expect_close,
    expect_echo, metric_value, within,
};

const DENIED: &str = "wsgate_auth_denied_total";

fn denied(text: &str, route: &str, reason: &str) -> Option<f64> {
    metric_value(text, DENIED, &[("route", route), ("reason", reason)])
}

#[tokio::test]
async fn upstream_unavailable_is_counted_as_a_refusal_for_websocket_and_plain_http() {
    let dead = TestProxy::builder()
        .upstream(&format!("ws://{}", closed_port_addr()))
        .start()
        .await;
    let upgrade = Upgrade::to("/ws").bearer(&alice()).send(dead.addr()).await;
    assert_http_refusal(&upgrade, UPSTREAM_UNAVAILABLE);
    let plain = Upgrade::plain_get("/api/items")
        .bearer(&alice())
        .send(dead.addr())
        .await;
    assert_http_refusal(&plain, UPSTREAM_UNAVAILABLE);

    let text = dead.metrics().await;
    let shown = series_of(&text, DENIED).join("\n");
    assert_eq!(
        denied(&text, "/ws", "upstream_unavailable"),
        Some(1.0),
        "{shown}"
    );
    assert_eq!(
        denied(&text, "/api", "upstream_unavailable"),
        Some(1.0),
        "{shown}"
    );
    assert_eq!(metric_value(&text, DENIED, &[]), Some(2.0), "{shown}");
    assert_eq!(
        metric_value(
            &text,
            "wsgate_upstream_errors_total",
            &[("kind", "connect")]
        ),
        Some(2.0),
        "the failure's kind is still counted"
    );
    assert_eq!(
        metric_value(&text, "wsgate_auth_allowed_total", &[("method", "jwt")]),
        Some(2.0),
        "the auth decision itself allowed both callers"
    );
    let handshakes = "wsgate_handshake_duration_seconds_count";
    assert_eq!(
        metric_value(&text, handshakes, &[("outcome", "upstream_error")]),
        Some(2.0),
        "{}",
        series_of(&text, handshakes).join("\n")
    );
    assert_eq!(
        metric_value(&text, handshakes, &[("outcome", "denied")]),
        None,
        "an upstream failure is not wsgate's own denial in the histogram"
    );
}

#[tokio::test]
async fn upstream_rejected_is_counted_as_a_refusal() {
    let bad_accept = ScriptedUpstream::answering(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
    )
    .await;
    let proxy = TestProxy::builder()
        .upstream(&bad_accept.url())
        .start()
        .await;
    let response = Upgrade::to("/ws").bearer(&alice()).send(proxy.addr()).await;
    assert_eq!(response.status, 502, "{response:?}");

    let text = proxy.metrics().await;
    assert_eq!(
        denied(&text, "/ws", "upstream_rejected"),
        Some(1.0),
        "{}",
        series_of(&text, DENIED).join("\n")
    );
    assert_eq!(
        metric_value(
            &text,
            "wsgate_handshake_duration_seconds_count",
            &[("outcome", "upstream_rejected")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn overloaded_answers_are_counted_per_route_and_the_limit_is_exported() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .max_connections(1)
        .start()
        .await;
    let (mut first, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut first, "holding the only slot").await;
    assert_http_refusal(
        &Upgrade::to("/ws").bearer(&alice()).send(proxy.addr()).await,
        OVERLOADED,
    );

    let text = proxy.metrics().await;
    assert_eq!(
        denied(&text, "/ws", "overloaded"),
        Some(1.0),
        "{}",
        series_of(&text, DENIED).join("\n")
    );
    assert_eq!(
        metric_value(
            &text,
            "wsgate_connections_rejected_total",
            &[("reason", "overloaded")]
        ),
        Some(0.0),
        "an answered connection is counted once, under its route"
    );
    assert_eq!(
        metric_value(&text, "wsgate_max_connections", &[]),
        Some(1.0)
    );
    assert_eq!(
        metric_value(&text, "wsgate_connections_active", &[]),
        Some(1.0)
    );
    expect_echo(&mut first, "still served").await;
}

#[tokio::test]
async fn overloaded_connections_closed_unanswered_are_counted() {
    let upstream = EchoUpstream::start().await;
    // The waiting connections below keep their places for the whole test.
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .max_connections(1)
        .server_setting("handshake_timeout = \"5m\"")
        .start()
        .await;
    let (mut first, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut first, "holding the only slot").await;
    // The pool that answers over-limit connections holds max_connections / 16 + 64 = 64
    // of them; these send nothing, so each keeps its place until the handshake timeout
    // (or the test drops them).
    let mut waiting = Vec::new();
    for _ in 0..64 {
        waiting.push(TcpStream::connect(proxy.addr()).await.expect("connect"));
    }
    // Accepted after the 64 (the listener accepts in order): closed without an answer.
    let mut dropped = TcpStream::connect(proxy.addr()).await.expect("connect");
    let mut rest = Vec::new();
    within(
        "the unanswered connection to be closed",
        dropped.read_to_end(&mut rest),
    )
    .await
    .ok();
    assert!(rest.is_empty(), "no answer: {rest:?}");

    let text = eventually("the dropped connection counted", || async {
        let text = proxy.metrics().await;
        (metric_value(
            &text,
            "wsgate_connections_rejected_total",
            &[("reason", "overloaded")],
        ) == Some(1.0))
        .then_some(text)
    })
    .await;
    assert_eq!(
        metric_value(&text, DENIED, &[("reason", "overloaded")]),
        None,
        "no request was read, so no route: {}",
        series_of(&text, DENIED).join("\n")
    );
    drop(waiting);
    expect_echo(&mut first, "still served").await;
}

#[tokio::test]
async fn server_shutdown_is_counted_on_the_sessions_the_drain_closes() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .server_setting("drain_timeout = \"60s\"")
        .start()
        .await;
    let admin = proxy.admin_addr();
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut session, "live before shutdown").await;
    // A plain request the upstream holds keeps the drain (and so /metrics) going after the
    // session has been closed and counted.
    let proxy_addr = proxy.addr();
    let held = tokio::spawn(async move {
        Upgrade::plain_get("/api/hold")
            .bearer(&alice())
            .send(proxy_addr)
            .await
    });
    let seen = upstream.request(1).await;
    assert_eq!(seen.target, "/api/hold");

    let stopping = tokio::spawn(proxy.shutdown());
    assert_eq!(
        expect_close(&mut session).await,
        (1001, "server_shutdown".to_owned())
    );
    drop(session);
    let text = eventually("the drained session counted", || async {
        let text = admin_get(admin, "/metrics").await.body_text();
        (metric_value(
            &text,
            "wsgate_sessions_closed_total",
            &[("reason", "server_shutdown")],
        ) == Some(1.0))
        .then_some(text)
    })
    .await;
    assert_eq!(
        metric_value(
            &text,
            "wsgate_sessions_closed_total",
            &[
                ("route", "/ws"),
                ("initiator", "proxy"),
                ("code", "1001"),
                ("reason", "server_shutdown")
            ]
        ),
        Some(1.0),
        "{}",
        series_of(&text, "wsgate_sessions_closed_total").join("\n")
    );
    assert_eq!(metric_value(&text, "wsgate_draining", &[]), Some(1.0));

    upstream.release_held();
    let response = within("the held request", held).await.expect("held task");
    assert_eq!(
        response.status, 200,
        "an in-flight request finishes: {response:?}"
    );
    within("run to return after draining", stopping)
        .await
        .expect("shutdown task");
}

#[tokio::test]
async fn sessions_a_peer_closed_carry_reason_none() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let (session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    crate::support::client::close_with(session, 1000, "done").await;
    let text = eventually("the closed session counted", || async {
        let text = proxy.metrics().await;
        (metric_value(&text, "wsgate_sessions_closed_total", &[]) == Some(1.0)).then_some(text)
    })
    .await;
    assert_eq!(
        metric_value(
            &text,
            "wsgate_sessions_closed_total",
            &[("initiator", "client"), ("reason", "none")]
        ),
        Some(1.0),
        "{}",
        series_of(&text, "wsgate_sessions_closed_total").join("\n")
    );
}

/// A handshake whose decision was still waiting (on a JWKS refetch for a new `kid`) when
/// the drain began gets 503 `server_shutdown`, counted under its route, instead of a
/// session the drain would close at once.
#[tokio::test]
async fn a_handshake_decided_during_the_drain_is_refused_and_counted_as_server_shutdown() {
    use crate::support::jwks::{FakeJwks, Reply, remote_config, token};

    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    let config = remote_config(
        &upstream.url(),
        "http",
        &format!(
            "jwks_url = \"{}\"\njwks_cooldown = \"1s\"",
            jwks.url("/jwks")
        ),
    )
    .replace("drain_timeout = \"5s\"", "drain_timeout = \"60s\"");
    let proxy = TestProxy::start(&config, &[]).await;
    let admin = proxy.admin_addr();
    eventually("keys loaded", || async {
        (admin_get(admin, "/readyz").await.status == 200).then_some(())
    })
    .await;

    // A live session, whose close tells when the drain has begun.
    let (mut live, _) = Upgrade::to("/ws")
        .bearer(&token("k1"))
        .open(proxy.addr())
        .await;
    expect_echo(&mut live, "live").await;
    // Keeps the drain (and /metrics) going until the end of the test.
    let proxy_addr = proxy.addr();
    let held = tokio::spawn(async move {
        Upgrade::plain_get("/ws/hold")
            .bearer(&token("k1"))
            .send(proxy_addr)
            .await
    });
    assert_eq!(upstream.request(1).await.target, "/ws/hold");

    // A token with a kid not cached yet: its decision waits for a refetch held open.
    jwks.hold();
    let fetches = jwks.requests();
    let waiting = tokio::spawn(async move {
        Upgrade::to("/ws")
            .bearer(&token("k2"))
            .send(proxy_addr)
            .await
    });
    eventually("the refetch for k2 to arrive", || async {
        (jwks.requests() > fetches).then_some(())
    })
    .await;

    let stopping = tokio::spawn(proxy.shutdown());
    // The live session's 1001 says the drain's shutdown token is cancelled.
    assert_eq!(
        expect_close(&mut live).await,
        (1001, "server_shutdown".to_owned())
    );
    drop(live);
    jwks.set(Reply::keys(&["k1", "k2"]));
    jwks.release();
    let response = within("the waiting handshake", waiting)
        .await
        .expect("handshake task");
    assert_eq!(response.status, 503, "{response:?}");
    assert_eq!(response.header("x-wsgate-reason"), Some("server_shutdown"));

    let text = admin_get(admin, "/metrics").await.body_text();
    assert_eq!(
        denied(&text, "/ws", "server_shutdown"),
        Some(1.0),
        "{}",
        series_of(&text, DENIED).join("\n")
    );
    assert_eq!(
        metric_value(&text, "wsgate_auth_allowed_total", &[]),
        Some(2.0),
        "only the live session and the held plain request were allowed"
    );
    assert_eq!(
        upstream.requests().len(),
        2,
        "the refused upgrade never reached the upstream"
    );

    upstream.release_held();
    within("the held request", held).await.expect("held task");
    within("run to return after draining", stopping)
        .await
        .expect("shutdown task");
}
