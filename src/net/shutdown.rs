//! Whether a stream's end needs a `poll_shutdown` before the stream is dropped.
//!
//! The relay ends a session by shutting both streams down, then dropping them. For TLS the
//! shutdown is what sends `close_notify`; for plain TCP it is a `shutdown(SHUT_WR)` whose
//! FIN the `close` right after would send anyway (tokio's `TcpStream` closes its socket
//! on drop). Skipping it saves two system calls per session and sends the same segments.

use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio::net::TcpStream;

use super::prefixed::Prefixed;
use super::stream::Stream;

/// A stream the relay ends: does it need `poll_shutdown` before it is dropped?
pub trait Shutdown {
    /// `false` only when dropping the stream ends it exactly as the shutdown would.
    fn needs_shutdown(&self) -> bool;
}

impl Shutdown for TcpStream {
    fn needs_shutdown(&self) -> bool {
        false
    }
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
}

impl<S: Shutdown> Shutdown for Prefixed<S> {
    fn needs_shutdown(&self) -> bool {
        self.get_ref().needs_shutdown()
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
