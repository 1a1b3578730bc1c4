//! Where the upstream is, without a name lookup per handshake.
//!
//! An address literal (`ws://127.0.0.1:8000`, `ws://[::1]:8000`) is parsed once and dialled
//! as it is. A name (`ws://localhost:8000`, `wss://backend.svc.cluster.local`) is resolved
//! when it is first dialled and kept: a dial made once the answer is [`REFRESH`] old starts
//! one lookup in the background and dials the addresses it has meanwhile, as Envoy's
//! `STRICT_DNS` clusters (refreshed every 5 s) and nginx (resolved at start) never resolve
//! per connection. Before this, every handshake to a named upstream sent the name through
//! the system resolver on tokio's blocking pool: a thread hand-off and `getaddrinfo`, about
//! 50 µs of CPU per handshake (docs/performance.md, "Eleventh pass").
//!
//! A name with several addresses is dialled in order, starting with the one that last
//! answered, so an upstream listening on only one of `localhost`'s `::1` and `127.0.0.1`
//! costs one refused dial, not one per handshake. When a dial ends without a connection
//! (every address refused, or its timeout ended it while an address did not answer), the
//! next starts with the address after the one that failed, and a dial from a second later
//! looks the name up again (in the background): an upstream that moved is found without
//! waiting out the refresh, one that is down is not looked up per dial. A lookup that
//! fails keeps the addresses from before (logged once per lookup). With none yet, one
//! dial looks up at a time, and a failed lookup answers the dials of the next second;
//! the dial fails as a refused connection does: 502 `upstream_unavailable`,
//! `wsgate_upstream_errors_total{kind="connect"}`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::net::dial;

/// How long a name's answer is used before a dial looks it up again.
pub(super) const REFRESH: Duration = Duration::from_secs(5);

/// How soon after none of a name's addresses answered a dial looks it up again: the
/// upstream may have moved, but one that is down does not get a lookup per dial.
pub(super) const AFTER_REFUSAL: Duration = Duration::from_secs(1);

/// The upstream's host and port, and what is known of its addresses.
pub(super) struct Resolver {
    target: Target,
}

enum Target {
    Literal(SocketAddr),
    Name(Arc<Named>),
}

struct Named {
    name: String,
    port: u16,
    answer: Mutex<Answer>,
    /// Held by the dial that looks the name up while it has no addresses.
    first_lookup: tokio::sync::Mutex<()>,
    /// Lookups made, for the tests.
    #[cfg(test)]
    lookups: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Answer {
    /// Empty until a lookup has answered.
    addresses: Arc<[SocketAddr]>,
    /// When `addresses` is due for a lookup again (`None`: now).
    due: Option<Instant>,
    /// A lookup is running in the background.
    looking_up: bool,
    /// Where the next dial starts: the address that last answered.
    first: usize,
    /// The last lookup made while there were no addresses, if it failed.
    failure: Option<Failure>,
}

/// A failed lookup, answered again to the dials that come before `until`.
struct Failure {
    until: Instant,
    kind: io::ErrorKind,
    message: String,
}

impl Resolver {
    /// `host` as the URL spells it: an IPv6 literal keeps its brackets.
    pub(super) fn new(host: &str, port: u16) -> Resolver {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let target = match bare.parse::<IpAddr>() {
            Ok(ip) => Target::Literal(SocketAddr::new(ip, port)),
            Err(_) => Target::Name(Arc::new(Named {
                name: bare.to_owned(),
                port,
                answer: Mutex::new(Answer::default()),
                first_lookup: tokio::sync::Mutex::new(()),
                #[cfg(test)]
                lookups: std::sync::atomic::AtomicUsize::new(0),
            })),
        };
        Resolver { target }
    }

    /// Opens TCP to the upstream: its literal address, or its name's addresses in turn,
    /// the one that last answered first. `now` is the dial's start; `early`, bytes to
    /// write if the connection is made at once, and how many were (`net::dial`).
    pub(super) async fn connect(
        &self,
        now: Instant,
        early: &[u8],
    ) -> io::Result<(TcpStream, usize)> {
        let named = match &self.target {
            Target::Literal(address) => return dial::connect(*address, early).await,
            Target::Name(named) => named,
        };
        let (addresses, first) = match named.addresses(now) {
            Some(known) => known,
            None => named.look_up_now().await?,
        };
        // Dropped without a connection (every address refused, or the dial's timeout
        // ended it while an address did not answer), it tells the name so.
        let mut attempt = Dial {
            named,
            addresses: &addresses,
            now,
            trying: first,
            connected: false,
        };
        let mut last_error = None;
        for step in 0..addresses.len() {
            let index = (first + step) % addresses.len();
            attempt.trying = index;
            match dial::connect(addresses[index], early).await {
                Ok(connected) => {
                    attempt.connected = true;
                    if step > 0 {
                        named.answered(addresses[index]);
                    }
                    return Ok(connected);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| no_address(&named.name)))
    }
}

/// A dial of a name's addresses; see [`Named::gave_up`].
struct Dial<'a> {
    named: &'a Named,
    addresses: &'a [SocketAddr],
    now: Instant,
    /// The address being dialled.
    trying: usize,
    connected: bool,
}

impl Drop for Dial<'_> {
    fn drop(&mut self) {
        if !self.connected {
            self.named.gave_up(self.addresses, self.trying, self.now);
        }
    }
}

