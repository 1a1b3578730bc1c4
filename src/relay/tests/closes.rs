//! Close handshakes, EOFs and dropped peers.

use super::*;
use crate::net::loopback_pair;

#[tokio::test(start_paused = true)]
async fn client_close_is_relayed_and_the_reply_returns() {
    let mut h = Harness::start(settings());
    let close = client_frame(true, CLOSE, &close_body(1000, "done"));
    h.client_sends(&close).await;
    // docs/security-cases.md F12: data after a close is dropped.
    h.client_sends(&client_frame(true, TEXT, b"late")).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, close);
    // The upstream may still send data before its reply.
    let data = upstream_frame(true, TEXT, b"last words");
    let reply = upstream_frame(true, CLOSE, &close_body(1000, "done"));
    h.upstream_sends(&data).await;
    h.upstream_sends(&reply).await;
    assert_eq!(read_frame(&mut h.client).await.raw, data);
    assert_eq!(read_frame(&mut h.client).await.raw, reply);
    expect_end(&mut h.client).await;
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(outcome(&end), (Initiator::Client, Some(1000), None));
    assert_eq!(end.frames_to_upstream, 1);
}

#[tokio::test(start_paused = true)]
async fn bodyless_close_is_relayed_bodyless() {
    let mut h = Harness::start(settings());
    let close = client_frame(true, CLOSE, b"");
    h.client_sends(&close).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, close);
    let reply = upstream_frame(true, CLOSE, b"");
    h.upstream_sends(&reply).await;
    assert_eq!(read_frame(&mut h.client).await.raw, reply);
    let end = h.end().await;
    assert_eq!((end.initiator, end.code), (Initiator::Client, Some(1005)));
}

#[tokio::test(start_paused = true)]
async fn upstream_4xxx_close_is_relayed_unchanged() {
    let mut h = Harness::start(settings());
    let close = upstream_frame(true, CLOSE, &close_body(4403, "kicked"));
    h.upstream_sends(&close).await;
    assert_eq!(read_frame(&mut h.client).await.raw, close);
    let reply = client_frame(true, CLOSE, &close_body(4403, "kicked"));
    h.client_sends(&reply).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, reply);
    expect_end(&mut h.client).await;
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(outcome(&end), (Initiator::Upstream, Some(4403), None));
}

#[tokio::test(start_paused = true)]
async fn close_handshake_without_a_reply_ends_after_close_timeout() {
    let mut h = Harness::start(settings());
    h.client_sends(&client_frame(true, CLOSE, &close_body(1000, "")))
        .await;
    read_frame(&mut h.upstream).await;
    let started = Instant::now();
    let end = h.end().await;
    assert_eq!(started.elapsed(), CLOSE_TIMEOUT);
    assert_eq!(end.initiator, Initiator::Client);
}

#[tokio::test(start_paused = true)]
async fn upstream_eof_sends_1014_to_the_client() {
    let mut h = Harness::start(settings());
    h.upstream_sends(&upstream_frame(true, TEXT, b"bye")).await;
    h.upstream.shutdown().await.expect("upstream EOF");
    assert_eq!(read_frame(&mut h.client).await.payload, b"bye");
    let close = read_frame(&mut h.client).await;
    assert_eq!(close.close(), (1014, "upstream_unavailable".into()));
    h.client_sends(&client_frame(true, CLOSE, &close_body(1014, "")))
        .await;
    expect_end(&mut h.client).await;
    let end = h.end().await;
    assert_eq!(
        outcome(&end),
        (
            Initiator::Upstream,
            None,
            Some(CloseReason::UpstreamUnavailable)
        )
    );
}

#[tokio::test(start_paused = true)]
async fn upstream_dropped_sends_1014_to_the_client() {
    let Harness {
        mut client,
        upstream,
        task,
        ..
    } = Harness::start(settings());
    drop(upstream);
    assert_eq!(read_frame(&mut client).await.close().0, 1014);
    drop(client);
    let end = task.await.expect("relay task");
    assert_eq!(end.reason, Some(CloseReason::UpstreamUnavailable));
}

#[tokio::test(start_paused = true)]
async fn client_eof_sends_1001_to_the_upstream() {
    let mut h = Harness::start(settings());
    h.client.shutdown().await.expect("client EOF");
    let close = read_frame(&mut h.upstream).await;
    assert!(close.masked);
    assert_eq!(close.close(), (1001, "server_shutdown".into()));
    h.upstream_sends(&upstream_frame(true, CLOSE, &close_body(1001, "")))
        .await;
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(outcome(&end), (Initiator::Client, None, None));
}

#[tokio::test(start_paused = true)]
async fn client_gone_mid_frame_cuts_the_upstream() {
    let mut h = Harness::start(settings());
    let frame = client_frame(true, BINARY, &[8u8; 500]);
    h.client_sends(&frame[..100]).await;
    assert_eq!(read_exactly(&mut h.upstream, 100).await, &frame[..100]);
    h.client.shutdown().await.expect("client EOF");
    // No close can follow half a frame: the upstream's connection just ends.
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(outcome(&end), (Initiator::Client, None, None));
}

