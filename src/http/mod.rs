//! HTTP vocabulary: the one path normalization (route matching and the forwarded path),
//! the one hop-by-hop header list, the one header-name folding rule, and the uncached
//! answers of the admin listener.

pub mod fold;
pub mod hop_by_hop;
pub mod path;
pub mod uncached;
