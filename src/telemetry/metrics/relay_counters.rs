//! The relay's per-frame counters (`wsgate_relayed_frames_total`,
//! `wsgate_relayed_bytes_total`), handed out as plain counter handles so the frame path
//! pays one atomic add and no label lookup.

use prometheus::IntCounter;

use super::Metrics;

/// The live counters a relay bumps per frame, for both directions.
///
/// Cloned handles: incrementing one is a single atomic add, no label lookup per frame.
#[derive(Clone, Debug)]
pub struct RelayCounters {
    pub frames_to_upstream: IntCounter,
    pub bytes_to_upstream: IntCounter,
    pub frames_to_client: IntCounter,
    pub bytes_to_client: IntCounter,
}

impl Metrics {
    /// Handles for the relay's per-frame counters.
    pub fn relay_counters(&self) -> RelayCounters {
        let to_upstream = [Direction::ToUpstream.as_str()];
        let to_client = [Direction::ToClient.as_str()];
        RelayCounters {
            frames_to_upstream: self.relayed_frames.with_label_values(&to_upstream),
            bytes_to_upstream: self.relayed_bytes.with_label_values(&to_upstream),
            frames_to_client: self.relayed_frames.with_label_values(&to_client),
            bytes_to_client: self.relayed_bytes.with_label_values(&to_client),
        }
    }
}

/// The `direction` label of the relay counters.
#[derive(Debug, Clone, Copy)]
enum Direction {
    ToUpstream,
    ToClient,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::ToUpstream => "to_upstream",
            Direction::ToClient => "to_client",
        }
    }
}
