//! The hand-written upstream handshake: the request bytes against the `HeaderMap` path,
//! the answer's parsing in memory (a reader that hands out scripted pieces), and the whole
//! exchange over loopback sockets.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::response::{self, Framing, MAX_REFUSAL_BODY};
use super::upgrade::UpgradeRequest;
use super::*;
use crate::auth::Grant;
use crate::config::Config;
use crate::domain::auth_method::AuthMethod;
use crate::ws::handshake;

const CONFIG: &str = r#"
environment = "test"
[upstream]
url = "ws://backend.internal:8080/base"
[auth]
token_sources = ["header:authorization", "protocol:bearer"]
[[auth.issuers]]
name = "primary"
issuer = "https://auth.example.com"
audiences = ["chat"]
algorithms = ["HS256"]
secret = "k3Jx9vQ2mW7pL5tR8nB4cF6hD1gS0aZeYuIoP-_.~Xq"
"#;

fn config() -> Config {
    match Config::parse(CONFIG, "test.toml", &|_| None, std::path::Path::new("/")) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    }
}

fn alice() -> Grant {
    Grant {
        route: crate::config::RouteId::nth(0),
        method: AuthMethod::Jwt,
        user: Some("alice".into()),
        headers: vec![
            (
                HeaderName::from_static("x-auth-user"),
                HeaderValue::from_static("alice"),
            ),
            (
                HeaderName::from_static("x-auth-method"),
                HeaderValue::from_static("jwt"),
            ),
        ],
        expires_at: None,
        issuer: Some(crate::config::IssuerId::nth(0)),
        bypass_key: None,
        claims: Vec::new(),
        token: None,
    }
}

/// A client that tries every spoofing trick plus a few headers that should travel.
fn hostile_client() -> HeaderMap {
    let mut client = HeaderMap::new();
    for (name, value) in [
        ("host", "proxy.example"),
        ("x-auth-user", "mallory"),
        ("x-auth-method", "e2e-bypass"),
        ("x-auth_user", "mallory"),
        ("x-forwarded-for", "10.9.9.9"),
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "for=10.9.9.9"),
        ("sec-websocket-key", "c3Bvb2ZlZCBrZXkgMTIzNA=="),
        ("sec-websocket-version", "8"),
        ("sec-websocket-protocol", "chat, bearer, secret-token"),
        ("sec-websocket-extensions", "permessage-deflate"),
        ("connection", "keep-alive, Upgrade, x-drop-me"),
        ("upgrade", "websocket"),
        ("x-drop-me", "1"),
        ("authorization", "Bearer secret-token"),
        ("accept-language", "en"),
        ("accept-language", "fr"),
        ("x-trace-id", "abc"),
    ] {
        client.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_static(value),
        );
    }
    client
}

fn forwarding(grant: &Grant) -> Forwarding<'_> {
    Forwarding {
        client: "192.0.2.7:5555".parse().unwrap(),
        secure: true,
        websocket: true,
        grant,
        target_host: None,
        session: None,
        assertion: None,
    }
}

/// `(lowercase name, value)` pairs of a request head, sorted.
fn parsed_headers(head: &[u8]) -> (String, Vec<(String, String)>) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    assert!(
        request.parse(head).unwrap().is_complete(),
        "a complete head"
    );
    let line = format!("{} {}", request.method.unwrap(), request.path.unwrap());
    let mut pairs: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8(h.value.to_vec()).unwrap(),
            )
        })
        .collect();
    pairs.sort();
    (line, pairs)
}

fn values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn upgrade_request(client: &HeaderMap, key: &str) -> UpgradeRequest {
    let config = config();
    let upstream = Upstream::new(&config.upstream).unwrap();
    let grant = alice();
    UpgradeRequest::new(
        &config,
        &upstream,
        "/base/ws?room=1",
        client,
        &forwarding(&grant),
        key,
    )
    .unwrap()
}

#[test]
fn upgrade_request_bytes_carry_exactly_the_headers_of_the_header_map_path() {
    let config = config();
    let upstream = Upstream::new(&config.upstream).unwrap();
    let grant = alice();
    let client = hostile_client();
    let key = handshake::new_key();
    let request = UpgradeRequest::new(
        &config,
        &upstream,
        "/base/ws?room=1",
        &client,
        &forwarding(&grant),
        &key,
    )
    .unwrap();
    let (line, pairs) = parsed_headers(request.as_bytes());
    assert_eq!(line, "GET /base/ws?room=1");

    let mut expected: Vec<(String, String)> =
        upstream_headers(&config, &upstream, &client, &forwarding(&grant))
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .chain([
                ("connection".into(), "Upgrade".into()),
                ("upgrade".into(), "websocket".into()),
                ("sec-websocket-version".into(), "13".into()),
                ("sec-websocket-key".into(), key.clone()),
            ])
            .collect();
    expected.sort();
    assert_eq!(pairs, expected, "the same filtering on both paths");
}

