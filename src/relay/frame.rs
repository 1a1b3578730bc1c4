//! The frame-boundary scanner for one direction of the relay, and wsgate's own close frames.
//!
//! The scanner sees the bytes one peer sends and decides, a header at a time, how many of
//! them may be relayed verbatim. It parses only frame headers (2–14 bytes) and the payload
//! of control frames (at most 125 bytes, needed to read close codes); data payloads are
//! only counted, never copied, unmasked or re-masked. A control frame is judged whole, so
//! an invalid close never reaches the other side.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use super::Extensions;
use crate::domain::reason::Reason;

/// Longest control-frame payload (RFC 6455 §5.5).
pub(super) const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest frame header: 2 bytes, a 64-bit extended length and a mask key.
pub(super) const MAX_HEADER: usize = 14;
/// A whole control frame, header included, fits in this many bytes.
pub(super) const MAX_CONTROL_FRAME: usize = MAX_HEADER + MAX_CONTROL_PAYLOAD;

const OPCODE_CONTINUATION: u8 = 0x0;
const OPCODE_TEXT: u8 = 0x1;
const OPCODE_BINARY: u8 = 0x2;
const OPCODE_CLOSE: u8 = 0x8;
const OPCODE_PING: u8 = 0x9;
const OPCODE_PONG: u8 = 0xA;

const RSV1: u8 = 0x40;

/// The close code that stands for "the close frame had no body" (RFC 6455 §7.1.5).
pub(super) const NO_STATUS: u16 = 1005;

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

/// A framing rule a peer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Violation {
    /// RFC 6455 framing: close 1002.
    Protocol,
    /// A close reason that is not UTF-8: close 1007 (RFC 6455 §8.1).
    CloseReasonNotUtf8,
    /// A frame or message over the configured limit: close 1009.
    TooBig,
    /// A ping over the client's ping budget (SECURITY-CASES F10): close 1008.
    RateLimited,
}

impl Violation {
    /// The close code the offending peer receives.
    pub(super) fn close_code(self) -> u16 {
        match self {
            Violation::Protocol => Reason::ProtocolError.close_code(),
            Violation::CloseReasonNotUtf8 => 1007,
            Violation::TooBig => Reason::MessageTooBig.close_code(),
            Violation::RateLimited => Reason::RateLimited.close_code(),
        }
    }

    pub(super) fn reason(self) -> Reason {
        match self {
            Violation::Protocol | Violation::CloseReasonNotUtf8 => Reason::ProtocolError,
            Violation::TooBig => Reason::MessageTooBig,
            Violation::RateLimited => Reason::RateLimited,
        }
    }
}

/// A token bucket for one client's pings: `per_second` tokens a second, holding at most
/// `per_second`, so a burst of one second's worth is allowed. Time is read only when a
/// ping arrives; nothing runs between pings.
#[derive(Debug)]
pub(super) struct PingBudget {
    per_second: f64,
    tokens: f64,
    refilled_at: Option<Instant>,
}

impl PingBudget {
    pub(super) fn new(per_second: u32) -> PingBudget {
        let per_second = f64::from(per_second.max(1));
        PingBudget {
            per_second,
            tokens: per_second,
            refilled_at: None,
        }
    }

