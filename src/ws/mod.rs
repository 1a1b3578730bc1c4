//! WebSocket (RFC 6455) vocabulary: the opening handshake's checks and `Sec-WebSocket-Accept`.

pub mod handshake;
