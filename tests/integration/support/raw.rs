//! A raw HTTP/1.1 client over `TcpStream`: sends exactly the bytes a scenario wants
//! (malformed handshakes, duplicate and aliased headers, pipelined requests) and parses
//! what comes back without normalising it.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::within;

/// One parsed HTTP/1.1 response, headers in wire order with their original spelling.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Everything read from the socket, including anything after this response.
    pub raw: Vec<u8>,
}

impl RawResponse {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (panics with the body shown if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {:?}", self.body_text()))
    }

    /// True when a `Connection` header lists `close`.
    pub fn says_connection_close(&self) -> bool {
        self.headers_named("connection").iter().any(|v| {
            v.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"))
        })
    }

    /// How many HTTP responses the raw bytes contain (status lines at the start of a line).
    pub fn response_count(&self) -> usize {
        let text = String::from_utf8_lossy(&self.raw);
        let mut count = usize::from(text.starts_with("HTTP/1."));
        count += text.matches("\nHTTP/1.").count();
        count
    }
}

/// Writes `request`, reads until the server closes the connection, and parses the first
/// response. Fails the test if the server keeps the connection open past the patience
/// bound (a denial must come with `Connection: close`).
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = within("TCP connect", TcpStream::connect(addr))
        .await
        .expect("connect to proxy");
    stream.write_all(request).await.expect("write request");
    let raw = read_to_close_or_switch(&mut stream).await;
    parse(&raw).unwrap_or_else(|| {
        panic!(
            "no complete HTTP response in {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Writes `request` and reads only the response head (for a `101`, after which the
/// connection is a WebSocket). Returns the head and the still-open stream.
pub async fn exchange_head(addr: SocketAddr, request: &[u8]) -> (RawResponse, TcpStream) {
    let mut stream = within("TCP connect", TcpStream::connect(addr))
        .await
        .expect("connect to proxy");
    stream.write_all(request).await.expect("write request");
    let mut raw = Vec::new();
    within("a response head", async {
        let mut buf = [0u8; 4096];
        while find_head_end(&raw).is_none() {
            let n = stream.read(&mut buf).await.expect("read response head");
            assert!(
                n > 0,
                "connection closed before a full response head: {:?}",
                String::from_utf8_lossy(&raw)
            );
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let head = parse_head(&raw).expect("parse response head");
    (head, stream)
}

/// Reads until EOF (or a reset, which also ends the exchange), bounded by the patience.
/// Stops early at a `101` head: nothing HTTP follows it, and the caller's assertion on the
/// status explains the failure better than a timeout would.
async fn read_to_close_or_switch(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let outcome = tokio::time::timeout(super::PATIENCE, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
            if find_head_end(&raw).is_some() && raw.starts_with(b"HTTP/1.1 101") {
                break;
            }
        }
    })
    .await;
    if outcome.is_err() {
        panic!(
            "server did not close the connection; received so far: {:?}",
            String::from_utf8_lossy(&raw)
        );
    }
    raw
}

/// Parses the first response in `raw`, body delimited by Content-Length, chunked
/// encoding, or the end of the bytes.
pub fn parse(raw: &[u8]) -> Option<RawResponse> {
    let mut response = parse_head(raw)?;
    let start = find_head_end(raw)?;
    let rest = &raw[start..];
    let body = if let Some(length) = response
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        rest.get(..length).unwrap_or(rest).to_vec()
    } else if response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        dechunk(rest)
    } else if response.status == 101 || response.status == 204 || response.status == 304 {
        Vec::new()
    } else {
        rest.to_vec()
    };
    response.body = body;
    Some(response)
}

fn parse_head(raw: &[u8]) -> Option<RawResponse> {
    let end = find_head_end(raw)?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            Some((name.to_owned(), value.trim().to_owned()))
        })
        .collect();
    Some(RawResponse {
        status,
        headers,
        body: Vec::new(),
        raw: raw.to_vec(),
    })
}

/// Index just past the `\r\n\r\n` that ends a head.
pub fn find_head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_owned();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else {
            return body;
        };
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            body.extend_from_slice(rest.get(..size).unwrap_or(rest));
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
}
