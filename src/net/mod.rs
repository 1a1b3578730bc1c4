//! Network plumbing below every I/O stage: the listener's TLS material and the client TLS
//! settings, the outgoing stream type, and a stream that replays bytes already read.

pub mod prefixed;
pub mod stream;
pub mod tls;
