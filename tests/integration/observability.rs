//! Metrics count every outcome exactly, with labels from closed sets; health endpoints
//! answer on the admin listener, and readiness never depends on the upstream.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::support::client::close_with;
use crate::support::metrics::series_of;
use crate::support::tokens::{self, alice};
use crate::support::{
    Claims, EchoUpstream, ScriptedUpstream, TestProxy, Upgrade, closed_port_addr, eventually,
    expect_close, expect_echo, metric_value,
};

/// Waits until `wsgate_sessions_active{route}` reads zero (sessions are torn down just
/// after the last close frame is relayed) and returns that scrape.
async fn scrape_when_idle(proxy: &TestProxy, route: &str) -> String {
    eventually("sessions_active to drop to 0", || async {
        let text = proxy.metrics().await;
        (metric_value(&text, "wsgate_sessions_active", &[("route", route)]) == Some(0.0))
            .then_some(text)
    })
    .await
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metric_value(text, name, labels)
}

#[tokio::test]
async fn metrics_count_a_known_sequence_exactly() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let expired = Claims::valid_for("alice")
        .set("exp", tokens::now() - 3600)
        .sign();

    Upgrade::to("/ws").send(proxy.addr()).await; // token_missing
    Upgrade::to("/ws").bearer(&expired).send(proxy.addr()).await; // token_expired
    Upgrade::to("/ws").bearer(&expired).send(proxy.addr()).await; // token_expired
    Upgrade::to("/scoped")
        .bearer(&alice())
        .send(proxy.addr())
        .await; // claim_mismatch
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut session, "counted").await;
    close_with(session, 1000, "done").await;

    let text = scrape_when_idle(&proxy, "/ws").await;
    let denied = "wsgate_auth_denied_total";
    let shown = series_of(&text, denied).join("\n");
    assert_eq!(
        value(
            &text,
            denied,
            &[("route", "/ws"), ("reason", "token_missing")]
        ),
        Some(1.0),
        "{shown}"
    );
    assert_eq!(
        value(
            &text,
            denied,
            &[("route", "/ws"), ("reason", "token_expired")]
        ),
        Some(2.0),
        "{shown}"
    );
    assert_eq!(
        value(
            &text,
            denied,
            &[("route", "/scoped"), ("reason", "claim_mismatch")]
        ),
        Some(1.0),
        "{shown}"
    );
    assert_eq!(value(&text, denied, &[]), Some(4.0), "{shown}");

    let allowed = "wsgate_auth_allowed_total";
    let shown = series_of(&text, allowed).join("\n");
    assert_eq!(
        value(&text, allowed, &[("route", "/ws"), ("method", "jwt")]),
        Some(1.0),
        "{shown}"
    );
    assert_eq!(value(&text, allowed, &[]), Some(1.0), "{shown}");

    let closed = "wsgate_sessions_closed_total";
    let shown = series_of(&text, closed).join("\n");
    assert_eq!(
        value(
            &text,
            closed,
            &[("route", "/ws"), ("initiator", "client"), ("code", "1000")]
        ),
        Some(1.0),
        "{shown}"
    );
    assert_eq!(value(&text, closed, &[]), Some(1.0), "{shown}");

    // Payload bytes, headers and masks left out: "counted" and the close (code + "done")
    // toward the upstream; the echo and the upstream's close reply back.
    let to_upstream = [("direction", "to_upstream")];
    let to_client = [("direction", "to_client")];
    assert_eq!(
        value(&text, "wsgate_relayed_frames_total", &to_upstream),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "wsgate_relayed_bytes_total", &to_upstream),
        Some(13.0)
    );
    assert_eq!(
        value(&text, "wsgate_relayed_frames_total", &to_client),
        Some(2.0)
    );
    let echoed = value(&text, "wsgate_relayed_bytes_total", &to_client).unwrap_or(0.0);
    assert!(
        (9.0..=13.0).contains(&echoed),
        "the echo (7) and a close reply with a code: {echoed}"
    );

    let handshakes = "wsgate_handshake_duration_seconds_count";
    let shown = series_of(&text, handshakes).join("\n");
    assert_eq!(
        value(&text, handshakes, &[]),
        Some(5.0),
        "every decided handshake is timed: {shown}"
    );

    assert_eq!(
        value(
            &text,
            "wsgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0),
        "{}",
        series_of(&text, "wsgate_build_info").join("\n")
    );

    for leaked in ["alice", tokens::ISSUER] {
        assert!(
            !text.contains(leaked),
            "attacker-controlled value {leaked:?} in a label"
        );
    }
    for segment in tokens::segments(&expired) {
        assert!(!text.contains(segment), "token in metrics");
    }
}

