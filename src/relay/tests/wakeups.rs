//! What a wake-up polls: only the direction whose peer moved, and the session's own work
//! only when it is due; both directions again after any decision of the session.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::*;

/// A stream that counts the reads polled on it.
struct CountedReads {
    io: DuplexStream,
    reads: Arc<AtomicUsize>,
}

impl AsyncRead for CountedReads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl crate::net::shutdown::Shutdown for CountedReads {
    fn needs_shutdown(&self) -> bool {
        self.io.needs_shutdown()
    }
}

impl AsyncWrite for CountedReads {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn messages_one_way_do_not_poll_the_other_way() {
    let (mut client, client_side) = duplex(64 * 1024);
    let (mut upstream, upstream_side) = duplex(64 * 1024);
    let upstream_reads = Arc::new(AtomicUsize::new(0));
    let upstream_side = CountedReads {
        io: upstream_side,
        reads: upstream_reads.clone(),
    };
    let shutdown = CancellationToken::new();
    let counters = test_counters();
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        let counters = counters.clone();
        async move { relay(client_side, upstream_side, settings(), &counters, shutdown).await }
    });
    // The first wake-ups poll everything; the relay has its wakers after them.
    let frame = client_frame(true, TEXT, b"hello");
    for _ in 0..2 {
        client.write_all(&frame).await.expect("client write");
        assert_eq!(read_frame(&mut upstream).await.raw, frame);
    }
    let before = upstream_reads.load(Ordering::Relaxed);
    for _ in 0..20 {
        client.write_all(&frame).await.expect("client write");
        assert_eq!(read_frame(&mut upstream).await.raw, frame);
    }
    assert_eq!(
        upstream_reads.load(Ordering::Relaxed),
        before,
        "the upstream was read while only the client sent"
    );
    // The upstream is still registered: its message is relayed.
    let reply = upstream_frame(true, TEXT, b"world");
    upstream.write_all(&reply).await.expect("upstream write");
    assert_eq!(read_frame(&mut client).await.raw, reply);
    // And the shutdown token too: both peers get the session's close.
    shutdown.cancel();
    for peer in [&mut client, &mut upstream] {
        assert_eq!(
            read_frame(peer).await.close(),
            (1001, "server_shutdown".into())
        );
    }
    client
        .write_all(&client_frame(true, CLOSE, &close_body(1000, "")))
        .await
        .expect("client close");
    upstream
        .write_all(&upstream_frame(true, CLOSE, &close_body(1000, "")))
        .await
        .expect("upstream close");
    let end = tokio::time::timeout(PATIENCE, task)
        .await
        .expect("relay ends in time")
        .expect("relay task");
    assert_eq!(end.reason, Some(CloseReason::ServerShutdown));
    assert_eq!((end.frames_to_upstream, end.frames_to_client), (22, 1));
}
