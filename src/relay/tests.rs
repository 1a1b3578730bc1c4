//! Relay behaviour over in-memory streams; timers under paused time.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longer than any timer in these tests (time is paused, so waiting costs nothing); a
/// relay that hangs fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(86_400);

fn settings() -> RelaySettings {
    RelaySettings {
        max_frame_bytes: 1 << 20,
        max_message_bytes: 4 << 20,
        idle_timeout: None,
        max_session_duration: None,
        expires_at: None,
        extensions_negotiated: false,
        close_timeout: CLOSE_TIMEOUT,
    }
}

/// Builds one frame: `first` is the FIN/RSV/opcode byte.
fn raw_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(mask_bit | len as u8),
        len @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked frame as a client sends it.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(opcode | if fin { 0x80 } else { 0 }, payload, Some(KEY))
}

/// An unmasked frame as an upstream sends it.
fn upstream_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(opcode | if fin { 0x80 } else { 0 }, payload, None)
}

fn close_body(code: u16, reason: &str) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(reason.as_bytes());
    body
}

#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    masked: bool,
    payload: Vec<u8>,
    raw: Vec<u8>,
}

impl Frame {
    fn close(&self) -> (u16, String) {
        assert_eq!(self.opcode, CLOSE, "expected a close frame, got {self:?}");
        assert!(self.fin, "a fragmented close: {self:?}");
        let [hi, lo, reason @ ..] = self.payload.as_slice() else {
            panic!("close without a code: {self:?}");
        };
        (
            u16::from_be_bytes([*hi, *lo]),
            String::from_utf8(reason.to_vec()).expect("UTF-8 reason"),
        )
    }
}

async fn read_frame(stream: &mut DuplexStream) -> Frame {
    tokio::time::timeout(PATIENCE, read_frame_now(stream))
        .await
        .expect("a frame in time")
}

async fn read_frame_now(stream: &mut DuplexStream) -> Frame {
    let mut raw = vec![0u8; 2];
    stream.read_exact(&mut raw).await.expect("frame header");
    let len = match raw[1] & 0x7F {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext).await.expect("length");
            raw.extend_from_slice(&ext);
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext).await.expect("length");
            raw.extend_from_slice(&ext);
            u64::from_be_bytes(ext)
        }
        short => u64::from(short),
    };
    let masked = raw[1] & 0x80 != 0;
    let mut key = [0u8; 4];
    if masked {
        stream.read_exact(&mut key).await.expect("mask key");
        raw.extend_from_slice(&key);
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await.expect("payload");
    raw.extend_from_slice(&payload);
    if masked {
        for (byte, k) in payload.iter_mut().zip(key.iter().cycle()) {
            *byte ^= k;
        }
    }
    Frame {
        fin: raw[0] & 0x80 != 0,
        opcode: raw[0] & 0x0F,
        masked,
        payload,
        raw,
    }
}

async fn read_exactly(stream: &mut DuplexStream, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut bytes))
        .await
        .expect("bytes in time")
        .expect("bytes");
    bytes
}

/// The stream ends (EOF or reset) without any more bytes.
async fn expect_end(stream: &mut DuplexStream) {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(PATIENCE, stream.read(&mut byte))
        .await
        .expect("end in time")
    {
        Ok(0) | Err(_) => {}
        Ok(_) => panic!("expected the end of the stream, got byte {:#04x}", byte[0]),
    }
}

struct Harness {
    /// The test's end of the client connection.
    client: DuplexStream,
    /// The test's end of the upstream connection.
    upstream: DuplexStream,
    shutdown: CancellationToken,
    counters: RelayCounters,
    task: JoinHandle<SessionEnd>,
}

fn counter(name: &str) -> prometheus::IntCounter {
    prometheus::IntCounter::new(name, "test").expect("valid counter")
}

impl Harness {
    fn start(settings: RelaySettings) -> Harness {
        Harness::with_pipe_size(settings, 256 * 1024)
    }

    fn with_pipe_size(settings: RelaySettings, pipe: usize) -> Harness {
        let (client, client_side) = duplex(pipe);
        let (upstream, upstream_side) = duplex(pipe);
        let shutdown = CancellationToken::new();
        let counters = RelayCounters {
            frames_to_upstream: counter("f_up"),
            bytes_to_upstream: counter("b_up"),
            frames_to_client: counter("f_cl"),
            bytes_to_client: counter("b_cl"),
        };
        let task = tokio::spawn({
            let counters = counters.clone();
            let shutdown = shutdown.clone();
            async move { relay(client_side, upstream_side, settings, &counters, shutdown).await }
        });
        Harness {
            client,
            upstream,
            shutdown,
            counters,
            task,
        }
    }

    async fn client_sends(&mut self, bytes: &[u8]) {
        self.client.write_all(bytes).await.expect("client write");
    }

    async fn upstream_sends(&mut self, bytes: &[u8]) {
        self.upstream
            .write_all(bytes)
            .await
            .expect("upstream write");
    }

    async fn end(self) -> SessionEnd {
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("relay ends in time")
            .expect("relay task")
    }

