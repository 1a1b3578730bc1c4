//! A connection's first request, read and answered without hyper when it is a WebSocket
//! upgrade.
//!
//! Nearly every client connection carries one request, an upgrade, and then the session.
//! For those wsgate reads the head itself (`httparse`, under hyper's limits on this
//! listener), runs the same syntax checks and the same decision as hyper's service
//! ([`Proxy::handle`]), writes the 101 or the refusal, and queues the session on the
//! socket itself: no hyper server connection, no upgrade hand-over, no boxed stream
//! between the relay and the socket (docs/performance.md).
//!
//! Everything else goes to hyper with the bytes already read, and hyper answers it
//! exactly as it did before: plain HTTP, requests the syntax checks refuse, heads
//! `httparse` rejects or that break a limit (400, 431), a connection that ends mid-head.
//! hyper then serves the rest of that connection, later upgrades included.

use std::io;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::Method;
use http::header::HeaderName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::respond::{close_upgraded, denial, encode_response, handshake_refusal_bytes};
use super::session::{NotOpened, Opened};
use super::*;
use crate::net::prefixed::Prefixed;
use crate::ws::handshake::HandshakeError;

/// Largest request head: hyper's buffer limit on this listener. A larger head goes to
/// hyper, which answers 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header lines: hyper's default. More go to hyper, which answers 431.
const MAX_HEADERS: usize = 100;
/// The first read's buffer: an upgrade request with a token and a browser's cookies fits.
const FIRST_READ: usize = 4096;

impl Proxy {
    /// Serves the connection's first request if it is a WebSocket upgrade. Otherwise the
    /// connection is returned, the bytes read so far replayed first, for hyper to serve.
    /// `None`: nothing is left for hyper (answered, upgraded, closed or timed out).
    pub async fn first_request<S>(
        self: &Arc<Self>,
        mut stream: S,
        client: SocketAddr,
        conn: &ClientConn,
    ) -> Option<Prefixed<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut buf = BytesMut::with_capacity(FIRST_READ);
        // The drain closes a connection still waiting for its head, as hyper's graceful
        // shutdown closes an idle one; a slow head ends at the handshake timeout, as with
        // hyper's header_read_timeout.
        let filled = tokio::select! {
            filled = tokio::time::timeout(
                self.handshake_timeout(),
                fill_head(&mut stream, &mut buf),
            ) => filled,
            () = self.shutdown.cancelled() => return None,
        };
        let spans = match filled {
            Ok(Ok(Filled::Head(spans))) => spans,
            Ok(Ok(Filled::NotReadable)) => return Some(Prefixed::new(stream, &buf)),
            Ok(Ok(Filled::Closed)) | Ok(Err(_)) | Err(_) => return None,
        };
        let started = Instant::now();
        let bytes = buf.freeze();
        let Some(mut head) = RequestHead::new(&bytes, &spans) else {
            return Some(Prefixed::new(stream, &bytes));
        };
        let ws =
            match handshake::classify(&head.method, head.version, head.uri.path(), &head.headers) {
                Ok(Some(ws)) => ws,
                // hyper drops a Content-Length sent beside Transfer-Encoding before its service
                // sees the request (RFC 9112 §6.1 allows either); the head read here still has
                // both, so the refusal RFC 9112 prefers is given here.
                Err(error @ HandshakeError::BodyLength) => {
                    self.answer_and_close(stream, &handshake_refusal_bytes(error))
                        .await;
                    return None;
                }
                Ok(None) | Err(_) => return Some(Prefixed::new(stream, &bytes)),
            };
        // The path judged and forwarded is the normalized one, as in hyper's service.
        match handshake::normalized_uri(&head.uri) {
            Ok(uri) => head.uri = uri,
            Err(_) => return Some(Prefixed::new(stream, &bytes)),
        }
        // What the client sent behind its head belongs to the session.
        let stream = Prefixed::new(stream, bytes.get(spans.len..).unwrap_or_default());
        drop(bytes);

