//! handshake (skeleton)