    /// Both peers answer wsgate's closes; the relay then ends and closes both streams.
    async fn reply_to_closes(mut self) -> SessionEnd {
        let reply = close_body(1000, "");
        self.client_sends(&client_frame(true, CLOSE, &reply)).await;
        self.upstream_sends(&upstream_frame(true, CLOSE, &reply))
            .await;
        expect_end(&mut self.client).await;
        expect_end(&mut self.upstream).await;
        self.end().await
    }

    /// The upstream answers wsgate's 1001 after a client's violation: wsgate keeps its
    /// reply and sends the client its own close instead.
    async fn upstream_replies(&mut self) {
        self.upstream_sends(&upstream_frame(true, CLOSE, &close_body(1001, "")))
            .await;
    }

    /// The client answers wsgate's close (the upstream has answered already); the relay
    /// then ends and closes both streams. The write may fail: when the client's bad frame
    /// was a close, the relay counts it as the client's close and does not wait for more.
    async fn client_replies(mut self) -> SessionEnd {
        let reply = client_frame(true, CLOSE, &close_body(1000, ""));
        let _ = self.client.write_all(&reply).await;
        expect_end(&mut self.client).await;
        expect_end(&mut self.upstream).await;
        self.end().await
    }
}

#[tokio::test(start_paused = true)]
async fn frames_pass_verbatim_both_ways_and_are_counted() {
    let mut h = Harness::start(settings());
    let from_client = [
        client_frame(true, TEXT, b"hello"),
        client_frame(true, BINARY, &[0u8; 300]),
        client_frame(true, BINARY, &vec![7u8; 70_000]),
        client_frame(true, PING, b"p"),
    ];
    for frame in &from_client {
        h.client_sends(frame).await;
    }
    for frame in &from_client {
        assert_eq!(read_frame(&mut h.upstream).await.raw, *frame);
    }
    let from_upstream = [
        upstream_frame(true, TEXT, b"world"),
        upstream_frame(true, PONG, b"p"),
        upstream_frame(true, BINARY, &vec![9u8; 20_000]),
    ];
    for frame in &from_upstream {
        h.upstream_sends(frame).await;
    }
    for frame in &from_upstream {
        assert_eq!(read_frame(&mut h.client).await.raw, *frame);
    }
    let to_upstream: usize = from_client.iter().map(Vec::len).sum();
    let to_client: usize = from_upstream.iter().map(Vec::len).sum();
    assert_eq!(h.counters.frames_to_upstream.get(), 4);
    assert_eq!(h.counters.bytes_to_upstream.get(), to_upstream as u64);
    assert_eq!(h.counters.frames_to_client.get(), 3);
    assert_eq!(h.counters.bytes_to_client.get(), to_client as u64);

    h.client_sends(&client_frame(true, CLOSE, &close_body(1000, "bye")))
        .await;
    read_frame(&mut h.upstream).await;
    h.upstream_sends(&upstream_frame(true, CLOSE, &close_body(1000, "bye")))
        .await;
    read_frame(&mut h.client).await;
    let end = h.end().await;
    assert_eq!(end.frames_to_upstream, 5);
    assert_eq!(end.frames_to_client, 4);
    assert_eq!(end.bytes_to_upstream, to_upstream as u64 + 11);
    assert_eq!(end.bytes_to_client, to_client as u64 + 7);
}

#[tokio::test(start_paused = true)]
async fn fragmented_message_with_interleaved_control_frames() {
    let mut h = Harness::start(settings());
    let frames = [
        client_frame(false, TEXT, b"frag"),
        client_frame(true, PING, b"in between"),
        client_frame(false, CONTINUATION, b"men"),
        client_frame(true, PONG, b""),
        client_frame(true, CONTINUATION, b"ted"),
        client_frame(true, TEXT, b"next message"),
    ];
    h.client_sends(&frames.concat()).await;
    assert_eq!(
        read_exactly(&mut h.upstream, frames.concat().len()).await,
        frames.concat()
    );

    let frames = [
        upstream_frame(false, BINARY, &[1; 200]),
        upstream_frame(true, PING, b""),
        upstream_frame(true, CONTINUATION, &[2; 200]),
    ];
    h.upstream_sends(&frames.concat()).await;
    assert_eq!(
        read_exactly(&mut h.client, frames.concat().len()).await,
        frames.concat()
    );
    assert_eq!(h.counters.frames_to_upstream.get(), 6);
    assert_eq!(h.counters.frames_to_client.get(), 3);
}

#[tokio::test(start_paused = true)]
async fn headers_split_across_reads_byte_by_byte() {
    let mut h = Harness::start(settings());
    let stream = [
        client_frame(true, TEXT, b"a"),
        client_frame(true, BINARY, &[5u8; 300]),
        client_frame(true, BINARY, &vec![6u8; 66_000]),
        client_frame(true, PING, &[1u8; 125]),
        client_frame(true, CLOSE, &close_body(4001, "split")),
    ]
    .concat();
    // Byte by byte through the headers and the close; the long payload in one go.
    let long_payload_start = 2 + 4 + 1 + 2 + 2 + 4 + 300 + 2 + 8 + 4;
    let long_payload_end = long_payload_start + 66_000;
    let mut at = 0;
    while at < stream.len() {
        let step = if at == long_payload_start {
            long_payload_end - at
        } else {
            1
        };
        h.client_sends(&stream[at..at + step]).await;
        tokio::task::yield_now().await;
        at += step;
    }
    assert_eq!(read_exactly(&mut h.upstream, stream.len()).await, stream);
    h.upstream_sends(&upstream_frame(true, CLOSE, &close_body(4001, "split")))
        .await;
    read_frame(&mut h.client).await;
    let end = h.end().await;
    assert_eq!((end.initiator, end.code), (Initiator::Client, Some(4001)));
}

