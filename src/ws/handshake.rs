//! RFC 6455 §4.2.1 request checks, before any authentication work.
//!
//! A request is either plain HTTP (no `Upgrade`, no WebSocket headers), a well-formed
//! WebSocket opening handshake, or refused here with 400/405/426. Only `Upgrade: websocket`
//! is ever honoured, so `h2c` and other upgrades can never be tunnelled.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::{
    CONNECTION, CONTENT_LENGTH, HOST, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, TRANSFER_ENCODING,
    UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

mod keys;

pub use keys::{AcceptKey, WebSocketKey, accept_key, new_key};

/// A valid opening handshake.
#[derive(Debug, Clone)]
pub struct WebSocketRequest {
    /// The client's `Sec-WebSocket-Key`, for the client-side `Sec-WebSocket-Accept`.
    pub key: HeaderValue,
}

/// Why a request was refused before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// Upgrade requested with a method other than GET.
    Method,
    /// HTTP/1.0 (or anything but HTTP/1.1) asking for an upgrade.
    Version,
    /// Missing or repeated `Host`, or one that is not `host[:port]` (RFC 9112 §3.2).
    Host,
    /// `Content-Length` beside `Transfer-Encoding`, or a `Transfer-Encoding` whose last
    /// coding is not `chunked`: the body's end is ambiguous (RFC 9112 §6.1, §6.3), the
    /// request-smuggling shape.
    BodyLength,
    /// `Upgrade` names something other than exactly `websocket`, or `Connection` lacks `upgrade`.
    UpgradeHeaders,
    /// `Sec-WebSocket-Version` missing, repeated or not 13 (answered 426).
    WebSocketVersion,
    /// `Sec-WebSocket-Key` missing, repeated, or not 16 bytes of base64.
    Key,
    /// The upgrade request carries a body.
    Body,
    /// `CONNECT`: wsgate never opens tunnels.
    Connect,
    /// A path a backend could resolve differently from wsgate's route match
    /// (`..`, `.`, `//`, `\`, `;`, encoded `.` `/` `\` or control bytes; `path.rs`).
    AmbiguousPath,
}

impl HandshakeError {
    pub fn status(self) -> StatusCode {
        match self {
            HandshakeError::Method | HandshakeError::Connect => StatusCode::METHOD_NOT_ALLOWED,
            HandshakeError::WebSocketVersion => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::Version
            | HandshakeError::Host
            | HandshakeError::BodyLength
            | HandshakeError::UpgradeHeaders
            | HandshakeError::Key
            | HandshakeError::Body
            | HandshakeError::AmbiguousPath => StatusCode::BAD_REQUEST,
        }
    }

    /// A sentence for the response body. Never echoes the request.
    pub fn message(self) -> &'static str {
        match self {
            HandshakeError::Method => "a WebSocket upgrade must use GET",
            HandshakeError::Connect => "CONNECT is not supported",
            HandshakeError::Version => "a WebSocket upgrade needs HTTP/1.1",
            HandshakeError::Host => "exactly one Host header, host[:port], is required",
            HandshakeError::BodyLength => {
                "Content-Length with Transfer-Encoding, or a Transfer-Encoding not ending in chunked, is refused"
            }
            HandshakeError::UpgradeHeaders => {
                "only Upgrade: websocket with Connection: upgrade is accepted"
            }
            HandshakeError::WebSocketVersion => "Sec-WebSocket-Version must be 13",
            HandshakeError::Key => "Sec-WebSocket-Key must be 16 bytes of base64",
            HandshakeError::Body => "a WebSocket upgrade request must not carry a body",
            HandshakeError::AmbiguousPath => {
                "the path contains dot segments, empty segments, ';', '\\' or encoded '.', '/', '\\' or control bytes"
            }
        }
    }

    /// A short code for the response body and the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeError::Method => "method_not_allowed",
            HandshakeError::Version => "http_version_not_supported",
            HandshakeError::Host => "bad_host",
            HandshakeError::BodyLength => "ambiguous_body_length",
            HandshakeError::UpgradeHeaders => "bad_upgrade",
            HandshakeError::WebSocketVersion => "unsupported_websocket_version",
            HandshakeError::Key => "bad_websocket_key",
            HandshakeError::Body => "upgrade_with_body",
            HandshakeError::Connect => "method_not_allowed",
            HandshakeError::AmbiguousPath => "ambiguous_path",
        }
    }
}

