//! metrics (skeleton)
