//! The `client` field: a socket address written in one piece.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::SocketAddr;

/// A client address as a log field: `SocketAddr`'s `Display` text, formatted in one piece
/// for IPv4. The standard `Display` writes each octet through its own nested `write!`,
/// and through the JSON escaper that was ~1.9 k instructions per line, the largest single
/// cost of a decision line; IPv6 (rare here, and with compression rules) still uses it.
pub(in crate::telemetry) struct ClientAddr(pub(in crate::telemetry) SocketAddr);

/// Room for any `SocketAddr`'s text: `[` + the longest IPv6 text (45 bytes,
/// `ffff:…:255.255.255.255`) + `%` + a 10-digit scope id + `]:65535`.
const TEXT_CAPACITY: usize = 72;

/// A stack buffer [`ClientAddr::text`] writes into.
pub(in crate::telemetry) type TextBuffer = [u8; TEXT_CAPACITY];

impl ClientAddr {
    /// An empty buffer for [`ClientAddr::text`].
    pub(in crate::telemetry) const fn buffer() -> TextBuffer {
        [0; TEXT_CAPACITY]
    }

    /// The address's `Display` text, written into `buffer`: what a log call records as a
    /// plain string (no `Display` value for the formatter to drive through `fmt`).
    pub(in crate::telemetry) fn text<'b>(&self, buffer: &'b mut TextBuffer) -> Cow<'b, str> {
        let len = match self.0 {
            SocketAddr::V4(addr) => {
                let mut len = 0;
                for (index, octet) in addr.ip().octets().into_iter().enumerate() {
                    if index > 0 {
                        buffer[len] = b'.';
                        len += 1;
                    }
                    len = put_decimal(buffer, len, u16::from(octet));
                }
                buffer[len] = b':';
                put_decimal(buffer, len + 1, addr.port())
            }
            SocketAddr::V6(addr) => {
                let mut stack = Stack { buffer, len: 0 };
                if write!(stack, "{addr}").is_err() {
                    return Cow::Owned(addr.to_string());
                }
                stack.len
            }
        };
        match std::str::from_utf8(&buffer[..len]) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(self.0.to_string()),
        }
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_ipv4() || f.width().is_some() || f.precision().is_some() {
            return fmt::Display::fmt(&self.0, f);
        }
        f.write_str(&self.text(&mut [0; TEXT_CAPACITY]))
    }
}

/// Writes `value` in decimal at `buffer[at..]` and returns where it ends: digit by digit
/// in place (no copy of a digit string, each a `memcpy` call).
fn put_decimal(buffer: &mut TextBuffer, at: usize, value: u16) -> usize {
    let digit = |n: u16| b'0' + u8::try_from(n % 10).unwrap_or(0);
    let mut at = at;
    for power in [10_000, 1_000, 100, 10] {
        if value >= power {
            buffer[at] = digit(value / power);
            at += 1;
        }
    }
    buffer[at] = digit(value);
    at + 1
}

/// A `fmt::Write` into a fixed buffer; fails rather than truncates when it is full.
struct Stack<'b> {
    buffer: &'b mut TextBuffer,
    len: usize,
}

impl fmt::Write for Stack<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        let slot = self.buffer.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}
