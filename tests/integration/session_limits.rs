//! Session limits through the real proxy: a client's ping flood (docs/security-cases.md F10) and a
//! peer that stops reading (R4), each ended with its own reason code.

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

use crate::support::client::Session;
use crate::support::metrics::metric_value;
use crate::support::tokens::alice;
use crate::support::{EchoUpstream, TestProxy, Upgrade, eventually, expect_close, within};

/// Waits until `/metrics` counts one session closed by the proxy with 1008.
async fn closed_by_the_proxy_with_1008(proxy: &TestProxy) {
    eventually(
        "the session counted as closed by the proxy with 1008",
        || async {
            let text = proxy.metrics().await;
            (metric_value(
                &text,
                "wsgate_sessions_closed_total",
                &[("initiator", "proxy"), ("code", "1008")],
            ) == Some(1.0))
            .then_some(())
        },
    )
    .await;
}

/// An echo upstream behind a proxy allowing 5 pings a second, and a session through it.
async fn session_limited_to_5_pings() -> (EchoUpstream, TestProxy, Session) {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .server_setting("max_pings_per_second = 5")
        .start()
        .await;
    let (session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    (upstream, proxy, session)
}

#[tokio::test]
async fn a_ping_flood_is_closed_1008_rate_limited() {
    let (upstream, proxy, mut session) = session_limited_to_5_pings().await;
    for _ in 0..50 {
        // The proxy may close the session while the flood is still being sent.
        if session
            .send(Message::Ping(vec![1, 2].into()))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(
        expect_close(&mut session).await,
        (1008, "rate_limited".to_owned()),
        "the flooding client is told why"
    );
    assert_eq!(
        upstream.close_received(0).await,
        Some((1001, "rate_limited".to_owned())),
        "the upstream is told why"
    );
    closed_by_the_proxy_with_1008(&proxy).await;
}

#[tokio::test]
async fn pings_within_the_rate_keep_the_session_open() {
    let (_upstream, _proxy, mut session) = session_limited_to_5_pings().await;
    for round in 0..5u8 {
        session
            .send(Message::Ping(vec![round].into()))
            .await
            .expect("send a ping");
    }
    let mut pongs = 0;
    while pongs < 5 {
        match within("the upstream's pongs", session.next()).await {
            Some(Ok(Message::Pong(_))) => pongs += 1,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    crate::support::expect_echo(&mut session, "still open").await;
}

/// An upstream that streams 64 KiB binary messages as fast as it can and reports the
/// first close frame it receives.
async fn flooding_upstream() -> (String, oneshot::Receiver<Option<(u16, String)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    let (report, received) = oneshot::channel();
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (mut sink, mut stream) = ws.split();
        let writer = tokio::spawn(async move {
            let chunk = Message::binary(vec![0x5A; 64 * 1024]);
            while sink.send(chunk.clone()).await.is_ok() {}
        });
        let mut close = None;
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Close(frame) = message {
                close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                break;
            }
        }
        let _ = report.send(close);
        writer.abort();
    });
    (url, received)
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_a_slow_consumer() {
    let (url, upstream_close) = flooding_upstream().await;
    let proxy = TestProxy::builder()
        .upstream(&url)
        .server_setting("send_timeout = \"1s\"")
        .start()
        .await;
    let (response, mut client) = Upgrade::to("/ws")
        .bearer(&alice())
        .send_head(proxy.addr())
        .await;
    assert_eq!(response.status, 101);
    // The client reads nothing: the proxy's writes toward it stall once the socket
    // buffers are full, and after `send_timeout` the upstream is told why.
    let close = within("the upstream's close", upstream_close)
        .await
        .expect("the upstream reports");
    assert_eq!(close, Some((1001, "slow_consumer".to_owned())));
    closed_by_the_proxy_with_1008(&proxy).await;
    // The client's connection has ended: draining what was buffered reaches EOF (or a
    // reset), never a hang.
    within("the client connection to end", async {
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            match client.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    eventually("no session left active", || async {
        let text = proxy.metrics().await;
        (metric_value(&text, "wsgate_sessions_active", &[("route", "/ws")]) == Some(0.0))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_fragmented_message_with_a_ping_between_every_fragment_passes_the_default_limit() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    let fragments = 60;
    for index in 0..fragments {
        let header = FrameHeader {
            is_final: index == fragments - 1,
            opcode: OpCode::Data(if index == 0 {
                Data::Text
            } else {
                Data::Continue
            }),
            ..FrameHeader::default()
        };
        let frame = Frame::from_payload(header, format!("{index:02}").into_bytes().into());
        session
            .send(Message::Frame(frame))
            .await
            .expect("send a fragment");
        session
            .send(Message::Ping(vec![index].into()))
            .await
            .expect("send a ping");
    }
    let expected: String = (0..fragments).map(|i| format!("{i:02}")).collect();
    let (mut pongs, mut echoed) = (0, None);
    while pongs < fragments || echoed.is_none() {
        match within("pongs and the echo", session.next()).await {
            Some(Ok(Message::Pong(_))) => pongs += 1,
            Some(Ok(Message::Text(text))) => echoed = Some(text.to_string()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(echoed.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
async fn a_token_expiring_mid_session_closes_1008_to_the_client_and_1001_upstream() {
    use crate::support::tokens::{Claims, now};

    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    // The test proxy allows 5 s of leeway: 1 s past `exp`, the token still opens a
    // session, which must end about 4 s later.
    let token = Claims::valid_for("erin").set("exp", now() - 1).sign();
    let (mut session, _) = Upgrade::to("/ws").bearer(&token).open(proxy.addr()).await;
    crate::support::expect_echo(&mut session, "before expiry").await;
    assert_eq!(
        expect_close(&mut session).await,
        (1008, "token_expired".to_owned()),
        "the client is told its token expired"
    );
    assert_eq!(
        upstream.close_received(0).await,
        Some((1001, "token_expired".to_owned())),
        "the upstream is told why the session ended"
    );
}
