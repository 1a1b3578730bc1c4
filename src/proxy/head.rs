//! The first request's head, read by hand: bytes read until `httparse` finds a complete
//! head (under hyper's limits on this listener), then the head as the `http` types see
//! it, its values sharing the read buffer.
//!
//! Whatever this reader would not accept (bytes `httparse` refuses, a head over a limit,
//! values the `http` types refuse, the peer's end of stream mid-head) is left to hyper,
//! which answers it as it always has (400, 431).

use std::io;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri, Version};
use tokio::io::AsyncRead;

use crate::net::stack_read::read_appending;
use crate::ws::handshake;

/// Largest request head: hyper's buffer limit on this listener. A larger head goes to
/// hyper, which answers 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header lines: hyper's default. More go to hyper, which answers 431.
const MAX_HEADERS: usize = 100;
/// Header lines whose places are kept inline: a browser's or a client library's upgrade
/// request has fewer; the lines of a longer head beyond these go to the heap.
const INLINE_HEADERS: usize = 16;

/// How reading the first head ended.
// A head's places are inline on purpose (boxed, they would be the allocation they save);
// the value lives for one statement per connection (`first.rs`).
#[allow(clippy::large_enum_variant)]
pub(super) enum Filled {
    /// A complete head, at the start of the buffer.
    Head(Spans),
    /// Bytes `httparse` refuses, or a head over a limit, or the peer's end of stream in
    /// the middle of a head: hyper's to answer.
    NotReadable,
    /// The peer closed without sending a byte.
    Closed,
}

/// Reads until the buffer starts with a complete request head.
pub(super) async fn fill_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
) -> io::Result<Filled> {
    loop {
        if !buf.is_empty() {
            match Spans::parse(buf) {
                Parsed::Complete(spans) => return Ok(Filled::Head(spans)),
                Parsed::Partial if buf.len() < MAX_HEAD_BYTES => {}
                Parsed::Partial | Parsed::Invalid => return Ok(Filled::NotReadable),
            }
        }
        // Through the stack: the buffer grows by what arrived, no read-sized allocation.
        if read_appending(io, MAX_HEAD_BYTES, |got| buf.extend_from_slice(got)).await? == 0 {
            return Ok(if buf.is_empty() {
                Filled::Closed
            } else {
                Filled::NotReadable
            });
        }
    }
}

#[allow(clippy::large_enum_variant)] // as `Filled`
enum Parsed {
    Complete(Spans),
    Partial,
    Invalid,
}

/// Where a complete head's parts are in the buffer, so the request can be built on the
/// frozen buffer without copying a value.
pub(super) struct Spans {
    /// The head's length; what follows was sent behind it.
    pub len: usize,
    method: Range<usize>,
    target: Range<usize>,
    /// `httparse`'s minor version: 0 or 1.
    version: u8,
    headers: HeaderSpans,
}

/// Where a header line's name and value are: (start, end) of each, in the buffer.
type HeaderSpan = [(u32, u32); 2];

/// The header lines' places, in order: the first [`INLINE_HEADERS`] inline (no heap
/// allocation for a usual head), any more after them on the heap.
struct HeaderSpans {
    inline: [HeaderSpan; INLINE_HEADERS],
    inline_len: usize,
    spilled: Vec<HeaderSpan>,
}

impl HeaderSpans {
    fn new() -> HeaderSpans {
        HeaderSpans {
            inline: [[(0, 0); 2]; INLINE_HEADERS],
            inline_len: 0,
            spilled: Vec::new(),
        }
    }

    fn push(&mut self, span: HeaderSpan) {
        match self.inline.get_mut(self.inline_len) {
            Some(slot) => {
                *slot = span;
                self.inline_len += 1;
            }
            None => self.spilled.push(span),
        }
    }

    fn len(&self) -> usize {
        self.inline_len + self.spilled.len()
    }

    /// Each line's name and value, in order.
    fn iter(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
        let range = |(start, end): (u32, u32)| start as usize..end as usize;
        let inline = self.inline.get(..self.inline_len).unwrap_or_default();
        inline
            .iter()
            .chain(&self.spilled)
            .map(move |&[name, value]| (range(name), range(value)))
    }
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
        let narrow = |part: &[u8]| {
            let range = span(part)?;
            Some((
                u32::try_from(range.start).ok()?,
                u32::try_from(range.end).ok()?,
            ))
        };
        let spans = (|| {
            let mut headers = HeaderSpans::new();
            for h in request.headers.iter() {
                headers.push([narrow(h.name.as_bytes())?, narrow(h.value)?]);
            }
            Some(Spans {
                len,
                method: span(request.method?.as_bytes())?,
                target: span(request.path?.as_bytes())?,
                version: request.version?,
                headers,
            })
        })();
        match spans {
            Some(spans) => Parsed::Complete(spans),
            None => Parsed::Invalid,
        }
    }
}

/// The request as the syntax checks and the decision see it; values share the buffer.
pub(super) struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

impl RequestHead {
    /// `None` where hyper would refuse the head (method, target, version, header names or
    /// values the `http` types do not accept): hyper answers it.
    pub(super) fn new(bytes: &Bytes, spans: &Spans) -> Option<RequestHead> {
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
        for (name, value) in spans.headers.iter() {
            let name = HeaderName::from_bytes(bytes.get(name)?).ok()?;
            let value = HeaderValue::from_maybe_shared(part(&value)?).ok()?;
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
    use tokio::io::AsyncWriteExt;

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
    fn a_head_with_more_lines_than_are_kept_inline_keeps_them_all_in_order() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..INLINE_HEADERS + 7 {
            raw.extend_from_slice(format!("x-{}: v{i}\r\n", i % 3).as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        let head = parsed(&raw).unwrap();
        assert_eq!(head.headers.len(), INLINE_HEADERS + 7);
        for name in ["x-0", "x-1", "x-2"] {
            let values: Vec<_> = head
                .headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            let expected: Vec<_> = (0..INLINE_HEADERS + 7)
                .filter(|i| format!("x-{}", i % 3) == name)
                .map(|i| format!("v{i}"))
                .collect();
            assert_eq!(values, expected, "{name}");
        }
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
