//! Slow consumers and ping floods (docs/security-cases.md R4, R5, F10).

use super::*;

const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// A pipe small enough that the frames below overflow it and the relay's buffer.
const PIPE: usize = 16 * 1024;

fn stall_settings() -> RelaySettings {
    RelaySettings {
        send_timeout: Some(SEND_TIMEOUT),
        ..settings()
    }
}

/// 32 frames of 1 KiB: more than the pipe toward the reader holds, less than both pipes
/// and the relay's buffer together, so the sender's writes all complete.
fn burst(frame: impl Fn() -> Vec<u8>) -> (Vec<u8>, usize) {
    let one = frame();
    let mut all = Vec::new();
    for _ in 0..32 {
        all.extend_from_slice(&one);
    }
    (all, 32)
}

/// Reads whole 1 KiB data frames until a close: their count, and the close.
async fn frames_until_close(stream: &mut DuplexStream) -> (usize, Frame) {
    let mut data = 0;
    loop {
        let frame = read_frame(stream).await;
        if frame.opcode == CLOSE {
            return (data, frame);
        }
        assert_eq!((frame.opcode, frame.payload.len()), (BINARY, 1024));
        data += 1;
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_closed_as_a_slow_consumer() {
    let mut h = Harness::with_pipe_size(stall_settings(), PIPE);
    let started = Instant::now();
    let (frames, count) = burst(|| upstream_frame(true, BINARY, &[7u8; 1024]));
    h.upstream_sends(&frames).await;
    // The upstream learns at the send timeout, not before.
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "slow_consumer".into())
    );
    assert_eq!(started.elapsed(), SEND_TIMEOUT);
    // A client that reads again in time gets what was already on its way (whole frames,
    // nothing after), then wsgate's 1008.
    let (data, close) = frames_until_close(&mut h.client).await;
    assert!((1..count).contains(&data), "{data} frames");
    assert_eq!(close.close(), (1008, "slow_consumer".into()));
    let end = h.reply_to_closes().await;
    assert_eq!(
        outcome(&end),
        (
            Initiator::Proxy,
            Some(1008),
            Some(CloseReason::SlowConsumer)
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_is_cut_after_the_close_timeout() {
    let mut h = Harness::with_pipe_size(stall_settings(), PIPE);
    let started = Instant::now();
    let (frames, _) = burst(|| upstream_frame(true, BINARY, &[7u8; 1024]));
    h.upstream_sends(&frames).await;
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "slow_consumer".into())
    );
    h.upstream_replies().await;
    expect_end(&mut h.upstream).await;
    assert_eq!(started.elapsed(), SEND_TIMEOUT + CLOSE_TIMEOUT);
    let end = h.end().await;
    assert_eq!(end.reason, Some(CloseReason::SlowConsumer));
}

#[tokio::test(start_paused = true)]
async fn an_upstream_that_stops_reading_is_closed_as_a_slow_consumer() {
    let mut h = Harness::with_pipe_size(stall_settings(), PIPE);
    let started = Instant::now();
    let (frames, count) = burst(|| client_frame(true, BINARY, &[9u8; 1024]));
    h.client_sends(&frames).await;
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1001, "slow_consumer".into())
    );
    assert_eq!(started.elapsed(), SEND_TIMEOUT);
    let (data, to_upstream) = frames_until_close(&mut h.upstream).await;
    assert!((1..count).contains(&data), "{data} frames");
    assert!(
        to_upstream.masked,
        "wsgate's close toward the upstream is masked"
    );
    assert_eq!(to_upstream.close(), (1008, "slow_consumer".into()));
    let end = h.reply_to_closes().await;
    assert_eq!(end.reason, Some(CloseReason::SlowConsumer));
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_that_keeps_reading_is_not_a_slow_consumer() {
    let mut h = Harness::with_pipe_size(stall_settings(), PIPE);
    let (frames, count) = burst(|| upstream_frame(true, BINARY, &[7u8; 1024]));
    h.upstream_sends(&frames).await;
    // One frame every 20 s: each read lets the relay write again before the timeout.
    for _ in 0..count {
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(read_frame(&mut h.client).await.opcode, BINARY);
    }
    // Ten minutes later the session still relays.
    let ping = client_frame(true, TEXT, b"still here");
    h.client_sends(&ping).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, ping);
    let end = h.shut_down().await;
    assert_eq!(end.frames_to_client, count as u64);
}

#[tokio::test(start_paused = true)]
async fn without_a_send_timeout_a_stall_only_holds_the_sender_back() {
    let mut h = Harness::with_pipe_size(settings(), PIPE);
    let (frames, count) = burst(|| upstream_frame(true, BINARY, &[7u8; 1024]));
    h.upstream_sends(&frames).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    for _ in 0..count {
        assert_eq!(read_frame(&mut h.client).await.opcode, BINARY);
    }
    h.shut_down().await;
}

#[tokio::test(start_paused = true)]
async fn a_ping_flood_closes_1008_rate_limited() {
    let mut h = Harness::start(RelaySettings {
        max_pings_per_second: 5,
        ..settings()
    });
    let ping = client_frame(true, PING, b"hi");
    for _ in 0..6 {
        h.client_sends(&ping).await;
    }
    for _ in 0..5 {
        assert_eq!(read_frame(&mut h.upstream).await.raw, ping);
    }
    // The sixth ping is not relayed; the upstream is told why.
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "rate_limited".into())
    );
    h.upstream_replies().await;
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1008, "rate_limited".into())
    );
    let end = h.client_replies().await;
    assert_eq!(
        outcome(&end),
        (Initiator::Proxy, Some(1008), Some(CloseReason::RateLimited))
    );
    assert_eq!(end.frames_to_upstream, 5);
}

#[tokio::test(start_paused = true)]
async fn pings_at_the_allowed_rate_are_relayed() {
    let mut h = Harness::start(RelaySettings {
        max_pings_per_second: 5,
        ..settings()
    });
    // 4 a second for a minute, after a full burst of 5.
    let ping = client_frame(true, PING, b"");
    for _ in 0..5 {
        h.client_sends(&ping).await;
    }
    for _ in 0..240 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        h.client_sends(&ping).await;
    }
    for _ in 0..245 {
        assert_eq!(read_frame(&mut h.upstream).await.opcode, PING);
    }
    // The upstream's pings are never limited.
    let upstream_ping = upstream_frame(true, PING, b"");
    for _ in 0..100 {
        h.upstream_sends(&upstream_ping).await;
    }
    for _ in 0..100 {
        assert_eq!(read_frame(&mut h.client).await.opcode, PING);
    }
    h.shut_down().await;
}
