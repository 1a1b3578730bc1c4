//! The upstream opening handshake, by hand: the upgrade request serialized straight into
//! bytes, the answer's head read with `httparse`, the 101 checked, and the connection
//! handed to the relay with whatever the upstream sent right behind its 101.
//!
//! This replaces hyper's HTTP/1.1 client for the one request on the handshake path
//! (docs/performance.md): no `HeaderMap` built only to be encoded again, no client
//! connection state machine, and no boxed `Upgraded` between the relay and the socket.
//! Plain HTTP forwarding still uses hyper (`Upstream::forward`).

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::headers::{Forwarding, HeaderSink, put_upstream_headers};
use super::response::{self, Framing, Head, text};
use super::{ProtocolError, Upstream, UpstreamError, WebSocketOutcome};
use crate::config::Config;
use crate::domain::clock::budget_end;
use crate::http::hop_by_hop::{connection_named, is_hop_by_hop};
use crate::net::prefixed::Prefixed;
use crate::net::stream::Stream;
use crate::timer::Timer;
use crate::ws::handshake;

/// The upgrade request as it goes on the wire, and what it offered (the 101 may select
/// only from that).
///
/// Once written, `head` reads the answer (one allocation for both): the answer is read
/// through the stack and appended, so a 101 no longer than the request needs no more room.
pub struct UpgradeRequest {
    head: Vec<u8>,
    /// The `Sec-WebSocket-Accept` the upstream's 101 must carry for the key sent.
    accept: handshake::AcceptKey,
    offered_protocols: Vec<HeaderValue>,
    offered_extensions: Vec<HeaderValue>,
}

impl UpgradeRequest {
    /// `GET <path> HTTP/1.1`, the headers `upstream_headers` decides, then wsgate's own
    /// `Connection`, `Upgrade`, `Sec-WebSocket-Version` and `Sec-WebSocket-Key: key`.
    pub fn new(
        config: &Config,
        upstream: &Upstream,
        path: &str,
        client: &HeaderMap,
        forwarding: &Forwarding<'_>,
        key: &str,
    ) -> Result<UpgradeRequest, UpstreamError> {
        // A request-target with a space or control byte would change the request line:
        // the path comes from a parsed URI and the validated base path, so this never
        // fires, but it is checked where the bytes are written.
        if path.is_empty() || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UpstreamError::Protocol(ProtocolError::Malformed(
                "upstream request-target is not a valid path",
            )));
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return Err(UpstreamError::Protocol(ProtocolError::Malformed(
                "Sec-WebSocket-Key is not base64",
            )));
        }
        let client_bytes: usize = client
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let mut request = UpgradeRequest {
            head: Vec::with_capacity(path.len() + client_bytes + 320),
            accept: handshake::accept_key(key.as_bytes()),
            offered_protocols: Vec::new(),
            offered_extensions: Vec::new(),
        };
        request.head.extend_from_slice(b"GET ");
        request.head.extend_from_slice(path.as_bytes());
        request.head.extend_from_slice(b" HTTP/1.1\r\n");
        put_upstream_headers(config, upstream, client, forwarding, &mut request);
        request.head.extend_from_slice(
            b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ",
        );
        request.head.extend_from_slice(key.as_bytes());
        request.head.extend_from_slice(b"\r\n\r\n");
        Ok(request)
    }

    /// The request as written to the upstream.
    pub fn as_bytes(&self) -> &[u8] {
        &self.head
    }
}

impl HeaderSink for UpgradeRequest {
    fn append(&mut self, name: &HeaderName, value: &HeaderValue) {
        // `HeaderValue` already excludes CR and LF, but unchecked constructors exist: check
        // again where the bytes go on the wire rather than trust every producer.
        if value.as_bytes().iter().any(|&b| b == b'\r' || b == b'\n') {
            return;
        }
        if name == header::SEC_WEBSOCKET_PROTOCOL {
            self.offered_protocols.push(value.clone());
        } else if name == header::SEC_WEBSOCKET_EXTENSIONS {
            self.offered_extensions.push(value.clone());
        }
        self.head.extend_from_slice(name.as_str().as_bytes());
        self.head.extend_from_slice(b": ");
        self.head.extend_from_slice(value.as_bytes());
        self.head.extend_from_slice(b"\r\n");
    }

