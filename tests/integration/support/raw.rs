//! A raw HTTP/1.1 client over `TcpStream`: sends exactly the bytes a scenario wants
//! (malformed handshakes, duplicate and aliased headers, pipelined requests) and parses
//! what comes back without normalising it.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::within;

/// One parsed HTTP/1.1 response, headers in wire order with their original spelling.
#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Everything read from the socket, including anything after this response.
    pub raw: Vec<u8>,
}

impl RawResponse {
    /// The first value of `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (case-insensitive), in order.
    pub(crate) fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (panics with the body shown if it is not JSON).
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {:?}", self.body_text()))
    }

    /// True when a `Connection` header lists `close`.
    pub(crate) fn says_connection_close(&self) -> bool {
        self.headers_named("connection").iter().any(|v| {
            v.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"))
        })
    }

    /// How many HTTP responses the raw bytes contain (status lines at the start of a line).
    pub(crate) fn response_count(&self) -> usize {
        let text = String::from_utf8_lossy(&self.raw);
        let mut count = usize::from(text.starts_with("HTTP/1."));
        count += text.matches("\nHTTP/1.").count();
        count
    }
}

/// Writes `request`, reads until the server closes the connection, and parses the first
/// response. Fails the test if the server keeps the connection open past the patience
/// bound (a denial must come with `Connection: close`).
pub(crate) async fn exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
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
pub(crate) async fn exchange_head(addr: SocketAddr, request: &[u8]) -> (RawResponse, TcpStream) {
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
pub(crate) async fn read_to_close_or_switch(stream: &mut TcpStream) -> Vec<u8> {
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
pub(crate) fn parse(raw: &[u8]) -> Option<RawResponse> {
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
pub(crate) fn find_head_end(raw: &[u8]) -> Option<usize> {
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

impl RawResponse {
    /// Bytes read past the response head (for a `101`: the first WebSocket frames).
    pub(crate) fn after_head(&self) -> &[u8] {
        find_head_end(&self.raw).map_or(&[], |end| &self.raw[end..])
    }
}

/// One WebSocket frame as read off the wire.
#[derive(Debug, Clone)]
pub(crate) struct RawFrame {
    pub fin: bool,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// `(code, reason)` of a close frame; `None` for a bodyless one.
    pub(crate) fn close_code_and_reason(&self) -> Option<(u16, String)> {
        assert_eq!(self.opcode, 0x8, "expected a close frame, got {self:?}");
        let code = self.payload.get(..2)?;
        Some((
            u16::from_be_bytes([code[0], code[1]]),
            String::from_utf8_lossy(&self.payload[2..]).into_owned(),
        ))
    }
}

/// Reads one frame from `stream`, consuming `buffered` (bytes already read) first.
/// Independent of any WebSocket library, so codes a library would reject (1014) arrive
/// as sent.
pub(crate) async fn read_frame(stream: &mut TcpStream, buffered: &mut Vec<u8>) -> RawFrame {
    within("a WebSocket frame", async {
        loop {
            if let Some((frame, used)) = parse_frame(buffered) {
                buffered.drain(..used);
                return frame;
            }
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.expect("read a frame");
            assert!(
                n > 0,
                "connection closed before a complete frame: {buffered:?}"
            );
            buffered.extend_from_slice(&buf[..n]);
        }
    })
    .await
}

fn parse_frame(bytes: &[u8]) -> Option<(RawFrame, usize)> {
    let (first, second) = (*bytes.first()?, *bytes.get(1)?);
    let masked = second & 0x80 != 0;
    let mut at = 2;
    let length = match second & 0x7f {
        126 => {
            let ext = bytes.get(2..4)?;
            at = 4;
            usize::from(u16::from_be_bytes([ext[0], ext[1]]))
        }
        127 => {
            let ext = bytes.get(2..10)?;
            at = 10;
            usize::try_from(u64::from_be_bytes(ext.try_into().ok()?)).ok()?
        }
        n => usize::from(n),
    };
    let mask = if masked {
        let mask = bytes.get(at..at + 4)?.to_vec();
        at += 4;
        Some(mask)
    } else {
        None
    };
    let mut payload = bytes.get(at..at + length)?.to_vec();
    if let Some(mask) = mask {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    Some((
        RawFrame {
            fin: first & 0x80 != 0,
            opcode: first & 0x0f,
            masked,
            payload,
        },
        at + length,
    ))
}

/// A client (masked) close frame.
pub(crate) fn masked_close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    assert!(payload.len() <= 125, "control frame payload fits 125 bytes");
    masked_frame(0x8, &payload)
}

/// A final client (masked) frame with `opcode` and a payload under 64 KiB.
pub(crate) fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode];
    match u16::try_from(payload.len()) {
        Ok(len) if len <= 125 => frame.push(0x80 | u8::try_from(len).expect("<= 125")),
        Ok(len) => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&len.to_be_bytes());
        }
        Err(_) => panic!("test frames stay under 64 KiB"),
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}