#[test]
fn identity_and_forwarding_headers_are_never_duplicated_or_spoofed() {
    let request = upgrade_request(&hostile_client(), "dGhlIHNhbXBsZSBub25jZQ==");
    let (_, pairs) = parsed_headers(request.as_bytes());
    for (name, value) in [
        ("host", "backend.internal:8080"),
        ("x-auth-user", "alice"),
        ("x-auth-method", "jwt"),
        ("x-forwarded-for", "192.0.2.7"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "proxy.example"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "chat"),
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
    ] {
        assert_eq!(values(&pairs, name), [value], "{name}: {pairs:#?}");
    }
    for absent in [
        "x-auth_user",
        "forwarded",
        "x-drop-me",
        "authorization",
        "content-length",
    ] {
        assert!(values(&pairs, absent).is_empty(), "{absent}: {pairs:#?}");
    }
    assert_eq!(values(&pairs, "accept-language"), ["en", "fr"]);
    assert_eq!(values(&pairs, "x-trace-id"), ["abc"]);
}

#[test]
fn a_request_target_or_key_that_could_break_the_request_line_is_refused() {
    let config = config();
    let upstream = Upstream::new(&config.upstream).unwrap();
    let grant = alice();
    let client = HeaderMap::new();
    for (path, key) in [
        ("/ws HTTP/1.1\r\nX-Evil: 1\r\n", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("/ws", "key\r\nX-Evil: 1"),
    ] {
        let request =
            UpgradeRequest::new(&config, &upstream, path, &client, &forwarding(&grant), key);
        assert!(
            matches!(request, Err(UpstreamError::Protocol(_))),
            "{path:?} {key:?}"
        );
    }
}

// ---- reading the answer in memory ----------------------------------------------------------

/// Hands out one scripted piece per read (split further if the caller's buffer is
/// smaller), then EOF.
struct Pieces(VecDeque<Vec<u8>>);

impl Pieces {
    fn new(pieces: &[&[u8]]) -> Pieces {
        Pieces(pieces.iter().map(|p| p.to_vec()).collect())
    }
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(mut piece) = self.0.pop_front() {
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            if n < piece.len() {
                self.0.push_front(piece.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Reads a refusal: its status, headers and body (`None`: relayed empty).
async fn read_refusal(
    pieces: &[&[u8]],
) -> Result<(u16, HeaderMap, Option<Vec<u8>>), ProtocolError> {
    let mut io = Pieces::new(pieces);
    let mut buf = Vec::new();
    let ((status, headers), len) =
        response::read_head(&mut io, &mut buf, |head| (head.status, head.header_map())).await?;
    let headers = headers?;
    let framing = Framing::of(StatusCode::from_u16(status).unwrap(), &headers)?;
    let body = response::read_body(&mut io, buf, len, framing).await;
    Ok((status, headers, body.map(|b| b.to_vec())))
}

/// A refusal that must read whole.
async fn refusal(pieces: &[&[u8]]) -> (u16, HeaderMap, Option<Vec<u8>>) {
    read_refusal(pieces).await.expect("a readable refusal")
}

#[tokio::test]
async fn a_head_split_across_reads_is_read_whole() {
    let (status, headers, body) = refusal(&[
        b"HTTP/1.1 2",
        b"00 OK\r\nContent-Le",
        b"ngth: 5\r\nX-A: 1\r",
        b"\n\r\nhel",
        b"lo",
    ])
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-a"], "1");
    assert_eq!(body.as_deref(), Some(&b"hello"[..]));
}

#[tokio::test]
async fn a_content_length_body_stops_at_its_length() {
    let (_, _, body) =
        refusal(&[b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nnoMORE"]).await;
    assert_eq!(body.as_deref(), Some(&b"no"[..]));
}

#[tokio::test]
async fn a_content_length_body_cut_short_is_relayed_empty() {
    let (_, _, body) = refusal(&[b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nno"]).await;
    assert_eq!(body, None);
}

#[tokio::test]
async fn a_chunked_body_is_decoded_ignoring_extensions_and_trailers() {
    let (status, headers, body) = read_refusal(&[
        b"HTTP/1.1 426 Upgrade Required\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"5;name=value\r\nhel",
        b"lo\r\n6\r\n",
        b" world\r\n0\r\nX-Trailer: t\r\n\r\n",
    ])
    .await
    .unwrap();
    assert_eq!(status, 426);
    assert!(headers.contains_key("transfer-encoding"));
    assert_eq!(body.as_deref(), Some(&b"hello world"[..]));
}

#[tokio::test]
async fn a_malformed_chunked_body_is_relayed_empty() {
    for bad in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"5\r\nhel",
    ] {
        let (_, _, body) = refusal(&[
            b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n",
            bad,
        ])
        .await;
        assert_eq!(body, None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[tokio::test]
async fn a_body_without_framing_runs_to_eof() {
    let (_, _, body) = refusal(&[b"HTTP/1.1 200 OK\r\n\r\nnot a ", b"websocket server"]).await;
    assert_eq!(body.as_deref(), Some(&b"not a websocket server"[..]));
}

#[tokio::test]
async fn a_body_over_the_cap_is_relayed_empty_whatever_its_framing() {
    let big = vec![b'x'; MAX_REFUSAL_BODY + 1];
    let chunk_line = format!("{:x}\r\n", big.len());
    let framings: [(&[u8], Vec<&[u8]>); 3] = [
        (b"Content-Length: 65537\r\n", vec![&big]),
        (b"", vec![&big]),
        (
            b"Transfer-Encoding: chunked\r\n",
            vec![chunk_line.as_bytes(), &big, b"\r\n0\r\n\r\n"],
        ),
    ];
    for (framing, body) in framings {
        let head = [b"HTTP/1.1 200 OK\r\n", framing, b"\r\n"].concat();
        let pieces: Vec<&[u8]> = std::iter::once(&head[..]).chain(body).collect();
        let (_, _, body) = refusal(&pieces).await;
        assert_eq!(body, None, "{:?}", String::from_utf8_lossy(framing));
    }
    // Exactly at the cap is still relayed.
    let exact = vec![b'x'; MAX_REFUSAL_BODY];
    let (_, _, body) = refusal(&[b"HTTP/1.1 200 OK\r\n\r\n", &exact]).await;
    assert_eq!(body.map(|b| b.len()), Some(MAX_REFUSAL_BODY));
}

#[tokio::test]
async fn no_content_and_not_modified_have_no_body() {
    for status in ["204 No Content", "304 Not Modified"] {
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\n\r\nhello");
        let (_, _, body) = refusal(&[head.as_bytes()]).await;
        assert_eq!(body.as_deref(), Some(&b""[..]), "{status}");
    }
}

#[tokio::test]
async fn informational_heads_before_the_answer_are_skipped() {
    let (status, headers, body) = refusal(&[
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 4",
        b"03 Forbidden\r\nContent-Length: 2\r\n\r\nno",
    ])
    .await;
    assert_eq!(status, 403);
    assert!(!headers.contains_key("link"));
    assert_eq!(body.as_deref(), Some(&b"no"[..]));
}

#[tokio::test]
async fn unreadable_heads_are_protocol_errors() {
    let many_headers = format!("HTTP/1.1 200 OK\r\n{}\r\n", "X-A: 1\r\n".repeat(101));
    let huge_header = format!("HTTP/1.1 200 OK\r\nX-A: {}\r\n\r\n", "a".repeat(16 * 1024));
    let cases: [(&str, &[u8]); 6] = [
        ("EOF before the head ends", b"HTTP/1.1 200 OK\r\nContent-Le"),
        ("EOF before anything", b""),
        ("not HTTP", b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        ("more than 100 headers", many_headers.as_bytes()),
        ("a head over 16 KiB", huge_header.as_bytes()),
        (
            "conflicting lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ),
    ];
    for (what, bytes) in cases {
        let result = read_refusal(&[bytes]).await;
        assert!(result.is_err(), "{what}: {:?}", result.map(|r| r.0));
    }
}

// ---- the whole exchange over loopback ----------------------------------------------------

/// The exchange with a bound no healthy loopback answer comes near.
async fn exchange(
    stream: Stream,
    request: UpgradeRequest,
) -> Result<WebSocketOutcome, UpstreamError> {
    super::upgrade::exchange(stream, request, std::time::Duration::from_secs(10)).await
}

/// `exchange` of the upgrade request wsgate sends for a client with these headers, under a
/// fresh key.
async fn exchange_as(
    stream: Stream,
    client: &HeaderMap,
) -> Result<WebSocketOutcome, UpstreamError> {
    exchange(stream, upgrade_request(client, &handshake::new_key())).await
}

/// An upstream that reads one request head and answers with `answer(key)`, then holds
/// the connection open until the test drops it; returns the proxy's side.
async fn upstream_answering(
    answer: impl FnOnce(&str) -> Vec<u8> + Send + 'static,
) -> (Stream, tokio::task::JoinHandle<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            socket.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let (_, pairs) = parsed_headers(&head);
        let key = values(&pairs, "sec-websocket-key")[0].to_owned();
        socket.write_all(&answer(&key)).await.unwrap();
        socket
    });
    let stream = Stream::Plain(TcpStream::connect(addr).await.unwrap());
    (stream, server)
}

/// An upstream's answer, given the request's `Sec-WebSocket-Key`.
type Answer = fn(&str) -> Vec<u8>;

fn switching(key: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
        handshake::accept_key(key.as_bytes())
    )
    .into_bytes()
}

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
