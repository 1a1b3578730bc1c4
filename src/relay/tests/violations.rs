//! Protocol violations from either peer: close codes, ordering, frames in flight.

use super::*;

/// The `outcome` of a session wsgate ends because the client broke the protocol.
const PROXY_PROTOCOL_ERROR: (Initiator, Option<u16>, Option<CloseReason>) = (
    Initiator::Proxy,
    Some(1002),
    Some(CloseReason::ProtocolError),
);

/// A 5-byte text frame whose length is written in the 16-bit form (RFC 6455 §5.2 requires
/// the shortest), masked with `key` when given.
fn non_minimal_length(key: Option<[u8; 4]>) -> Vec<u8> {
    let mut frame = vec![0x81, 0x7E, 0, 5];
    let mut payload = *b"hello";
    if let Some(key) = key {
        frame[1] |= 0x80;
        frame.extend_from_slice(&key);
        for (byte, k) in payload.iter_mut().zip(key.iter().cycle()) {
            *byte ^= k;
        }
    }
    frame.extend_from_slice(&payload);
    frame
}

/// Frames a client must not send, each with the code the client must receive.
fn client_violations() -> Vec<(String, Vec<u8>, u16)> {
    let mut top_bit_length = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1];
    top_bit_length.extend_from_slice(&KEY);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", upstream_frame(true, TEXT, b"x"), 1002),
        (
            "rsv1 not negotiated",
            raw_frame(0xC1, b"x", Some(KEY)),
            1002,
        ),
        ("rsv3", raw_frame(0x91, b"x", Some(KEY)), 1002),
        ("opcode 3", client_frame(true, 0x3, b""), 1002),
        ("opcode 7", client_frame(true, 0x7, b""), 1002),
        ("opcode 0xB", client_frame(true, 0xB, b""), 1002),
        ("opcode 0xF", client_frame(true, 0xF, b""), 1002),
        (
            "ping of 126 bytes",
            client_frame(true, PING, &[0; 126]),
            1002,
        ),
        ("fragmented ping", client_frame(false, PING, b""), 1002),
        (
            "continuation first",
            client_frame(true, CONTINUATION, b"x"),
            1002,
        ),
        ("64-bit length top bit", top_bit_length, 1002),
        ("length 5 in 16 bits", non_minimal_length(Some(KEY)), 1002),
        ("close of 1 byte", client_frame(true, CLOSE, &[3]), 1002),
        (
            "close reason not UTF-8",
            client_frame(true, CLOSE, &[0x03, 0xE8, 0xC3, 0x28]),
            1007,
        ),
    ];
    // Close codes a peer may not send (RFC 6455 §7.4).
    let bad_codes = [0, 999, 1004, 1005, 1006, 1015, 2999, 5000].map(|code| {
        let frame = client_frame(true, CLOSE, &close_body(code, ""));
        (format!("close {code}"), frame, 1002)
    });
    cases
        .into_iter()
        .map(|(case, frame, code)| (case.to_owned(), frame, code))
        .chain(bad_codes)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn client_violations_close_1002_to_client_and_1001_to_upstream() {
    for (case, bad, code) in client_violations() {
        let mut h = Harness::start(settings());
        let good = client_frame(true, TEXT, b"before");
        h.client_sends(&good).await;
        h.client_sends(&bad).await;
        h.client_sends(&client_frame(true, TEXT, b"after")).await;
        assert_eq!(read_frame(&mut h.upstream).await.raw, good, "{case}");
        let to_upstream = read_frame(&mut h.upstream).await;
        assert!(
            to_upstream.masked,
            "{case}: frames toward the upstream are masked"
        );
        assert_eq!(
            to_upstream.close(),
            (1001, "protocol_error".into()),
            "{case}"
        );
        // The client's close waits for the upstream's reply, which it replaces.
        h.upstream_replies().await;
        let to_client = read_frame(&mut h.client).await;
        assert!(!to_client.masked, "{case}");
        assert_eq!(to_client.close(), (code, "protocol_error".into()), "{case}");
        // Nothing of the bad frame, nor of what followed it, reached the upstream.
        let end = h.client_replies().await;
        assert_eq!(end.initiator, Initiator::Proxy, "{case}");
        assert_eq!(end.code, Some(code), "{case}");
        assert_eq!(end.reason, Some(CloseReason::ProtocolError), "{case}");
        assert_eq!(end.frames_to_upstream, 1, "{case}");
    }
}

