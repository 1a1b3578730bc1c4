//! How a session ends: what the session does about a direction's event (a peer's close,
//! a violation, a vanished peer), a request from session control, or a deadline, and when
//! each side is settled. The rules are listed in the relay's module documentation.

use tokio::time::Instant;

use super::{Ended, Session, Side, other};
use crate::domain::close_reason::CloseReason;
use crate::domain::initiator::Initiator;
use crate::relay::control::Requests;
use crate::relay::direction::{Event, Output};

impl Session {
    pub(super) fn handle(&mut self, from: Side, event: Event) {
        match event {
            Event::Close { code } => self.begin_end(from.into(), Some(code), None),
            Event::Violation(violation) => {
                let code = violation.close_code();
                let reason = violation.reason();
                self.begin_end(Initiator::Proxy, Some(code), Some(reason));
                self.from(from)
                    .inject_close(CloseReason::ServerShutdown.close_code(), reason.as_str());
                match from {
                    // The upstream's frames in flight still reach the client, up to the
                    // upstream's close reply, which wsgate's close to the client replaces.
                    Side::Client => {
                        self.to_client.hold_close(code, reason.as_str());
                        self.client_close_held = self.to_client.holds_close();
                    }
                    Side::Upstream => self.to_upstream.inject_close(code, reason.as_str()),
                }
            }
            Event::InputEnded => {
                if !self.from(from).peer_closed {
                    self.peer_gone(from);
                }
            }
            // The direction reading `from` writes to the other peer, which is gone.
            Event::OutputFailed => self.peer_gone(other(from)),
        }
    }

    /// `peer`'s connection ended without a close frame (or cannot be written to).
    fn peer_gone(&mut self, peer: Side) {
        let reason = match peer {
            Side::Upstream => Some(CloseReason::UpstreamUnavailable),
            Side::Client => None,
        };
        self.begin_end(peer.into(), None, reason);
        let toward_peer = self.toward(peer);
        toward_peer.cut_output();
        // What the other peer still sends has nowhere to go; only its close reply matters.
        toward_peer.drain();
        let from_peer = self.from(peer);
        from_peer.input_done = true;
        if from_peer.mid_frame_on_output() {
            // The frame in flight can never be finished, so no close can follow it.
            from_peer.cut_output();
            self.from(other(peer)).input_done = true;
            return;
        }
        from_peer.discard();
        let (code, text) = match peer {
            Side::Upstream => (
                CloseReason::UpstreamUnavailable.close_code(),
                CloseReason::UpstreamUnavailable.as_str(),
            ),
            Side::Client => (
                CloseReason::ServerShutdown.close_code(),
                CloseReason::ServerShutdown.as_str(),
            ),
        };
        from_peer.inject_close(code, text);
    }

    /// Requests from session control: a new expiry deadline, or an end.
    pub(in crate::relay) fn apply(&mut self, requests: Requests) {
        if self.ended.is_some() {
            return;
        }
        if let Some(expires_at) = requests.expires_at {
            self.settings.expires_at = expires_at;
            self.armed = self.running_deadline();
        }
        if let Some(reason) = requests.close {
            self.close_by_proxy(reason);
        }
    }

    /// wsgate ends the session: `reason`'s code to the client, 1001 to the upstream.
    pub(super) fn close_by_proxy(&mut self, reason: CloseReason) {
        if self.ended.is_some() {
            return;
        }
        let client_code = reason.close_code();
        self.begin_end(Initiator::Proxy, Some(client_code), Some(reason));
        self.to_client.inject_close(client_code, reason.as_str());
        self.to_upstream
            .inject_close(CloseReason::ServerShutdown.close_code(), reason.as_str());
    }

    /// `peer` has read none of the bytes waiting for it for `send_timeout`: it gets 1008
    /// `slow_consumer` should its output reach a frame boundary within the close timeout
    /// (else its connection is cut then), and the other side 1001 `slow_consumer`.
    pub(super) fn slow_consumer(&mut self, peer: Side) {
        let reason = CloseReason::SlowConsumer;
        self.begin_end(Initiator::Proxy, Some(reason.close_code()), Some(reason));
        self.toward(peer)
            .inject_close(reason.close_code(), reason.as_str());
        self.from(peer)
            .inject_close(CloseReason::ServerShutdown.close_code(), reason.as_str());
    }

    /// Records the first ending and starts the close deadline.
    fn begin_end(&mut self, initiator: Initiator, code: Option<u16>, reason: Option<CloseReason>) {
        if self.ended.is_some() {
            return;
        }
        self.ended = Some(Ended {
            initiator,
            code,
            reason,
        });
        self.armed = Some(Instant::now() + self.settings.close_timeout);
    }

    /// Nothing more will be written to `peer`, and nothing more is awaited from it.
    pub(super) fn settled(&self, peer: Side) -> bool {
        let toward = match peer {
            Side::Client => &self.to_client,
            Side::Upstream => &self.to_upstream,
        };
        let from = match peer {
            Side::Client => &self.to_upstream,
            Side::Upstream => &self.to_client,
        };
        toward.output_settled()
            && (from.input_done || from.peer_closed || toward.output == Output::Dead)
    }
}
