//! The nouns every layer speaks: why a handshake is refused or a session ends, how a
//! caller got in and who ended a session, a session's id, and the wall clock. No I/O and
//! no configuration here.

pub mod auth_method;
pub mod clock;
pub mod close_reason;
pub mod initiator;
pub mod refusal;
pub mod session_id;