        let policy = self.policy();
        let opened = match self
            .decide(
                &policy,
                &head.uri,
                &head.headers,
                true,
                client,
                &conn.certificate,
                started,
            )
            .await
        {
            Ok((grant, Some(registration))) => self
                .open_upstream(
                    &policy,
                    &grant,
                    registration.id(),
                    &head.uri,
                    &head.headers,
                    client,
                    started,
                )
                .await
                .map(|opened| (opened, grant, registration)),
            // A WebSocket grant always carries its registration (`Proxy::admit`).
            Ok((_, None)) => Err(NotOpened::Refuse(Refusal::Overloaded)),
            Err(reason) => Err(NotOpened::Refuse(reason)),
        };
        let gate = &policy.gate;
        match opened {
            Ok((opened, grant, registration)) => {
                let Opened {
                    io,
                    protocol,
                    extensions,
                    settings,
                    session,
                } = opened;
                let mut stream = stream;
                let switching = switching_protocols(&ws, protocol, extensions, Some(session));
                if !self.answer(&mut stream, &switching).await {
                    return None;
                }
                let route = gate.config().route(grant.route).path.clone();
                let stream = std::future::ready(Some(stream));
                self.queue_session(
                    conn,
                    stream,
                    io,
                    settings,
                    route,
                    grant,
                    client,
                    registration,
                );
            }
            Err(NotOpened::Relay(response)) => self.answer_and_close(stream, &response).await,
            Err(NotOpened::Refuse(reason)) if gate.config().auth.deny == DenyMode::Close => {
                let mut stream = stream;
                let protocol = close_mode_protocol(gate, &head.headers);
                if self
                    .answer(&mut stream, &switching_protocols(&ws, protocol, None, None))
                    .await
                {
                    close_upgraded(stream, reason).await;
                }
            }
            Err(NotOpened::Refuse(reason)) => {
                self.answer_and_close(stream, &denial(reason)).await;
            }
        }
        None
    }

    /// Writes `response`, within the handshake timeout; false if the client is gone or
    /// does not read.
    async fn answer<S: AsyncWrite + Unpin>(&self, io: &mut S, response: &Response<Bytes>) -> bool {
        let bytes = encode_response(response);
        let write = async {
            io.write_all(&bytes).await?;
            io.flush().await
        };
        matches!(
            tokio::time::timeout(self.handshake_timeout(), write).await,
            Ok(Ok(()))
        )
    }

    /// A refusal carries `Connection: close`: written, then the connection is closed.
    async fn answer_and_close<S: AsyncWrite + Unpin>(&self, mut io: S, response: &Response<Bytes>) {
        if self.answer(&mut io, response).await {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, io.shutdown()).await;
        }
    }
}

/// How reading the first head ended.
enum Filled {
    /// A complete head, at the start of the buffer.
    Head(Spans),
    /// Bytes `httparse` refuses, or a head over a limit, or the peer's end of stream in
    /// the middle of a head: hyper's to answer.
    NotReadable,
    /// The peer closed without sending a byte.
    Closed,
}

/// Reads until the buffer starts with a complete request head.
async fn fill_head<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> io::Result<Filled> {
    loop {
        if !buf.is_empty() {
            match Spans::parse(buf) {
                Parsed::Complete(spans) => return Ok(Filled::Head(spans)),
                Parsed::Partial if buf.len() < MAX_HEAD_BYTES => {}
                Parsed::Partial | Parsed::Invalid => return Ok(Filled::NotReadable),
            }
        }
        let room = buf.capacity() - buf.len();
        if room < FIRST_READ / 4 {
            buf.reserve(buf.len().clamp(FIRST_READ, MAX_HEAD_BYTES));
        }
        if io.read_buf(buf).await? == 0 {
            return Ok(if buf.is_empty() {
                Filled::Closed
            } else {
                Filled::NotReadable
            });
        }
    }
}

enum Parsed {
    Complete(Spans),
    Partial,
    Invalid,
}

/// Where a complete head's parts are in the buffer, so the request can be built on the
/// frozen buffer without copying a value.
struct Spans {
    /// The head's length; what follows was sent behind it.
    len: usize,
    method: Range<usize>,
    target: Range<usize>,
    /// `httparse`'s minor version: 0 or 1.
    version: u8,
    headers: Vec<(Range<usize>, Range<usize>)>,
}

impl Spans {
    fn parse(buf: &[u8]) -> Parsed {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let len = match request.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            Err(_) => return Parsed::Invalid,
        };
        let base = buf.as_ptr() as usize;
        // Every part httparse returns borrows from `buf`; checked all the same.
        let span = |part: &[u8]| {
            let start = (part.as_ptr() as usize).checked_sub(base)?;
            let end = start.checked_add(part.len())?;
            (end <= len).then_some(start..end)
        };
        let spans = (|| {
            Some(Spans {
                len,
                method: span(request.method?.as_bytes())?,
                target: span(request.path?.as_bytes())?,
                version: request.version?,
                headers: request
                    .headers
                    .iter()
                    .map(|h| Some((span(h.name.as_bytes())?, span(h.value)?)))
                    .collect::<Option<Vec<_>>>()?,
            })
        })();
        match spans {
            Some(spans) => Parsed::Complete(spans),
            None => Parsed::Invalid,
        }
    }
}