/// Frames a client must not send, each with the code the client must receive.
fn client_violations() -> Vec<(&'static str, Vec<u8>, u16)> {
    let mut top_bit_length = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1];
    top_bit_length.extend_from_slice(&KEY);
    vec![
        ("unmasked", upstream_frame(true, TEXT, b"x"), 1002),
        (
            "rsv1 not negotiated",
            raw_frame(0xC1, b"x", Some(KEY)),
            1002,
        ),
        ("rsv3", raw_frame(0x91, b"x", Some(KEY)), 1002),
        ("opcode 3", client_frame(true, 0x3, b""), 1002),
        ("opcode 7", client_frame(true, 0x7, b""), 1002),
        ("opcode 0xB", client_frame(true, 0xB, b""), 1002),
        ("opcode 0xF", client_frame(true, 0xF, b""), 1002),
        (
            "ping of 126 bytes",
            client_frame(true, PING, &[0; 126]),
            1002,
        ),
        ("fragmented ping", client_frame(false, PING, b""), 1002),
        (
            "continuation first",
            client_frame(true, CONTINUATION, b"x"),
            1002,
        ),
        ("64-bit length top bit", top_bit_length, 1002),
        ("close of 1 byte", client_frame(true, CLOSE, &[3]), 1002),
        (
            "close 0",
            client_frame(true, CLOSE, &close_body(0, "")),
            1002,
        ),
        (
            "close 999",
            client_frame(true, CLOSE, &close_body(999, "")),
            1002,
        ),
        (
            "close 1004",
            client_frame(true, CLOSE, &close_body(1004, "")),
            1002,
        ),
        (
            "close 1005",
            client_frame(true, CLOSE, &close_body(1005, "")),
            1002,
        ),
        (
            "close 1006",
            client_frame(true, CLOSE, &close_body(1006, "")),
            1002,
        ),
        (
            "close 1015",
            client_frame(true, CLOSE, &close_body(1015, "")),
            1002,
        ),
        (
            "close 2999",
            client_frame(true, CLOSE, &close_body(2999, "")),
            1002,
        ),
        (
            "close 5000",
            client_frame(true, CLOSE, &close_body(5000, "")),
            1002,
        ),
        (
            "close reason not UTF-8",
            client_frame(true, CLOSE, &[0x03, 0xE8, 0xC3, 0x28]),
            1007,
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn client_violations_close_1002_to_client_and_1001_to_upstream() {
    for (case, bad, code) in client_violations() {
        let mut h = Harness::start(settings());
        let good = client_frame(true, TEXT, b"before");
        h.client_sends(&good).await;
        h.client_sends(&bad).await;
        h.client_sends(&client_frame(true, TEXT, b"after")).await;
        assert_eq!(read_frame(&mut h.upstream).await.raw, good, "{case}");
        let to_upstream = read_frame(&mut h.upstream).await;
        assert!(
            to_upstream.masked,
            "{case}: frames toward the upstream are masked"
        );
        assert_eq!(
            to_upstream.close(),
            (1001, "protocol_error".into()),
            "{case}"
        );
        // The client's close waits for the upstream's reply, which it replaces.
        h.upstream_replies().await;
        let to_client = read_frame(&mut h.client).await;
        assert!(!to_client.masked, "{case}");
        assert_eq!(to_client.close(), (code, "protocol_error".into()), "{case}");
        // Nothing of the bad frame, nor of what followed it, reached the upstream.
        let end = h.client_replies().await;
        assert_eq!(end.initiator, Initiator::Proxy, "{case}");
        assert_eq!(end.code, Some(code), "{case}");
        assert_eq!(end.reason, Some(Reason::ProtocolError), "{case}");
        assert_eq!(end.frames_to_upstream, 1, "{case}");
    }
}

/// Autobahn 3.2: a valid message, a bad frame, a ping. An endpoint echoes the message
/// before it reads the bad frame; through wsgate the client must still get that echo
/// before the 1002, as it would from the upstream directly.
#[tokio::test(start_paused = true)]
async fn client_violation_upstream_frames_in_flight_reach_the_client_before_the_1002() {
    let mut h = Harness::start(settings());
    let started = Instant::now();
    let good = client_frame(true, TEXT, b"Hello, world!");
    h.client_sends(
        &[
            good.clone(),
            raw_frame(0xA1, b"rsv2", Some(KEY)),
            client_frame(true, PING, b"after"),
        ]
        .concat(),
    )
    .await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, good);
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "protocol_error".into())
    );
    // The upstream's traffic, sent before it read wsgate's close: an echo, a fragmented
    // message with a ping inside, a frame larger than a relay buffer, then its reply,
    // all in one write.
    let in_flight = [
        upstream_frame(true, TEXT, b"Hello, world!"),
        upstream_frame(false, BINARY, &[1; 300]),
        upstream_frame(true, PING, b"p"),
        upstream_frame(true, CONTINUATION, &[2; 300]),
        upstream_frame(true, BINARY, &vec![3; 70_000]),
    ];
    let reply = upstream_frame(true, CLOSE, &close_body(1001, "going away"));
    h.upstream_sends(&[in_flight.concat(), reply].concat())
        .await;
    for frame in &in_flight {
        assert_eq!(read_frame(&mut h.client).await.raw, *frame);
    }
    // wsgate's close, not the upstream's reply.
    let close = read_frame(&mut h.client).await;
    assert!(!close.masked);
    assert_eq!(close.close(), (1002, "protocol_error".into()));
    assert!(started.elapsed() < CLOSE_TIMEOUT, "no timer was waited for");
    let end = h.client_replies().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Proxy, Some(1002), Some(Reason::ProtocolError))
    );
    assert_eq!((end.frames_to_upstream, end.frames_to_client), (1, 5));
    let in_flight_bytes: usize = in_flight.iter().map(Vec::len).sum();
    assert_eq!(end.bytes_to_client, in_flight_bytes as u64);
}

