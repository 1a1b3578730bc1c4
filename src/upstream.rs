//! upstream (skeleton)
