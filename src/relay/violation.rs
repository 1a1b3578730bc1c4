//! [`Violation`]: a framing rule a peer broke, and the close code and reason it earns.

use crate::domain::close_reason::CloseReason;
use crate::ws::close::BadClose;

/// A framing rule a peer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Violation {
    /// RFC 6455 framing: close 1002.
    Protocol,
    /// A close reason that is not UTF-8: close 1007 (RFC 6455 §8.1).
    CloseReasonNotUtf8,
    /// A frame or message over the configured limit: close 1009.
    TooBig,
    /// A ping over the client's ping budget (docs/security-cases.md F10): close 1008.
    RateLimited,
}

impl Violation {
    /// The close code the offending peer receives.
    pub(super) fn close_code(self) -> u16 {
        match self {
            Violation::Protocol => CloseReason::ProtocolError.close_code(),
            Violation::CloseReasonNotUtf8 => 1007,
            Violation::TooBig => CloseReason::MessageTooBig.close_code(),
            Violation::RateLimited => CloseReason::RateLimited.close_code(),
        }
    }

    pub(super) fn reason(self) -> CloseReason {
        match self {
            Violation::Protocol | Violation::CloseReasonNotUtf8 => CloseReason::ProtocolError,
            Violation::TooBig => CloseReason::MessageTooBig,
            Violation::RateLimited => CloseReason::RateLimited,
        }
    }
}

impl From<BadClose> for Violation {
    #[inline]
    fn from(bad: BadClose) -> Violation {
        match bad {
            BadClose::Malformed => Violation::Protocol,
            BadClose::ReasonNotUtf8 => Violation::CloseReasonNotUtf8,
        }
    }
}
