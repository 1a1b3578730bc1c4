//! The frame-aware relay between an authenticated client and the upstream.
//!
//! Bytes move verbatim in both directions; a scanner per direction (`scanner`) reads frame
//! headers only, so wsgate can enforce RFC 6455 framing and the size limits at the edge,
//! count frames, and end a session with its own close frame at a frame boundary. Both
//! directions, one timer (idle, maximum age, token expiry, then the close deadline) and
//! the shutdown token are driven by one future in the connection's task, like
//! `tokio::io::copy_bidirectional`.
//!
//! How a session ends:
//! - a peer's close is relayed verbatim, the other's reply relayed back, then both
//!   streams are ended (`initiator` is that peer, `code` its close code, 1005 when
//!   bodyless): shut down when that sends something (TLS: `close_notify`), else just
//!   dropped (plain TCP: the close sends the FIN a `shutdown` would, `net::shutdown`).
//!   A close toward a peer that has already sent its own (the reply) is the last thing
//!   that peer gets: on plain TCP it leaves with the FIN, in one segment;
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
//!   violation: 1008 `rate_limited` to it, 1001 to the upstream (docs/security-cases.md F10);
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
//!   `upstream_unavailable` (docs/security-cases.md X10 allows 1014 or 1011; 1014 "bad gateway"
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
//!
//! Files, top down: [`relay`] here; `session` (the state machine and its timers) and
//! `session/closing` (how it ends); `direction` (one way's buffer: `read`, `scan`,
//! `write`); `scanner` (frame rules, on [`crate::ws::frame`]) with `violation` and
//! `ping`; `settings`, `end`, `control`, `reported` (the traffic counters), and `wakers` (which
//! source woke the task).

mod control;
mod direction;
mod end;
mod fuzzing;
mod ping;
mod reported;
mod scanner;
mod session;
mod settings;
mod violation;
mod wakers;

pub use control::Control;
pub use end::SessionEnd;
#[doc(hidden)]
pub(crate) use fuzzing::scan_frames;
pub use settings::{Extensions, RelaySettings};

use std::task::Context;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::net::shutdown::Shutdown;
use crate::telemetry::metrics::RelayCounters;

use reported::Reported;
use session::Session;
use wakers::{Wakers, Woken};

/// Relays until the session ends; both streams are shut down when it returns.
pub async fn relay<C, U>(
    client: C,
    upstream: U,
    settings: RelaySettings,
    counters: &RelayCounters,
    shutdown: CancellationToken,
) -> SessionEnd
where
    C: AsyncRead + AsyncWrite + Shutdown + Unpin,
    U: AsyncRead + AsyncWrite + Shutdown + Unpin,
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
    C: AsyncRead + AsyncWrite + Shutdown + Unpin,
    U: AsyncRead + AsyncWrite + Shutdown + Unpin,
{
    let now = Instant::now();
    let mut session = Session::new(settings, now);
    // A child token has its own waiter list, so polling it does not contend on the lock of
    // a token shared by every session.
    let shutdown = shutdown.child_token();
    let mut cancelled = std::pin::pin!(shutdown.cancelled());
    // Armed only when `session.armed` is set; the initial deadline is a placeholder (from
    // the session's start: one clock read, not two).
    let mut timer = session.timer().deadline(now + Duration::from_secs(86_400));
    let mut reported = Reported::default();
    let mut wakers = Wakers::default();
    std::future::poll_fn(|cx| {
        let mut woken = wakers.woken(cx.waker());
        if woken.others
            && let Some(control) = control
            && let Some(requests) =
                control.take(&mut Context::from_waker(wakers.others(cx.waker())))
        {
            session.apply(requests);
            woken = Woken::ALL;
        }
        let poll = session.poll(
            cx,
            &wakers,
            woken,
            &mut client,
            &mut upstream,
            &mut timer,
            cancelled.as_mut(),
        );
        reported.update(&session, counters);
        poll
    })
    .await;
    session.end()
}

#[cfg(test)]
mod tests;
