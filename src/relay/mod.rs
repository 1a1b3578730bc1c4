//! The frame-aware relay between an authenticated client and the upstream.
//!
//! Bytes move verbatim in both directions; a scanner per direction ([`frame`]) reads frame
//! headers only, so wsgate can enforce RFC 6455 framing and the size limits at the edge,
//! count frames, and end a session with its own close frame at a frame boundary. Both
//! directions, one timer (idle, maximum age, token expiry, then the close deadline) and
//! the shutdown token are driven by one future in the connection's task, like
//! `tokio::io::copy_bidirectional`.
//!
//! How a session ends:
//! - a peer's close is relayed verbatim, the other's reply relayed back, then both
//!   sockets are shut down (`initiator` is that peer, `code` its close code, 1005 when
//!   bodyless);
//! - a framing violation: the offender gets 1002 (1007 for a non-UTF-8 close reason,
//!   1009 over a size limit), the other side 1001, reason text the reason code. The
//!   offending frame and everything after it are never relayed. When the client is the
//!   offender, the upstream gets its 1001 at once, but the client's close is held back:
//!   the upstream's frames still in flight (say, the echo of the message the client sent
//!   just before the bad frame) are relayed to the client until the upstream's close reply
//!   arrives, and wsgate's close goes to the client in its place, as if the upstream had
//!   failed the connection itself. If the upstream does not reply within `close_timeout`
//!   (or vanishes, or breaks a rule), the client gets its close then;
//! - idle timeout, maximum age, shutdown: 1001 to both; token expiry: 1008 to the
//!   client and 1001 to the upstream;
//! - a client pinging faster than `max_pings_per_second` breaks a rule like a framing
//!   violation: 1008 `rate_limited` to it, 1001 to the upstream (SECURITY-CASES F10);
//! - a slow consumer, a peer that accepts none of the bytes waiting for it for
//!   `send_timeout` (R4, R5): the other side gets 1001 `slow_consumer` at once; the slow
//!   peer gets 1008 `slow_consumer` if its output reaches a frame boundary within the close
//!   timeout, and is cut then otherwise. Memory stays bounded meanwhile: a direction reads
//!   nothing more until its output drains. "Accepts" is what the stream reports: a write
//!   or flush that completes. The kernel reports a full socket writable only once about a
//!   third of its send buffer has drained, and a TLS stream's flush stays pending until its
//!   whole buffer is out, so a steady slow reader can show no progress for a while; hence
//!   the setting is off by default and meant to be generous;
//! - the upstream vanishes without a close (EOF, RST): the client gets 1014
//!   `upstream_unavailable` (SECURITY-CASES X10 allows 1014 or 1011; 1014 "bad gateway"
//!   says whose fault it was and matches the handshake-time code);
//! - the client vanishes: the upstream gets 1001 `server_shutdown` (X12).
//!
//! After a peer's close, whatever that peer sends next is dropped (RFC 6455 §5.5.1); the
//! other peer's frames up to its close reply are still relayed. After wsgate's own close
//! toward a peer, nothing more is relayed to it, and the peer's reply is consumed. The
//! first close (or vanished peer) starts one deadline, `close_timeout`, for everything
//! that follows: finishing a frame in flight before wsgate's close can be written, the
//! replies, and the shutdown of both sockets; when it passes, the streams are dropped.
//! The one exception is a held close to the client: releasing it restarts the deadline,
//! so the client has a whole `close_timeout` to reply, and such a session ends within
//! twice `close_timeout`. A frame in flight whose sender has gone can never be finished,
//! so that output is cut without a close.

mod control;
mod direction;
mod frame;
mod fuzzing;
mod reported;

pub use control::Control;
#[doc(hidden)]
pub(crate) use fuzzing::scan_frames;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::domain::reason::Reason;
use direction::{Direction, Event, Output};
use frame::{Limits, Scanner, Sender};
use reported::Reported;

/// Per-session relay policy.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// A frame whose payload is over this ends the session with 1009 `message_too_big`.
    pub max_frame_bytes: u64,
    /// A message whose fragments' payloads add up to over this: 1009 `message_too_big`.
    pub max_message_bytes: u64,
    /// No frame in either direction for this long: 1001 `idle_timeout` to both sides.
    pub idle_timeout: Option<Duration>,
    /// 1001 `session_max_age` to both sides after this long.
    pub max_session_duration: Option<Duration>,
    /// The token's `exp` plus leeway, when `session_expiry = "close"`: the client gets
    /// 1008 `token_expired`, the upstream 1001 `token_expired`.
    pub expires_at: Option<Instant>,
    /// The extensions the upstream's 101 selected: they decide which RSV bits may be set.
    pub extensions: Extensions,
    /// How long to wait for close replies (and for a frame in flight to finish) once a
    /// close has been sent.
    pub close_timeout: Duration,
    /// A peer that accepts none of the bytes waiting for it for this long: it gets 1008
    /// `slow_consumer` (if its output ever reaches a frame boundary in time), the other
    /// side 1001 `slow_consumer`.
    pub send_timeout: Option<Duration>,
    /// The client's pings per second (bursts up to the same number); one more is a
    /// violation: 1008 `rate_limited` to the client, 1001 to the upstream.
    pub max_pings_per_second: u32,
}

