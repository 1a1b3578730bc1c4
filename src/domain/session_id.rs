//! [`SessionId`]: 128 bits from the operating system's CSPRNG, written as 32 lowercase hex
//! digits. Unguessable, so knowing an id is as good as being its client (a refresh names
//! its session by id), and never derived from the token or the client.

use std::fmt;

use http::HeaderValue;
use http::header::HeaderName;
use ring::rand::{SecureRandom, SystemRandom};

/// The response header of the client's 101 (and the request header of a refresh) that
/// carries the session id.
pub const SESSION_HEADER: HeaderName = HeaderName::from_static("x-wsgate-session");

/// Ids drawn from the kernel per `getrandom` call (per thread).
const POOL_IDS: usize = 64;

/// Random bytes drawn from the kernel and not yet handed out: `bytes[used..]`.
struct Pool {
    bytes: [u8; POOL_IDS * 16],
    used: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<Pool> = const {
        std::cell::RefCell::new(Pool {
            bytes: [0; POOL_IDS * 16],
            used: POOL_IDS * 16,
        })
    };
}

/// One live session's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// A fresh id. `None` only if the kernel's random source fails, which a caller turns
    /// into a refusal rather than a predictable id.
    ///
    /// The kernel's bytes are drawn a block at a time (`POOL_IDS` ids per `getrandom`
    /// call, per thread) instead of one system call per id: each id is still 16 bytes
    /// straight from the kernel's CSPRNG, handed out once and wiped from the pool.
    pub fn generate() -> Option<SessionId> {
        POOL.with_borrow_mut(|pool| {
            if pool.used >= pool.bytes.len() {
                SystemRandom::new().fill(&mut pool.bytes).ok()?;
                pool.used = 0;
            }
            let drawn = pool.bytes.get_mut(pool.used..pool.used + 16)?;
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(drawn);
            drawn.fill(0);
            pool.used += 16;
            Some(SessionId(bytes))
        })
    }

    /// Parses the 32-hex-digit form (either case); anything else is `None`.
    pub fn parse(text: &str) -> Option<SessionId> {
        let text = text.as_bytes();
        if text.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let high = hex_value(pair[0])?;
            let low = hex_value(pair[1])?;
            *byte = high << 4 | low;
        }
        Some(SessionId(bytes))
    }

    /// The id as a header value (always valid: hex digits only).
    pub fn header_value(&self) -> HeaderValue {
        let mut buf = [0u8; 32];
        HeaderValue::from_bytes(self.encode(&mut buf)).unwrap_or(HeaderValue::from_static("-"))
    }

    /// The id's 32 lowercase hex digits (its `Display` text), written into `buf`.
    pub fn hex<'b>(&self, buf: &'b mut [u8; 32]) -> &'b str {
        // Hex digits are ASCII: from_utf8 cannot fail.
        std::str::from_utf8(self.encode(buf)).unwrap_or_default()
    }

    fn encode<'b>(&self, buf: &'b mut [u8; 32]) -> &'b [u8] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (pair, byte) in buf.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        buf
    }
}

impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SessionId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        SessionId::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("a session id is 32 hexadecimal digits"))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        // Hex digits are ASCII: from_utf8 cannot fail.
        f.write_str(std::str::from_utf8(self.encode(&mut buf)).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_round_trip() {
        let id = SessionId::generate().expect("the kernel's random source works in tests");
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(SessionId::parse(&text), Some(id));
        assert_eq!(SessionId::parse(&text.to_uppercase()), Some(id));
        assert_eq!(id.header_value().to_str().ok(), Some(text.as_str()));
    }

    #[test]
    fn two_ids_differ() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert!(a.is_some() && a != b);
    }

    #[test]
    fn anything_but_32_hex_digits_is_not_an_id() {
        for bad in [
            "",
            "abc",
            &"g".repeat(32),
            &"a".repeat(31),
            &"a".repeat(33),
            &"é".repeat(16),
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?}");
        }
    }
}
