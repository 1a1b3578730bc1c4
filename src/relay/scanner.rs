//! [`Scanner`]: the frame-boundary scanner for one direction of the relay.
//!
//! The scanner sees the bytes one peer sends and decides, a header at a time, how many of
//! them may be relayed verbatim. It parses only frame headers (2–14 bytes, with
//! [`crate::ws::frame`]) and the payload of control frames (at most 125 bytes, needed to
//! read close codes); data payloads are only counted, never copied, unmasked or re-masked.
//! A control frame is judged whole, so an invalid close never reaches the other side.

use tokio::time::Instant;

use super::Extensions;
use super::ping::PingBudget;
use super::violation::Violation;
use crate::ws::close::close_code;
use crate::ws::frame::{
    Header, MAX_CONTROL_PAYLOAD, Malformed, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_CONTINUATION,
    OPCODE_PING, OPCODE_PONG, OPCODE_TEXT, RSV1,
};

/// Which peer sends the frames a scanner sees: clients must mask, upstreams must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sender {
    Client,
    Upstream,
}

/// The per-session rules the scanner enforces.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub max_frame_bytes: u64,
    pub max_message_bytes: u64,
    pub extensions: Extensions,
}

/// What the scanner decided about the bytes at the start of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scan {
    /// Too few bytes to decide: a partial header, or a partial control frame.
    NeedMore,
    /// `len` bytes may be relayed verbatim; `new_frame` when a frame starts in them.
    Relay { len: usize, new_frame: bool },
    /// A complete, valid close frame of `len` bytes; `code` is 1005 when it had no body.
    Close { len: usize, code: u16 },
    /// The frame starting here breaks the rules; none of it was consumed.
    Violation(Violation),
}

/// What a draining scanner found while skipping bytes nobody will receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Skip {
    NeedMore,
    /// `len` bytes can be dropped; `close` when a close frame starts in them.
    Skipped {
        len: usize,
        close: bool,
    },
    /// The stream can no longer be parsed (a length with its top bit set).
    Lost,
}

/// One direction's framing state.
#[derive(Debug)]
pub(super) struct Scanner {
    sender: Sender,
    limits: Limits,
    /// Payload bytes of the current frame not yet passed on.
    remaining: u64,
    /// A fragmented data message is open (its first frame had FIN clear).
    in_message: bool,
    /// Payload bytes of the open fragmented message so far.
    message_bytes: u64,
    /// The sender's ping budget, when its pings are limited.
    pings: Option<PingBudget>,
    /// Header bytes (mask keys included) of the frames passed on since the last
    /// [`Scanner::take_header_bytes`]: what separates relayed bytes from payload bytes.
    header_bytes: u64,
}

impl Scanner {
    pub(super) fn new(sender: Sender, limits: Limits) -> Scanner {
        Scanner {
            sender,
            limits,
            remaining: 0,
            in_message: false,
            message_bytes: 0,
            pings: None,
            header_bytes: 0,
        }
    }

    /// Limits the sender's pings to `per_second` (bursts up to the same number): a ping
    /// over the budget is a `RateLimited` violation.
    pub(super) fn with_ping_limit(mut self, per_second: u32) -> Scanner {
        self.pings = Some(PingBudget::new(per_second));
        self
    }

