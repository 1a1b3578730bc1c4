//! wsgate's own answers: the client's 101, refusals (HTTP or close mode), and the
//! close-mode session that sends a close frame and waits for the reply.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Body, CLOSE_TIMEOUT};
use crate::domain::refusal::Refusal;
use crate::domain::session_id::{SESSION_HEADER, SessionId};
use crate::ws::close::CloseFrame;
use crate::ws::frame::{self, Header, MAX_HEADER, Malformed, OPCODE_CLOSE};
use crate::ws::handshake::{self, HandshakeError, WebSocketRequest};

/// The client's 101; `session` is absent only for a close-mode refusal, which never
/// becomes a session.
pub(super) fn switching_protocols(
    ws: &WebSocketRequest,
    protocol: Option<HeaderValue>,
    extensions: Option<HeaderValue>,
    session: Option<SessionId>,
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&handshake::accept_key(ws.key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    if let Some(extensions) = extensions {
        headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, extensions);
    }
    if let Some(session) = session {
        headers.insert(SESSION_HEADER, session.header_value());
    }
    response
}

/// A response with its whole body in memory, as hyper serves it.
pub(super) fn boxed(response: Response<Bytes>) -> Response<Body> {
    response.map(|body| {
        if body.is_empty() {
            empty()
        } else {
            Full::new(body).map_err(|never| match never {}).boxed()
        }
    })
}

/// `response` as HTTP/1.1 bytes, for the answers written without hyper (`first.rs`): the
/// status line, the headers, `content-length` where a body is allowed, `date` as hyper
/// adds it, and the body.
pub(super) fn encode_response(response: &Response<Bytes>) -> Vec<u8> {
    let status = response.status();
    let body = response.body();
    let headers = response.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    let mut out = Vec::with_capacity(64 + header_bytes + 48 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        // `HeaderValue` excludes CR and LF; checked again where the bytes go on the wire.
        if value.as_bytes().iter().any(|&b| b == b'\r' || b == b'\n')
            || name == header::CONTENT_LENGTH
            || name == header::DATE
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"date: ");
    http_date(&mut out);
    out.extend_from_slice(b"\r\n\r\n");
    if !bodiless {
        out.extend_from_slice(body);
    }
    out
}

/// Appends the current time as an IMF-fixdate (RFC 9110 §5.6.7), formatted at most once a
/// second per thread, as hyper does.
fn http_date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            *cached = (second, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(cached.1.as_bytes());
    });
}

/// `deny = "close"`: after wsgate's own 101, send the close, discard the client's frames
/// until its close reply (or the timeout), then close TCP. The upstream is never touched.
pub(super) async fn close_after_upgrade(on_upgrade: hyper::upgrade::OnUpgrade, reason: Refusal) {
    let Ok(upgraded) = on_upgrade.await else {
        return;
    };
    close_upgraded(TokioIo::new(upgraded), reason).await;
}

/// [`close_after_upgrade`] on a connection whose 101 has been written.
pub(super) async fn close_upgraded<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, reason: Refusal) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close_and_wait(&mut io, reason)).await;
    let _ = io.shutdown().await;
}

async fn close_and_wait<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, reason: Refusal) {
    let frame = CloseFrame::new(reason.close_code(), reason.as_str(), false);
    if io.write_all(frame.as_bytes()).await.is_err() || io.flush().await.is_err() {
        return;
    }
    let _ = discard_until_close(io).await;
}

/// Reads frames, skipping payloads, until a close frame or EOF.
async fn discard_until_close<S: AsyncRead + Unpin>(io: &mut S) -> std::io::Result<()> {
    let mut header = [0u8; MAX_HEADER];
    let mut scratch = [0u8; 4096];
    loop {
        io.read_exact(&mut header[..2]).await?;
        let len = frame::header_len(header[1]);
        io.read_exact(&mut header[2..len]).await?;
        let (opcode, mut length) = match Header::parse(&header[..len]) {
            Ok(Some(header)) => (header.opcode, header.payload_len),
            // A length with its top bit set is never followed by its payload: what comes
            // next is skipped until EOF (or the caller's timeout).
            Ok(None) | Err(Malformed) => (frame::opcode(header[0]), u64::MAX),
        };
        if opcode == OPCODE_CLOSE {
            return Ok(());
        }
        while length > 0 {
            let chunk = length.min(scratch.len() as u64) as usize;
            let n = io.read(&mut scratch[..chunk]).await?;
            if n == 0 {
                return Ok(());
            }
            length -= n as u64;
        }
    }
}

/// `{"error": CODE, "message": ...}` with `X-Wsgate-Reason` and, for token problems,
/// `WWW-Authenticate`. Nothing from the request is echoed.
pub fn denial_response(reason: Refusal) -> Response<Body> {
    boxed(denial(reason))
}

/// `Retry-After` (seconds) on a `too_many_sessions` refusal.
pub const TOO_MANY_SESSIONS_RETRY_AFTER: &str = "30";

/// [`denial_response`] with its body in memory.
pub(super) fn denial(reason: Refusal) -> Response<Bytes> {
    let body = serde_json::json!({ "error": reason.as_str(), "message": reason.message() });
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = reason.status();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-wsgate-reason", HeaderValue::from_static(reason.as_str()));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(bearer) = reason.bearer_error() {
        if let Ok(value) = HeaderValue::from_str(&bearer.challenge(reason)) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
    }
    if reason.status() == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if reason == Refusal::TooManySessions {
        // A live session frees its place only when it ends; sooner retries would be
        // refused again.
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(TOO_MANY_SESSIONS_RETRY_AFTER),
        );
    }
    response
}

pub(super) fn handshake_refusal(error: HandshakeError) -> Response<Body> {
    boxed(handshake_refusal_bytes(error))
}

/// [`handshake_refusal`] with its body in memory, for the answers written by hand.
pub(super) fn handshake_refusal_bytes(error: HandshakeError) -> Response<Bytes> {
    let body = serde_json::json!({
        "error": error.as_str(),
        "message": error.message(),
    });
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if error == HandshakeError::WebSocketVersion {
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    if error == HandshakeError::Method {
        headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
    }
    tracing::info!(
        error = error.as_str(),
        status = error.status().as_u16(),
        "request refused before authentication"
    );
    response
}

pub(super) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn discard_stops_at_the_clients_close() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        // A masked text frame, then a masked close.
        let mut bytes = vec![0x81, 0x83, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2, b'c' ^ 3];
        bytes.extend_from_slice(&[0x88, 0x80, 9, 9, 9, 9]);
        b.write_all(&bytes).await.unwrap();
        discard_until_close(&mut a).await.unwrap();
    }
}
