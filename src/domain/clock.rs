//! Wall-clock time. Token times (RFC 7519 `exp`, `nbf`, `iat`) and revocation ends are
//! wall-clock seconds shared between replicas; durations inside the process use
//! `tokio::time::Instant` so tests can pause time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock seconds since the Unix epoch; 0 for a clock set before 1970.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
