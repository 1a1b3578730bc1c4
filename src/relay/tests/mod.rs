//! Relay behaviour over in-memory streams; timers under paused time.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::domain::close_reason::CloseReason;
use crate::domain::initiator::Initiator;
use crate::timer::Timer;
use crate::ws::frame::{
    OPCODE_BINARY as BINARY, OPCODE_CLOSE as CLOSE, OPCODE_CONTINUATION as CONTINUATION,
    OPCODE_PING as PING, OPCODE_PONG as PONG, OPCODE_TEXT as TEXT,
};

mod abuse;
mod closes;
mod control;
mod interop;
mod limits;
mod memory;
mod timers;
mod verbatim;
mod violations;
mod wakeups;

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
        extensions: Extensions::None,
        close_timeout: CLOSE_TIMEOUT,
        send_timeout: None,
        max_pings_per_second: 1_000_000,
        timer: Timer::Tokio,
    }
}

/// Who ended the session, with which close code and reason: what most tests check.
fn outcome(end: &SessionEnd) -> (Initiator, Option<u16>, Option<CloseReason>) {
    (end.initiator, end.code, end.reason)
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

/// The payload length of each of `frames` (whole frames built by the helpers above),
/// summed: what `bytes_to_*` count.
fn payload_bytes<'a>(frames: impl IntoIterator<Item = &'a Vec<u8>>) -> u64 {
    frames
        .into_iter()
        .map(|frame| {
            let (len, header) = match frame[1] & 0x7F {
                126 => (u64::from(u16::from_be_bytes([frame[2], frame[3]])), 4),
                127 => (u64::from_be_bytes(frame[2..10].try_into().unwrap()), 10),
                short => (u64::from(short), 2),
            };
            let mask = if frame[1] & 0x80 != 0 { 4 } else { 0 };
            assert_eq!(frame.len() as u64, header + mask + len, "one whole frame");
            len
        })
        .sum()
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

async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Frame {
    tokio::time::timeout(PATIENCE, read_frame_now(stream))
        .await
        .expect("a frame in time")
}

async fn read_frame_now<S: AsyncRead + Unpin>(stream: &mut S) -> Frame {
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
async fn expect_end<S: AsyncRead + Unpin>(stream: &mut S) {
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
    /// Session control's handle on the relay.
    control: Control,
    counters: RelayCounters,
    task: JoinHandle<SessionEnd>,
}

/// Counters for one test relay, registered nowhere.
fn test_counters() -> RelayCounters {
    let counter = |name: &str| prometheus::IntCounter::new(name, "test").expect("valid counter");
    RelayCounters {
        frames_to_upstream: counter("f_up"),
        bytes_to_upstream: counter("b_up"),
        frames_to_client: counter("f_cl"),
        bytes_to_client: counter("b_cl"),
    }
}

/// The relay between two streams with the test settings, no shutdown and no control.
async fn relay_with_defaults<C, U>(client: C, upstream: U) -> SessionEnd
where
    C: AsyncRead + AsyncWrite + Shutdown + Unpin,
    U: AsyncRead + AsyncWrite + Shutdown + Unpin,
{
    let counters = test_counters();
    relay(
        client,
        upstream,
        settings(),
        &counters,
        CancellationToken::new(),
    )
    .await
}

impl Harness {
    fn start(settings: RelaySettings) -> Harness {
        Harness::with_pipe_size(settings, 256 * 1024)
    }

    fn with_pipe_size(settings: RelaySettings, pipe: usize) -> Harness {
        let (client, client_side) = duplex(pipe);
        let (upstream, upstream_side) = duplex(pipe);
        let shutdown = CancellationToken::new();
        let counters = test_counters();
        let control = Control::new();
        let task = tokio::spawn({
            let counters = counters.clone();
            let shutdown = shutdown.clone();
            let control = control.clone();
            async move {
                relay_controlled(
                    client_side,
                    upstream_side,
                    settings,
                    &counters,
                    shutdown,
                    Some(&control),
                )
                .await
            }
        });
        Harness {
            client,
            upstream,
            shutdown,
            control,
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

    /// Cancels the shutdown token: both peers get 1001 `server_shutdown` and answer it; the
    /// session still alive until then ends as a shutdown.
    async fn shut_down(mut self) -> SessionEnd {
        self.shutdown.cancel();
        for peer in [&mut self.client, &mut self.upstream] {
            assert_eq!(
                read_frame(peer).await.close(),
                (1001, "server_shutdown".into())
            );
        }
        let end = self.reply_to_closes().await;
        assert_eq!(end.reason, Some(CloseReason::ServerShutdown));
        end
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