    /// Header bytes of the frames passed on (`Relay`, `Close`) since the last call.
    pub(super) fn take_header_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.header_bytes)
    }

    /// Part of a frame has been passed on and the rest has not: the output is mid-frame.
    pub(super) fn mid_frame(&self) -> bool {
        self.remaining > 0
    }

    /// Judges the bytes at the start of `input` strictly.
    pub(super) fn scan(&mut self, input: &[u8]) -> Scan {
        if self.remaining > 0 {
            return match self.take_payload(input.len()) {
                0 => Scan::NeedMore,
                len => Scan::Relay {
                    len,
                    new_frame: false,
                },
            };
        }
        let header = match Header::parse(input) {
            Ok(Some(header)) => header,
            Ok(None) => return Scan::NeedMore,
            Err(Malformed) => return Scan::Violation(Violation::Protocol),
        };
        if let Err(violation) = self.check(&header) {
            return Scan::Violation(violation);
        }
        if header.is_control() {
            // `check` bounded the payload to 125 bytes, so this cannot truncate.
            let len = header.len + header.payload_len as usize;
            let Some(frame) = input.get(..len) else {
                return Scan::NeedMore;
            };
            if header.opcode == OPCODE_PING
                && let Some(budget) = &mut self.pings
                && !budget.take(Instant::now())
            {
                return Scan::Violation(Violation::RateLimited);
            }
            if header.opcode != OPCODE_CLOSE {
                self.header_bytes += header.len as u64;
                return Scan::Relay {
                    len,
                    new_frame: true,
                };
            }
            let payload = frame.get(header.len..).unwrap_or_default();
            return match close_code(payload, header.mask) {
                Ok(code) => {
                    self.header_bytes += header.len as u64;
                    Scan::Close { len, code }
                }
                Err(bad) => Scan::Violation(bad.into()),
            };
        }
        if header.opcode != OPCODE_CONTINUATION {
            self.message_bytes = 0;
        }
        self.message_bytes = self.message_bytes.saturating_add(header.payload_len);
        self.in_message = !header.fin;
        if header.fin {
            self.message_bytes = 0;
        }
        self.remaining = header.payload_len;
        self.header_bytes += header.len as u64;
        let payload_now = self.take_payload(input.len() - header.len);
        Scan::Relay {
            len: header.len + payload_now,
            new_frame: true,
        }
    }

    /// Skips the bytes at the start of `input` without judging them, noting close frames.
    /// Used once nothing more from this peer will be relayed.
    pub(super) fn skip(&mut self, input: &[u8]) -> Skip {
        if self.remaining > 0 {
            return match self.take_payload(input.len()) {
                0 => Skip::NeedMore,
                len => Skip::Skipped { len, close: false },
            };
        }
        match Header::parse(input) {
            Ok(Some(header)) => {
                self.remaining = header.payload_len;
                let payload_now = self.take_payload(input.len() - header.len);
                Skip::Skipped {
                    len: header.len + payload_now,
                    close: header.opcode == OPCODE_CLOSE,
                }
            }
            Ok(None) => Skip::NeedMore,
            Err(Malformed) => Skip::Lost,
        }
    }

    /// Consumes up to `available` bytes of the current frame's payload.
    fn take_payload(&mut self, available: usize) -> usize {
        let len = self.remaining.min(available as u64);
        self.remaining -= len;
        // `len <= available`, so it fits a usize.
        len as usize
    }

    /// RFC 6455 §5 rules and the size limits, in that order.
    fn check(&self, header: &Header) -> Result<(), Violation> {
        let data_start = matches!(header.opcode, OPCODE_TEXT | OPCODE_BINARY);
        let known = data_start
            || matches!(
                header.opcode,
                OPCODE_CONTINUATION | OPCODE_CLOSE | OPCODE_PING | OPCODE_PONG
            );
        if !known {
            return Err(Violation::Protocol);
        }
        if header.rsv != 0 {
            let allowed = match self.limits.extensions {
                Extensions::None => false,
                Extensions::PermessageDeflate => header.rsv == RSV1 && data_start,
                Extensions::Other => true,
            };
            if !allowed {
                return Err(Violation::Protocol);
            }
        }
        if !header.minimal_length {
            return Err(Violation::Protocol);
        }
        let must_mask = self.sender == Sender::Client;
        if header.mask.is_some() != must_mask {
            return Err(Violation::Protocol);
        }
        if header.is_control() {
            if !header.fin || header.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(Violation::Protocol);
            }
        } else if (header.opcode == OPCODE_CONTINUATION && !self.in_message)
            || (data_start && self.in_message)
        {
            return Err(Violation::Protocol);
        }
        if header.payload_len > self.limits.max_frame_bytes {
            return Err(Violation::TooBig);
        }
        if !header.is_control() {
            let before = if data_start { 0 } else { self.message_bytes };
            if before.saturating_add(header.payload_len) > self.limits.max_message_bytes {
                return Err(Violation::TooBig);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
