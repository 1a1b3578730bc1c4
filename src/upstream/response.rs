//! Reading the upstream's answer to the upgrade request: the head (bounded, parsed with
//! `httparse`) and, for a refusal, its body framed as RFC 9112 §6.3 says (bounded too).
//!
//! Written against `AsyncRead`, so the parsing is tested in memory; the exchange around it
//! is in `upgrade.rs`.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use tokio::io::AsyncRead;

use super::ProtocolError;
use crate::net::stack_read::{STACK_READ, read_appending};

/// Largest response head (status line and headers, with any skipped 1xx heads before it).
pub(super) const MAX_HEAD: usize = 16 * 1024;
/// Most header lines in one response head: hyper's client default, which the upstream
/// handshake used before it was written by hand.
pub(super) const MAX_HEADERS: usize = 100;
/// Largest upstream refusal body relayed to the client.
pub(super) const MAX_REFUSAL_BODY: usize = 64 * 1024;
/// Most bytes read for a chunked refusal body, framing included: a body whose chunk
/// lines and extensions alone would pass this is treated as over the cap.
const MAX_CHUNKED_WIRE: usize = 4 * MAX_REFUSAL_BODY;
/// Longest chunk-size line (size, extensions, CRLF).
const MAX_CHUNK_LINE: usize = 4096;
/// A close-delimited refusal body ends at EOF, or when nothing more arrives for this
/// long: an upstream that sends its refusal and keeps the connection open must not hold
/// the client (what arrived is relayed). Generous next to a loopback or in-cluster round
/// trip; the body is usually in the same segment as the head.
const UNTIL_CLOSE_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);
/// How much is read at a time.
pub(super) const READ_SIZE: usize = STACK_READ;

/// A complete final response head, borrowed from the read buffer.
pub(super) struct Head<'b> {
    pub status: u16,
    pub headers: &'b [httparse::Header<'b>],
}

impl<'b> Head<'b> {
    /// Every value of `name` (lowercase), in order.
    pub(super) fn values<'n>(&self, name: &'n str) -> impl Iterator<Item = &'b [u8]> + use<'b, 'n> {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The head's headers as a `HeaderMap`.
    pub(super) fn header_map(&self) -> Result<HeaderMap, ProtocolError> {
        let mut map = HeaderMap::with_capacity(self.headers.len());
        for h in self.headers {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| ProtocolError::Malformed("invalid response header name"))?;
            let value = HeaderValue::from_bytes(h.value)
                .map_err(|_| ProtocolError::Malformed("invalid response header value"))?;
            map.append(name, value);
        }
        Ok(map)
    }
}

/// A header value as text, under the same rule as `HeaderValue::to_str` (visible ASCII and
/// tabs only).
pub(super) fn text(value: &[u8]) -> Option<&str> {
    if value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// Reads until `buf` holds a complete final response head, then hands it to `inspect`
/// and returns its answer with the head's length: what follows it in `buf` was read past
/// the head. Informational heads (1xx other than 101, e.g. `103 Early Hints`) are skipped
/// as hyper's client skips them; they count against the same `MAX_HEAD`.
pub(super) async fn read_head<S, T>(
    io: &mut S,
    buf: &mut Vec<u8>,
    inspect: impl FnOnce(&Head<'_>) -> T,
) -> Result<(T, usize), ProtocolError>
where
    S: AsyncRead + Unpin,
{
    let mut skipped = 0;
    loop {
        // The header slots (3.2 KB) live in this block only, on the stack: in scope at the
        // read's `await` they would be stored in every future that awaits this one.
        {
            let mut headers =
                [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut response,
                buf,
                &mut headers,
            );
            match parsed {
                Ok(httparse::Status::Complete(len)) => {
                    let status = response.code.unwrap_or(0);
                    if (100..200).contains(&status) && status != 101 {
                        buf.drain(..len);
                        skipped += len;
                        continue;
                    }
                    let head = Head {
                        status,
                        headers: response.headers,
                    };
                    return Ok((inspect(&head), len));
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ProtocolError::Malformed(
                        "more than 100 header lines in the response head",
                    ));
                }
                Err(err) => return Err(ProtocolError::Parse(err)),
            }
        }
        if skipped + buf.len() >= MAX_HEAD {
            return Err(ProtocolError::Malformed("response head larger than 16 KiB"));
        }
        if fill(io, buf, MAX_HEAD - skipped)
            .await
            .map_err(ProtocolError::Io)?
            == 0
        {
            return Err(ProtocolError::Malformed(
                "connection closed before a complete response head",
            ));
        }
    }
}

/// How a refusal's body ends (RFC 9112 §6.3, for a response to a GET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// 204 and 304 have no body.
    Empty,
    /// `Transfer-Encoding` with `chunked` last.
    Chunked,
    Length(u64),
    /// Any other `Transfer-Encoding`, or no framing header: the body ends at EOF.
    UntilClose,
}

