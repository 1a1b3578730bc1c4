//! What a direction does with the bytes it has read, by mode: relay what the scanner
//! approves, replace a peer's close with wsgate's held one, skip frames while draining,
//! or drop everything; and the frame and payload counts.

use super::{Direction, Event, Mode};
use crate::relay::scanner::{Scan, Skip};

impl Direction {
    pub(super) fn scan_buffered(&mut self) -> Option<Event> {
        loop {
            let input = self.buf.get(self.scanned..self.filled).unwrap_or_default();
            if input.is_empty() {
                // Every mode needs more than nothing (the scanner would say `NeedMore`); a
                // finished frame still ends `Finish`. Checked first: it is the common case,
                // once per message and direction.
                if self.mode == Mode::Finish && !self.scanner.mid_frame() {
                    self.mode = Mode::Drain;
                }
                return None;
            }
            match self.mode {
                Mode::Relay | Mode::Hold | Mode::Finish => {
                    if self.mode == Mode::Finish && !self.scanner.mid_frame() {
                        self.mode = Mode::Drain;
                        continue;
                    }
                    match self.scanner.scan(input) {
                        Scan::NeedMore => return None,
                        Scan::Relay { len, new_frame } => {
                            self.approve(len);
                            self.frames += u64::from(new_frame);
                            self.count_payload(len);
                        }
                        Scan::Close { len, code: _ } if self.mode == Mode::Hold => {
                            // wsgate's held close goes out in place of the peer's.
                            self.scanner.take_header_bytes();
                            self.scanned += len;
                            self.peer_closed = true;
                            self.mode = Mode::Discard;
                        }
                        Scan::Close { len, code } => {
                            self.approve(len);
                            self.frames += 1;
                            self.count_payload(len);
                            self.close_relayed = true;
                            self.peer_closed = true;
                            // Data after a close is dropped (RFC 6455 §5.5.1).
                            self.mode = Mode::Discard;
                            return Some(Event::Close { code });
                        }
                        Scan::Violation(violation) => {
                            self.mode = Mode::Drain;
                            return Some(Event::Violation(violation));
                        }
                    }
                }
                Mode::Drain => match self.scanner.skip(input) {
                    Skip::NeedMore => return None,
                    Skip::Skipped { len, close } => {
                        self.scanned += len;
                        if close {
                            self.peer_closed = true;
                            self.mode = Mode::Discard;
                        }
                    }
                    Skip::Lost => self.mode = Mode::Discard,
                },
                Mode::Discard => {
                    self.scanned = self.filled;
                    return None;
                }
            }
        }
    }

    /// Adds the payload among `len` bytes just passed on (their headers taken out).
    fn count_payload(&mut self, len: usize) {
        let headers = self.scanner.take_header_bytes();
        self.bytes += (len as u64).saturating_sub(headers);
    }

    fn approve(&mut self, len: usize) {
        self.approved += len;
        self.scanned = self.approved;
        self.activity = true;
    }
}
