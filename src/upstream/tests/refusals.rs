//! Upstream answers that are not an upgrade, over loopback: a refusal relayed with its
//! end-to-end headers, an upstream that never answers, a close-delimited refusal.

use super::*;

#[tokio::test]
async fn a_refusal_is_relayed_with_end_to_end_headers_and_connection_close() {
    let (stream, _server) = upstream_answering(|_| {
        b"HTTP/1.1 302 Found\r\nLocation: /login\r\nConnection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ngo!!\r\n0\r\n\r\n"
            .to_vec()
    })
    .await;
    let outcome = exchange_as(stream, &HeaderMap::new()).await.unwrap();
    let WebSocketOutcome::Refused(response) = outcome else {
        panic!("a 302 is a refusal");
    };
    assert_eq!(response.status(), 302);
    let headers = response.headers();
    assert_eq!(headers["location"], "/login");
    assert_eq!(headers["connection"], "close");
    for hop in ["x-hop", "keep-alive", "transfer-encoding", "content-length"] {
        assert!(!headers.contains_key(hop), "{hop}: {headers:?}");
    }
    assert_eq!(response.body(), "go!!");
}

#[tokio::test(start_paused = true)]
async fn an_upstream_that_never_answers_the_upgrade_times_out() {
    let (stream, _server) = upstream_answering(|_| Vec::new()).await;
    let outcome = super::upgrade::exchange(
        stream,
        upgrade_request(&HeaderMap::new(), &handshake::new_key()),
        std::time::Duration::from_secs(3),
    )
    .await;
    assert!(matches!(outcome, Err(UpstreamError::Timeout)));
}

#[tokio::test]
async fn a_close_delimited_refusal_on_a_connection_kept_open_is_relayed_as_it_arrived() {
    let (stream, server) = upstream_answering(|_| {
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nnot you".to_vec()
    })
    .await;
    let outcome = super::upgrade::exchange(
        stream,
        upgrade_request(&HeaderMap::new(), &handshake::new_key()),
        std::time::Duration::from_secs(3600),
    )
    .await
    .unwrap();
    let WebSocketOutcome::Refused(response) = outcome else {
        panic!("a 403 is a refusal");
    };
    assert_eq!(response.status(), 403);
    assert_eq!(response.body(), "not you");
    // The upstream's socket is still open: the body ended on the pause, not at EOF.
    drop(server.await.unwrap());
}
