//! How a session ended ([`SessionEnd`]): who ended it, the first close code, wsgate's
//! reason, and the traffic it carried.

use crate::domain::close_reason::CloseReason;
use crate::domain::initiator::Initiator;

/// How a session ended, and what it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    pub initiator: Initiator,
    /// The code of the first close frame, from a peer or from wsgate (wsgate's code toward
    /// the offender, or toward the client); 1005 for a bodyless close; `None` when the
    /// initiator's TCP connection just ended.
    pub code: Option<u16>,
    /// Set when wsgate ended the session, or `UpstreamUnavailable` when the upstream
    /// vanished without a close.
    pub reason: Option<CloseReason>,
    pub frames_to_upstream: u64,
    pub frames_to_client: u64,
    pub bytes_to_upstream: u64,
    pub bytes_to_client: u64,
}
