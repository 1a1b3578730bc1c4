//! Frames relayed verbatim: both directions, fragmentation, split headers.

use super::*;

#[tokio::test(start_paused = true)]
async fn frames_pass_verbatim_both_ways_and_are_counted() {
    let mut h = Harness::start(settings());
    let from_client = [
        client_frame(true, TEXT, b"hello"),
        client_frame(true, BINARY, &[0u8; 300]),
        client_frame(true, BINARY, &vec![7u8; 70_000]),
        client_frame(true, PING, b"p"),
    ];
    for frame in &from_client {
        h.client_sends(frame).await;
    }
    for frame in &from_client {
        assert_eq!(read_frame(&mut h.upstream).await.raw, *frame);
    }
    let from_upstream = [
        upstream_frame(true, TEXT, b"world"),
        upstream_frame(true, PONG, b"p"),
        upstream_frame(true, BINARY, &vec![9u8; 20_000]),
    ];
    for frame in &from_upstream {
        h.upstream_sends(frame).await;
    }
    for frame in &from_upstream {
        assert_eq!(read_frame(&mut h.client).await.raw, *frame);
    }
    // Payload bytes: 5 + 300 + 70,000 + 1 and 5 + 1 + 20,000, headers and masks left out.
    let to_upstream = payload_bytes(&from_client);
    let to_client = payload_bytes(&from_upstream);
    assert_eq!((to_upstream, to_client), (70_306, 20_006));
    assert_eq!(h.counters.frames_to_upstream.get(), 4);
    assert_eq!(h.counters.bytes_to_upstream.get(), to_upstream);
    assert_eq!(h.counters.frames_to_client.get(), 3);
    assert_eq!(h.counters.bytes_to_client.get(), to_client);

    h.client_sends(&client_frame(true, CLOSE, &close_body(1000, "bye")))
        .await;
    read_frame(&mut h.upstream).await;
    h.upstream_sends(&upstream_frame(true, CLOSE, &close_body(1000, "bye")))
        .await;
    read_frame(&mut h.client).await;
    let end = h.end().await;
    assert_eq!(end.frames_to_upstream, 5);
    assert_eq!(end.frames_to_client, 4);
    // The closes' bodies: code and "bye".
    assert_eq!(end.bytes_to_upstream, to_upstream + 5);
    assert_eq!(end.bytes_to_client, to_client + 5);
}

#[tokio::test(start_paused = true)]
async fn fragmented_message_with_interleaved_control_frames() {
    let mut h = Harness::start(settings());
    let frames = [
        client_frame(false, TEXT, b"frag"),
        client_frame(true, PING, b"in between"),
        client_frame(false, CONTINUATION, b"men"),
        client_frame(true, PONG, b""),
        client_frame(true, CONTINUATION, b"ted"),
        client_frame(true, TEXT, b"next message"),
    ];
    h.client_sends(&frames.concat()).await;
    assert_eq!(
        read_exactly(&mut h.upstream, frames.concat().len()).await,
        frames.concat()
    );

    let frames = [
        upstream_frame(false, BINARY, &[1; 200]),
        upstream_frame(true, PING, b""),
        upstream_frame(true, CONTINUATION, &[2; 200]),
    ];
    h.upstream_sends(&frames.concat()).await;
    assert_eq!(
        read_exactly(&mut h.client, frames.concat().len()).await,
        frames.concat()
    );
    assert_eq!(h.counters.frames_to_upstream.get(), 6);
    assert_eq!(h.counters.frames_to_client.get(), 3);
}

#[tokio::test(start_paused = true)]
async fn headers_split_across_reads_byte_by_byte() {
    let mut h = Harness::start(settings());
    let stream = [
        client_frame(true, TEXT, b"a"),
        client_frame(true, BINARY, &[5u8; 300]),
        client_frame(true, BINARY, &vec![6u8; 66_000]),
        client_frame(true, PING, &[1u8; 125]),
        client_frame(true, CLOSE, &close_body(4001, "split")),
    ]
    .concat();
    // Byte by byte through the headers and the close; the long payload in one go.
    let long_payload_start = 2 + 4 + 1 + 2 + 2 + 4 + 300 + 2 + 8 + 4;
    let long_payload_end = long_payload_start + 66_000;
    let mut at = 0;
    while at < stream.len() {
        let step = if at == long_payload_start {
            long_payload_end - at
        } else {
            1
        };
        h.client_sends(&stream[at..at + step]).await;
        tokio::task::yield_now().await;
        at += step;
    }
    assert_eq!(read_exactly(&mut h.upstream, stream.len()).await, stream);
    h.upstream_sends(&upstream_frame(true, CLOSE, &close_body(4001, "split")))
        .await;
    read_frame(&mut h.client).await;
    let end = h.end().await;
    assert_eq!((end.initiator, end.code), (Initiator::Client, Some(4001)));
}
