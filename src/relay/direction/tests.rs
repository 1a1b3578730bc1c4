//! A direction's buffer: allocated on data, released when idle or when the direction
//! ends, reused.

use std::task::Waker;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::read::{PROBE_SIZE, SPARE};
use super::*;
use crate::relay::Extensions;
use crate::relay::scanner::{Limits, Sender};

/// A direction reading an upstream (`peer` writes its input) and writing to `sink`, with
/// a `Context` that wakes nothing, before any data.
struct Rig {
    direction: Direction,
    cx: Context<'static>,
    peer: DuplexStream,
    input: DuplexStream,
    output: DuplexStream,
    sink: DuplexStream,
}

impl Rig {
    /// `output_room`: the bytes the output takes before it waits for `sink` to read.
    fn new(output_room: usize) -> Rig {
        let limits = Limits {
            max_frame_bytes: 1 << 20,
            max_message_bytes: 1 << 20,
            extensions: Extensions::None,
        };
        let (peer, input) = duplex(64 * 1024);
        let (output, sink) = duplex(output_room);
        Rig {
            direction: Direction::new(Scanner::new(Sender::Upstream, limits), false),
            cx: Context::from_waker(Waker::noop()),
            peer,
            input,
            output,
            sink,
        }
    }

    /// Polls the direction, which must end up waiting for more.
    fn poll_waits(&mut self) {
        assert!(
            self.direction
                .poll(&mut self.cx, &mut self.input, &mut self.output)
                .is_pending()
        );
    }

    /// The peer sends `bytes`; the direction relays what it can and waits.
    async fn send(&mut self, bytes: &[u8]) {
        self.peer.write_all(bytes).await.expect("write");
        self.poll_waits();
    }
}

/// The spare buffers this thread keeps.
fn spares() -> usize {
    SPARE.with_borrow(Vec::len)
}

#[tokio::test]
async fn the_buffer_is_released_when_the_direction_goes_idle() {
    let mut rig = Rig::new(64 * 1024);
    rig.poll_waits();
    assert_eq!(
        rig.direction.buf.capacity(),
        0,
        "nothing allocated before data"
    );

    // A whole frame and the first byte of the next header.
    rig.send(&[0x82, 0x03, 1, 2, 3, 0x82]).await;
    assert_eq!(rig.direction.frames, 1);
    assert_eq!(
        rig.direction.bytes, 3,
        "payload bytes, the 2-byte header left out"
    );
    assert_eq!(
        rig.direction.buf.len(),
        PROBE_SIZE,
        "a partial header is kept"
    );

    rig.send(&[0x00]).await;
    assert_eq!(rig.direction.frames, 2);
    assert_eq!(rig.direction.buf.capacity(), 0, "released once idle");
}

#[tokio::test]
async fn a_released_buffer_is_reused_by_the_next_burst() {
    let mut rig = Rig::new(64 * 1024);
    rig.send(&[0x82, 0x01, 7]).await;
    assert_eq!(rig.direction.buf.capacity(), 0, "released once idle");
    let kept = spares();
    assert!(kept >= 1, "the idle direction's buffer is kept for reuse");

    rig.send(&[0x82, 0x01, 8]).await;
    assert_eq!(rig.direction.frames, 2);
    assert_eq!(
        spares(),
        kept,
        "the next burst took a spare and gave it back"
    );
    let mut relayed = [0u8; 6];
    rig.sink.read_exact(&mut relayed).await.expect("read");
    assert_eq!(relayed, [0x82, 0x01, 7, 0x82, 0x01, 8], "relayed verbatim");
}

#[tokio::test]
async fn a_direction_that_ends_holding_a_buffer_gives_it_back() {
    // The output takes one byte: the frame waits in the direction's buffer.
    let mut rig = Rig::new(1);
    rig.send(&[0x82, 0x01, 7]).await;
    assert_eq!(
        rig.direction.buf.len(),
        PROBE_SIZE,
        "bytes wait to be written"
    );
    let before = spares();
    drop(rig);
    assert_eq!(spares(), before + 1, "the session's end kept the buffer");
}
