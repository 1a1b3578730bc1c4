//! The frame scanner driven as the relay drives it, for the fuzz target
//! (`crate::fuzzing::frames`): bytes arrive in chunks, the scanner judges the start of
//! what is buffered, and what it passes on is dropped from the buffer. Invariants that the
//! relay relies on are asserted, so a fuzzer finds the input that breaks them.

use super::Extensions;
use super::scanner::{Limits, Scan, Scanner, Sender, Skip};
use crate::ws::frame::{MAX_CONTROL_FRAME, MAX_HEADER};

/// Scans `data` under the rules picked by `config`'s bits (sender, extensions, limits,
/// chunk size). Panics if the scanner breaks an invariant.
pub(crate) fn scan_frames(config: u8, data: &[u8]) {
    let sender = if config & 1 == 0 {
        Sender::Client
    } else {
        Sender::Upstream
    };
    let extensions = match (config >> 1) & 3 {
        0 => Extensions::None,
        1 => Extensions::PermessageDeflate,
        _ => Extensions::Other,
    };
    let limits = Limits {
        max_frame_bytes: if config & 8 == 0 { 1 << 20 } else { 64 },
        max_message_bytes: if config & 16 == 0 { 16 << 20 } else { 200 },
        extensions,
    };
    let mut scanner = Scanner::new(sender, limits);
    if config & 32 != 0 {
        scanner = scanner.with_ping_limit(3);
    }
    let chunk = usize::from(config >> 6) * 7 + 1;

    let mut buffered: Vec<u8> = Vec::new();
    let mut draining = false;
    for piece in data.chunks(chunk) {
        buffered.extend_from_slice(piece);
        loop {
            if buffered.is_empty() {
                break;
            }
            let taken = if draining {
                match scanner.skip(&buffered) {
                    Skip::NeedMore => {
                        assert!(
                            buffered.len() < MAX_HEADER,
                            "skip wants more with a whole header buffered"
                        );
                        break;
                    }
                    Skip::Skipped { len, .. } => len,
                    Skip::Lost => return,
                }
            } else {
                match scanner.scan(&buffered) {
                    Scan::NeedMore => {
                        // A header is at most 14 bytes and a control frame at most
                        // MAX_CONTROL_FRAME: more than that buffered must be decided, or
                        // the relay would wait forever on a full buffer.
                        assert!(
                            buffered.len() < MAX_CONTROL_FRAME,
                            "NeedMore with {} bytes buffered",
                            buffered.len()
                        );
                        break;
                    }
                    Scan::Relay { len, .. } => len,
                    Scan::Close { len, code } => {
                        assert!(code == 1005 || (1000..5000).contains(&code));
                        draining = true;
                        len
                    }
                    Scan::Violation(violation) => {
                        let _ = (violation.close_code(), violation.reason());
                        return;
                    }
                }
            };
            assert!(
                taken > 0 && taken <= buffered.len(),
                "took {taken} of {} buffered bytes",
                buffered.len()
            );
            buffered.drain(..taken);
            let _ = scanner.take_header_bytes();
        }
    }
}
