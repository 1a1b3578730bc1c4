//! [`PingBudget`]: the token bucket that limits one client's pings (docs/security-cases.md F10).

use tokio::time::Instant;

/// A token bucket for one client's pings: `per_second` tokens a second, holding at most
/// `per_second`, so a burst of one second's worth is allowed. Time is read only when a
/// ping arrives; nothing runs between pings.
#[derive(Debug)]
pub(super) struct PingBudget {
    per_second: f64,
    tokens: f64,
    refilled_at: Option<Instant>,
}

impl PingBudget {
    pub(super) fn new(per_second: u32) -> PingBudget {
        let per_second = f64::from(per_second.max(1));
        PingBudget {
            per_second,
            tokens: per_second,
            refilled_at: None,
        }
    }

    /// Spends a token for a ping arriving at `now`; `false` when none is left.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if let Some(at) = self.refilled_at {
            let earned = now.saturating_duration_since(at).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + earned).min(self.per_second);
        }
        self.refilled_at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ping_budget_allows_a_one_second_burst_then_the_rate() {
        let start = Instant::now();
        let mut budget = PingBudget::new(10);
        for i in 0..10 {
            assert!(budget.take(start), "ping {i} of the burst");
        }
        assert!(!budget.take(start), "the 11th ping in the same instant");
        // One token back every 100 ms.
        assert!(budget.take(start + Duration::from_millis(100)));
        assert!(!budget.take(start + Duration::from_millis(150)));
        // A long pause refills to the burst, never beyond it.
        let later = start + Duration::from_secs(3600);
        for i in 0..10 {
            assert!(budget.take(later), "ping {i} after a pause");
        }
        assert!(!budget.take(later));
    }
}
