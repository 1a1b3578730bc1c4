//! The `client` field: a socket address written in one piece.

use std::fmt;
use std::net::SocketAddr;

use super::json::decimal;

/// A client address as a log field: `SocketAddr`'s `Display` text, formatted in one piece
/// for IPv4. The standard `Display` writes each octet through its own nested `write!`,
/// and through the JSON escaper that was ~1.9 k instructions per line, the largest single
/// cost of a decision line; IPv6 (rare here, and with compression rules) still uses it.
pub(in crate::telemetry) struct ClientAddr(pub(in crate::telemetry) SocketAddr);

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SocketAddr::V4(addr) = self.0 else {
            return fmt::Display::fmt(&self.0, f);
        };
        if f.width().is_some() || f.precision().is_some() {
            return fmt::Display::fmt(&self.0, f);
        }
        // "255.255.255.255:65535" is 21 bytes.
        let mut text = [0u8; 21];
        let mut len = 0;
        let mut push = |bytes: &[u8]| {
            text[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        let mut digits = [0; 20];
        for (index, octet) in addr.ip().octets().into_iter().enumerate() {
            if index > 0 {
                push(b".");
            }
            push(decimal(&mut digits, u64::from(octet)));
        }
        push(b":");
        push(decimal(&mut digits, u64::from(addr.port())));
        f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
    }
}