    /// Spends a token for a ping arriving at `now`; `false` when none is left.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if let Some(at) = self.refilled_at {
            let earned = now.saturating_duration_since(at).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + earned).min(self.per_second);
        }
        self.refilled_at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
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
            if header.opcode == OPCODE_PING {
                if let Some(budget) = &mut self.pings {
                    if !budget.take(Instant::now()) {
                        return Scan::Violation(Violation::RateLimited);
                    }
                }
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
                Err(violation) => Scan::Violation(violation),
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

/// A parsed frame header.
#[derive(Debug)]
struct Header {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload_len: u64,
    /// The length used the shortest of the three encodings, as RFC 6455 §5.2 requires.
    minimal_length: bool,
    /// Header length in bytes, mask key included.
    len: usize,
}

/// A 64-bit length with its most significant bit set (RFC 6455 §5.2).
struct Malformed;

impl Header {
    /// `Ok(None)` when `input` holds only part of a header.
    fn parse(input: &[u8]) -> Result<Option<Header>, Malformed> {
        let [b0, b1, rest @ ..] = input else {
            return Ok(None);
        };
        let (payload_len, rest, minimal_length) = match b1 & 0x7F {
            126 => match rest {
                [a, b, rest @ ..] => {
                    let len = u16::from_be_bytes([*a, *b]);
                    (u64::from(len), rest, len >= 126)
                }
                _ => return Ok(None),
            },
            127 => match rest.split_first_chunk::<8>() {
                Some((bytes, rest)) => {
                    let len = u64::from_be_bytes(*bytes);
                    (len, rest, len > u64::from(u16::MAX))
                }
                None => return Ok(None),
            },
            short => (u64::from(short), rest, true),
        };
        if payload_len >> 63 != 0 {
            return Err(Malformed);
        }
        let mask = if b1 & 0x80 != 0 {
            match rest.first_chunk::<4>() {
                Some(key) => Some(*key),
                None => return Ok(None),
            }
        } else {
            None
        };
        let len = input.len() - rest.len() + if mask.is_some() { 4 } else { 0 };
        Ok(Some(Header {
            fin: b0 & 0x80 != 0,
            rsv: b0 & 0x70,
            opcode: b0 & 0x0F,
            mask,
            payload_len,
            minimal_length,
            len,
        }))
    }

    fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Validates a close payload (RFC 6455 §5.5.1, §7.4) and returns its code. The payload is
/// unmasked in a small copy; the relayed bytes stay as they arrived.
fn close_code(payload: &[u8], mask: Option<[u8; 4]>) -> Result<u16, Violation> {
    if payload.is_empty() {
        return Ok(NO_STATUS);
    }
    let mut copy = [0u8; MAX_CONTROL_PAYLOAD];
    let Some(copy) = copy.get_mut(..payload.len()) else {
        return Err(Violation::Protocol);
    };
    copy.copy_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(copy, key);
    }
    let [hi, lo, reason @ ..] = &*copy else {
        return Err(Violation::Protocol);
    };
    let code = u16::from_be_bytes([*hi, *lo]);
    if !valid_close_code(code) {
        return Err(Violation::Protocol);
    }
    if std::str::from_utf8(reason).is_err() {
        return Err(Violation::CloseReasonNotUtf8);
    }
    Ok(code)
}

/// Codes a peer may send (RFC 6455 §7.4.1–2 plus IANA's 1012–1014): 1000–1003,
/// 1007–1014 and the 3000–4999 ranges for libraries and applications.
pub(super) fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    for (byte, k) in payload.iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// A close frame wsgate writes itself.
#[derive(Debug, Clone)]
pub(super) struct ControlFrame {
    bytes: [u8; MAX_CONTROL_FRAME],
    len: usize,
}

impl ControlFrame {
    /// A close frame with `code` and `reason` (cut to 123 bytes at a character boundary).
    /// Frames toward the upstream are `masked` as RFC 6455 §5.3 requires of a client.
    pub(super) fn close(code: u16, reason: &str, masked: bool) -> ControlFrame {
        let mut reason_len = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
        while !reason.is_char_boundary(reason_len) {
            reason_len -= 1;
        }
        let reason = reason.as_bytes().get(..reason_len).unwrap_or_default();
        let payload_len = 2 + reason.len();
        let mut bytes = [0u8; MAX_CONTROL_FRAME];
        bytes[0] = 0x80 | OPCODE_CLOSE;
        // payload_len <= 125 fits the 7-bit length.
        bytes[1] = payload_len as u8 | if masked { 0x80 } else { 0 };
        let mut at = 2;
        let key = masked.then(mask_key);
        if let Some(key) = key {
            bytes[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        let payload = &mut bytes[at..at + payload_len];
        payload[..2].copy_from_slice(&code.to_be_bytes());
        payload[2..].copy_from_slice(reason);
        if let Some(key) = key {
            apply_mask(payload, key);
        }
        ControlFrame {
            bytes,
            len: at + payload_len,
        }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// A fresh mask key for a frame toward the upstream. RFC 6455 §5.3 wants it unpredictable so
/// that script-controlled bytes cannot poison intermediaries; on wsgate's own link to the
/// upstream, carrying only close frames wsgate composes, that threat does not apply, so a
/// SipHash of a counter under a per-process random key (`RandomState`) is enough and needs
/// no RNG crate.
fn mask_key() -> [u8; 4] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    // Truncation to the low 32 bits is the point.
    (hasher.finish() as u32).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn ping_budget_allows_a_one_second_burst_then_the_rate() {
        let start = Instant::now();
        let mut budget = PingBudget::new(10);
        for i in 0..10 {
            assert!(budget.take(start), "ping {i} of the burst");
        }
        assert!(!budget.take(start), "the 11th ping in the same instant");
        // One token back every 100 ms.
        assert!(budget.take(start + std::time::Duration::from_millis(100)));
        assert!(!budget.take(start + std::time::Duration::from_millis(150)));
        // A long pause refills to the burst, never beyond it.
        let later = start + std::time::Duration::from_secs(3600);
        for i in 0..10 {
            assert!(budget.take(later), "ping {i} after a pause");
        }
        assert!(!budget.take(later));
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
    fn close_codes_follow_section_7_4() {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!valid_close_code(code), "{code}");
        }
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4000, 4999,
        ] {
            assert!(valid_close_code(code), "{code}");
        }
    }

    #[test]
    fn close_payloads_are_unmasked_in_a_copy() {
        let key = [9, 8, 7, 6];
        let mut payload = [0x0F, 0xA0, b'b', b'y', b'e'];
        apply_mask(&mut payload, key);
        assert_eq!(close_code(&payload, Some(key)), Ok(4000));
        assert_eq!(close_code(&[], None), Ok(NO_STATUS));
        assert_eq!(close_code(&[3], None), Err(Violation::Protocol));
        assert_eq!(
            close_code(&[0x03, 0xE8, 0xFF], None),
            Err(Violation::CloseReasonNotUtf8)
        );
    }

    #[test]
    fn own_close_frames_are_well_formed() {
        let frame = ControlFrame::close(1001, "server_shutdown", false);
        let mut expected = vec![0x88, 17, 0x03, 0xE9];
        expected.extend_from_slice(b"server_shutdown");
        assert_eq!(frame.as_bytes(), expected);

        let masked = ControlFrame::close(1001, "server_shutdown", true);
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

    #[test]
    fn extensions_are_classified_by_name() {
        let cases: [(Option<&[u8]>, Extensions); 6] = [
            (None, Extensions::None),
            (Some(b" , "), Extensions::None),
            (
                Some(b"permessage-deflate; client_max_window_bits"),
                Extensions::PermessageDeflate,
            ),
            (
                Some(b"PerMessage-Deflate, permessage-deflate"),
                Extensions::PermessageDeflate,
            ),
            (Some(b"x-webkit-deflate-frame"), Extensions::Other),
            (
                Some(b"permessage-deflate, x-custom; a=1"),
                Extensions::Other,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(Extensions::negotiated(value), expected, "{value:?}");
        }
    }
}
