//! The upstream's 101 over loopback: bytes behind it reach the relay first, the accept key
//! and the chosen subprotocol/extensions are checked against what was offered.

use super::*;

#[tokio::test]
async fn bytes_sent_behind_the_101_reach_the_relay_first() {
    let (stream, server) = upstream_answering(|key| {
        let mut bytes = switching(key, "Sec-WebSocket-Protocol: chat\r\n");
        bytes.extend_from_slice(&[0x81, 5]);
        bytes.extend_from_slice(b"early");
        bytes
    })
    .await;
    let outcome = exchange_as(stream, &hostile_client()).await.unwrap();
    let WebSocketOutcome::Upgraded {
        mut io, protocol, ..
    } = outcome
    else {
        panic!("a valid 101 upgrades");
    };
    assert_eq!(protocol.unwrap(), "chat");
    let mut socket = server.await.unwrap();
    socket.write_all(b"later").await.unwrap();
    let mut received = vec![0u8; 12];
    io.read_exact(&mut received).await.unwrap();
    assert_eq!(received, b"\x81\x05earlylater");
    // Writes go straight to the upstream.
    io.write_all(b"to upstream").await.unwrap();
    let mut echoed = vec![0u8; 11];
    socket.read_exact(&mut echoed).await.unwrap();
    assert_eq!(echoed, b"to upstream");
}

#[tokio::test]
async fn a_101_without_exactly_one_right_accept_is_rejected() {
    let answers: [(&str, Answer); 3] = [
        ("missing", |_| {
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                .to_vec()
        }),
        ("duplicated", |key| {
            let accept = handshake::accept_key(key.as_bytes());
            switching(key, &format!("Sec-WebSocket-Accept: {accept}\r\n"))
        }),
        ("wrong", |_| switching("c29tZW9uZSBlbHNlJ3Mga2V5", "")),
    ];
    for (what, answer) in answers {
        let (stream, _server) = upstream_answering(answer).await;
        let outcome = exchange_as(stream, &HeaderMap::new()).await;
        assert!(
            matches!(
                outcome,
                Err(UpstreamError::Rejected(
                    "wrong or missing Sec-WebSocket-Accept"
                ))
            ),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_101_choosing_what_was_not_offered_is_rejected() {
    let answers: [(&str, Answer); 4] = [
        ("protocol", |key| {
            switching(key, "Sec-WebSocket-Protocol: admin\r\n")
        }),
        ("two protocols", |key| {
            switching(
                key,
                "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n",
            )
        }),
        ("extension", |key| {
            switching(key, "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n")
        }),
        ("upgrade", |key| {
            let mut bytes = switching(key, "");
            let text = String::from_utf8(bytes.clone()).unwrap();
            bytes = text
                .replace("Upgrade: websocket", "Upgrade: h2c")
                .into_bytes();
            bytes
        }),
    ];
    for (what, answer) in answers {
        let (stream, _server) = upstream_answering(answer).await;
        let outcome = exchange_as(stream, &hostile_client()).await;
        assert!(matches!(outcome, Err(UpstreamError::Rejected(_))), "{what}");
    }
}

#[tokio::test]
async fn offered_extensions_are_joined_for_the_client() {
    let (stream, _server) = upstream_answering(|key| {
        switching(
            key,
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Extensions: PerMessage-Deflate\r\n",
        )
    })
    .await;
    let outcome = exchange_as(stream, &hostile_client()).await.unwrap();
    let WebSocketOutcome::Upgraded { extensions, .. } = outcome else {
        panic!("offered extensions upgrade");
    };
    assert_eq!(
        extensions.unwrap(),
        "permessage-deflate; client_max_window_bits, PerMessage-Deflate"
    );
}