/// The request as the syntax checks and the decision see it; values share the buffer.
struct RequestHead {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl RequestHead {
    /// `None` where hyper would refuse the head (method, target, version, header names or
    /// values the `http` types do not accept): hyper answers it.
    fn new(bytes: &Bytes, spans: &Spans) -> Option<RequestHead> {
        let part = |range: &Range<usize>| {
            (range.start <= range.end && range.end <= bytes.len())
                .then(|| bytes.slice(range.clone()))
        };
        let method = Method::from_bytes(bytes.get(spans.method.clone())?).ok()?;
        let uri = Uri::from_maybe_shared(part(&spans.target)?).ok()?;
        let version = match spans.version {
            0 => Version::HTTP_10,
            1 => Version::HTTP_11,
            _ => return None,
        };
        let mut headers = HeaderMap::with_capacity(spans.headers.len());
        for (name, value) in &spans.headers {
            let name = HeaderName::from_bytes(bytes.get(name.clone())?).ok()?;
            let value = HeaderValue::from_maybe_shared(part(value)?).ok()?;
            headers.try_append(name, value).ok()?;
        }
        Some(RequestHead {
            method,
            uri,
            version,
            headers,
        })
    }
}

/// The first request as wsgate's own reader sees it, for the fuzz target
/// (`crate::fuzzing::request_head`): `None` when the head goes to hyper (incomplete,
/// refused by `httparse` or the `http` types), else the syntax checks' verdict and the
/// parsed head.
#[doc(hidden)]
pub(crate) fn read_head_for_fuzzing(
    buf: &[u8],
) -> Option<(
    Result<Option<handshake::WebSocketRequest>, handshake::HandshakeError>,
    Uri,
    HeaderMap,
)> {
    let Parsed::Complete(spans) = Spans::parse(buf) else {
        return None;
    };
    assert!(spans.len <= buf.len(), "a head longer than its buffer");
    let bytes = Bytes::copy_from_slice(buf);
    let head = RequestHead::new(&bytes, &spans)?;
    let verdict = handshake::classify(&head.method, head.version, head.uri.path(), &head.headers);
    Some((verdict, head.uri, head.headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(head: &[u8]) -> Option<RequestHead> {
        let Parsed::Complete(spans) = Spans::parse(head) else {
            return None;
        };
        RequestHead::new(&Bytes::copy_from_slice(head), &spans)
    }

    #[test]
    fn a_complete_head_is_parsed_and_what_follows_is_left() {
        let raw = b"GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nX-Two: 1\r\nx-two: 2\r\n\r\n\x81\x80";
        let Parsed::Complete(spans) = Spans::parse(raw) else {
            panic!("complete");
        };
        assert_eq!(spans.len, raw.len() - 2);
        let head = RequestHead::new(&Bytes::copy_from_slice(raw), &spans).unwrap();
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.uri.path(), "/ws");
        assert_eq!(head.uri.query(), Some("x=1"));
        assert_eq!(head.version, Version::HTTP_11);
        let twos: Vec<_> = head.headers.get_all("x-two").iter().collect();
        assert_eq!(twos, ["1", "2"]);
    }

    #[test]
    fn partial_and_invalid_heads_are_told_apart() {
        assert!(matches!(
            Spans::parse(b"GET / HTTP/1.1\r\nHost: a\r\n"),
            Parsed::Partial
        ));
        assert!(matches!(
            Spans::parse(b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n"),
            Parsed::Invalid
        ));
        assert!(matches!(
            Spans::parse(b"\x16\x03\x01\x02\x00"),
            Parsed::Invalid
        ));
    }

    #[test]
    fn more_header_lines_than_hypers_limit_are_not_read_by_hand() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            raw.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert!(matches!(Spans::parse(&raw), Parsed::Invalid));
    }

    #[test]
    fn heads_the_http_types_refuse_are_left_to_hyper() {
        // An absolute-form target with a bad authority; a value with obs-text is fine.
        assert!(parsed(b"GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n").is_none());
        assert!(parsed(b"GET / HTTP/1.1\r\nHost: a\r\nX: \xe9\r\n\r\n").is_some());
    }

    #[tokio::test]
    async fn a_head_arriving_in_pieces_is_read_whole() {
        let (mut client, mut server) = tokio::io::duplex(16);
        let writer = tokio::spawn(async move {
            for piece in [&b"GET / HT"[..], b"TP/1.1\r\nHo", b"st: a\r\n", b"\r\n"] {
                client.write_all(piece).await.unwrap();
            }
            client
        });
        let mut buf = BytesMut::new();
        let Filled::Head(spans) = fill_head(&mut server, &mut buf).await.unwrap() else {
            panic!("a complete head");
        };
        assert_eq!(spans.len, buf.len());
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn an_end_of_stream_mid_head_is_hypers_and_an_empty_connection_is_closed() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        drop(client);
        let mut buf = BytesMut::new();
        assert!(matches!(
            fill_head(&mut server, &mut buf).await.unwrap(),
            Filled::NotReadable
        ));
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        assert!(matches!(
            fill_head(&mut server, &mut BytesMut::new()).await.unwrap(),
            Filled::Closed
        ));
    }

    #[tokio::test]
    async fn a_head_over_the_limit_is_hypers() {
        let (mut client, mut server) = tokio::io::duplex(MAX_HEAD_BYTES);
        let writer = tokio::spawn(async move {
            let mut raw = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
            raw.resize(MAX_HEAD_BYTES + 10, b'a');
            let _ = client.write_all(&raw).await;
            client
        });
        let mut buf = BytesMut::new();
        assert!(matches!(
            fill_head(&mut server, &mut buf).await.unwrap(),
            Filled::NotReadable
        ));
        assert!(buf.len() >= MAX_HEAD_BYTES);
        drop(writer.await.unwrap());
    }
}
