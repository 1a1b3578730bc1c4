//! An outgoing TCP connection whose first bytes go out before its task yields, when the
//! connection is made by the time `connect(2)` returns.
//!
//! tokio's `TcpStream::connect` always waits for the socket to turn writable and then
//! asks it for `SO_ERROR`: the connection's task yields to the event loop and is polled
//! again, even when the kernel finished the three-way handshake inside `connect(2)`,
//! which it does on loopback (a sidecar's upstream) before the call returns. Here the
//! socket is asked instead whether it has a peer (`getpeername`, the one system call in
//! place of tokio's `getsockopt`): if it has, it is connected, and the bytes the caller
//! has ready (the upgrade request) are written at once. A connection still in progress
//! (a remote upstream) waits for writability and is checked for an error as tokio does,
//! so a refusal or a timeout reads the same either way (docs/performance.md, "Twelfth
//! pass").
//!
//! `TCP_NODELAY` is set before anything is written: every outgoing connection relays
//! frames, which must not wait behind Nagle's algorithm.

use std::io::{self, Write};
use std::net::SocketAddr;

use tokio::net::TcpStream;

/// What became of the bytes handed to [`connect`] to be written at once.
#[derive(Debug)]
pub enum Early {
    /// This many went out: none when the connection was not made at once (or no bytes
    /// were handed over); fewer than all when the socket's buffer took fewer.
    Sent(usize),
    /// The connection was made, and broke before they could be written: the caller's
    /// error for a failed write, not a failed dial.
    Failed(io::Error),
}

impl Early {
    /// Nothing written.
    pub const NONE: Early = Early::Sent(0);
}

/// Opens TCP to `address`, and writes as much of `early` as the socket takes if the
/// connection is made at once.
pub async fn connect(address: SocketAddr, early: &[u8]) -> io::Result<(TcpStream, Early)> {
    let socket = mio::net::TcpStream::connect(address)?;
    let _ = socket.set_nodelay(true);
    if socket.peer_addr().is_ok() {
        let written = if early.is_empty() {
            Early::NONE
        } else {
            match (&socket).write(early) {
                Ok(sent) => Early::Sent(sent),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => Early::NONE,
                Err(error) => Early::Failed(error),
            }
        };
        return Ok((TcpStream::from_std(socket.into())?, written));
    }
    // In progress (or already refused): as tokio's connect, wait for writability, then
    // take the socket's error.
    let stream = TcpStream::from_std(socket.into())?;
    stream.writable().await?;
    if let Some(error) = stream.take_error()? {
        return Err(error);
    }
    Ok((stream, Early::NONE))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn a_loopback_connection_is_made_at_once_and_takes_the_first_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (dialled, accepted) = tokio::join!(
            connect(listener.local_addr().unwrap(), b"GET / HTTP/1.1\r\n\r\n"),
            listener.accept()
        );
        let (mut stream, early) = dialled.unwrap();
        assert!(matches!(early, Early::Sent(18)), "{early:?}");
        assert!(stream.nodelay().unwrap());
        let (mut peer, _) = accepted.unwrap();
        let mut got = [0u8; 18];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"GET / HTTP/1.1\r\n\r\n");
        // The stream works both ways afterwards, through tokio.
        peer.write_all(b"HTTP/1.1 101\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 16];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 101\r\n\r\n");
    }

    #[tokio::test]
    async fn nothing_handed_over_nothing_written() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (dialled, _accepted) = tokio::join!(
            connect(listener.local_addr().unwrap(), b""),
            listener.accept()
        );
        let (_stream, early) = dialled.unwrap();
        assert!(matches!(early, Early::Sent(0)), "{early:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_of_the_dial() {
        // A port just freed: nothing listens on it.
        let address = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let error = connect(address, b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect_err("refused");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    }
}