#[tokio::test(start_paused = true)]
async fn client_violation_an_upstream_frame_split_across_reads_is_finished_first() {
    let mut h = Harness::start(settings());
    h.client_sends(&client_frame(true, 0x3, b"")).await;
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    let frame = upstream_frame(true, BINARY, &[7; 1000]);
    let (head, rest) = frame.split_at(400);
    h.upstream_sends(head).await;
    assert_eq!(read_exactly(&mut h.client, head.len()).await, head);
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.upstream_sends(rest).await;
    h.upstream_replies().await;
    assert_eq!(read_exactly(&mut h.client, rest.len()).await, rest);
    assert_eq!(read_frame(&mut h.client).await.close().0, 1002);
    let end = h.client_replies().await;
    assert_eq!((end.code, end.frames_to_client), (Some(1002), 1));
}

#[tokio::test(start_paused = true)]
async fn client_violation_the_1002_comes_at_close_timeout_when_the_upstream_never_replies() {
    let mut h = Harness::start(settings());
    let started = Instant::now();
    h.client_sends(&client_frame(true, TEXT, b"one")).await;
    h.client_sends(&client_frame(false, PING, b"")).await;
    assert_eq!(read_frame(&mut h.upstream).await.payload, b"one");
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    let echo = upstream_frame(true, TEXT, b"one");
    h.upstream_sends(&echo).await;
    assert_eq!(read_frame(&mut h.client).await.raw, echo);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1002, "protocol_error".into())
    );
    assert_eq!(started.elapsed(), CLOSE_TIMEOUT);
    // Nothing the upstream sends after wsgate's close reaches the client.
    h.upstream_sends(&upstream_frame(true, TEXT, b"late")).await;
    // The client has a whole close timeout of its own to reply; it does not.
    expect_end(&mut h.client).await;
    assert_eq!(started.elapsed(), 2 * CLOSE_TIMEOUT);
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Proxy, Some(1002), Some(Reason::ProtocolError))
    );
    assert_eq!(end.frames_to_client, 1);
}

#[tokio::test(start_paused = true)]
async fn client_violation_the_client_may_reply_after_a_late_1002() {
    let mut h = Harness::start(settings());
    let started = Instant::now();
    h.client_sends(&client_frame(true, 0xB, b"")).await;
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    assert_eq!(read_frame(&mut h.client).await.close().0, 1002);
    assert_eq!(started.elapsed(), CLOSE_TIMEOUT);
    tokio::time::sleep(CLOSE_TIMEOUT / 2).await;
    h.client_sends(&client_frame(true, CLOSE, &close_body(1002, "")))
        .await;
    expect_end(&mut h.client).await;
    expect_end(&mut h.upstream).await;
    // The upstream never replied: its side is given up at the deadline.
    assert_eq!(started.elapsed(), 2 * CLOSE_TIMEOUT);
    assert_eq!(h.end().await.code, Some(1002));
}

#[tokio::test(start_paused = true)]
async fn client_violation_upstream_gone_releases_the_1002_not_1014() {
    let mut h = Harness::start(settings());
    let started = Instant::now();
    h.client_sends(&client_frame(true, TEXT, b"x")).await;
    h.client_sends(&upstream_frame(true, TEXT, b"unmasked"))
        .await;
    assert_eq!(read_frame(&mut h.upstream).await.payload, b"x");
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    let echo = upstream_frame(true, TEXT, b"x");
    h.upstream_sends(&echo).await;
    h.upstream.shutdown().await.expect("upstream EOF");
    assert_eq!(read_frame(&mut h.client).await.raw, echo);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1002, "protocol_error".into())
    );
    assert!(started.elapsed() < CLOSE_TIMEOUT);
    h.client_sends(&client_frame(true, CLOSE, &close_body(1002, "")))
        .await;
    expect_end(&mut h.client).await;
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Proxy, Some(1002), Some(Reason::ProtocolError))
    );
}