/// Autobahn 3.2: a valid message, a bad frame, a ping. An endpoint echoes the message
/// before it reads the bad frame; through wsgate the client must still get that echo
/// before the 1002, as it would from the upstream directly.
#[tokio::test(start_paused = true)]
async fn client_violation_upstream_frames_in_flight_reach_the_client_before_the_1002() {
    let mut h = Harness::start(settings());
    let started = Instant::now();
    let good = client_frame(true, TEXT, b"Hello, world!");
    h.client_sends(
        &[
            good.clone(),
            raw_frame(0xA1, b"rsv2", Some(KEY)),
            client_frame(true, PING, b"after"),
        ]
        .concat(),
    )
    .await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, good);
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "protocol_error".into())
    );
    // The upstream's traffic, sent before it read wsgate's close: an echo, a fragmented
    // message with a ping inside, a frame larger than a relay buffer, then its reply,
    // all in one write.
    let in_flight = [
        upstream_frame(true, TEXT, b"Hello, world!"),
        upstream_frame(false, BINARY, &[1; 300]),
        upstream_frame(true, PING, b"p"),
        upstream_frame(true, CONTINUATION, &[2; 300]),
        upstream_frame(true, BINARY, &vec![3; 70_000]),
    ];
    let reply = upstream_frame(true, CLOSE, &close_body(1001, "going away"));
    h.upstream_sends(&[in_flight.concat(), reply].concat())
        .await;
    for frame in &in_flight {
        assert_eq!(read_frame(&mut h.client).await.raw, *frame);
    }
    // wsgate's close, not the upstream's reply.
    let close = read_frame(&mut h.client).await;
    assert!(!close.masked);
    assert_eq!(close.close(), (1002, "protocol_error".into()));
    assert!(started.elapsed() < CLOSE_TIMEOUT, "no timer was waited for");
    let end = h.client_replies().await;
    assert_eq!(outcome(&end), PROXY_PROTOCOL_ERROR);
    assert_eq!((end.frames_to_upstream, end.frames_to_client), (1, 5));
    assert_eq!(end.bytes_to_client, payload_bytes(&in_flight));
}

#[tokio::test(start_paused = true)]
async fn client_violation_an_upstream_frame_split_across_reads_is_finished_first() {
    let mut h = Harness::start(settings());
    h.client_sends(&client_frame(true, 0x3, b"")).await;
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    let frame = upstream_frame(true, BINARY, &[7; 1000]);
    let (head, rest) = frame.split_at(400);
    h.upstream_sends(head).await;
    assert_eq!(read_exactly(&mut h.client, head.len()).await, head);
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.upstream_sends(rest).await;
    h.upstream_replies().await;
    assert_eq!(read_exactly(&mut h.client, rest.len()).await, rest);
    assert_eq!(read_frame(&mut h.client).await.close().0, 1002);
    let end = h.client_replies().await;
    assert_eq!((end.code, end.frames_to_client), (Some(1002), 1));
}

#[tokio::test(start_paused = true)]
async fn client_violation_the_1002_comes_at_close_timeout_when_the_upstream_never_replies() {
    let mut h = Harness::start(settings());
    let started = Instant::now();
    h.client_sends(&client_frame(true, TEXT, b"one")).await;
    h.client_sends(&client_frame(false, PING, b"")).await;
    assert_eq!(read_frame(&mut h.upstream).await.payload, b"one");
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    let echo = upstream_frame(true, TEXT, b"one");
    h.upstream_sends(&echo).await;
    assert_eq!(read_frame(&mut h.client).await.raw, echo);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1002, "protocol_error".into())
    );
    assert_eq!(started.elapsed(), CLOSE_TIMEOUT);
    // Nothing the upstream sends after wsgate's close reaches the client.
    h.upstream_sends(&upstream_frame(true, TEXT, b"late")).await;
    // The client has a whole close timeout of its own to reply; it does not.
    expect_end(&mut h.client).await;
    assert_eq!(started.elapsed(), 2 * CLOSE_TIMEOUT);
    let end = h.end().await;
    assert_eq!(outcome(&end), PROXY_PROTOCOL_ERROR);
    assert_eq!(end.frames_to_client, 1);
}

