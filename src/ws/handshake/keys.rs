//! The opening handshake's keys without a heap allocation: a fresh `Sec-WebSocket-Key`
//! for the upstream handshake ([`new_key`]) and the `Sec-WebSocket-Accept` that answers a
//! key ([`accept_key`]), each base64 in a fixed array on the stack.
//!
//! The same bytes tungstenite's `generate_key` and `derive_accept_key` return (16 bytes
//! from `rand::random`; SHA-1 of the key and the RFC 6455 GUID), which each allocate
//! their `String` (docs/performance.md): three allocations per proxied handshake.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// RFC 6455 §1.3: appended to the key before hashing.
const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Base64 text of a fixed length, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Base64Text<const N: usize>([u8; N]);

/// A `Sec-WebSocket-Key`: base64 of 16 random bytes.
pub type WebSocketKey = Base64Text<24>;

/// A `Sec-WebSocket-Accept`: base64 of a SHA-1 digest.
pub type AcceptKey = Base64Text<28>;

impl<const N: usize> Base64Text<N> {
    /// Base64 (standard alphabet, padded) of `bytes`, which must encode to exactly `N`
    /// characters: a fixed size for each caller, so never anything else.
    fn encode(bytes: &[u8]) -> Base64Text<N> {
        let mut text = [0u8; N];
        let written = STANDARD.encode_slice(bytes, &mut text);
        debug_assert_eq!(written.ok(), Some(N), "base64 of {} bytes", bytes.len());
        Base64Text(text)
    }

    pub fn as_str(&self) -> &str {
        // Base64's alphabet is ASCII; an encoder that wrote anything else gives "".
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> std::ops::Deref for Base64Text<N> {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Display for Base64Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for Base64Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> PartialEq<&str> for Base64Text<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2), surrounding whitespace ignored.
pub fn accept_key(key: &[u8]) -> AcceptKey {
    let mut sha1 = Sha1::new();
    sha1.update(key.trim_ascii());
    sha1.update(WS_GUID);
    AcceptKey::encode(sha1.finalize().as_slice())
}

/// A fresh random `Sec-WebSocket-Key` for the upstream handshake.
pub fn new_key() -> WebSocketKey {
    let nonce: [u8; 16] = rand::random();
    WebSocketKey::encode(&nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_tungstenites() {
        for key in [
            "dGhlIHNhbXBsZSBub25jZQ==",
            " dGhlIHNhbXBsZSBub25jZQ==\t",
            "",
            "not base64 at all",
        ] {
            let ours = accept_key(key.as_bytes());
            let theirs =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.trim().as_bytes());
            assert_eq!(ours, theirs.as_str(), "{key:?}");
        }
        for _ in 0..64 {
            let key = new_key();
            let decoded = STANDARD.decode(key.as_bytes()).unwrap();
            assert_eq!(decoded.len(), 16);
            assert_eq!(STANDARD.encode(&decoded), key.as_str());
        }
        assert_ne!(new_key(), new_key());
    }
}
