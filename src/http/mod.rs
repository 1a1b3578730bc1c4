//! HTTP vocabulary: the one path normalization (route matching and the forwarded path),
//! and the uncached answers of the admin listener.

pub mod path;
pub mod uncached;