    fn set(&mut self, name: &HeaderName, value: &HeaderValue) {
        self.append(name, value);
    }

    /// An IPv4 address written digit by digit (the usual client address, once per
    /// handshake: `fmt` costs more than the rest of the header); IPv6 formatted.
    fn set_address(&mut self, name: &HeaderName, address: IpAddr) {
        match address {
            IpAddr::V4(v4) => {
                self.head.extend_from_slice(name.as_str().as_bytes());
                self.head.extend_from_slice(b": ");
                push_ipv4(&mut self.head, v4);
                self.head.extend_from_slice(b"\r\n");
            }
            IpAddr::V6(_) => self.set_formatted(name, format_args!("{address}")),
        }
    }

    /// Formatted straight into the request, then checked as `HeaderValue::from_str`
    /// checks a value (no control byte but tab): a value that fails is taken back.
    fn set_formatted(&mut self, name: &HeaderName, value: std::fmt::Arguments<'_>) {
        use std::io::Write;
        let line_start = self.head.len();
        self.head.extend_from_slice(name.as_str().as_bytes());
        self.head.extend_from_slice(b": ");
        let value_start = self.head.len();
        let written = self.head.write_fmt(value).is_ok();
        let valid = self
            .head
            .get(value_start..)
            .unwrap_or_default()
            .iter()
            .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f));
        if written && valid {
            self.head.extend_from_slice(b"\r\n");
        } else {
            self.head.truncate(line_start);
        }
    }
}

/// `ip` as `Ipv4Addr`'s `Display` writes it (dotted decimal, no leading zeros).
pub(super) fn push_ipv4(out: &mut Vec<u8>, ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if octet >= 100 {
            out.push(b'0' + octet / 100);
        }
        if octet >= 10 {
            out.push(b'0' + octet / 10 % 10);
        }
        out.push(b'0' + octet % 10);
    }
}

/// Sends the upgrade request on `io` and reads the answer: a checked 101 and the
/// connection, or a refusal to relay.
///
/// `answer_timeout` bounds the request's write and the answer's head, and separately a
/// refusal's body (a refusal whose body does not arrive in time is relayed without it).
#[cfg(test)]
pub(super) async fn exchange(
    io: Stream,
    request: UpgradeRequest,
    answer_timeout: std::time::Duration,
) -> Result<WebSocketOutcome, UpstreamError> {
    exchange_until(io, 0, request, answer_timeout, None, &Timer::Tokio).await
}

