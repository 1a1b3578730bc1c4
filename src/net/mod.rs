//! Network plumbing below every I/O stage: the listener's TLS material and the client TLS
//! settings, the outgoing stream type, a stream that replays bytes already read, whether
//! a stream's end needs a shutdown before it is dropped, and a read through a buffer on
//! the stack.

pub mod dial;
pub mod prefixed;
pub mod shutdown;
pub mod stack_read;
pub mod stream;
pub mod tls;

/// A connected pair of loopback TCP streams, for tests: (the connecting end, the accepted end).
#[cfg(test)]
pub(crate) async fn loopback_pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (near, far) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    (near.expect("connect"), far.expect("accept").0)
}
