//! A direction's buffer: allocated on data, released when idle, reused.

use std::task::Waker;

use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

use super::read::{PROBE_SIZE, SPARE};
use super::*;
use crate::relay::Extensions;
use crate::relay::scanner::{Limits, Sender};

/// A direction reading an upstream, and a `Context` that wakes nothing, before any data.
fn upstream_direction() -> (Direction, Context<'static>) {
    let limits = Limits {
        max_frame_bytes: 1 << 20,
        max_message_bytes: 1 << 20,
        extensions: Extensions::None,
    };
    let direction = Direction::new(Scanner::new(Sender::Upstream, limits), false);
    (direction, Context::from_waker(Waker::noop()))
}

#[tokio::test]
async fn the_buffer_is_released_when_the_direction_goes_idle() {
    let (mut direction, mut cx) = upstream_direction();
    let (mut peer, mut input) = duplex(64 * 1024);
    let (mut output, _other_peer) = duplex(64 * 1024);

    assert!(
        direction
            .poll(&mut cx, &mut input, &mut output)
            .is_pending()
    );
    assert_eq!(direction.buf.capacity(), 0, "nothing allocated before data");

    // A whole frame and the first byte of the next header.
    peer.write_all(&[0x82, 0x03, 1, 2, 3, 0x82])
        .await
        .expect("write");
    assert!(
        direction
            .poll(&mut cx, &mut input, &mut output)
            .is_pending()
    );
    assert_eq!(direction.frames, 1);
    assert_eq!(
        direction.bytes, 3,
        "payload bytes, the 2-byte header left out"
    );
    assert_eq!(direction.buf.len(), PROBE_SIZE, "a partial header is kept");

    peer.write_all(&[0x00]).await.expect("write");
    assert!(
        direction
            .poll(&mut cx, &mut input, &mut output)
            .is_pending()
    );
    assert_eq!(direction.frames, 2);
    assert_eq!(direction.buf.capacity(), 0, "released once idle");
}

#[tokio::test]
async fn a_released_buffer_is_reused_by_the_next_burst() {
    let (mut direction, mut cx) = upstream_direction();
    let (mut peer, mut input) = duplex(64 * 1024);
    let (mut output, mut other_peer) = duplex(64 * 1024);
    let spares = || SPARE.with_borrow(Vec::len);

    peer.write_all(&[0x82, 0x01, 7]).await.expect("write");
    assert!(
        direction
            .poll(&mut cx, &mut input, &mut output)
            .is_pending()
    );
    assert_eq!(direction.buf.capacity(), 0, "released once idle");
    let kept = spares();
    assert!(kept >= 1, "the idle direction's buffer is kept for reuse");

    peer.write_all(&[0x82, 0x01, 8]).await.expect("write");
    assert!(
        direction
            .poll(&mut cx, &mut input, &mut output)
            .is_pending()
    );
    assert_eq!(direction.frames, 2);
    assert_eq!(
        spares(),
        kept,
        "the next burst took a spare and gave it back"
    );
    let mut relayed = [0u8; 6];
    other_peer.read_exact(&mut relayed).await.expect("read");
    assert_eq!(relayed, [0x82, 0x01, 7, 0x82, 0x01, 8], "relayed verbatim");
}

#[tokio::test]
async fn a_direction_that_ends_holding_a_buffer_gives_it_back() {
    let (mut direction, mut cx) = upstream_direction();
    let (mut peer, mut input) = duplex(64 * 1024);
    // The output takes one byte: the frame waits in the direction's buffer.
    let (mut output, _other_peer) = duplex(1);
    let spares = || SPARE.with_borrow(Vec::len);

    peer.write_all(&[0x82, 0x01, 7]).await.expect("write");
    assert!(
        direction
            .poll(&mut cx, &mut input, &mut output)
            .is_pending()
    );
    assert_eq!(direction.buf.len(), PROBE_SIZE, "bytes wait to be written");
    let before = spares();
    drop(direction);
    assert_eq!(spares(), before + 1, "the session's end kept the buffer");
}