/// [`exchange`], ending with `UpstreamError::Timeout` at `deadline` whatever step it is
/// in: the caller's overall bound folded into each step's own timer, so a step runs
/// under one timer instead of one inside another. `sent`: how much of the request the
/// dial wrote already.
pub(super) async fn exchange_until(
    mut io: Stream,
    sent: usize,
    mut request: UpgradeRequest,
    answer_timeout: std::time::Duration,
    deadline: Option<Instant>,
    timer: &Timer,
) -> Result<WebSocketOutcome, UpstreamError> {
    let mut buf = Vec::new();
    let step_end = after(answer_timeout);
    let answer = timer
        .timeout_at(earliest(step_end, deadline), async {
            let broken = |err| UpstreamError::Protocol(ProtocolError::Io(err));
            // What the dial wrote already (`net::dial`) is not written again.
            io.write_all(request.head.get(sent..).unwrap_or_default())
                .await
                .map_err(broken)?;
            io.flush().await.map_err(broken)?;
            // Written: the request's buffer (room for a read included) reads the answer.
            buf = std::mem::take(&mut request.head);
            buf.clear();
            read_answer(&mut io, &mut buf, &request).await
        })
        .await
        .map_err(|_| UpstreamError::Timeout)??;
    let (answer, head_len) = answer;
    match answer {
        Answer::Switched {
            protocol,
            extensions,
        } => {
            let io = Upgraded::new(io, buf.get(head_len..).unwrap_or_default());
            buf.clear();
            Ok(WebSocketOutcome::Upgraded {
                io,
                protocol,
                extensions,
                spare: buf,
            })
        }
        Answer::Refused {
            status,
            headers,
            framing,
        } => {
            let body_end = after(answer_timeout);
            let body = match timer
                .timeout_at(
                    earliest(body_end, deadline),
                    response::read_body(&mut io, buf, head_len, framing),
                )
                .await
            {
                Ok(body) => body.unwrap_or_default(),
                // The overall deadline came first: the whole exchange is out of time.
                Err(_) if deadline.is_some_and(|deadline| deadline < body_end) => {
                    return Err(UpstreamError::Timeout);
                }
                // Only the body's own bound: the refusal is relayed without it.
                Err(_) => Bytes::new(),
            };
            Ok(WebSocketOutcome::Refused(refusal(status, &headers, body)))
        }
    }
}

/// `timeout` from now (`budget_end` from this instant).
pub(super) fn after(timeout: std::time::Duration) -> Instant {
    budget_end(Instant::now(), timeout)
}

/// The earlier of a step's own end and the overall deadline, if any.
pub(super) fn earliest(step_end: Instant, deadline: Option<Instant>) -> Instant {
    deadline.map_or(step_end, |deadline| deadline.min(step_end))
}

/// Reads the answer's head: the checked 101 or the refusal, and the head's length.
async fn read_answer<S: tokio::io::AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    request: &UpgradeRequest,
) -> Result<(Answer, usize), UpstreamError> {
    let (answer, head_len) = response::read_head(io, buf, |head| {
        if head.status == 101 {
            check_switch(head, request)
        } else {
            let status = StatusCode::from_u16(head.status)
                .map_err(|_| ProtocolError::Malformed("invalid status code"))?;
            let headers = head.header_map()?;
            let framing = Framing::of(status, &headers)?;
            Ok(Answer::Refused {
                status,
                headers,
                framing,
            })
        }
    })
    .await
    .map_err(UpstreamError::Protocol)?;
    Ok((answer?, head_len))
}

/// The upstream's answer, read from its head.
enum Answer {
    /// A valid 101: the headers to pass to the client.
    Switched {
        protocol: Option<HeaderValue>,
        extensions: Option<HeaderValue>,
    },
    Refused {
        status: StatusCode,
        headers: HeaderMap,
        framing: Framing,
    },
}

