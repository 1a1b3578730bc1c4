//! [`Answer`]: a response wsgate gives itself (a refusal, the client's 101, an upstream's
//! refused upgrade relayed, the refresh endpoint's replies), built once by the code that
//! decides it and rendered by one of two small renderers: [`Answer::into_response`] for
//! hyper's service, [`Answer::encode_into`] for the first request read and answered by hand
//! (`first.rs`). Both paths give the same answer because there is only one to give.
//!
//! The byte renderer writes what hyper would: the status line with its canonical reason
//! phrase, the headers in order, `content-length` where a body is allowed, `date`, then
//! the body.

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};

use super::Body;
use crate::domain::refusal::Refusal;
use crate::domain::session_id::{SESSION_HEADER, SessionId};
use crate::ws::handshake::{self, HandshakeError, WebSocketRequest};

/// `X-Wsgate-Reason`: the reason code of a refusal, for clients that cannot read bodies.
const REASON_HEADER: HeaderName = HeaderName::from_static("x-wsgate-reason");

/// `Retry-After` (seconds) on a `too_many_sessions` refusal.
const TOO_MANY_SESSIONS_RETRY_AFTER: &str = "30";

/// One response with its whole body in memory: status, headers in the order they go on
/// the wire, and body.
#[derive(Debug)]
pub(super) struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// A 101's own headers, kept as values and rendered straight into bytes by
    /// [`Answer::encode_into`] (or into `headers` by [`Answer::into_response`]): no `HeaderMap`
    /// and no copied header values on the handshake path. They go on the wire before
    /// `headers`, which a 101 leaves empty.
    switching: Option<Switching>,
}

/// The headers of the client's 101, in the order they go on the wire.
#[derive(Debug)]
struct Switching {
    /// `Sec-WebSocket-Accept` for the client's key.
    accept: handshake::AcceptKey,
    protocol: Option<HeaderValue>,
    extensions: Option<HeaderValue>,
    session: Option<SessionId>,
}

impl Switching {
    /// The headers into `headers`, for hyper's renderer.
    fn into_headers(self, headers: &mut HeaderMap) {
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(accept) = HeaderValue::from_str(self.accept.as_str()) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = self.protocol {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        if let Some(extensions) = self.extensions {
            headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, extensions);
        }
        if let Some(session) = self.session {
            headers.insert(SESSION_HEADER, session.header_value());
        }
    }

    /// The same headers as bytes, as [`Answer::encode_into`] writes a `HeaderMap`'s.
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"upgrade: websocket\r\nconnection: Upgrade\r\n");
        // Base64 of a digest: always a valid value; checked as `HeaderValue::from_str`
        // checks it in `into_headers`.
        if self
            .accept
            .bytes()
            .all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
        {
            put_header(
                out,
                header::SEC_WEBSOCKET_ACCEPT.as_str(),
                self.accept.as_bytes(),
            );
        }
        if let Some(protocol) = &self.protocol {
            put_header(
                out,
                header::SEC_WEBSOCKET_PROTOCOL.as_str(),
                protocol.as_bytes(),
            );
        }
        if let Some(extensions) = &self.extensions {
            put_header(
                out,
                header::SEC_WEBSOCKET_EXTENSIONS.as_str(),
                extensions.as_bytes(),
            );
        }
        if let Some(session) = self.session {
            let mut hex = [0u8; 32];
            put_header(
                out,
                SESSION_HEADER.as_str(),
                session.hex(&mut hex).as_bytes(),
            );
        }
    }
}