#[tokio::test(start_paused = true)]
async fn client_violation_the_client_may_reply_after_a_late_1002() {
    let mut h = Harness::start(settings());
    let started = Instant::now();
    h.client_sends(&client_frame(true, 0xB, b"")).await;
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    assert_eq!(read_frame(&mut h.client).await.close().0, 1002);
    assert_eq!(started.elapsed(), CLOSE_TIMEOUT);
    tokio::time::sleep(CLOSE_TIMEOUT / 2).await;
    h.client_sends(&client_frame(true, CLOSE, &close_body(1002, "")))
        .await;
    expect_end(&mut h.client).await;
    expect_end(&mut h.upstream).await;
    // The upstream never replied: its side is given up at the deadline.
    assert_eq!(started.elapsed(), 2 * CLOSE_TIMEOUT);
    assert_eq!(h.end().await.code, Some(1002));
}

#[tokio::test(start_paused = true)]
async fn client_violation_upstream_gone_releases_the_1002_not_1014() {
    let mut h = Harness::start(settings());
    let started = Instant::now();
    h.client_sends(&client_frame(true, TEXT, b"x")).await;
    h.client_sends(&upstream_frame(true, TEXT, b"unmasked"))
        .await;
    assert_eq!(read_frame(&mut h.upstream).await.payload, b"x");
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    let echo = upstream_frame(true, TEXT, b"x");
    h.upstream_sends(&echo).await;
    h.upstream.shutdown().await.expect("upstream EOF");
    assert_eq!(read_frame(&mut h.client).await.raw, echo);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1002, "protocol_error".into())
    );
    assert!(started.elapsed() < CLOSE_TIMEOUT);
    h.client_sends(&client_frame(true, CLOSE, &close_body(1002, "")))
        .await;
    expect_end(&mut h.client).await;
    let end = h.end().await;
    assert_eq!(outcome(&end), PROXY_PROTOCOL_ERROR);
}

#[tokio::test(start_paused = true)]
async fn client_violation_then_an_upstream_violation_releases_the_1002() {
    let mut h = Harness::start(settings());
    h.client_sends(&raw_frame(0x91, b"x", Some(KEY))).await;
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    let echo = upstream_frame(true, TEXT, b"fine");
    h.upstream_sends(&[echo.clone(), client_frame(true, TEXT, b"masked")].concat())
        .await;
    assert_eq!(read_frame(&mut h.client).await.raw, echo);
    assert_eq!(read_frame(&mut h.client).await.close().0, 1002);
    let end = h.reply_to_closes().await;
    assert_eq!((end.code, end.frames_to_client), (Some(1002), 1));
}

/// While the client's close is held, the client keeps sending: none of it, from the bad
/// frame on, reaches the upstream.
#[tokio::test(start_paused = true)]
async fn client_violation_nothing_from_the_bad_frame_on_reaches_the_upstream() {
    let mut h = Harness::start(RelaySettings {
        max_message_bytes: 1000,
        ..settings()
    });
    let good = client_frame(false, BINARY, &[1; 600]);
    h.client_sends(&good).await;
    h.client_sends(&client_frame(true, CONTINUATION, &[2; 401]))
        .await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, good);
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "message_too_big".into())
    );
    for i in 0..10u8 {
        h.client_sends(&client_frame(true, TEXT, &[b'a' + i; 50]))
            .await;
        h.upstream_sends(&upstream_frame(true, TEXT, &[i; 20]))
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.client_sends(&client_frame(true, CLOSE, &close_body(1000, "")))
        .await;
    for i in 0..10u8 {
        assert_eq!(read_frame(&mut h.client).await.payload, [i; 20]);
    }
    h.upstream_replies().await;
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1009, "message_too_big".into())
    );
    // The client's close was seen while draining: the session ends without waiting.
    expect_end(&mut h.client).await;
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(
        outcome(&end),
        (
            Initiator::Proxy,
            Some(1009),
            Some(CloseReason::MessageTooBig)
        )
    );
    assert_eq!(
        (end.frames_to_upstream, end.bytes_to_upstream),
        (1, payload_bytes([&good]))
    );
}

