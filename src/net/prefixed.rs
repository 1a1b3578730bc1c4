//! A stream that first replays bytes already read from it.
//!
//! Both opening handshakes are read by hand, and a read can take in more than the head:
//! a client may send its first frames right behind the upgrade request, an upstream its
//! first frame in the same segment as its 101. Those bytes belong to the relay, before
//! anything else from the socket. Also how a request head read by hand is given to hyper
//! when wsgate leaves the request to it (`proxy::first`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io`, with `leftover` read first. Writes go straight through.
pub struct Prefixed<S> {
    io: S,
    /// Not yet handed out; freed once empty, so an idle session holds no buffer.
    leftover: Vec<u8>,
    position: usize,
}

impl<S> Prefixed<S> {
    pub fn new(io: S, leftover: &[u8]) -> Prefixed<S> {
        Prefixed {
            io,
            leftover: leftover.to_vec(),
            position: 0,
        }
    }

    /// The stream behind the replayed bytes.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream behind the replayed bytes, for writing (writes go straight through).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = this.leftover.get(this.position..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.position += n;
            if this.position >= this.leftover.len() {
                this.leftover = Vec::new();
                this.position = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn leftover_is_read_before_the_stream_and_in_pieces_if_needed() {
        let (a, mut b) = tokio::io::duplex(64);
        b.write_all(b" world").await.unwrap();
        drop(b);
        let mut stream = Prefixed::new(a, b"hello");
        let mut first = [0u8; 3];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"hel");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"lo world");
        assert!(stream.leftover.is_empty(), "the replayed bytes are freed");
    }
}
