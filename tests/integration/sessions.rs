//! Live sessions: frames relayed verbatim both ways, close codes and reasons propagated in
//! both directions, and graceful shutdown closing both sides with 1001 `server_shutdown`.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::support::client::close_with;
use crate::support::tokens::alice;
use crate::support::{EchoUpstream, TestProxy, Upgrade, expect_close, expect_echo, within};

async fn echo_proxy() -> (EchoUpstream, TestProxy) {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    (upstream, proxy)
}

#[tokio::test]
async fn client_close_code_and_reason_reach_the_upstream() {
    let (upstream, proxy) = echo_proxy().await;
    for (index, (code, reason)) in [(1000, "done"), (4001, "client-bye")]
        .into_iter()
        .enumerate()
    {
        let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
        expect_echo(&mut session, "before closing").await;
        close_with(session, code, reason).await;
        assert_eq!(
            upstream.close_received(index).await,
            Some((code, reason.to_owned())),
            "the upstream sees the client's close code and reason"
        );
    }
}

#[tokio::test]
async fn upstream_close_code_and_reason_reach_the_client() {
    let (_upstream, proxy) = echo_proxy().await;
    for (code, reason) in [(1000, "finished"), (4001, "upstream-bye")] {
        let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
        session
            .send(Message::text(format!("close:{code}:{reason}")))
            .await
            .expect("ask the upstream to close");
        assert_eq!(
            expect_close(&mut session).await,
            (code, reason.to_owned()),
            "the client sees the upstream's close code and reason"
        );
    }
}

#[tokio::test]
async fn binary_and_large_messages_are_relayed_intact() {
    let (_upstream, proxy) = echo_proxy().await;
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;

    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    session
        .send(Message::binary(binary.clone()))
        .await
        .expect("send binary");
    let large = "wsgate ".repeat(40_000);
    session
        .send(Message::text(large.clone()))
        .await
        .expect("send large text");

    let mut replies = Vec::new();
    while replies.len() < 2 {
        match within("echoed messages", session.next()).await {
            Some(Ok(Message::Binary(data))) => replies.push(Message::Binary(data)),
            Some(Ok(Message::Text(text))) => replies.push(Message::Text(text)),
            Some(Ok(_)) => continue,
            other => panic!("session ended early: {other:?}"),
        }
    }
    assert_eq!(replies[0], Message::binary(binary));
    assert_eq!(replies[1], Message::text(large));
}

#[tokio::test]
async fn concurrent_sessions_are_relayed_independently() {
    let (upstream, proxy) = echo_proxy().await;
    let addr = proxy.addr();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(async move {
                let (mut session, _) = Upgrade::to(&format!("/ws/{i}"))
                    .bearer(&alice())
                    .open(addr)
                    .await;
                for round in 0..5 {
                    expect_echo(&mut session, &format!("session {i} round {round}")).await;
                }
                close_with(session, 1000, "bye").await;
            })
        })
        .collect();
    for task in tasks {
        within("a concurrent session", task)
            .await
            .expect("session task");
    }
    assert_eq!(upstream.connections(), 8);
}

#[tokio::test]
async fn shutdown_closes_both_sides_with_server_shutdown() {
    let (upstream, proxy) = echo_proxy().await;
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut session, "live before shutdown").await;

    // Shut down concurrently: `run` may wait for the client's close reply, which this
    // task only sends while it reads.
    let stopping = tokio::spawn(proxy.shutdown());
    assert_eq!(
        expect_close(&mut session).await,
        (1001, "server_shutdown".to_owned()),
        "the client is told why"
    );
    assert_eq!(
        upstream.close_received(0).await,
        Some((1001, "server_shutdown".to_owned())),
        "the upstream is told why"
    );
    within("run to return after draining", stopping)
        .await
        .expect("shutdown task");
}

#[tokio::test]
async fn shutdown_refuses_new_connections() {
    let (_upstream, proxy) = echo_proxy().await;
    let addr = proxy.addr();
    proxy.shutdown().await;
    let attempt = Upgrade::to("/ws").bearer(&alice()).connect(addr).await;
    assert!(attempt.is_err(), "no handshake after run returned");
}
