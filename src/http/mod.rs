//! HTTP vocabulary: the one path normalization (route matching and the forwarded path).

pub mod path;