impl Named {
    /// The addresses to dial and where to start, if a lookup has answered; starts a
    /// background lookup when they are due for one.
    fn addresses(self: &Arc<Self>, now: Instant) -> Option<(Arc<[SocketAddr]>, usize)> {
        let mut answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        if answer.addresses.is_empty() {
            return None;
        }
        if answer.due.is_none_or(|due| now >= due) && !answer.looking_up {
            answer.looking_up = true;
            let named = Arc::clone(self);
            tokio::spawn(named.look_up_in_background());
        }
        Some((answer.addresses.clone(), answer.first))
    }

    /// The first lookup: the dial waits for it. One at a time: the dials that arrive
    /// meanwhile take its answer, and a lookup that failed answers the dials of the next
    /// [`AFTER_REFUSAL`] with its error, so a name that does not resolve is not looked up
    /// per dial either.
    async fn look_up_now(&self) -> io::Result<(Arc<[SocketAddr]>, usize)> {
        let _one_at_a_time = self.first_lookup.lock().await;
        {
            let answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
            if !answer.addresses.is_empty() {
                return Ok((answer.addresses.clone(), answer.first));
            }
            if let Some(failure) = &answer.failure
                && Instant::now() < failure.until
            {
                return Err(io::Error::new(failure.kind, failure.message.clone()));
            }
        }
        let result = self.look_up().await;
        let now = Instant::now();
        let mut answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(addresses) => {
                answer.failure = None;
                self.store(&mut answer, addresses.clone(), now);
                Ok((addresses, answer.first))
            }
            Err(error) => {
                answer.failure = Some(Failure {
                    until: now + AFTER_REFUSAL,
                    kind: error.kind(),
                    message: error.to_string(),
                });
                Err(error)
            }
        }
    }

    async fn look_up_in_background(self: Arc<Self>) {
        // Cleared however the lookup ends, even dropped with its runtime.
        let _looking_up = LookingUp(&self);
        let result = self.look_up().await;
        let now = Instant::now();
        let mut answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(addresses) => self.store(&mut answer, addresses, now),
            Err(error) => {
                answer.due = Some(now + REFRESH);
                tracing::warn!(
                    host = %self.name,
                    %error,
                    "the upstream's name did not resolve; dialling the addresses it had"
                );
            }
        }
    }

    async fn look_up(&self) -> io::Result<Arc<[SocketAddr]>> {
        #[cfg(test)]
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let addresses: Arc<[SocketAddr]> = tokio::net::lookup_host((self.name.as_str(), self.port))
            .await?
            .collect();
        if addresses.is_empty() {
            return Err(no_address(&self.name));
        }
        Ok(addresses)
    }

    /// Keeps a lookup's answer, still starting with the address that last answered if it
    /// is among them.
    fn store(&self, answer: &mut Answer, addresses: Arc<[SocketAddr]>, now: Instant) {
        let answered = answer.addresses.get(answer.first).copied();
        answer.first = answered
            .and_then(|a| addresses.iter().position(|&b| b == a))
            .unwrap_or(0);
        answer.addresses = addresses;
        answer.due = Some(now + REFRESH);
    }

    /// `address` answered after those before it did not: start there next time.
    fn answered(&self, address: SocketAddr) {
        let mut answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = answer.addresses.iter().position(|&a| a == address) {
            answer.first = index;
        }
    }

    /// A dial begun at `now` ended without a connection while `addresses[trying]` was
    /// being dialled: it refused (as all before it did) or did not answer in time. The next
    /// dial starts with the address after it, and a dial from [`AFTER_REFUSAL`] on looks
    /// the name up again.
    fn gave_up(&self, addresses: &[SocketAddr], trying: usize, now: Instant) {
        let mut answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        let soon = now + AFTER_REFUSAL;
        answer.due = Some(answer.due.map_or(soon, |due| due.min(soon)));
        let next = (trying + 1)
            .checked_rem(addresses.len())
            .and_then(|next| addresses.get(next));
        if let Some(index) = next.and_then(|next| answer.addresses.iter().position(|a| a == next)) {
            answer.first = index;
        }
    }
}

/// Clears [`Answer::looking_up`] when the background lookup ends.
struct LookingUp<'a>(&'a Named);

impl Drop for LookingUp<'_> {
    fn drop(&mut self) {
        let mut answer = self.0.answer.lock().unwrap_or_else(PoisonError::into_inner);
        answer.looking_up = false;
    }
}

fn no_address(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("the upstream's name {name:?} resolved to no address"),
    )
}

#[cfg(test)]
mod tests;
