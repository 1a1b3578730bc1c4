//! [`Session`]: one relay session's state, driven by one `poll` from the connection's
//! task: both directions, the shutdown token and one timer, whose deadline is the nearest
//! of token expiry, maximum age, idleness and a stalled peer while relaying, and the close
//! deadline once the session is ending ([`closing`] decides how it ends). A poll polls
//! only the sources whose waker fired (`wakers`), and both directions after any decision.

mod closing;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::direction::{Direction, Output};
use super::end::SessionEnd;
use super::scanner::{Limits, Scanner, Sender};
use super::settings::RelaySettings;
use super::wakers::{Wakers, Woken};
use crate::domain::close_reason::CloseReason;
use crate::domain::initiator::Initiator;
use crate::net::shutdown::Shutdown;
use crate::timer::{Deadline, Timer};

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
    reason: Option<CloseReason>,
}

/// One session between a client and the upstream: the two directions and the timers.
pub(super) struct Session {
    settings: RelaySettings,
    /// Reads the client, writes the upstream.
    pub(super) to_upstream: Direction,
    /// Reads the upstream, writes the client.
    pub(super) to_client: Direction,
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
    pub(super) fn new(settings: RelaySettings, now: Instant) -> Session {
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

    /// Where the session's deadline is kept.
    pub(super) fn timer(&self) -> &Timer {
        &self.settings.timer
    }

    /// Polls the sources `woken` names (their wakers in `wakers`), and whatever the
    /// session's own decisions make due; `cx` is the task's.
    #[allow(clippy::too_many_arguments)] // every source, and the wakers to poll them with
    pub(super) fn poll<C, U>(
        &mut self,
        cx: &mut Context<'_>,
        wakers: &Wakers,
        woken: Woken,
        client: &mut C,
        upstream: &mut U,
        timer: &mut Deadline,
        cancelled: Pin<&mut impl Future<Output = ()>>,
    ) -> Poll<()>
    where
        C: AsyncRead + AsyncWrite + Shutdown + Unpin,
        U: AsyncRead + AsyncWrite + Shutdown + Unpin,
    {
        let mut to_upstream_cx = Context::from_waker(wakers.to_upstream(cx.waker()));
        let mut to_client_cx = Context::from_waker(wakers.to_client(cx.waker()));
        let mut others_cx = Context::from_waker(wakers.others(cx.waker()));
        let mut due = woken;
        if due.others && self.ended.is_none() && cancelled.poll(&mut others_cx).is_ready() {
            self.close_by_proxy(CloseReason::ServerShutdown);
            due = Woken::ALL;
        }
        loop {
            match self.stage {
                Stage::Done => return Poll::Ready(()),
                Stage::ShuttingDown => {
                    // Plain TCP is not shut down: dropped right after, it sends the same
                    // FIN on close (`net::shutdown`).
                    if !self.client_shut {
                        self.client_shut = !client.needs_shutdown()
                            || Pin::new(&mut *client).poll_shutdown(cx).is_ready();
                    }
                    if !self.upstream_shut {
                        self.upstream_shut = !upstream.needs_shutdown()
                            || Pin::new(&mut *upstream).poll_shutdown(cx).is_ready();
                    }
                    if self.client_shut && self.upstream_shut {
                        self.stage = Stage::Done;
                        continue;
                    }
                }
                Stage::Running => {
                    // A direction that returned `Pending` is registered with its waker; it
                    // is polled again when that fires or the session has decided something.
                    // Whether each output's peer has closed (its close then goes with the
                    // FIN), as of the other direction's latest poll.
                    if due.to_upstream {
                        self.to_upstream.output_peer_closed = self.to_client.peer_closed;
                        match self.to_upstream.poll(&mut to_upstream_cx, client, upstream) {
                            Poll::Ready(event) => {
                                self.handle(Side::Client, event);
                                due = Woken::ALL;
                                continue;
                            }
                            Poll::Pending => due.to_upstream = false,
                        }
                    }
                    if due.to_client {
                        self.to_client.output_peer_closed = self.to_upstream.peer_closed;
                        match self.to_client.poll(&mut to_client_cx, upstream, client) {
                            Poll::Ready(event) => {
                                self.handle(Side::Upstream, event);
                                due = Woken::ALL;
                                continue;
                            }
                            Poll::Pending => due.to_client = false,
                        }
                    }
                    if (self.to_upstream.take_activity() | self.to_client.take_activity())
                        && self.settings.idle_timeout.is_some()
                    {
                        self.last_activity = Instant::now();
                    }
                    if self.ended.is_none() {
                        // A stall that began in this poll may end before anything armed.
                        if let Some(at) = self.stall_deadline()
                            && self.armed.is_none_or(|armed| at < armed)
                        {
                            self.armed = Some(at);
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
                timer.reset(at);
                due.others = true;
            }
            // Polled after every reset, the timer stays registered until it fires.
            if !due.others || Pin::new(&mut *timer).poll(&mut others_cx).is_pending() {
                return Poll::Pending;
            }
            self.on_timer(Instant::now().max(at));
            due = Woken::ALL;
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
            self.close_by_proxy(CloseReason::TokenExpired);
        } else if expired(self.max_age_at) {
            self.close_by_proxy(CloseReason::SessionMaxAge);
        } else if expired(self.idle_at()) {
            self.close_by_proxy(CloseReason::IdleTimeout);
        } else if expired(self.stalled_at(Side::Client)) {
            self.slow_consumer(Side::Client);
        } else if expired(self.stalled_at(Side::Upstream)) {
            self.slow_consumer(Side::Upstream);
        } else {
            self.armed = self.running_deadline();
        }
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

    pub(super) fn end(&self) -> SessionEnd {
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