/// What the negotiated extensions allow in the RSV bits (RFC 6455 §5.2: non-zero only
/// with an extension that defines them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extensions {
    /// None negotiated: every RSV bit must be clear.
    None,
    /// permessage-deflate alone (RFC 7692): RSV1 on a message's first frame only.
    PermessageDeflate,
    /// An extension wsgate does not know defines its own bits: they are relayed as they
    /// come, since wsgate cannot judge them.
    Other,
}

impl Extensions {
    /// Classifies a 101's `Sec-WebSocket-Extensions` value (all its headers joined).
    pub fn negotiated(value: Option<&[u8]>) -> Extensions {
        let Some(value) = value else {
            return Extensions::None;
        };
        let mut names = value
            .split(|&b| b == b',')
            .filter_map(|ext| ext.split(|&b| b == b';').next())
            .map(<[u8]>::trim_ascii)
            .filter(|name| !name.is_empty())
            .peekable();
        if names.peek().is_none() {
            return Extensions::None;
        }
        if names.all(|name| name.eq_ignore_ascii_case(b"permessage-deflate")) {
            Extensions::PermessageDeflate
        } else {
            Extensions::Other
        }
    }
}

/// The relayed-traffic counters (`wsgate_relayed_frames_total`, `wsgate_relayed_bytes_total`).
#[derive(Debug, Clone)]
pub struct RelayCounters {
    pub frames_to_upstream: prometheus::IntCounter,
    pub bytes_to_upstream: prometheus::IntCounter,
    pub frames_to_client: prometheus::IntCounter,
    pub bytes_to_client: prometheus::IntCounter,
}

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    Client,
    Upstream,
    Proxy,
}

/// How a session ended, and what it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    pub initiator: Initiator,
    /// The code of the first close frame, from a peer or from wsgate (wsgate's code toward
    /// the offender, or toward the client); 1005 for a bodyless close; `None` when the
    /// initiator's TCP connection just ended.
    pub code: Option<u16>,
    /// Set when wsgate ended the session, or `UpstreamUnavailable` when the upstream
    /// vanished without a close.
    pub reason: Option<Reason>,
    pub frames_to_upstream: u64,
    pub frames_to_client: u64,
    pub bytes_to_upstream: u64,
    pub bytes_to_client: u64,
}

/// Relays until the session ends; both streams are shut down when it returns.
pub async fn relay<C, U>(
    client: C,
    upstream: U,
    settings: RelaySettings,
    counters: &RelayCounters,
    shutdown: CancellationToken,
) -> SessionEnd
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    relay_controlled(client, upstream, settings, counters, shutdown, None).await
}

/// [`relay`], also ended or re-timed from outside through `control` (session control:
/// revocation, refresh).
pub async fn relay_controlled<C, U>(
    mut client: C,
    mut upstream: U,
    settings: RelaySettings,
    counters: &RelayCounters,
    shutdown: CancellationToken,
    control: Option<&Control>,
) -> SessionEnd
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let mut session = Session::new(settings, Instant::now());
    // A child token has its own waiter list, so polling it does not contend on the lock of
    // a token shared by every session.
    let shutdown = shutdown.child_token();
    let mut cancelled = std::pin::pin!(shutdown.cancelled());
    // Armed only when `session.armed` is set; the initial deadline is a placeholder.
    let mut timer = std::pin::pin!(tokio::time::sleep(Duration::from_secs(86_400)));
    let mut reported = Reported::default();
    std::future::poll_fn(|cx| {
        if let Some(requests) = control.and_then(|control| control.take(cx)) {
            session.apply(requests);
        }
        let poll = session.poll(
            cx,
            &mut client,
            &mut upstream,
            timer.as_mut(),
            cancelled.as_mut(),
        );
        reported.update(&session, counters);
        poll
    })
    .await;
    session.end()
}

/// One of the two peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Upstream,
}

