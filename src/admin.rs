//! admin (skeleton)