impl Framing {
    pub(super) fn of(status: StatusCode, headers: &HeaderMap) -> Result<Framing, ProtocolError> {
        if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            return Ok(Framing::Empty);
        }
        if headers.contains_key(header::TRANSFER_ENCODING) {
            let last = headers
                .get_all(header::TRANSFER_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .rfind(|coding| !coding.is_empty());
            return Ok(match last {
                Some(coding) if coding.eq_ignore_ascii_case("chunked") => Framing::Chunked,
                _ => Framing::UntilClose,
            });
        }
        let mut length = None;
        for item in headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        {
            let parsed = parse_decimal(item.trim_ascii())
                .ok_or(ProtocolError::Malformed("invalid Content-Length"))?;
            if length.is_some_and(|l| l != parsed) {
                return Err(ProtocolError::Malformed(
                    "conflicting Content-Length values",
                ));
            }
            length = Some(parsed);
        }
        Ok(length.map_or(Framing::UntilClose, Framing::Length))
    }
}

/// Reads a refusal's body, which starts at `buf[start..]` and continues on `io`. `None`
/// when it is over `MAX_REFUSAL_BODY`, malformed, or the connection breaks first: the
/// refusal is then relayed with an empty body.
pub(super) async fn read_body<S>(
    io: &mut S,
    mut buf: Vec<u8>,
    start: usize,
    framing: Framing,
) -> Option<Bytes>
where
    S: AsyncRead + Unpin,
{
    match framing {
        Framing::Empty => Some(Bytes::new()),
        Framing::Length(length) => {
            let length = usize::try_from(length)
                .ok()
                .filter(|&l| l <= MAX_REFUSAL_BODY)?;
            let end = start + length;
            while buf.len() < end {
                if fill(io, &mut buf, end).await.ok()? == 0 {
                    return None;
                }
            }
            buf.get(start..end).map(Bytes::copy_from_slice)
        }
        Framing::UntilClose => {
            let limit = start + MAX_REFUSAL_BODY;
            loop {
                // One byte past the cap tells "exactly at the cap" from "over it". An
                // upstream that keeps the socket open after a close-delimited body would
                // hold the refusal forever: a pause of UNTIL_CLOSE_PAUSE ends the body,
                // and what arrived is relayed.
                match tokio::time::timeout(UNTIL_CLOSE_PAUSE, fill(io, &mut buf, limit + 1)).await {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(_)) if buf.len() > limit => return None,
                    Ok(Ok(_)) => {}
                }
            }
            buf.get(start..).map(Bytes::copy_from_slice)
        }
        Framing::Chunked => read_chunked(io, buf, start).await.map(Bytes::from),
    }
}

/// Decodes a chunked body; chunk extensions are ignored, and nothing after the last
/// chunk is read (the trailers cannot change the refusal, and the connection is closed).
async fn read_chunked<S>(io: &mut S, mut buf: Vec<u8>, start: usize) -> Option<Vec<u8>>
where
    S: AsyncRead + Unpin,
{
    let limit = start + MAX_CHUNKED_WIRE;
    let mut body = Vec::new();
    let mut pos = start;
    loop {
        let line_end = loop {
            if let Some(i) = find_crlf(buf.get(pos..)?) {
                break pos + i;
            }
            if buf.len() - pos > MAX_CHUNK_LINE || fill(io, &mut buf, limit).await.ok()? == 0 {
                return None;
            }
        };
        let size_text = buf
            .get(pos..line_end)?
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let size = usize::try_from(parse_hex(size_text)?).ok()?;
        if size == 0 {
            return Some(body);
        }
        // `body` never exceeds the cap, so this cannot underflow, and `size` is bounded
        // before any offset is computed from it (no overflow on 32-bit targets either).
        if size > MAX_REFUSAL_BODY - body.len() {
            return None;
        }
        let data = line_end + 2;
        let end = data + size;
        while buf.len() < end + 2 {
            if fill(io, &mut buf, limit).await.ok()? == 0 {
                return None;
            }
        }
        if buf.get(end..end + 2) != Some(&b"\r\n"[..]) {
            return None;
        }
        body.extend_from_slice(buf.get(data..end)?);
        pos = end + 2;
    }
}

/// Reads once into `buf`, never growing it past `limit` bytes; `Ok(0)` at EOF or when
/// `buf` is already at `limit`.
async fn fill<S>(io: &mut S, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<usize>
where
    S: AsyncRead + Unpin,
{
    let room = limit.saturating_sub(buf.len()).min(READ_SIZE);
    // Through the stack: `buf` grows by what arrived, not by a read size.
    read_appending(io, room, |got| buf.extend_from_slice(got)).await
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// 1*DIGIT, at most 19 digits (no overflow in u64).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// 1*HEXDIG, at most 15 digits (no overflow in u64, far beyond any cap).
fn parse_hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let value = char::from(d).to_digit(16)?;
        Some(n * 16 + u64::from(value))
    })
}
