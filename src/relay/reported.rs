//! [`Reported`]: what one relay has added to the relayed-traffic counters
//! ([`RelayCounters`]) so far.

use super::session::Session;
use crate::telemetry::metrics::RelayCounters;

/// What has been added to the shared counters so far: they are bumped once per poll, not
/// once per frame.
#[derive(Debug, Default)]
pub(super) struct Reported {
    frames_to_upstream: u64,
    bytes_to_upstream: u64,
    frames_to_client: u64,
    bytes_to_client: u64,
}

impl Reported {
    pub(super) fn update(&mut self, session: &Session, counters: &RelayCounters) {
        fn bump(counter: &prometheus::IntCounter, reported: &mut u64, now: u64) {
            if now > *reported {
                counter.inc_by(now - *reported);
                *reported = now;
            }
        }
        bump(
            &counters.frames_to_upstream,
            &mut self.frames_to_upstream,
            session.to_upstream.frames,
        );
        bump(
            &counters.bytes_to_upstream,
            &mut self.bytes_to_upstream,
            session.to_upstream.bytes,
        );
        bump(
            &counters.frames_to_client,
            &mut self.frames_to_client,
            session.to_client.frames,
        );
        bump(
            &counters.bytes_to_client,
            &mut self.bytes_to_client,
            session.to_client.bytes,
        );
    }
}