/// `name: value\r\n`, unless `value` holds a CR or LF (`HeaderValue` excludes them;
/// checked again where the bytes go on the wire).
fn put_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    if value.iter().any(|&b| b == b'\r' || b == b'\n') {
        return;
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

impl Answer {
    /// A refusal with its reason code: `{"error": CODE, "message": ...}` with
    /// `X-Wsgate-Reason`, `Connection: close` and, for token problems,
    /// `WWW-Authenticate`. Nothing from the request is echoed.
    pub(super) fn denial(reason: Refusal) -> Answer {
        let mut answer = Answer::error(reason.status(), reason.as_str(), reason.message())
            .header(REASON_HEADER, HeaderValue::from_static(reason.as_str()))
            .closing()
            .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(bearer) = reason.bearer_error()
            && let Ok(value) = HeaderValue::from_str(&bearer.challenge(reason))
        {
            answer = answer.header(header::WWW_AUTHENTICATE, value);
        }
        if reason.status() == StatusCode::SERVICE_UNAVAILABLE {
            answer = answer.header(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if reason == Refusal::TooManySessions {
            // A live session frees its place only when it ends; sooner retries would be
            // refused again.
            answer = answer.header(
                header::RETRY_AFTER,
                HeaderValue::from_static(TOO_MANY_SESSIONS_RETRY_AFTER),
            );
        }
        answer
    }

    /// A request the handshake's syntax checks refuse (400, 405, 426), before any
    /// authentication: `Connection: close`, and what the client needs to retry right
    /// (`Sec-WebSocket-Version`, `Allow`).
    pub(super) fn handshake_refusal(error: HandshakeError) -> Answer {
        let mut answer = Answer::error(error.status(), error.as_str(), error.message()).closing();
        if error == HandshakeError::WebSocketVersion {
            answer = answer
                .header(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                )
                .header(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        if error == HandshakeError::Method {
            answer = answer.header(header::ALLOW, HeaderValue::from_static("GET"));
        }
        answer
    }

    /// `408 body_timeout`, `Connection: close`: a plain request's body stopped arriving.
    pub(super) fn body_timeout() -> Answer {
        Answer::error(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "the request body stopped arriving",
        )
        .closing()
    }

    /// The client's 101; `session` is absent only for a close-mode refusal, which never
    /// becomes a session.
    pub(super) fn switching_protocols(
        ws: &WebSocketRequest,
        protocol: Option<HeaderValue>,
        extensions: Option<HeaderValue>,
        session: Option<SessionId>,
    ) -> Answer {
        Answer {
            status: StatusCode::SWITCHING_PROTOCOLS,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            switching: Some(Switching {
                accept: handshake::accept_key(ws.key.as_bytes()),
                protocol,
                extensions,
                session,
            }),
        }
    }

    /// `body` as `application/json`, kept out of caches.
    pub(super) fn json(status: StatusCode, body: &serde_json::Value) -> Answer {
        Answer::json_body(status, body)
            .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
    }

    /// `{"error": CODE, "message": ...}` as `application/json`.
    pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Answer {
        Answer::json_body(
            status,
            &serde_json::json!({ "error": code, "message": message }),
        )
    }

    fn json_body(status: StatusCode, body: &serde_json::Value) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Answer {
            status,
            headers,
            body: Bytes::from(body.to_string()),
            switching: None,
        }
    }

    /// Sets `name` (in place when it is already set, else last).
    pub(super) fn header(mut self, name: HeaderName, value: HeaderValue) -> Answer {
        self.headers.insert(name, value);
        self
    }

    /// `Connection: close`: the connection ends once this answer is written.
    fn closing(self) -> Answer {
        self.header(header::CONNECTION, HeaderValue::from_static("close"))
    }

    /// The answer for hyper's service, which adds `content-length` and `date` itself.
    pub(super) fn into_response(self) -> Response<Body> {
        let body = if self.body.is_empty() {
            empty()
        } else {
            Full::new(self.body).map_err(|never| match never {}).boxed()
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        match self.switching {
            Some(switching) => {
                let headers = response.headers_mut();
                switching.into_headers(headers);
                headers.extend(self.headers);
            }
            None => *response.headers_mut() = self.headers,
        }
        response
    }

    /// [`Answer::encode_into`] into a new buffer.
    #[cfg(test)]
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// The answer as HTTP/1.1 bytes, for the answers written without hyper (`first.rs`):
    /// the status line, the headers, `content-length` where a body is allowed, `date` as
    /// hyper adds it, and the body; appended to `out` (grown as needed), so a caller with
    /// an empty buffer at hand writes the answer without allocating one.
    pub(super) fn encode_into(&self, out: &mut Vec<u8>) {
        let Answer {
            status,
            headers,
            body,
            switching,
        } = self;
        let header_bytes: usize = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let switching_bytes = switching.as_ref().map_or(0, |s| {
            200 + s.protocol.as_ref().map_or(0, HeaderValue::len)
                + s.extensions.as_ref().map_or(0, HeaderValue::len)
        });
        out.reserve(64 + header_bytes + switching_bytes + 48 + body.len());
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(switching) = switching {
            switching.encode(out);
        }
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
            || *status == StatusCode::NO_CONTENT
            || *status == StatusCode::NOT_MODIFIED;
        if !bodiless {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"date: ");
        http_date(out);
        out.extend_from_slice(b"\r\n\r\n");
        if !bodiless {
            out.extend_from_slice(body);
        }
    }
}

/// An upstream's answer to the upgrade request, relayed as it was read (`upstream`
/// already kept only its end-to-end headers and added `Connection: close`).
impl From<Response<Bytes>> for Answer {
    fn from(response: Response<Bytes>) -> Answer {
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
            switching: None,
        }
    }
}

/// An empty body for hyper.
pub(super) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Mutex;

    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// `answer` as hyper's service path puts it on the wire, for a keep-alive GET.
    async fn through_hyper(answer: Answer, length: usize) -> Vec<u8> {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let answer = Mutex::new(Some(answer));
        let service = service_fn(move |_request| {
            let answer = answer.lock().unwrap().take().expect("one request");
            async move { Ok::<_, Infallible>(answer.into_response()) }
        });
        let connection = tokio::spawn(
            http1::Builder::new()
                .serve_connection(TokioIo::new(server), service)
                .with_upgrades(),
        );
        client
            .write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut wire = vec![0; length];
        client.read_exact(&mut wire).await.unwrap();
        drop(client);
        let _ = connection.await;
        wire
    }

    /// The bytes with the `date` value (fixed length) blanked.
    fn without_date(mut wire: Vec<u8>) -> Vec<u8> {
        let at = wire
            .windows(8)
            .position(|w| w == b"\r\ndate: ")
            .expect("a date header")
            + 8;
        wire[at..at + 29].fill(b'-');
        wire
    }

    fn ws() -> WebSocketRequest {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("host", "a"),
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        handshake::classify(&http::Method::GET, http::Version::HTTP_11, "/ws", &headers)
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn both_renderers_put_the_same_bytes_on_the_wire() {
        let answers: Vec<fn() -> Answer> = vec![
            || Answer::denial(Refusal::TokenMissing),
            || Answer::denial(Refusal::TokenExpired),
            || Answer::denial(Refusal::KeysUnavailable),
            || Answer::denial(Refusal::TooManySessions),
            || Answer::denial(Refusal::UpstreamUnavailable),
            || Answer::handshake_refusal(HandshakeError::WebSocketVersion),
            || Answer::handshake_refusal(HandshakeError::Method),
            || Answer::body_timeout(),
            || Answer::json(StatusCode::OK, &serde_json::json!({"session": "s"})),
            || {
                let session = SessionId::parse("0123456789abcdef0123456789abcdef").unwrap();
                let protocol = Some(HeaderValue::from_static("chat"));
                Answer::switching_protocols(&ws(), protocol, None, Some(session))
            },
            || {
                let mut relayed = Response::new(Bytes::new());
                *relayed.status_mut() = StatusCode::FORBIDDEN;
                relayed
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                Answer::from(relayed)
            },
        ];
        for answer in answers {
            let by_hand = answer().encode();
            let by_hyper = through_hyper(answer(), by_hand.len()).await;
            assert_eq!(
                String::from_utf8_lossy(&without_date(by_hyper)),
                String::from_utf8_lossy(&without_date(by_hand)),
            );
        }
    }

    #[test]
    fn a_denial_carries_its_reason_and_closes() {
        let wire = String::from_utf8(Answer::denial(Refusal::TokenExpired).encode()).unwrap();
        let (head, body) = wire.split_once("\r\n\r\n").unwrap();
        let head = head.rsplit_once("\r\ndate: ").unwrap().0;
        assert_eq!(
            head,
            "HTTP/1.1 403 Forbidden\r\n\
             content-type: application/json\r\n\
             x-wsgate-reason: token_expired\r\n\
             connection: close\r\n\
             cache-control: no-store\r\n\
             www-authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", \
             error_description=\"token_expired\"\r\n\
             content-length: 59"
        );
        assert_eq!(
            body,
            r#"{"error":"token_expired","message":"the token has expired"}"#
        );
    }
}
