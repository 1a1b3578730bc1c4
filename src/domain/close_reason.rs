//! The closed set of reasons wsgate ends a live WebSocket session for.
//!
//! A session that is already relaying has no HTTP answer left to give: its reason travels
//! as the close frame's code and reason text, the `reason` label of
//! `wsgate_sessions_closed_total` and the `reason` field of the "session closed" log line.
//! So a close reason has a code string and a close code, and no status. Codes shared with
//! a [`Refusal`](super::refusal::Refusal) (`token_expired`, `token_revoked`,
//! `server_shutdown`, `upstream_unavailable`) are the same string with the same close code.

/// Why wsgate ended a live session (or, for `UpstreamUnavailable`, why the upstream's
/// vanishing ended it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The token's `exp` (plus leeway) passed mid-session (`session_expiry = "close"`).
    TokenExpired,
    /// A revocation named the session's token, subject, session or signing key.
    TokenRevoked,
    /// The drain closed the session.
    ServerShutdown,
    /// The upstream's connection ended without a close frame.
    UpstreamUnavailable,
    SessionMaxAge,
    MessageTooBig,
    IdleTimeout,
    ProtocolError,
    SlowConsumer,
    RateLimited,
}

impl CloseReason {
    /// Every close reason, in the order of the contract table.
    pub const ALL: [CloseReason; 10] = [
        CloseReason::TokenExpired,
        CloseReason::UpstreamUnavailable,
        CloseReason::ServerShutdown,
        CloseReason::SessionMaxAge,
        CloseReason::MessageTooBig,
        CloseReason::IdleTimeout,
        CloseReason::ProtocolError,
        CloseReason::SlowConsumer,
        CloseReason::RateLimited,
        CloseReason::TokenRevoked,
    ];

    /// The stable, machine-readable code: the close frame's reason text.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TokenExpired => "token_expired",
            CloseReason::TokenRevoked => "token_revoked",
            CloseReason::ServerShutdown => "server_shutdown",
            CloseReason::UpstreamUnavailable => "upstream_unavailable",
            CloseReason::SessionMaxAge => "session_max_age",
            CloseReason::MessageTooBig => "message_too_big",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::RateLimited => "rate_limited",
        }
    }

    /// The WebSocket close code sent to the client.
    pub fn close_code(self) -> u16 {
        match self {
            CloseReason::TokenExpired
            | CloseReason::TokenRevoked
            | CloseReason::SlowConsumer
            | CloseReason::RateLimited => 1008,
            CloseReason::ServerShutdown | CloseReason::SessionMaxAge | CloseReason::IdleTimeout => {
                1001
            }
            CloseReason::UpstreamUnavailable => 1014,
            CloseReason::MessageTooBig => 1009,
            CloseReason::ProtocolError => 1002,
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::refusal::Refusal;

    #[test]
    fn every_code_is_unique_and_fits_a_close_frame() {
        let mut seen = std::collections::HashSet::new();
        for reason in CloseReason::ALL {
            assert!(seen.insert(reason.as_str()), "duplicate code {reason}");
            assert!(
                reason.as_str().len() <= 123,
                "close reason must fit a control frame"
            );
        }
    }

    #[test]
    fn a_code_shared_with_a_refusal_has_its_close_code() {
        let mut shared = 0;
        for reason in CloseReason::ALL {
            if let Some(refusal) = Refusal::ALL
                .into_iter()
                .find(|refusal| refusal.as_str() == reason.as_str())
            {
                assert_eq!(refusal.close_code(), reason.close_code(), "{reason}");
                shared += 1;
            }
        }
        assert_eq!(shared, 4);
        // The contract's table has 33 codes: each is a refusal, a close reason, or both.
        assert_eq!(Refusal::ALL.len() + CloseReason::ALL.len() - shared, 33);
    }

    #[test]
    fn mid_session_codes_keep_their_close_codes() {
        assert_eq!(CloseReason::SessionMaxAge.close_code(), 1001);
        assert_eq!(CloseReason::MessageTooBig.close_code(), 1009);
        assert_eq!(CloseReason::ProtocolError.close_code(), 1002);
        assert_eq!(CloseReason::UpstreamUnavailable.close_code(), 1014);
        assert_eq!(CloseReason::TokenRevoked.close_code(), 1008);
    }
}