#[tokio::test(start_paused = true)]
async fn client_violation_then_an_upstream_violation_releases_the_1002() {
    let mut h = Harness::start(settings());
    h.client_sends(&raw_frame(0x91, b"x", Some(KEY))).await;
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    let echo = upstream_frame(true, TEXT, b"fine");
    h.upstream_sends(&[echo.clone(), client_frame(true, TEXT, b"masked")].concat())
        .await;
    assert_eq!(read_frame(&mut h.client).await.raw, echo);
    assert_eq!(read_frame(&mut h.client).await.close().0, 1002);
    let end = h.reply_to_closes().await;
    assert_eq!((end.code, end.frames_to_client), (Some(1002), 1));
}

/// While the client's close is held, the client keeps sending: none of it, from the bad
/// frame on, reaches the upstream.
#[tokio::test(start_paused = true)]
async fn client_violation_nothing_from_the_bad_frame_on_reaches_the_upstream() {
    let mut h = Harness::start(RelaySettings {
        max_message_bytes: 1000,
        ..settings()
    });
    let good = client_frame(false, BINARY, &[1; 600]);
    h.client_sends(&good).await;
    h.client_sends(&client_frame(true, CONTINUATION, &[2; 401]))
        .await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, good);
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "message_too_big".into())
    );
    for i in 0..10u8 {
        h.client_sends(&client_frame(true, TEXT, &[b'a' + i; 50]))
            .await;
        h.upstream_sends(&upstream_frame(true, TEXT, &[i; 20]))
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.client_sends(&client_frame(true, CLOSE, &close_body(1000, "")))
        .await;
    for i in 0..10u8 {
        assert_eq!(read_frame(&mut h.client).await.payload, [i; 20]);
    }
    h.upstream_replies().await;
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1009, "message_too_big".into())
    );
    // The client's close was seen while draining: the session ends without waiting.
    expect_end(&mut h.client).await;
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Proxy, Some(1009), Some(Reason::MessageTooBig))
    );
    assert_eq!(
        (end.frames_to_upstream, end.bytes_to_upstream),
        (1, good.len() as u64)
    );
}

#[tokio::test(start_paused = true)]
async fn fragment_order_violations() {
    let cases = [
        (
            "new message inside a fragmented one",
            [
                client_frame(false, TEXT, b"a"),
                client_frame(true, BINARY, b"b"),
            ],
        ),
        (
            "continuation after a finished message",
            [
                client_frame(true, TEXT, b"a"),
                client_frame(true, CONTINUATION, b"b"),
            ],
        ),
    ];
    for (case, [first, bad]) in cases {
        let mut h = Harness::start(settings());
        h.client_sends(&first).await;
        h.client_sends(&bad).await;
        assert_eq!(read_frame(&mut h.upstream).await.raw, first, "{case}");
        assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001, "{case}");
        h.upstream_replies().await;
        assert_eq!(read_frame(&mut h.client).await.close().0, 1002, "{case}");
        let end = h.client_replies().await;
        assert_eq!(end.frames_to_upstream, 1, "{case}");
    }
}

#[tokio::test(start_paused = true)]
async fn upstream_violations_close_1002_to_upstream_and_1001_to_client() {
    let cases = [
        ("masked", client_frame(true, TEXT, b"x")),
        ("rsv2", raw_frame(0xA2, b"x", None)),
        ("opcode 0xC", upstream_frame(true, 0xC, b"")),
        ("long pong", upstream_frame(true, PONG, &[0; 200])),
        (
            "continuation first",
            upstream_frame(true, CONTINUATION, b"x"),
        ),
        (
            "close 1016",
            upstream_frame(true, CLOSE, &close_body(1016, "")),
        ),
    ];
    for (case, bad) in cases {
        let mut h = Harness::start(settings());
        h.upstream_sends(&bad).await;
        let to_client = read_frame(&mut h.client).await;
        assert_eq!(to_client.close(), (1001, "protocol_error".into()), "{case}");
        let to_upstream = read_frame(&mut h.upstream).await;
        assert!(to_upstream.masked, "{case}");
        assert_eq!(
            to_upstream.close(),
            (1002, "protocol_error".into()),
            "{case}"
        );
        let end = h.reply_to_closes().await;
        assert_eq!(
            (end.initiator, end.code, end.frames_to_client),
            (Initiator::Proxy, Some(1002), 0),
            "{case}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn rsv1_passes_when_an_extension_was_negotiated() {
    let mut h = Harness::start(RelaySettings {
        extensions_negotiated: true,
        ..settings()
    });
    let compressed = raw_frame(0xC1, b"deflated", Some(KEY));
    h.client_sends(&compressed).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, compressed);
    let from_upstream = raw_frame(0x42, b"deflated", None);
    h.upstream_sends(&from_upstream).await;
    assert_eq!(read_frame(&mut h.client).await.raw, from_upstream);
}

#[tokio::test(start_paused = true)]
async fn frame_over_the_limit_closes_1009() {
    let mut h = Harness::start(RelaySettings {
        max_frame_bytes: 1000,
        ..settings()
    });
    let ok = client_frame(true, BINARY, &[0; 1000]);
    h.client_sends(&ok).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, ok);
    h.client_sends(&client_frame(true, BINARY, &[0; 1001]))
        .await;
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "message_too_big".into())
    );
    // The upstream's echo of the frame before still reaches the client, then the 1009.
    let echo = upstream_frame(true, BINARY, &[0; 1000]);
    h.upstream_sends(&echo).await;
    h.upstream_replies().await;
    assert_eq!(read_frame(&mut h.client).await.raw, echo);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1009, "message_too_big".into())
    );
    let end = h.client_replies().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Proxy, Some(1009), Some(Reason::MessageTooBig))
    );
    assert_eq!((end.frames_to_upstream, end.frames_to_client), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn fragmented_message_over_the_limit_closes_1009() {
    let mut h = Harness::start(RelaySettings {
        max_message_bytes: 250,
        ..settings()
    });
    let first = upstream_frame(false, TEXT, &[b'a'; 100]);
    let second = upstream_frame(false, CONTINUATION, &[b'b'; 100]);
    h.upstream_sends(&first).await;
    h.upstream_sends(&second).await;
    h.upstream_sends(&upstream_frame(true, CONTINUATION, &[b'c'; 51]))
        .await;
    assert_eq!(read_frame(&mut h.client).await.raw, first);
    assert_eq!(read_frame(&mut h.client).await.raw, second);
    assert_eq!(read_frame(&mut h.client).await.close().0, 1001);
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1009);
    h.reply_to_closes().await;
}

