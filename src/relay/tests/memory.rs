//! Backpressure and memory: stalled readers, session future size.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_stalled_reader_stops_the_relay_from_reading() {
    // A tiny pipe toward the upstream that nobody reads.
    let mut h = Harness::with_pipe_size(settings(), 4096);
    let big = client_frame(true, BINARY, &vec![3u8; 200_000]);
    let writer = tokio::spawn(async move {
        let _ = h.client.write_all(&big).await;
        h.client
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!writer.is_finished(), "the client must be held back");
    // Only the pipe plus one relay buffer (at most 64 KiB) is in flight: what is counted
    // is what the scanner passed on, read but not yet written included.
    assert!(h.counters.bytes_to_upstream.get() <= 4096 + 65_536);
    let mut received = 0;
    while received < 200_000 + 14 {
        let mut chunk = vec![0u8; 65_536];
        received += h.upstream.read(&mut chunk).await.expect("read");
    }
    writer.await.expect("writer");
}

#[test]
fn a_session_future_is_small() {
    let (client, _) = duplex(64);
    let (upstream, _) = duplex(64);
    let counters = test_counters();
    let session = relay(
        client,
        upstream,
        settings(),
        &counters,
        CancellationToken::new(),
    );
    let size = std::mem::size_of_val(&session);
    println!("relay future: {size} bytes");
    // Buffers are allocated only while bytes move; an idle session holds just this.
    assert!(size <= 2048, "relay future is {size} bytes");
}
