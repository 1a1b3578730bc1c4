//! The hand-written upstream handshake: the request bytes against the `HeaderMap` path,
//! the answer's parsing in memory (a reader that hands out scripted pieces), and the whole
//! exchange over loopback sockets.
//!
//! Shared here: the test config and grant, the hostile client, a scripted reader and the
//! loopback upstream; each child file checks one part.

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

mod answer;
mod refusals;
mod request;
mod upgrade_answer;

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