#[tokio::test(start_paused = true)]
async fn client_close_is_relayed_and_the_reply_returns() {
    let mut h = Harness::start(settings());
    let close = client_frame(true, CLOSE, &close_body(1000, "done"));
    h.client_sends(&close).await;
    // F12: data after a close is dropped.
    h.client_sends(&client_frame(true, TEXT, b"late")).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, close);
    // The upstream may still send data before its reply.
    let data = upstream_frame(true, TEXT, b"last words");
    let reply = upstream_frame(true, CLOSE, &close_body(1000, "done"));
    h.upstream_sends(&data).await;
    h.upstream_sends(&reply).await;
    assert_eq!(read_frame(&mut h.client).await.raw, data);
    assert_eq!(read_frame(&mut h.client).await.raw, reply);
    expect_end(&mut h.client).await;
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Client, Some(1000), None)
    );
    assert_eq!(end.frames_to_upstream, 1);
}

#[tokio::test(start_paused = true)]
async fn bodyless_close_is_relayed_bodyless() {
    let mut h = Harness::start(settings());
    let close = client_frame(true, CLOSE, b"");
    h.client_sends(&close).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, close);
    let reply = upstream_frame(true, CLOSE, b"");
    h.upstream_sends(&reply).await;
    assert_eq!(read_frame(&mut h.client).await.raw, reply);
    let end = h.end().await;
    assert_eq!((end.initiator, end.code), (Initiator::Client, Some(1005)));
}

#[tokio::test(start_paused = true)]
async fn upstream_4xxx_close_is_relayed_unchanged() {
    let mut h = Harness::start(settings());
    let close = upstream_frame(true, CLOSE, &close_body(4403, "kicked"));
    h.upstream_sends(&close).await;
    assert_eq!(read_frame(&mut h.client).await.raw, close);
    let reply = client_frame(true, CLOSE, &close_body(4403, "kicked"));
    h.client_sends(&reply).await;
    assert_eq!(read_frame(&mut h.upstream).await.raw, reply);
    expect_end(&mut h.client).await;
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Upstream, Some(4403), None)
    );
}

#[tokio::test(start_paused = true)]
async fn close_handshake_without_a_reply_ends_after_close_timeout() {
    let mut h = Harness::start(settings());
    h.client_sends(&client_frame(true, CLOSE, &close_body(1000, "")))
        .await;
    read_frame(&mut h.upstream).await;
    let started = Instant::now();
    let end = h.end().await;
    assert_eq!(started.elapsed(), CLOSE_TIMEOUT);
    assert_eq!(end.initiator, Initiator::Client);
}

#[tokio::test(start_paused = true)]
async fn upstream_eof_sends_1014_to_the_client() {
    let mut h = Harness::start(settings());
    h.upstream_sends(&upstream_frame(true, TEXT, b"bye")).await;
    h.upstream.shutdown().await.expect("upstream EOF");
    assert_eq!(read_frame(&mut h.client).await.payload, b"bye");
    let close = read_frame(&mut h.client).await;
    assert_eq!(close.close(), (1014, "upstream_unavailable".into()));
    h.client_sends(&client_frame(true, CLOSE, &close_body(1014, "")))
        .await;
    expect_end(&mut h.client).await;
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Upstream, None, Some(Reason::UpstreamUnavailable))
    );
}

#[tokio::test(start_paused = true)]
async fn upstream_dropped_sends_1014_to_the_client() {
    let Harness {
        mut client,
        upstream,
        task,
        ..
    } = Harness::start(settings());
    drop(upstream);
    assert_eq!(read_frame(&mut client).await.close().0, 1014);
    drop(client);
    let end = task.await.expect("relay task");
    assert_eq!(end.reason, Some(Reason::UpstreamUnavailable));
}

