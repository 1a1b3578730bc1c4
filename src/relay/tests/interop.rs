//! Interoperability with tungstenite peers over loopback sockets.

use super::*;

/// Interoperability with an independent implementation: tungstenite peers (blocking, on
/// their own threads) over real loopback sockets.
#[tokio::test]
async fn tungstenite_peers_talk_through_the_relay() {
    use std::net::TcpListener as StdListener;
    use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
    use tokio_tungstenite::tungstenite::{Error, Message};

    let front = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let front_addr = front.local_addr().expect("addr");
    let back = StdListener::bind("127.0.0.1:0").expect("bind");
    let back_addr = back.local_addr().expect("addr");

    let upstream = std::thread::spawn(move || {
        let (stream, _) = back.accept().expect("accept");
        let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
        loop {
            match ws.read() {
                Ok(message) if message.is_text() || message.is_binary() => {
                    ws.send(message).expect("echo");
                }
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return,
                Err(error) => panic!("upstream: {error}"),
            }
        }
    });
    let client = std::thread::spawn(move || {
        let stream = std::net::TcpStream::connect(front_addr).expect("connect");
        let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
        let big = vec![0xA5u8; 300_000];
        ws.send(Message::text("hello")).expect("send");
        ws.send(Message::binary(big.clone())).expect("send");
        ws.send(Message::Ping(b"there?".to_vec().into()))
            .expect("ping");
        assert_eq!(ws.read().expect("echo"), Message::text("hello"));
        assert_eq!(ws.read().expect("echo"), Message::binary(big));
        assert_eq!(
            ws.read().expect("pong"),
            Message::Pong(b"there?".to_vec().into())
        );
        ws.close(Some(CloseFrame {
            code: CloseCode::Library(4000),
            reason: "done".into(),
        }))
        .expect("close");
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return,
                Err(error) => panic!("client: {error}"),
            }
        }
    });

    let (client_side, _) = front.accept().await.expect("accept");
    let upstream_side = tokio::net::TcpStream::connect(back_addr)
        .await
        .expect("connect");
    let end = tokio::time::timeout(
        Duration::from_secs(20),
        relay_with_defaults(client_side, upstream_side),
    )
    .await
    .expect("relay ends");
    assert_eq!((end.initiator, end.code), (Initiator::Client, Some(4000)));
    client.join().expect("client thread");
    upstream.join().expect("upstream thread");
}
