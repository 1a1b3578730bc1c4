//! The nouns every layer speaks: why a handshake is refused or a session ends, a session's
//! id, and the wall clock. No I/O and no configuration here.

pub mod clock;
pub mod reason;
pub mod session_id;