#[tokio::test(start_paused = true)]
async fn fragment_order_violations() {
    let cases = [
        (
            "new message inside a fragmented one",
            [
                client_frame(false, TEXT, b"a"),
                client_frame(true, BINARY, b"b"),
            ],
        ),
        (
            "continuation after a finished message",
            [
                client_frame(true, TEXT, b"a"),
                client_frame(true, CONTINUATION, b"b"),
            ],
        ),
    ];
    for (case, [first, bad]) in cases {
        let mut h = Harness::start(settings());
        h.client_sends(&first).await;
        h.client_sends(&bad).await;
        assert_eq!(read_frame(&mut h.upstream).await.raw, first, "{case}");
        assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001, "{case}");
        h.upstream_replies().await;
        assert_eq!(read_frame(&mut h.client).await.close().0, 1002, "{case}");
        let end = h.client_replies().await;
        assert_eq!(end.frames_to_upstream, 1, "{case}");
    }
}

#[tokio::test(start_paused = true)]
async fn upstream_violations_close_1002_to_upstream_and_1001_to_client() {
    let cases = [
        ("masked", client_frame(true, TEXT, b"x")),
        ("rsv2", raw_frame(0xA2, b"x", None)),
        ("opcode 0xC", upstream_frame(true, 0xC, b"")),
        ("long pong", upstream_frame(true, PONG, &[0; 200])),
        (
            "continuation first",
            upstream_frame(true, CONTINUATION, b"x"),
        ),
        (
            "close 1016",
            upstream_frame(true, CLOSE, &close_body(1016, "")),
        ),
        ("length 5 in 16 bits", non_minimal_length(None)),
    ];
    for (case, bad) in cases {
        let mut h = Harness::start(settings());
        h.upstream_sends(&bad).await;
        let to_client = read_frame(&mut h.client).await;
        assert_eq!(to_client.close(), (1001, "protocol_error".into()), "{case}");
        let to_upstream = read_frame(&mut h.upstream).await;
        assert!(to_upstream.masked, "{case}");
        assert_eq!(
            to_upstream.close(),
            (1002, "protocol_error".into()),
            "{case}"
        );
        let end = h.reply_to_closes().await;
        assert_eq!(
            (end.initiator, end.code, end.frames_to_client),
            (Initiator::Proxy, Some(1002), 0),
            "{case}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn rsv1_passes_when_an_extension_was_negotiated() {
    let mut h = Harness::start(RelaySettings {
        extensions: Extensions::PermessageDeflate,
        ..settings()
    });
    let compressed = raw_frame(0xC1, b"deflated", Some(KEY));
    h.client_sends(&compressed).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, compressed);
    let from_upstream = raw_frame(0x42, b"deflated", None);
    h.upstream_sends(&from_upstream).await;
    assert_eq!(read_frame(&mut h.client).await.raw, from_upstream);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_extension_s_rsv_bits_pass_both_ways() {
    let mut h = Harness::start(RelaySettings {
        extensions: Extensions::Other,
        ..settings()
    });
    // RSV2 on a text frame, RSV1 on a continuation: meanings wsgate cannot judge.
    let first = raw_frame(0x21, b"part", Some(KEY));
    let rest = raw_frame(0xC0, b"more", Some(KEY));
    h.client_sends(&[first.clone(), rest.clone()].concat())
        .await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, first);
    assert_eq!(read_frame(&mut h.upstream).await.raw, rest);
    let from_upstream = raw_frame(0x92, b"x", None);
    h.upstream_sends(&from_upstream).await;
    assert_eq!(read_frame(&mut h.client).await.raw, from_upstream);
    h.shut_down().await;
}
