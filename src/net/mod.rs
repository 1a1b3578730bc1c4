//! Network plumbing below every I/O stage: the listener's TLS material and the client TLS
//! settings, the outgoing stream type, a stream that replays bytes already read, and
//! whether a stream's end needs a shutdown before it is dropped.

pub mod prefixed;
pub mod shutdown;
pub mod stream;
pub mod tls;
