//! RFC 6455 §5.2 frame headers: the opcodes, the one header parser, and masking.
//!
//! Both readers of frames use it: the relay's scanner, which judges every frame a peer
//! sends (`relay::scanner`), and the close-mode session, which skips the client's frames
//! until its close reply (`proxy::respond`). Only headers (2–14 bytes) are parsed here;
//! payloads are the caller's business.

/// Longest control-frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest frame header: 2 bytes, a 64-bit extended length and a mask key.
pub const MAX_HEADER: usize = 14;
/// A whole control frame, header included, fits in this many bytes.
pub const MAX_CONTROL_FRAME: usize = MAX_HEADER + MAX_CONTROL_PAYLOAD;

pub const OPCODE_CONTINUATION: u8 = 0x0;
pub const OPCODE_TEXT: u8 = 0x1;
pub const OPCODE_BINARY: u8 = 0x2;
pub const OPCODE_CLOSE: u8 = 0x8;
pub const OPCODE_PING: u8 = 0x9;
pub const OPCODE_PONG: u8 = 0xA;

/// The first reserved bit, the one permessage-deflate (RFC 7692) defines.
pub const RSV1: u8 = 0x40;

/// A parsed frame header.
#[derive(Debug)]
pub struct Header {
    pub fin: bool,
    /// The three reserved bits, in place (`0x70` mask).
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// The length used the shortest of the three encodings, as RFC 6455 §5.2 requires.
    pub minimal_length: bool,
    /// Header length in bytes, mask key included.
    pub len: usize,
}

/// A 64-bit length with its most significant bit set (RFC 6455 §5.2): the stream can no
/// longer be followed.
#[derive(Debug)]
pub struct Malformed;

impl Header {
    /// `Ok(None)` when `input` holds only part of a header.
    #[inline]
    pub fn parse(input: &[u8]) -> Result<Option<Header>, Malformed> {
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
            opcode: opcode(*b0),
            mask,
            payload_len,
            minimal_length,
            len,
        }))
    }

    #[inline]
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// The opcode in a frame's first byte.
#[inline]
pub fn opcode(first: u8) -> u8 {
    first & 0x0F
}

/// The length of the header whose second byte is `second` (mask key included), for a
/// reader that fetches a header's bytes from a stream before parsing them.
pub fn header_len(second: u8) -> usize {
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// XORs `payload` with the mask `key` (RFC 6455 §5.3); applying it twice restores it.
#[inline]
pub fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    for (byte, k) in payload.iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_headers_ask_for_more() {
        let frame = [0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4];
        for cut in 0..frame.len() {
            assert!(matches!(Header::parse(&frame[..cut]), Ok(None)), "{cut}");
        }
        let header = Header::parse(&frame).ok().flatten().expect("whole header");
        assert_eq!(
            (header.opcode, header.payload_len, header.len, header.mask),
            (OPCODE_BINARY, 256, 8, Some([1, 2, 3, 4]))
        );
    }

    #[test]
    fn header_len_matches_the_parser() {
        for frame in [
            &[0x81, 0x05][..],
            &[0x81, 0x85, 1, 2, 3, 4][..],
            &[0x82, 0x7E, 0, 200][..],
            &[0x82, 0xFE, 0, 200, 1, 2, 3, 4][..],
            &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0][..],
            &[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4][..],
        ] {
            let parsed = Header::parse(frame).ok().flatten().expect("whole header");
            assert_eq!(header_len(frame[1]), parsed.len, "{frame:?}");
            assert_eq!(parsed.len, frame.len(), "{frame:?}");
        }
    }

    #[test]
    fn a_length_with_its_top_bit_set_is_malformed() {
        let frame = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert!(Header::parse(&frame).is_err());
    }

    #[test]
    fn masking_twice_restores_the_payload() {
        let mut payload = *b"hello, world";
        apply_mask(&mut payload, [9, 8, 7, 6]);
        assert_ne!(&payload, b"hello, world");
        apply_mask(&mut payload, [9, 8, 7, 6]);
        assert_eq!(&payload, b"hello, world");
    }
}