#[tokio::test(start_paused = true)]
async fn the_offenders_close_waits_for_the_other_peers_frame_in_flight() {
    let mut h = Harness::start(settings());
    let frame = client_frame(true, BINARY, &[8u8; 500]);
    h.client_sends(&frame[..100]).await;
    assert_eq!(read_exactly(&mut h.upstream, 100).await, &frame[..100]);
    h.upstream_sends(&client_frame(true, TEXT, b"masked by mistake"))
        .await;
    assert_eq!(read_frame(&mut h.client).await.close().0, 1001);
    h.client_sends(&frame[100..]).await;
    let rest = &frame[100..];
    assert_eq!(read_exactly(&mut h.upstream, rest.len()).await, rest);
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1002);
    let end = h.reply_to_closes().await;
    assert_eq!(end.code, Some(1002));
}

#[tokio::test(start_paused = true)]
async fn upstream_data_after_its_close_is_dropped() {
    let mut h = Harness::start(settings());
    let close = upstream_frame(true, CLOSE, &close_body(1000, ""));
    h.upstream_sends(&close).await;
    h.upstream_sends(&upstream_frame(true, TEXT, b"late")).await;
    assert_eq!(read_frame(&mut h.client).await.raw, close);
    h.client_sends(&client_frame(true, CLOSE, &close_body(1000, "")))
        .await;
    expect_end(&mut h.client).await;
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.frames_to_client),
        (Initiator::Upstream, 1)
    );
}

/// Over loopback TCP, where a close toward a peer that has sent its own leaves with the
/// FIN (`Shutdown::poll_write_last`): in either order, each peer gets the other's close
/// whole, then the end of its stream, and the session ends as it did.
#[tokio::test]
async fn over_tcp_each_close_arrives_whole_then_the_end_whichever_peer_closes_first() {
    for client_first in [true, false] {
        let (mut client, client_side) = loopback_pair().await;
        let (mut upstream, upstream_side) = loopback_pair().await;
        let session = tokio::spawn(relay_with_defaults(client_side, upstream_side));
        let from_client = client_frame(true, CLOSE, &close_body(1000, "bye"));
        let from_upstream = upstream_frame(true, CLOSE, &close_body(4001, "going"));
        let exchange = async {
            if client_first {
                client.write_all(&from_client).await.expect("client close");
                assert_eq!(read_frame(&mut upstream).await.raw, from_client);
                upstream.write_all(&from_upstream).await.expect("reply");
                assert_eq!(read_frame(&mut client).await.raw, from_upstream);
            } else {
                upstream
                    .write_all(&from_upstream)
                    .await
                    .expect("upstream close");
                assert_eq!(read_frame(&mut client).await.raw, from_upstream);
                client.write_all(&from_client).await.expect("reply");
                assert_eq!(read_frame(&mut upstream).await.raw, from_client);
            }
            expect_end(&mut client).await;
            expect_end(&mut upstream).await;
            session.await.expect("relay task")
        };
        let end = tokio::time::timeout(Duration::from_secs(20), exchange)
            .await
            .expect("the session ends");
        let expected = if client_first {
            (Initiator::Client, Some(1000), None)
        } else {
            (Initiator::Upstream, Some(4001), None)
        };
        assert_eq!(outcome(&end), expected, "client first: {client_first}");
    }
}

/// The FIN goes with the close, not with the session's end: when wsgate's own close (here
/// the 1001 a violation by the upstream earns the client) answers a client that has
/// already closed, the client gets it and then the end of its stream at once, while the
/// session still waits for the upstream's close.
#[tokio::test]
async fn over_tcp_a_close_to_a_client_that_has_closed_ends_its_stream_at_once() {
    let (mut client, client_side) = loopback_pair().await;
    let (mut upstream, upstream_side) = loopback_pair().await;
    let mut session = tokio::spawn(async move {
        let counters = test_counters();
        let patient = RelaySettings {
            close_timeout: Duration::from_secs(600),
            ..settings()
        };
        relay(
            client_side,
            upstream_side,
            patient,
            &counters,
            CancellationToken::new(),
        )
        .await
    });
    let exchange = async {
        let from_client = client_frame(true, CLOSE, &close_body(1000, "bye"));
        client.write_all(&from_client).await.expect("client close");
        assert_eq!(read_frame(&mut upstream).await.raw, from_client);
        // Instead of its reply, the upstream breaks a rule (opcode 3 is reserved).
        upstream
            .write_all(&upstream_frame(true, 0x3, b""))
            .await
            .expect("bad frame");
        assert_eq!(read_frame(&mut client).await.close().0, 1001);
        expect_end(&mut client).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(1), &mut session)
                .await
                .is_err(),
            "the session still waits for the upstream's close"
        );
        let reply = upstream_frame(true, CLOSE, &close_body(1000, "bye"));
        upstream.write_all(&reply).await.expect("upstream close");
        expect_end(&mut upstream).await;
        (&mut session).await.expect("relay task")
    };
    let end = tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .expect("the session ends");
    assert_eq!(outcome(&end), (Initiator::Client, Some(1000), None));
}
