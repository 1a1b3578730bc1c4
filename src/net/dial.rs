//! An outgoing TCP connection whose first bytes go out before its task yields, when the
//! connection is made by the time `connect(2)` returns.
//!
//! tokio's `TcpStream::connect` always waits for the socket to turn writable and then
//! asks it for `SO_ERROR`: the connection's task yields to the event loop and is polled
//! again, even when the kernel finished the three-way handshake inside `connect(2)`,
//! which it does on loopback (a sidecar's upstream) before the call returns. Here the
//! bytes the caller has ready (the upgrade request) are written straight away, and the
//! write is the question: taken, the connection is made (and no `SO_ERROR` check is
//! needed); `EAGAIN`, it is still in progress (a remote upstream) and waits for
//! writability and is checked for an error as with tokio; any other error (a refusal) is
//! the dial's, as tokio's connect would have returned it. With no bytes to write (TLS,
//! whose handshake writes first) the socket is asked for its peer instead. Either way one
//! system call replaces tokio's `getsockopt` (docs/performance.md, "Twelfth pass").
//!
//! `TCP_NODELAY` is set before anything is written: every outgoing connection relays
//! frames, which must not wait behind Nagle's algorithm.
//!
//! The handshake's last ACK rides on the first bytes (Linux): `TCP_QUICKACK` is off
//! when `connect(2)` is called, so the kernel holds the ACK of the server's SYN-ACK back
//! for the data about to follow (HAProxy's `tcp-smart-connect`); it goes alone only if
//! nothing is written within the delayed-ACK timeout (200 ms). Every dial writes first at
//! once (the upgrade request, a TLS ClientHello, hyper's request on a plain-HTTP route),
//! so a connection costs one segment fewer, and the server is woken once, by a connection that already
//! holds its request. Quick ACKs are back on once the connection is made.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;

/// Opens TCP to `address`, and writes as much of `early` as the socket takes if the
/// connection is made at once: the stream and how many bytes of `early` went out (none
/// when the connection was still in progress; fewer than all when the socket's buffer
/// took fewer).
pub async fn connect(address: SocketAddr, early: &[u8]) -> io::Result<(TcpStream, usize)> {
    let socket = nonblocking_socket(address)?;
    let _ = socket.set_tcp_nodelay(true);
    #[cfg(target_os = "linux")]
    let _ = socket.set_tcp_quickack(false);
    match socket.connect(&address.into()) {
        Ok(()) => {}
        Err(error)
            if error.raw_os_error() == Some(libc::EINPROGRESS)
                || error.kind() == io::ErrorKind::WouldBlock => {}
        Err(error) => return Err(error),
    }
    let made = if early.is_empty() {
        socket.peer_addr().is_ok().then_some(0)
    } else {
        match socket.send_with_flags(early, SEND_FLAGS) {
            Ok(sent) => Some(sent),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => None,
            Err(error) => return Err(error),
        }
    };
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    if let Some(sent) = made {
        return Ok((stream, sent));
    }
    // In progress (or refused with nothing written to find out): as tokio's connect, wait
    // for writability, then take the socket's error.
    stream.writable().await?;
    if let Some(error) = stream.take_error()? {
        return Err(error);
    }
    Ok((stream, 0))
}

/// A write to a peer that has gone is an error, never a SIGPIPE.
#[cfg(target_os = "linux")]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(target_os = "linux"))]
const SEND_FLAGS: libc::c_int = 0;

/// A non-blocking TCP socket for `address`'s family: one system call on Linux.
#[cfg(target_os = "linux")]
fn nonblocking_socket(address: SocketAddr) -> io::Result<Socket> {
    let kind = Type::STREAM.nonblocking();
    Socket::new(Domain::for_address(address), kind, Some(Protocol::TCP))
}

#[cfg(not(target_os = "linux"))]
fn nonblocking_socket(address: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

    /// Dials a fresh loopback listener with `early`; the dial's outcome and the accepted
    /// peer.
    async fn dial_loopback(early: &[u8]) -> ((TcpStream, usize), TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (dialled, accepted) = tokio::join!(
            connect(listener.local_addr().unwrap(), early),
            listener.accept()
        );
        (dialled.unwrap(), accepted.unwrap().0)
    }

    /// The stream carries bytes both ways, through tokio.
    async fn talks(stream: &mut TcpStream, peer: &mut TcpStream) {
        peer.write_all(b"HTTP/1.1 101\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 16];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 101\r\n\r\n");
    }

    #[tokio::test]
    async fn a_loopback_connection_is_made_at_once_and_takes_the_first_bytes() {
        let ((mut stream, sent), mut peer) = dial_loopback(REQUEST).await;
        assert_eq!(sent, REQUEST.len());
        assert!(stream.nodelay().unwrap());
        let mut got = [0u8; REQUEST.len()];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(got, REQUEST);
        talks(&mut stream, &mut peer).await;
    }

    /// With no first bytes the handshake's held ACK goes alone when the delayed-ACK timer
    /// fires, and only then is the connection the peer's to accept: it is still made.
    #[tokio::test]
    async fn nothing_handed_over_nothing_written() {
        let ((mut stream, sent), mut peer) = dial_loopback(b"").await;
        assert_eq!(sent, 0);
        talks(&mut stream, &mut peer).await;
    }

    #[tokio::test]
    async fn a_connection_still_in_progress_is_waited_for_and_written_nothing_early() {
        // A listener whose accept queue is full drops the next SYN: that dial stays in
        // progress (SYN_SENT) until the queue has room and its SYN is sent again.
        let listener =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        listener.bind(&any.into()).unwrap();
        listener.listen(0).unwrap();
        let address = listener.local_addr().unwrap().as_socket().unwrap();
        let queued = std::net::TcpStream::connect(address).unwrap();
        let mut dial = tokio::spawn(async move { connect(address, REQUEST).await });
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut dial)
                .await
                .is_err(),
            "a dial to a full queue must wait, not fail or write"
        );
        // Room in the queue: the SYN sent again (a second after the first) gets through.
        let (first, _) = listener.accept().unwrap();
        drop((first, queued));
        let (mut stream, sent) = tokio::time::timeout(Duration::from_secs(10), dial)
            .await
            .expect("the dial completes once there is room")
            .unwrap()
            .unwrap();
        assert_eq!(sent, 0, "nothing is written before the connection is made");
        let (peer, _) = listener.accept().unwrap();
        peer.set_nonblocking(true).unwrap();
        let mut peer = TcpStream::from_std(peer.into()).unwrap();
        stream.write_all(REQUEST).await.unwrap();
        let mut got = [0u8; REQUEST.len()];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(got, REQUEST);
        talks(&mut stream, &mut peer).await;
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_of_the_dial_with_or_without_bytes() {
        // A port just freed: nothing listens on it.
        let address = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        for early in [REQUEST, b""] {
            let error = connect(address, early).await.expect_err("refused");
            assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
        }
    }
}
