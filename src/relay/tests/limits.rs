//! Message size limits (1009).

use super::*;

#[tokio::test(start_paused = true)]
async fn frame_over_the_limit_closes_1009() {
    let mut h = Harness::start(RelaySettings {
        max_frame_bytes: 1000,
        ..settings()
    });
    let ok = client_frame(true, BINARY, &[0; 1000]);
    h.client_sends(&ok).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, ok);
    h.client_sends(&client_frame(true, BINARY, &[0; 1001]))
        .await;
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "message_too_big".into())
    );
    // The upstream's echo of the frame before still reaches the client, then the 1009.
    let echo = upstream_frame(true, BINARY, &[0; 1000]);
    h.upstream_sends(&echo).await;
    h.upstream_replies().await;
    assert_eq!(read_frame(&mut h.client).await.raw, echo);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1009, "message_too_big".into())
    );
    let end = h.client_replies().await;
    assert_eq!(
        outcome(&end),
        (
            Initiator::Proxy,
            Some(1009),
            Some(CloseReason::MessageTooBig)
        )
    );
    assert_eq!((end.frames_to_upstream, end.frames_to_client), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn fragmented_message_over_the_limit_closes_1009() {
    let mut h = Harness::start(RelaySettings {
        max_message_bytes: 250,
        ..settings()
    });
    let first = upstream_frame(false, TEXT, &[b'a'; 100]);
    let second = upstream_frame(false, CONTINUATION, &[b'b'; 100]);
    h.upstream_sends(&first).await;
    h.upstream_sends(&second).await;
    h.upstream_sends(&upstream_frame(true, CONTINUATION, &[b'c'; 51]))
        .await;
    assert_eq!(read_frame(&mut h.client).await.raw, first);
    assert_eq!(read_frame(&mut h.client).await.raw, second);
    assert_eq!(read_frame(&mut h.client).await.close().0, 1001);
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1009);
    h.reply_to_closes().await;
}