#[tokio::test(start_paused = true)]
async fn client_eof_sends_1001_to_the_upstream() {
    let mut h = Harness::start(settings());
    h.client.shutdown().await.expect("client EOF");
    let close = read_frame(&mut h.upstream).await;
    assert!(close.masked);
    assert_eq!(close.close(), (1001, "server_shutdown".into()));
    h.upstream_sends(&upstream_frame(true, CLOSE, &close_body(1001, "")))
        .await;
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Client, None, None)
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_sends_1001_to_both() {
    let h = Harness::start(settings());
    h.shutdown.cancel();
    let mut h = h;
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1001, "server_shutdown".into())
    );
    let to_upstream = read_frame(&mut h.upstream).await;
    assert!(to_upstream.masked);
    assert_eq!(to_upstream.close(), (1001, "server_shutdown".into()));
    let end = h.reply_to_closes().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Proxy, Some(1001), Some(Reason::ServerShutdown))
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_frame_in_flight() {
    let mut h = Harness::start(settings());
    let frame = upstream_frame(true, BINARY, &[42u8; 1000]);
    let (head, rest) = frame.split_at(500);
    h.upstream_sends(head).await;
    assert_eq!(read_exactly(&mut h.client, 500).await, head);
    h.shutdown.cancel();
    // The client side is at a frame boundary toward the upstream: its close goes at once.
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1001);
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.upstream_sends(rest).await;
    // Frames after the one in flight are not relayed.
    h.upstream_sends(&upstream_frame(true, TEXT, b"dropped"))
        .await;
    assert_eq!(read_exactly(&mut h.client, rest.len()).await, rest);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1001, "server_shutdown".into())
    );
    let end = h.reply_to_closes().await;
    assert_eq!(end.reason, Some(Reason::ServerShutdown));
    assert_eq!(end.frames_to_client, 1);
}

#[tokio::test(start_paused = true)]
async fn mid_frame_stall_and_shutdown_cut_after_close_timeout() {
    let mut h = Harness::start(settings());
    let frame = client_frame(true, BINARY, &[1u8; 1000]);
    h.client_sends(&frame[..300]).await;
    assert_eq!(read_exactly(&mut h.upstream, 300).await, &frame[..300]);
    let started = Instant::now();
    h.shutdown.cancel();
    assert_eq!(read_frame(&mut h.client).await.close().0, 1001);
    // The upstream never gets its close: the frame in flight never finishes.
    expect_end(&mut h.upstream).await;
    assert_eq!(started.elapsed(), CLOSE_TIMEOUT);
    let end = h.end().await;
    assert_eq!(end.reason, Some(Reason::ServerShutdown));
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_both_with_1001() {
    let idle = Duration::from_secs(60);
    let mut h = Harness::start(RelaySettings {
        idle_timeout: Some(idle),
        ..settings()
    });
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(40)).await;
    h.client_sends(&client_frame(true, TEXT, b"still here"))
        .await;
    read_frame(&mut h.upstream).await;
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1001, "idle_timeout".into())
    );
    assert_eq!(started.elapsed(), Duration::from_secs(100));
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "idle_timeout".into())
    );
    let end = h.reply_to_closes().await;
    assert_eq!(
        (end.initiator, end.reason),
        (Initiator::Proxy, Some(Reason::IdleTimeout))
    );
}

#[tokio::test(start_paused = true)]
async fn max_session_duration_closes_despite_traffic() {
    let mut h = Harness::start(RelaySettings {
        idle_timeout: Some(Duration::from_secs(60)),
        max_session_duration: Some(Duration::from_secs(100)),
        ..settings()
    });
    let started = Instant::now();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(30)).await;
        h.upstream_sends(&upstream_frame(true, TEXT, b"tick")).await;
        assert_eq!(read_frame(&mut h.client).await.payload, b"tick");
    }
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1001, "session_max_age".into())
    );
    assert_eq!(started.elapsed(), Duration::from_secs(100));
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "session_max_age".into())
    );
    let end = h.reply_to_closes().await;
    assert_eq!(end.reason, Some(Reason::SessionMaxAge));
    assert_eq!(end.code, Some(1001));
}

#[tokio::test(start_paused = true)]
async fn token_expiry_closes_1008_to_client_and_1001_to_upstream() {
    let mut h = Harness::start(RelaySettings {
        expires_at: Some(Instant::now() + Duration::from_secs(300)),
        ..settings()
    });
    let started = Instant::now();
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1008, "token_expired".into())
    );
    assert_eq!(started.elapsed(), Duration::from_secs(300));
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "token_expired".into())
    );
    let end = h.reply_to_closes().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Proxy, Some(1008), Some(Reason::TokenExpired))
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_reader_stops_the_relay_from_reading() {
    // A tiny pipe toward the upstream that nobody reads.
    let mut h = Harness::with_pipe_size(settings(), 4096);
    let big = client_frame(true, BINARY, &vec![3u8; 200_000]);
    let writer = tokio::spawn(async move {
        let _ = h.client.write_all(&big).await;
        h.client
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!writer.is_finished(), "the client must be held back");
    // Only the pipe plus one relay buffer is in flight.
    assert!(h.counters.bytes_to_upstream.get() <= 4096);
    let mut received = 0;
    while received < 200_000 + 14 {
        let mut chunk = vec![0u8; 65_536];
        received += h.upstream.read(&mut chunk).await.expect("read");
    }
    writer.await.expect("writer");
}

#[test]
fn a_session_future_is_small() {
    let (client, _) = duplex(64);
    let (upstream, _) = duplex(64);
    let counters = RelayCounters {
        frames_to_upstream: counter("f_up"),
        bytes_to_upstream: counter("b_up"),
        frames_to_client: counter("f_cl"),
        bytes_to_client: counter("b_cl"),
    };
    let session = relay(
        client,
        upstream,
        settings(),
        &counters,
        CancellationToken::new(),
    );
    let size = std::mem::size_of_val(&session);
    println!("relay future: {size} bytes");
    // Buffers are allocated only while bytes move; an idle session holds just this.
    assert!(size <= 2048, "relay future is {size} bytes");
}

#[tokio::test(start_paused = true)]
async fn client_gone_mid_frame_cuts_the_upstream() {
    let mut h = Harness::start(settings());
    let frame = client_frame(true, BINARY, &[8u8; 500]);
    h.client_sends(&frame[..100]).await;
    assert_eq!(read_exactly(&mut h.upstream, 100).await, &frame[..100]);
    h.client.shutdown().await.expect("client EOF");
    // No close can follow half a frame: the upstream's connection just ends.
    expect_end(&mut h.upstream).await;
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.code, end.reason),
        (Initiator::Client, None, None)
    );
}

