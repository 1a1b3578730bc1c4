//! proxy (skeleton)
