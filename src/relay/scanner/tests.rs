//! The scanner's rules, frame by frame.

use super::*;
use crate::ws::close::CloseFrame;

const LIMITS: Limits = Limits {
    max_frame_bytes: 1 << 20,
    max_message_bytes: 4 << 20,
    extensions: Extensions::None,
};

fn client() -> Scanner {
    Scanner::new(Sender::Client, LIMITS)
}

#[test]
fn short_masked_frame_is_relayed_whole() {
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    assert_eq!(
        client().scan(&frame),
        Scan::Relay {
            len: 8,
            new_frame: true
        }
    );
}

#[test]
fn header_bytes_alone_are_not_enough() {
    let frame = [0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4];
    for cut in 0..frame.len() {
        assert_eq!(client().scan(&frame[..cut]), Scan::NeedMore, "cut at {cut}");
    }
    let mut scanner = client();
    assert_eq!(
        scanner.scan(&frame),
        Scan::Relay {
            len: 8,
            new_frame: true
        }
    );
    assert!(scanner.mid_frame());
    assert_eq!(
        scanner.scan(&[0; 300]),
        Scan::Relay {
            len: 256,
            new_frame: false
        }
    );
    assert!(!scanner.mid_frame());
}

#[tokio::test(start_paused = true)]
async fn a_ping_over_the_budget_is_rate_limited_and_not_consumed() {
    let mut scanner = client().with_ping_limit(2);
    let ping = [0x89, 0x80, 1, 2, 3, 4];
    for _ in 0..2 {
        assert_eq!(
            scanner.scan(&ping),
            Scan::Relay {
                len: 6,
                new_frame: true
            }
        );
    }
    assert_eq!(scanner.scan(&ping), Scan::Violation(Violation::RateLimited));
    // Pongs and data are not pings.
    let pong = [0x8A, 0x80, 1, 2, 3, 4];
    assert!(matches!(scanner.scan(&pong), Scan::Relay { .. }));
    tokio::time::advance(std::time::Duration::from_millis(500)).await;
    assert!(matches!(scanner.scan(&ping), Scan::Relay { .. }));
    // An upstream's pings are not limited.
    let mut upstream = Scanner::new(Sender::Upstream, LIMITS);
    for _ in 0..1000 {
        assert!(matches!(upstream.scan(&[0x89, 0x00]), Scan::Relay { .. }));
    }
}

#[test]
fn sixty_four_bit_length_with_top_bit_is_a_violation() {
    let frame = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(client().scan(&frame), Scan::Violation(Violation::Protocol));
    assert_eq!(client().skip(&frame), Skip::Lost);
}

#[test]
fn lengths_not_in_their_shortest_encoding_are_violations() {
    let upstream = || Scanner::new(Sender::Upstream, LIMITS);
    // 5 in 16 bits, 125 in 16 bits, 300 in 64 bits, 0 in 64 bits (a ping).
    for frame in [
        &[0x81, 0x7E, 0, 5][..],
        &[0x82, 0x7E, 0, 125][..],
        &[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x01, 0x2C][..],
        &[0x89, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0][..],
    ] {
        assert_eq!(
            upstream().scan(frame),
            Scan::Violation(Violation::Protocol),
            "{frame:?}"
        );
    }
    // The boundaries themselves are minimal.
    for frame in [
        &[0x82, 0x7D][..],
        &[0x82, 0x7E, 0, 126][..],
        &[0x82, 0x7E, 0xFF, 0xFF][..],
        &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0][..],
    ] {
        assert!(
            matches!(upstream().scan(frame), Scan::Relay { .. }),
            "{frame:?}"
        );
    }
    // A draining scanner still follows such a frame rather than losing the stream.
    assert_eq!(
        upstream().skip(&[0x81, 0x7E, 0, 5, b'h', b'e', b'l', b'l', b'o']),
        Skip::Skipped {
            len: 9,
            close: false
        }
    );
}

#[test]
fn own_close_frames_are_well_formed() {
    let frame = CloseFrame::new(1001, "server_shutdown", false);
    let mut expected = vec![0x88, 17, 0x03, 0xE9];
    expected.extend_from_slice(b"server_shutdown");
    assert_eq!(frame.as_bytes(), expected);

    let masked = CloseFrame::new(1001, "server_shutdown", true);
    let mut upstream_side = Scanner::new(Sender::Client, LIMITS);
    assert_eq!(
        upstream_side.scan(masked.as_bytes()),
        Scan::Close {
            len: masked.as_bytes().len(),
            code: 1001
        }
    );
}

#[test]
fn rsv1_only_on_a_message_start_when_negotiated() {
    let mut limits = LIMITS;
    limits.extensions = Extensions::PermessageDeflate;
    let mut scanner = Scanner::new(Sender::Upstream, limits);
    assert!(matches!(
        scanner.scan(&[0x41, 0x00]),
        Scan::Relay { len: 2, .. }
    ));
    assert_eq!(
        scanner.scan(&[0xC0, 0x00]),
        Scan::Violation(Violation::Protocol),
        "RSV1 on a continuation"
    );
    assert_eq!(
        scanner.scan(&[0xC9, 0x00]),
        Scan::Violation(Violation::Protocol),
        "RSV1 on a ping"
    );
    assert_eq!(
        scanner.scan(&[0xA1, 0x00]),
        Scan::Violation(Violation::Protocol),
        "RSV2"
    );
    assert!(matches!(scanner.scan(&[0x80, 0x00]), Scan::Relay { .. }));
}

#[test]
fn an_unknown_extension_s_rsv_bits_pass() {
    let mut limits = LIMITS;
    limits.extensions = Extensions::Other;
    let mut scanner = Scanner::new(Sender::Upstream, limits);
    for first in [0xC1, 0xA1, 0x91, 0xF1, 0xC9, 0xA2] {
        assert!(
            matches!(scanner.scan(&[first, 0x00]), Scan::Relay { .. }),
            "{first:#x}"
        );
    }
    // Everything else is still judged.
    assert_eq!(
        scanner.scan(&[0x83, 0x00]),
        Scan::Violation(Violation::Protocol)
    );
}
