//! Whether a stream's end needs a `poll_shutdown` before the stream is dropped.
//!
//! The relay ends a session by shutting both streams down, then dropping them. For TLS the
//! shutdown is what sends `close_notify`; for plain TCP it is a `shutdown(SHUT_WR)` whose
//! FIN the `close` right after would send anyway (tokio's `TcpStream` closes its socket
//! on drop). Skipping it saves two system calls per session and sends the same segments.
//!
//! A stream's last bytes (the relay's close frame toward a peer that has sent its own) can
//! also take the FIN with them: [`Shutdown::poll_write_last`]. On plain TCP they are sent
//! with `MSG_MORE` and the write side is shut down as soon as they are all taken, so the
//! bytes and the FIN leave in one segment where a write and then the `close` send two.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWrite, DuplexStream};
use tokio::net::TcpStream;

use super::prefixed::Prefixed;
use super::stream::Stream;

/// A stream the relay ends: does it need `poll_shutdown` before it is dropped, and how are
/// its last bytes written?
pub trait Shutdown: AsyncWrite + Unpin {
    /// `false` only when dropping the stream ends it exactly as the shutdown would.
    fn needs_shutdown(&self) -> bool;

    /// Writes some of `bytes`, the last the stream will ever carry (nothing is written after
    /// them; the caller calls again with the rest until all are taken). A stream that can
    /// ends its write side once they are all taken, their FIN in the same segment; any
    /// other just writes them, and is ended as usual (`needs_shutdown`, then the drop).
    fn poll_write_last(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_write(cx, bytes)
    }
}

/// Writes all of `bytes` as the stream's last (`Shutdown::poll_write_last`); a stream that
/// cannot end itself with them still needs its shutdown (`Shutdown::needs_shutdown`).
pub async fn write_last<S: Shutdown>(stream: &mut S, bytes: &[u8]) -> io::Result<()> {
    let mut written = 0;
    while let Some(rest) = bytes.get(written..).filter(|rest| !rest.is_empty()) {
        match std::future::poll_fn(|cx| stream.poll_write_last(cx, rest)).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            taken => written += taken,
        }
    }
    Ok(())
}

impl Shutdown for TcpStream {
    fn needs_shutdown(&self) -> bool {
        false
    }

    /// `send(MSG_MORE)`, then `shutdown(SHUT_WR)` once the last byte is taken: `MSG_MORE`
    /// holds the bytes back for the FIN, which the shutdown adds to them and pushes out at
    /// once, one segment. The shutdown comes straight after, never left to the `close`:
    /// with bytes from the peer that nobody read, `close` resets the connection and drops
    /// whatever it still holds, so the bytes and their FIN must be out before it.
    #[cfg(target_os = "linux")]
    fn poll_write_last(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            std::task::ready!(self.poll_write_ready(cx))?;
            match self.try_io(tokio::io::Interest::WRITABLE, || send_last(self, bytes)) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                taken => return Poll::Ready(taken),
            }
        }
    }

    /// Without `MSG_MORE`: a write, then `shutdown(SHUT_WR)` once the last byte is taken
    /// (the FIN in a segment of its own, but the same end as on Linux).
    #[cfg(not(target_os = "linux"))]
    fn poll_write_last(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let taken = std::task::ready!(Pin::new(&mut *self).poll_write(cx, bytes))?;
        if taken == bytes.len() && !bytes.is_empty() {
            let _ = socket2::SockRef::from(&*self).shutdown(std::net::Shutdown::Write);
        }
        Poll::Ready(Ok(taken))
    }
}

/// One `send` of the last bytes; the write side is shut down once all are taken.
#[cfg(target_os = "linux")]
fn send_last(tcp: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    if bytes.is_empty() {
        return Ok(0);
    }
    let socket = socket2::SockRef::from(tcp);
    let taken = socket.send_with_flags(bytes, libc::MSG_MORE | libc::MSG_NOSIGNAL)?;
    if taken == bytes.len() {
        // The bytes are taken; a connection too far gone for its FIN is ended by the
        // `close` that follows, as before.
        let _ = socket.shutdown(std::net::Shutdown::Write);
    }
    Ok(taken)
}

impl Shutdown for tokio_rustls::server::TlsStream<TcpStream> {
    fn needs_shutdown(&self) -> bool {
        true
    }
}

impl Shutdown for Stream {
    fn needs_shutdown(&self) -> bool {
        match self {
            Stream::Plain(tcp) => tcp.needs_shutdown(),
            Stream::Tls(_) => true,
        }
    }

    fn poll_write_last(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Stream::Plain(tcp) => tcp.poll_write_last(cx, bytes),
            Stream::Tls(_) => Pin::new(self).poll_write(cx, bytes),
        }
    }
}

impl<S: Shutdown> Shutdown for Prefixed<S> {
    fn needs_shutdown(&self) -> bool {
        self.get_ref().needs_shutdown()
    }

    fn poll_write_last(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_last(cx, bytes)
    }
}

/// hyper's upgraded connection hides what it wraps: always shut down.
impl Shutdown for TokioIo<hyper::upgrade::Upgraded> {
    fn needs_shutdown(&self) -> bool {
        true
    }
}

/// In-memory streams (tests): the shutdown is what tells the other end.
impl Shutdown for DuplexStream {
    fn needs_shutdown(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::net::loopback_pair;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const PATIENCE: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn the_last_bytes_on_tcp_arrive_with_the_end_of_the_stream_while_it_stays_open() {
        let (mut writer, mut reader) = loopback_pair().await;
        write_last(&mut writer, b"the last bytes")
            .await
            .expect("write");
        // The writer is still open, yet its peer reads the bytes and then the end: the
        // write side was shut down with them, not left for a `close`.
        let mut got = Vec::new();
        tokio::time::timeout(PATIENCE, reader.read_to_end(&mut got))
            .await
            .expect("the end of the stream arrives without the writer's close")
            .expect("read");
        assert_eq!(got, b"the last bytes");
        // Only the write side ended: the writer still reads what its peer sends.
        reader.write_all(b"reply").await.expect("reply");
        let mut reply = [0; 5];
        writer.read_exact(&mut reply).await.expect("read the reply");
        assert_eq!(&reply, b"reply");
    }

    #[tokio::test]
    async fn last_bytes_larger_than_the_socket_buffers_all_arrive_before_the_end() {
        let (mut writer, mut reader) = loopback_pair().await;
        let bytes: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let read = tokio::spawn(async move {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).await.map(|_| got)
        });
        tokio::time::timeout(PATIENCE, write_last(&mut writer, &bytes))
            .await
            .expect("the writes finish as the peer reads")
            .expect("write");
        let got = tokio::time::timeout(PATIENCE, read)
            .await
            .expect("the end of the stream arrives")
            .expect("reader task")
            .expect("read");
        assert!(got == bytes, "the bytes arrive whole and in order");
    }

    #[tokio::test]
    async fn the_last_bytes_of_a_stream_that_cannot_end_itself_are_a_plain_write() {
        let (mut near, mut far) = tokio::io::duplex(64);
        write_last(&mut near, b"bytes").await.expect("write");
        let mut got = [0; 5];
        far.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"bytes");
        // Not ended: the stream still takes writes, and its end is the relay's shutdown.
        near.write_all(b"more").await.expect("still writable");
    }
}
