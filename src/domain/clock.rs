//! Wall-clock time. Token times (RFC 7519 `exp`, `nbf`, `iat`) and revocation ends are
//! wall-clock seconds shared between replicas; durations inside the process use
//! `tokio::time::Instant` so tests can pause time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Wall-clock seconds since the Unix epoch; 0 for a clock set before 1970.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// When a budget that began at `started` runs out: a step bounded by what is left of it
/// ends at this instant, taken from when the budget began rather than from a clock read per
/// step (the same end, one read fewer each). About 30 years on when that is past what an
/// `Instant` holds, as `tokio::time::timeout` does.
pub fn budget_end(started: Instant, budget: Duration) -> Instant {
    started
        .checked_add(budget)
        .unwrap_or_else(|| started + Duration::from_secs(86400 * 365 * 30))
}
