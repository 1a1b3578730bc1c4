//! Close frames (RFC 6455 §5.5.1, §7.4): the codes a peer may send, reading a peer's close
//! payload, and encoding wsgate's own close frames, for the relay and the close-mode
//! refusal alike.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use super::frame::{MAX_CONTROL_FRAME, MAX_CONTROL_PAYLOAD, OPCODE_CLOSE, apply_mask};

/// The close code that stands for "the close frame had no body" (RFC 6455 §7.1.5).
pub const NO_STATUS: u16 = 1005;

/// Codes a peer may send (RFC 6455 §7.4.1–2 plus IANA's 1012–1014): 1000–1003,
/// 1007–1014 and the 3000–4999 ranges for libraries and applications.
#[inline]
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Why a close payload is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadClose {
    /// One byte, over 125 bytes, or a code a peer may not send: a protocol error (1002).
    Malformed,
    /// A reason that is not UTF-8: close 1007 (RFC 6455 §8.1).
    ReasonNotUtf8,
}

/// Validates a close payload (RFC 6455 §5.5.1, §7.4) and returns its code, [`NO_STATUS`]
/// for an empty one. The payload is unmasked in a small copy; the bytes relayed stay as
/// they arrived.
#[inline]
pub fn close_code(payload: &[u8], mask: Option<[u8; 4]>) -> Result<u16, BadClose> {
    if payload.is_empty() {
        return Ok(NO_STATUS);
    }
    let mut copy = [0u8; MAX_CONTROL_PAYLOAD];
    let Some(copy) = copy.get_mut(..payload.len()) else {
        return Err(BadClose::Malformed);
    };
    copy.copy_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(copy, key);
    }
    let [hi, lo, reason @ ..] = &*copy else {
        return Err(BadClose::Malformed);
    };
    let code = u16::from_be_bytes([*hi, *lo]);
    if !valid_close_code(code) {
        return Err(BadClose::Malformed);
    }
    if std::str::from_utf8(reason).is_err() {
        return Err(BadClose::ReasonNotUtf8);
    }
    Ok(code)
}

/// A close frame wsgate writes itself, held inline (no allocation).
#[derive(Debug, Clone)]
pub struct CloseFrame {
    bytes: [u8; MAX_CONTROL_FRAME],
    len: usize,
}

impl CloseFrame {
    /// A close frame with `code` and `reason` (cut to 123 bytes at a character boundary).
    /// Frames toward the upstream are `masked` as RFC 6455 §5.3 requires of a client.
    pub fn new(code: u16, reason: &str, masked: bool) -> CloseFrame {
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
        CloseFrame {
            bytes,
            len: at + payload_len,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
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
    use crate::domain::refusal::Refusal;

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
        assert_eq!(close_code(&[3], None), Err(BadClose::Malformed));
        assert_eq!(
            close_code(&[0x03, 0xE8, 0xFF], None),
            Err(BadClose::ReasonNotUtf8)
        );
    }

    #[test]
    fn close_frame_carries_code_and_reason() {
        let reason = Refusal::TokenExpired;
        let frame = CloseFrame::new(reason.close_code(), reason.as_str(), false);
        let frame = frame.as_bytes();
        assert_eq!(frame[0], 0x88);
        assert_eq!(usize::from(frame[1]), 2 + "token_expired".len());
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1008);
        assert_eq!(&frame[4..], b"token_expired");
    }

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let reason = "é".repeat(100);
        let frame = CloseFrame::new(1000, &reason, false);
        let bytes = frame.as_bytes();
        assert_eq!(
            bytes.len(),
            2 + 2 + 122,
            "61 two-byte characters fit in 123 bytes"
        );
        assert_eq!(close_code(&bytes[2..], None), Ok(1000));
    }
}
