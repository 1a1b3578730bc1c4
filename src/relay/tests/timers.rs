//! Shutdown, idle timeout, maximum session duration and token expiry.

use super::*;

#[tokio::test(start_paused = true)]
async fn shutdown_sends_1001_to_both() {
    let h = Harness::start(settings());
    h.shutdown.cancel();
    let mut h = h;
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1001, "server_shutdown".into())
    );
    let to_upstream = read_frame(&mut h.upstream).await;
    assert!(to_upstream.masked);
    assert_eq!(to_upstream.close(), (1001, "server_shutdown".into()));
    let end = h.reply_to_closes().await;
    assert_eq!(
        outcome(&end),
        (
            Initiator::Proxy,
            Some(1001),
            Some(CloseReason::ServerShutdown)
        )
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_frame_in_flight() {
    let mut h = Harness::start(settings());
    let frame = upstream_frame(true, BINARY, &[42u8; 1000]);
    let (head, rest) = frame.split_at(500);
    h.upstream_sends(head).await;
    assert_eq!(read_exactly(&mut h.client, 500).await, head);
    h.shutdown.cancel();
    // The client side is at a frame boundary toward the upstream: its close goes at once.
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.upstream_sends(rest).await;
    // Frames after the one in flight are not relayed.
    h.upstream_sends(&upstream_frame(true, TEXT, b"dropped"))
        .await;
    assert_eq!(read_exactly(&mut h.client, rest.len()).await, rest);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1001, "server_shutdown".into())
    );
    let end = h.reply_to_closes().await;
    assert_eq!(end.reason, Some(CloseReason::ServerShutdown));
    assert_eq!(end.frames_to_client, 1);
}

#[tokio::test(start_paused = true)]
async fn mid_frame_stall_and_shutdown_cut_after_close_timeout() {
    let mut h = Harness::start(settings());
    let frame = client_frame(true, BINARY, &[1u8; 1000]);
    h.client_sends(&frame[..300]).await;
    assert_eq!(read_exactly(&mut h.upstream, 300).await, &frame[..300]);
    let started = Instant::now();
    h.shutdown.cancel();
    assert_eq!(read_frame(&mut h.client).await.close().0, 1001);
    // The upstream never gets its close: the frame in flight never finishes.
    expect_end(&mut h.upstream).await;
    assert_eq!(started.elapsed(), CLOSE_TIMEOUT);
    let end = h.end().await;
    assert_eq!(end.reason, Some(CloseReason::ServerShutdown));
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_both_with_1001() {
    let idle = Duration::from_secs(60);
    let mut h = Harness::start(RelaySettings {
        idle_timeout: Some(idle),
        ..settings()
    });
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(40)).await;
    h.client_sends(&client_frame(true, TEXT, b"still here"))
        .await;
    read_frame(&mut h.upstream).await;
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1001, "idle_timeout".into())
    );
    assert_eq!(started.elapsed(), Duration::from_secs(100));
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "idle_timeout".into())
    );
    let end = h.reply_to_closes().await;
    assert_eq!(
        (end.initiator, end.reason),
        (Initiator::Proxy, Some(CloseReason::IdleTimeout))
    );
}

#[tokio::test(start_paused = true)]
async fn max_session_duration_closes_despite_traffic() {
    let mut h = Harness::start(RelaySettings {
        idle_timeout: Some(Duration::from_secs(60)),
        max_session_duration: Some(Duration::from_secs(100)),
        ..settings()
    });
    let started = Instant::now();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(30)).await;
        h.upstream_sends(&upstream_frame(true, TEXT, b"tick")).await;
        assert_eq!(read_frame(&mut h.client).await.payload, b"tick");
    }
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1001, "session_max_age".into())
    );
    assert_eq!(started.elapsed(), Duration::from_secs(100));
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "session_max_age".into())
    );
    let end = h.reply_to_closes().await;
    assert_eq!(end.reason, Some(CloseReason::SessionMaxAge));
    assert_eq!(end.code, Some(1001));
}

#[tokio::test(start_paused = true)]
async fn token_expiry_closes_1008_to_client_and_1001_to_upstream() {
    let mut h = Harness::start(RelaySettings {
        expires_at: Some(Instant::now() + Duration::from_secs(300)),
        ..settings()
    });
    let started = Instant::now();
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1008, "token_expired".into())
    );
    assert_eq!(started.elapsed(), Duration::from_secs(300));
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "token_expired".into())
    );
    let end = h.reply_to_closes().await;
    assert_eq!(
        outcome(&end),
        (
            Initiator::Proxy,
            Some(1008),
            Some(CloseReason::TokenExpired)
        )
    );
}