#[tokio::test]
async fn sessions_closed_counts_the_initiator_and_folds_private_codes() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;

    let (by_client, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    close_with(by_client, 4001, "private").await;
    let (mut by_upstream, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    by_upstream
        .send(Message::text("close:1000:finished"))
        .await
        .expect("ask upstream to close");
    expect_close(&mut by_upstream).await;
    drop(by_upstream);

    let text = eventually("two closed sessions counted", || async {
        let text = proxy.metrics().await;
        (metric_value(&text, "wsgate_sessions_closed_total", &[]) == Some(2.0)
            && metric_value(&text, "wsgate_sessions_active", &[("route", "/ws")]) == Some(0.0))
        .then_some(text)
    })
    .await;
    let closed = "wsgate_sessions_closed_total";
    let shown = series_of(&text, closed).join("\n");
    assert_eq!(
        value(
            &text,
            closed,
            &[("route", "/ws"), ("initiator", "client"), ("code", "other")]
        ),
        Some(1.0),
        "private 4000-4999 codes are labelled `other`: {shown}"
    );
    assert_eq!(
        value(
            &text,
            closed,
            &[
                ("route", "/ws"),
                ("initiator", "upstream"),
                ("code", "1000")
            ]
        ),
        Some(1.0),
        "{shown}"
    );
    assert!(
        !text.contains("4001"),
        "raw private code in a label: {shown}"
    );
}

#[tokio::test]
async fn sessions_active_tracks_open_sessions() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let (mut first, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    let (mut second, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut first, "one").await;
    expect_echo(&mut second, "two").await;
    let text = proxy.metrics().await;
    assert_eq!(
        metric_value(&text, "wsgate_sessions_active", &[("route", "/ws")]),
        Some(2.0),
        "{}",
        series_of(&text, "wsgate_sessions_active").join("\n")
    );
    close_with(first, 1000, "bye").await;
    close_with(second, 1000, "bye").await;
    scrape_when_idle(&proxy, "/ws").await;
}

#[tokio::test]
async fn upstream_errors_are_counted_by_kind() {
    let dead = TestProxy::builder()
        .upstream(&format!("ws://{}", closed_port_addr()))
        .start()
        .await;
    Upgrade::to("/ws").bearer(&alice()).send(dead.addr()).await;
    let text = dead.metrics().await;
    assert_eq!(
        metric_value(
            &text,
            "wsgate_upstream_errors_total",
            &[("kind", "connect")]
        ),
        Some(1.0),
        "{}",
        series_of(&text, "wsgate_upstream_errors_total").join("\n")
    );

    let bad_accept = ScriptedUpstream::answering(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
    )
    .await;
    let rejecting = TestProxy::builder()
        .upstream(&bad_accept.url())
        .start()
        .await;
    Upgrade::to("/ws")
        .bearer(&alice())
        .send(rejecting.addr())
        .await;
    let text = rejecting.metrics().await;
    assert_eq!(
        metric_value(
            &text,
            "wsgate_upstream_errors_total",
            &[("kind", "rejected")]
        ),
        Some(1.0),
        "{}",
        series_of(&text, "wsgate_upstream_errors_total").join("\n")
    );
}

#[tokio::test]
async fn health_and_readiness_do_not_depend_on_the_upstream() {
    let proxy = TestProxy::builder()
        .upstream(&format!("ws://{}", closed_port_addr()))
        .start()
        .await;
    assert_eq!(proxy.admin_get("/healthz").await.status, 200);
    assert_eq!(
        proxy.admin_get("/readyz").await.status,
        200,
        "static keys loaded, listener bound: ready even with the upstream down"
    );
}