/// A 101 is accepted only with `Upgrade: websocket`, `Connection: upgrade`, exactly one
/// right `Sec-WebSocket-Accept`, at most one subprotocol and only offered subprotocols and
/// extensions.
/// Returns `Answer::Switched` with the subprotocol and extensions to pass on.
fn check_switch(head: &Head<'_>, request: &UpgradeRequest) -> Result<Answer, UpstreamError> {
    let upgrade_ok = head
        .values("upgrade")
        .next()
        .and_then(text)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let connection_ok = head
        .values("connection")
        .filter_map(text)
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if !upgrade_ok || !connection_ok {
        return Err(UpstreamError::Rejected(
            "missing Upgrade: websocket or Connection: upgrade",
        ));
    }
    let expected = &request.accept;
    let mut accepts = head.values("sec-websocket-accept");
    match (accepts.next(), accepts.next()) {
        (Some(accept), None) if accept.trim_ascii() == expected.as_bytes() => {}
        _ => {
            return Err(UpstreamError::Rejected(
                "wrong or missing Sec-WebSocket-Accept",
            ));
        }
    }
    let mut protocols = head.values("sec-websocket-protocol");
    let protocol = match (protocols.next(), protocols.next()) {
        (None, _) => None,
        (Some(chosen), None) => {
            let name = text(chosen).unwrap_or("").trim();
            let offered = request
                .offered_protocols
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|p| p.trim() == name && !name.is_empty());
            if !offered {
                return Err(UpstreamError::Rejected("subprotocol that was not offered"));
            }
            Some(
                HeaderValue::from_bytes(chosen)
                    .map_err(|_| ProtocolError::Malformed("invalid response header value"))?,
            )
        }
        (Some(_), Some(_)) => {
            return Err(UpstreamError::Rejected("more than one subprotocol"));
        }
    };
    let unoffered = extension_names(head.values("sec-websocket-extensions")).any(|name| {
        !extension_names(request.offered_extensions.iter().map(|v| v.as_bytes()))
            .any(|o| o.eq_ignore_ascii_case(name))
    });
    if unoffered {
        return Err(UpstreamError::Rejected("extension that was not offered"));
    }
    let extensions = join_values(head.values("sec-websocket-extensions"));
    Ok(Answer::Switched {
        protocol,
        extensions,
    })
}

/// Extension names (before `;` parameters) across every value, empty ones left out.
fn extension_names<'a>(values: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a str> {
    values
        .filter_map(text)
        .flat_map(|v| v.split(','))
        .filter_map(|ext| ext.split(';').next())
        .map(str::trim)
        .filter(|name| !name.is_empty())
}

/// Every textual value joined with `", "`; `None` when there is none.
fn join_values<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> Option<HeaderValue> {
    let first = values.by_ref().find_map(text)?;
    let mut joined = first.to_owned();
    for value in values.filter_map(text) {
        joined.push_str(", ");
        joined.push_str(value);
    }
    HeaderValue::from_str(&joined).ok()
}

/// The refusal as relayed: its status, end-to-end headers and body, `Connection: close`.
fn refusal(status: StatusCode, headers: &HeaderMap, body: Bytes) -> Response<Bytes> {
    let mut out = Response::new(body);
    *out.status_mut() = status;
    let hop = connection_named(headers);
    for (name, value) in headers {
        if is_hop_by_hop(name.as_str())
            || hop.contains(name.as_str())
            || name == header::CONTENT_LENGTH
        {
            continue;
        }
        out.headers_mut().append(name.clone(), value.clone());
    }
    out.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    out
}

/// The upstream connection after a valid 101: first the bytes the upstream sent right
/// behind its head (often its first frame, in the same segment), then the connection.
pub type Upgraded = Prefixed<Stream>;

/// The reading half of [`exchange`] over any reader, for the fuzz target
/// (`crate::fuzzing::upstream_answer`): [`read_answer`] and the body reader (without the
/// timeouts), against a request that offered `protocols` and `extensions` with a fixed key.
/// `Ok(Some)` is a refusal to relay, `Ok(None)` an accepted 101.
#[doc(hidden)]
pub(crate) async fn read_answer_for_fuzzing<S>(
    io: &mut S,
    protocols: &str,
    extensions: &str,
) -> Result<Option<Response<Bytes>>, UpstreamError>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let offer = |value: &str| HeaderValue::from_str(value).ok().into_iter().collect();
    let request = UpgradeRequest {
        head: Vec::new(),
        accept: handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        offered_protocols: offer(protocols),
        offered_extensions: offer(extensions),
    };
    let mut buf = Vec::new();
    let (answer, head_len) = read_answer(io, &mut buf, &request).await?;
    match answer {
        Answer::Switched { .. } => Ok(None),
        Answer::Refused {
            status,
            headers,
            framing,
        } => {
            let body = response::read_body(io, buf, head_len, framing)
                .await
                .unwrap_or_default();
            Ok(Some(refusal(status, &headers, body)))
        }
    }
}
