//! WebSocket (RFC 6455) vocabulary: the opening handshake's checks and
//! `Sec-WebSocket-Accept`, and the one frame codec (headers, masking, close frames).

pub mod close;
pub mod frame;
pub mod handshake;