impl From<Side> for Initiator {
    fn from(side: Side) -> Initiator {
        match side {
            Side::Client => Initiator::Client,
            Side::Upstream => Initiator::Upstream,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Relaying, or closing (once `ended` is set).
    Running,
    /// Every close is exchanged or given up on: shutting the sockets down.
    ShuttingDown,
    Done,
}

#[derive(Debug)]
struct Ended {
    initiator: Initiator,
    code: Option<u16>,
    reason: Option<Reason>,
}

struct Session {
    settings: RelaySettings,
    /// Reads the client, writes the upstream.
    to_upstream: Direction,
    /// Reads the upstream, writes the client.
    to_client: Direction,
    stage: Stage,
    ended: Option<Ended>,
    max_age_at: Option<Instant>,
    last_activity: Instant,
    /// The timer's deadline; idle activity does not move it (it is re-checked on firing).
    armed: Option<Instant>,
    client_shut: bool,
    upstream_shut: bool,
    /// wsgate's close to the client is held back until the upstream's reply (see
    /// `Direction::hold_close`); when it is released, the close deadline restarts.
    client_close_held: bool,
}

impl Session {
    fn new(settings: RelaySettings, now: Instant) -> Session {
        let limits = Limits {
            max_frame_bytes: settings.max_frame_bytes,
            max_message_bytes: settings.max_message_bytes,
            extensions: settings.extensions,
        };
        let mut session = Session {
            to_upstream: Direction::new(
                Scanner::new(Sender::Client, limits).with_ping_limit(settings.max_pings_per_second),
                true,
            ),
            to_client: Direction::new(Scanner::new(Sender::Upstream, limits), false),
            stage: Stage::Running,
            ended: None,
            max_age_at: settings
                .max_session_duration
                .and_then(|d| now.checked_add(d)),
            last_activity: now,
            armed: None,
            client_shut: false,
            upstream_shut: false,
            client_close_held: false,
            settings,
        };
        session.armed = session.running_deadline();
        session
    }

    fn poll<C, U>(
        &mut self,
        cx: &mut Context<'_>,
        client: &mut C,
        upstream: &mut U,
        mut timer: Pin<&mut Sleep>,
        mut cancelled: Pin<&mut impl Future<Output = ()>>,
    ) -> Poll<()>
    where
        C: AsyncRead + AsyncWrite + Unpin,
        U: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            match self.stage {
                Stage::Done => return Poll::Ready(()),
                Stage::ShuttingDown => {
                    if !self.client_shut {
                        self.client_shut = Pin::new(&mut *client).poll_shutdown(cx).is_ready();
                    }
                    if !self.upstream_shut {
                        self.upstream_shut = Pin::new(&mut *upstream).poll_shutdown(cx).is_ready();
                    }
                    if self.client_shut && self.upstream_shut {
                        self.stage = Stage::Done;
                        continue;
                    }
                }
                Stage::Running => {
                    if self.ended.is_none() && cancelled.as_mut().poll(cx).is_ready() {
                        self.close_by_proxy(Reason::ServerShutdown);
                    }
                    if let Poll::Ready(event) = self.to_upstream.poll(cx, client, upstream) {
                        self.handle(Side::Client, event);
                        continue;
                    }
                    if let Poll::Ready(event) = self.to_client.poll(cx, upstream, client) {
                        self.handle(Side::Upstream, event);
                        continue;
                    }
                    if self.to_upstream.take_activity() | self.to_client.take_activity() {
                        self.last_activity = Instant::now();
                    }
                    if self.ended.is_none() {
                        // A stall that began in this poll may end before anything armed.
                        if let Some(at) = self.stall_deadline() {
                            if self.armed.is_none_or(|armed| at < armed) {
                                self.armed = Some(at);
                            }
                        }
                    }
                    if self.client_close_held && !self.to_client.holds_close() {
                        self.client_close_held = false;
                        if self.to_client.output != Output::Dead {
                            // wsgate's close is on its way to the client: its reply gets
                            // a whole close timeout.
                            self.armed = Some(Instant::now() + self.settings.close_timeout);
                        }
                    }
                    if self.ended.is_some()
                        && self.settled(Side::Client)
                        && self.settled(Side::Upstream)
                    {
                        self.stage = Stage::ShuttingDown;
                        continue;
                    }
                }
            }
            let Some(at) = self.armed else {
                return Poll::Pending;
            };
            if timer.deadline() != at {
                timer.as_mut().reset(at);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.on_timer(Instant::now().max(at));
        }
    }

    fn on_timer(&mut self, now: Instant) {
        if self.ended.is_some() {
            if self.to_client.holds_close() {
                // The upstream never replied: the client gets its close now.
                self.to_client.release_close();
                return;
            }
            // The close deadline: whatever is unfinished is cut by dropping the streams.
            self.stage = Stage::Done;
            return;
        }
        let expired = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        if expired(self.settings.expires_at) {
            self.close_by_proxy(Reason::TokenExpired);
        } else if expired(self.max_age_at) {
            self.close_by_proxy(Reason::SessionMaxAge);
        } else if expired(self.idle_at()) {
            self.close_by_proxy(Reason::IdleTimeout);
        } else if expired(self.stalled_at(Side::Client)) {
            self.slow_consumer(Side::Client);
        } else if expired(self.stalled_at(Side::Upstream)) {
            self.slow_consumer(Side::Upstream);
        } else {
            self.armed = self.running_deadline();
        }
    }

    fn handle(&mut self, from: Side, event: Event) {
        match event {
            Event::Close { code } => self.begin_end(from.into(), Some(code), None),
            Event::Violation(violation) => {
                let code = violation.close_code();
                let reason = violation.reason();
                self.begin_end(Initiator::Proxy, Some(code), Some(reason));
                self.from(from)
                    .inject_close(Reason::ServerShutdown.close_code(), reason.as_str());
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
            Side::Upstream => Some(Reason::UpstreamUnavailable),
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
                Reason::UpstreamUnavailable.close_code(),
                Reason::UpstreamUnavailable.as_str(),
            ),
            Side::Client => (
                Reason::ServerShutdown.close_code(),
                Reason::ServerShutdown.as_str(),
            ),
        };
        from_peer.inject_close(code, text);
    }

    /// Requests from session control: a new expiry deadline, or an end.
    fn apply(&mut self, requests: control::Requests) {
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
    fn close_by_proxy(&mut self, reason: Reason) {
        if self.ended.is_some() {
            return;
        }
        let client_code = reason.close_code();
        self.begin_end(Initiator::Proxy, Some(client_code), Some(reason));
        self.to_client.inject_close(client_code, reason.as_str());
        self.to_upstream
            .inject_close(Reason::ServerShutdown.close_code(), reason.as_str());
    }

    /// `peer` has read none of the bytes waiting for it for `send_timeout`: it gets 1008
    /// `slow_consumer` should its output reach a frame boundary within the close timeout
    /// (else its connection is cut then), and the other side 1001 `slow_consumer`.
    fn slow_consumer(&mut self, peer: Side) {
        let reason = Reason::SlowConsumer;
        self.begin_end(Initiator::Proxy, Some(reason.close_code()), Some(reason));
        self.toward(peer)
            .inject_close(reason.close_code(), reason.as_str());
        self.from(peer)
            .inject_close(Reason::ServerShutdown.close_code(), reason.as_str());
    }

    /// Records the first ending and starts the close deadline.
    fn begin_end(&mut self, initiator: Initiator, code: Option<u16>, reason: Option<Reason>) {
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
    fn settled(&self, peer: Side) -> bool {
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

    fn idle_at(&self) -> Option<Instant> {
        self.settings
            .idle_timeout
            .and_then(|d| self.last_activity.checked_add(d))
    }

    /// When the stall of the output toward `peer`, if any, becomes a slow consumer.
    fn stalled_at(&self, peer: Side) -> Option<Instant> {
        let toward = match peer {
            Side::Client => &self.to_client,
            Side::Upstream => &self.to_upstream,
        };
        let since = toward.stalled_since?;
        since.checked_add(self.settings.send_timeout?)
    }

    fn stall_deadline(&self) -> Option<Instant> {
        match (
            self.stalled_at(Side::Client),
            self.stalled_at(Side::Upstream),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn running_deadline(&self) -> Option<Instant> {
        [
            self.settings.expires_at,
            self.max_age_at,
            self.idle_at(),
            self.stall_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The direction that reads `peer`.
    fn from(&mut self, peer: Side) -> &mut Direction {
        match peer {
            Side::Client => &mut self.to_upstream,
            Side::Upstream => &mut self.to_client,
        }
    }

    /// The direction that writes to `peer`.
    fn toward(&mut self, peer: Side) -> &mut Direction {
        self.from(other(peer))
    }

    fn end(&self) -> SessionEnd {
        let (initiator, code, reason) = match &self.ended {
            Some(ended) => (ended.initiator, ended.code, ended.reason),
            // Unreachable: the stage leaves Running only after an ending is recorded.
            None => (Initiator::Proxy, None, None),
        };
        SessionEnd {
            initiator,
            code,
            reason,
            frames_to_upstream: self.to_upstream.frames,
            frames_to_client: self.to_client.frames,
            bytes_to_upstream: self.to_upstream.bytes,
            bytes_to_client: self.to_client.bytes,
        }
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Upstream,
        Side::Upstream => Side::Client,
    }
}

#[cfg(test)]
mod tests;
