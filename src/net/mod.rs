//! Network plumbing below every I/O stage: the listener's TLS material and the client TLS
//! settings, the outgoing stream type, a stream that replays bytes already read, whether
//! a stream's end needs a shutdown before it is dropped, and a read through a buffer on
//! the stack.

pub mod dial;
pub mod prefixed;
pub mod shutdown;
pub mod stack_read;
pub mod stream;
pub mod tls;
