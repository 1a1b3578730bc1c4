//! The harness checks itself: the doubles behave as the scenarios assume, and every
//! policy the builder writes is a valid config. When a scenario fails, these say whether
//! to suspect the harness or wsgate.

use futures_util::SinkExt;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

use crate::support::client::close_with;
use crate::support::raw;
use crate::support::tokens::{SECRET, SECRET_ENV};
use crate::support::{
    EchoUpstream, ScriptedUpstream, TestProxy, Upgrade, expect_close, expect_echo,
};

#[test]
fn every_policy_the_builder_writes_is_a_valid_config() {
    let variants = [
        TestProxy::builder(),
        TestProxy::builder().deny("close"),
        TestProxy::builder().cookie_tokens(&["https://app.example"]),
        TestProxy::builder().allowed_origins(&["https://app.example"]),
        TestProxy::builder().max_token_bytes(256).max_connections(1),
        TestProxy::builder().forward_token(),
    ];
    for builder in variants {
        let toml = builder.toml();
        let env = |name: &str| (name == SECRET_ENV).then(|| SECRET.to_owned());
        if let Err(errors) =
            wsgate::config::Config::parse(&toml, "<builder>", &env, std::path::Path::new("."))
        {
            panic!("{errors}\n--- config ---\n{toml}");
        }
    }
}

#[tokio::test]
async fn the_echo_upstream_echoes_records_heads_and_closes_on_request() {
    let upstream = EchoUpstream::selecting_protocol("chat").await;
    let (mut session, response) = Upgrade::to("/ws/x?y=1")
        .header("X-Probe", "one")
        .header("x_probe", "two")
        .header("Sec-WebSocket-Protocol", "chat")
        .open(upstream.addr())
        .await;
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.as_bytes()),
        Some(&b"chat"[..])
    );
    expect_echo(&mut session, "ping").await;
    close_with(session, 4001, "bye").await;

    let seen = upstream.request(0).await;
    assert_eq!(seen.target, "/ws/x?y=1");
    assert_eq!(seen.aliases_of("X-Probe").len(), 2);
    assert_eq!(
        upstream.close_received(0).await,
        Some((4001, "bye".to_owned()))
    );

    let (mut session, _) = Upgrade::to("/ws").open(upstream.addr()).await;
    session
        .send(Message::text("close:4002:done"))
        .await
        .expect("send");
    assert_eq!(expect_close(&mut session).await, (4002, "done".to_owned()));
    assert_eq!(upstream.connections(), 2);
}

#[tokio::test]
async fn the_echo_upstream_answers_plain_http() {
    let upstream = EchoUpstream::start().await;
    let response = Upgrade::plain_get("/api/z").send(upstream.addr()).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body_text(), "upstream saw GET /api/z");
    assert_eq!(response.response_count(), 1);
}

#[tokio::test]
async fn the_scripted_upstream_records_every_byte_until_the_peer_closes() {
    let upstream =
        ScriptedUpstream::answering("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let addr = upstream
        .url()
        .trim_start_matches("ws://")
        .parse()
        .expect("addr");
    let mut bytes = Upgrade::to("/ws").to_bytes(addr);
    bytes.extend_from_slice(b"GET /internal/smuggled HTTP/1.1\r\n\r\n");
    let (head, mut stream) = crate::support::raw::exchange_head(addr, &bytes).await;
    assert_eq!(head.status, 200);
    stream.shutdown().await.expect("shutdown");
    drop(stream);
    let connection = upstream.finished_connection(0).await;
    assert!(connection.received_text().contains("smuggled"));
    assert_eq!(connection.request.target, "/ws");
}

#[tokio::test]
async fn the_raw_frame_reader_sees_codes_tungstenite_would_rewrite() {
    // tungstenite turns a received 1014 into 1002 "Protocol violation"; the raw reader
    // used for close-mode refusals reports what was sent.
    let upstream = EchoUpstream::start().await;
    let request = Upgrade::to("/ws");
    let (head, mut stream) = request.send_head(upstream.addr()).await;
    assert_eq!(head.status, 101);
    stream
        .write_all(&raw::masked_frame(0x1, b"close:1014:upstream_unavailable"))
        .await
        .expect("write");
    let mut buffered = head.after_head().to_vec();
    let frame = raw::read_frame(&mut stream, &mut buffered).await;
    assert_eq!(
        frame.close_code_and_reason(),
        Some((1014, "upstream_unavailable".to_owned()))
    );
}
