//! [`RelaySettings`]: the per-session relay policy (limits, timers, the negotiated
//! extensions), and [`Extensions`], what a 101's `Sec-WebSocket-Extensions` allows in the
//! RSV bits.

use std::time::Duration;

use tokio::time::Instant;

use crate::timer::Timer;

/// Per-session relay policy.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// A frame whose payload is over this ends the session with 1009 `message_too_big`.
    pub max_frame_bytes: u64,
    /// A message whose fragments' payloads add up to over this: 1009 `message_too_big`.
    pub max_message_bytes: u64,
    /// No frame in either direction for this long: 1001 `idle_timeout` to both sides.
    pub idle_timeout: Option<Duration>,
    /// 1001 `session_max_age` to both sides after this long.
    pub max_session_duration: Option<Duration>,
    /// The token's `exp` plus leeway, when `session_expiry = "close"`: the client gets
    /// 1008 `token_expired`, the upstream 1001 `token_expired`.
    pub expires_at: Option<Instant>,
    /// The extensions the upstream's 101 selected: they decide which RSV bits may be set.
    pub extensions: Extensions,
    /// How long to wait for close replies (and for a frame in flight to finish) once a
    /// close has been sent.
    pub close_timeout: Duration,
    /// A peer that accepts none of the bytes waiting for it for this long: it gets 1008
    /// `slow_consumer` (if its output ever reaches a frame boundary in time), the other
    /// side 1001 `slow_consumer`.
    pub send_timeout: Option<Duration>,
    /// The client's pings per second (bursts up to the same number); one more is a
    /// violation: 1008 `rate_limited` to the client, 1001 to the upstream.
    pub max_pings_per_second: u32,
    /// Where the session's deadline is kept: the process's timer thread in the proxy
    /// ([`Timer::coarse`]), so a relaying runtime waits without a timeout; tokio's in tests
    /// that pause time.
    pub timer: Timer,
}

/// What the negotiated extensions allow in the RSV bits (RFC 6455 §5.2: non-zero only
/// with an extension that defines them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extensions {
    /// None negotiated: every RSV bit must be clear.
    None,
    /// permessage-deflate alone (RFC 7692): RSV1 on a message's first frame only.
    PermessageDeflate,
    /// An extension wsgate does not know defines its own bits: they are relayed as they
    /// come, since wsgate cannot judge them.
    Other,
}

impl Extensions {
    /// Classifies a 101's `Sec-WebSocket-Extensions` value (all its headers joined).
    pub fn negotiated(value: Option<&[u8]>) -> Extensions {
        let Some(value) = value else {
            return Extensions::None;
        };
        let mut names = value
            .split(|&b| b == b',')
            .filter_map(|ext| ext.split(|&b| b == b';').next())
            .map(<[u8]>::trim_ascii)
            .filter(|name| !name.is_empty())
            .peekable();
        if names.peek().is_none() {
            return Extensions::None;
        }
        if names.all(|name| name.eq_ignore_ascii_case(b"permessage-deflate")) {
            Extensions::PermessageDeflate
        } else {
            Extensions::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
