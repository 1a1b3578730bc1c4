//! Live sessions: the identity every admitted WebSocket session carries.
//!
//! A session id names one relayed connection in the client's 101 (`X-Wsgate-Session`),
//! in its log lines and, for session control, in the registry that revocation and
//! refresh act on.

mod id;

pub use id::{SESSION_HEADER, SessionId};