#[tokio::test(start_paused = true)]
async fn the_offenders_close_waits_for_the_other_peers_frame_in_flight() {
    let mut h = Harness::start(settings());
    let frame = client_frame(true, BINARY, &[8u8; 500]);
    h.client_sends(&frame[..100]).await;
    assert_eq!(read_exactly(&mut h.upstream, 100).await, &frame[..100]);
    h.upstream_sends(&client_frame(true, TEXT, b"masked by mistake"))
        .await;
    assert_eq!(read_frame(&mut h.client).await.close().0, 1001);
    h.client_sends(&frame[100..]).await;
    let rest = &frame[100..];
    assert_eq!(read_exactly(&mut h.upstream, rest.len()).await, rest);
    assert_eq!(read_frame(&mut h.upstream).await.close().0, 1002);
    let end = h.reply_to_closes().await;
    assert_eq!(end.code, Some(1002));
}

#[tokio::test(start_paused = true)]
async fn upstream_data_after_its_close_is_dropped() {
    let mut h = Harness::start(settings());
    let close = upstream_frame(true, CLOSE, &close_body(1000, ""));
    h.upstream_sends(&close).await;
    h.upstream_sends(&upstream_frame(true, TEXT, b"late")).await;
    assert_eq!(read_frame(&mut h.client).await.raw, close);
    h.client_sends(&client_frame(true, CLOSE, &close_body(1000, "")))
        .await;
    expect_end(&mut h.client).await;
    let end = h.end().await;
    assert_eq!(
        (end.initiator, end.frames_to_client),
        (Initiator::Upstream, 1)
    );
}

/// Interoperability with an independent implementation: tungstenite peers (blocking, on
/// their own threads) over real loopback sockets.
#[tokio::test]
async fn tungstenite_peers_talk_through_the_relay() {
    use std::net::TcpListener as StdListener;
    use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
    use tokio_tungstenite::tungstenite::{Error, Message};

    let front = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let front_addr = front.local_addr().expect("addr");
    let back = StdListener::bind("127.0.0.1:0").expect("bind");
    let back_addr = back.local_addr().expect("addr");

    let upstream = std::thread::spawn(move || {
        let (stream, _) = back.accept().expect("accept");
        let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
        loop {
            match ws.read() {
                Ok(message) if message.is_text() || message.is_binary() => {
                    ws.send(message).expect("echo");
                }
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return,
                Err(error) => panic!("upstream: {error}"),
            }
        }
    });
    let client = std::thread::spawn(move || {
        let stream = std::net::TcpStream::connect(front_addr).expect("connect");
        let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
        let big = vec![0xA5u8; 300_000];
        ws.send(Message::text("hello")).expect("send");
        ws.send(Message::binary(big.clone())).expect("send");
        ws.send(Message::Ping(b"there?".to_vec().into()))
            .expect("ping");
        assert_eq!(ws.read().expect("echo"), Message::text("hello"));
        assert_eq!(ws.read().expect("echo"), Message::binary(big));
        assert_eq!(
            ws.read().expect("pong"),
            Message::Pong(b"there?".to_vec().into())
        );
        ws.close(Some(CloseFrame {
            code: CloseCode::Library(4000),
            reason: "done".into(),
        }))
        .expect("close");
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return,
                Err(error) => panic!("client: {error}"),
            }
        }
    });

    let (client_side, _) = front.accept().await.expect("accept");
    let upstream_side = tokio::net::TcpStream::connect(back_addr)
        .await
        .expect("connect");
    let counters = RelayCounters {
        frames_to_upstream: counter("f_up"),
        bytes_to_upstream: counter("b_up"),
        frames_to_client: counter("f_cl"),
        bytes_to_client: counter("b_cl"),
    };
    let end = tokio::time::timeout(
        Duration::from_secs(20),
        relay(
            client_side,
            upstream_side,
            settings(),
            &counters,
            CancellationToken::new(),
        ),
    )
    .await
    .expect("relay ends");
    assert_eq!((end.initiator, end.code), (Initiator::Client, Some(4000)));
    client.join().expect("client thread");
    upstream.join().expect("upstream thread");
}
