//! The one decision path: route, origin, token sources, bypass, JWT, route claims.

pub mod jwt;
pub mod keys;
pub mod trace;