/// `Ok(None)` for plain HTTP, `Ok(Some)` for a valid WebSocket handshake.
pub fn classify(
    method: &Method,
    version: Version,
    path: &str,
    headers: &HeaderMap,
) -> Result<Option<WebSocketRequest>, HandshakeError> {
    if method == Method::CONNECT {
        return Err(HandshakeError::Connect);
    }
    if is_ambiguous_path(path) {
        return Err(HandshakeError::AmbiguousPath);
    }
    let wants_upgrade = headers.contains_key(UPGRADE)
        || headers.contains_key(SEC_WEBSOCKET_KEY)
        || headers.contains_key(SEC_WEBSOCKET_VERSION);
    if version != Version::HTTP_11 && version != Version::HTTP_10 {
        // hyper only speaks HTTP/1.x on this listener; anything else is a bug upstream of us.
        return Err(HandshakeError::Version);
    }
    if !exactly_one(headers, HOST).is_some_and(|host| is_valid_host(host.as_bytes())) {
        return Err(HandshakeError::Host);
    }
    if headers.contains_key(TRANSFER_ENCODING)
        && (headers.contains_key(CONTENT_LENGTH) || !has_final_chunked(headers))
    {
        return Err(HandshakeError::BodyLength);
    }
    if !wants_upgrade {
        return Ok(None);
    }
    if method != Method::GET {
        return Err(HandshakeError::Method);
    }
    if version != Version::HTTP_11 {
        return Err(HandshakeError::Version);
    }
    let upgrade_ok = exactly_one(headers, UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !upgrade_ok || !has_token(headers, CONNECTION, "upgrade") {
        return Err(HandshakeError::UpgradeHeaders);
    }
    let version_ok = exactly_one(headers, SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"13");
    if !version_ok {
        return Err(HandshakeError::WebSocketVersion);
    }
    let key = exactly_one(headers, SEC_WEBSOCKET_KEY).ok_or(HandshakeError::Key)?;
    // Decoded on the stack: a key that decodes to more than the buffer holds is refused
    // as one that decodes to anything but 16 bytes is.
    let mut decoded = [0u8; 24];
    let decoded_len = STANDARD
        .decode_slice(key.as_bytes().trim_ascii(), &mut decoded)
        .map_err(|_| HandshakeError::Key)?;
    if decoded_len != 16 {
        return Err(HandshakeError::Key);
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        return Err(HandshakeError::Body);
    }
    if let Some(length) = headers.get(CONTENT_LENGTH)
        && length.as_bytes().trim_ascii() != b"0"
    {
        return Err(HandshakeError::Body);
    }
    Ok(Some(WebSocketRequest { key: key.clone() }))
}

/// `uri-host [":" port]` (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP literal in brackets, or
/// a non-empty reg-name / IPv4 address (unreserved, percent-encoded and sub-delims
/// characters), then optional port digits. No userinfo, path, spaces or controls.
fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(end) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &value[1..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'v' | b'V'))
        {
            return false;
        }
        (&value[..=end], &value[end + 1..])
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, &[][..]),
        }
    };
    let reg_name_ok = host.first() == Some(&b'[')
        || (!host.is_empty()
            && host.iter().all(|&b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'-' | b'.'
                            | b'_'
                            | b'~'
                            | b'%'
                            | b'!'
                            | b'$'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b';'
                            | b'='
                    )
            }));
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    reg_name_ok && port_ok
}

/// Whether the last coding of `Transfer-Encoding` (across repeats) is `chunked`.
fn has_final_chunked(headers: &HeaderMap) -> bool {
    headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|coding| !coding.is_empty())
        .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"))
}

/// Whether wsgate refuses to judge `path`: a backend could resolve it to another route
/// (`path.rs` says which paths and why).
pub fn is_ambiguous_path(path: &str) -> bool {
    crate::http::path::normalize(path).is_err()
}

/// The request target with its path normalized (`path.rs`): the path routes are matched
/// against and the path forwarded upstream. Call after [`classify`] accepted the request.
pub fn normalized_uri(uri: &http::Uri) -> Result<http::Uri, HandshakeError> {
    crate::http::path::normalize_uri(uri).map_err(|_| HandshakeError::AmbiguousPath)
}

/// Whether a comma-separated header contains `token` (case-insensitive), across repeats.
pub fn has_token(headers: &HeaderMap, name: http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn exactly_one(headers: &HeaderMap, name: http::HeaderName) -> Option<&HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests;
