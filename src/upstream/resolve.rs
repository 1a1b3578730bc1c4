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
//! costs one refused dial, not one per handshake. When every address refuses, a dial
//! from a second later looks the name up again (in the background): an upstream that
//! moved is found without waiting out the refresh, one that is down is not looked up per
//! dial. A lookup that fails keeps the addresses from before
//! (logged once per lookup); with none yet, the dial fails as a refused connection does:
//! 502 `upstream_unavailable`, `wsgate_upstream_errors_total{kind="connect"}`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

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
            })),
        };
        Resolver { target }
    }

    /// Opens TCP to the upstream: its literal address, or its name's addresses in turn,
    /// the one that last answered first. `now` is the dial's start.
    pub(super) async fn connect(&self, now: Instant) -> io::Result<TcpStream> {
        let named = match &self.target {
            Target::Literal(address) => return TcpStream::connect(*address).await,
            Target::Name(named) => named,
        };
        let (addresses, first) = match named.addresses(now) {
            Some(known) => known,
            None => (named.look_up_now(now).await?, 0),
        };
        let mut last_error = None;
        for step in 0..addresses.len() {
            let index = (first + step) % addresses.len();
            match TcpStream::connect(addresses[index]).await {
                Ok(tcp) => {
                    if step > 0 {
                        named.answered(&addresses, index);
                    }
                    return Ok(tcp);
                }
                Err(error) => last_error = Some(error),
            }
        }
        named.refused(&addresses, now);
        Err(last_error.unwrap_or_else(|| no_address(&named.name)))
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
            tokio::spawn(async move { named.look_up_in_background().await });
        }
        Some((answer.addresses.clone(), answer.first))
    }

    /// The first lookup, or one after a lookup found nothing: the dial waits for it.
    async fn look_up_now(&self, now: Instant) -> io::Result<Arc<[SocketAddr]>> {
        let addresses = self.look_up().await?;
        let mut answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        self.store(&mut answer, addresses.clone(), now);
        Ok(addresses)
    }

    async fn look_up_in_background(&self) {
        let result = self.look_up().await;
        let now = Instant::now();
        let mut answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        answer.looking_up = false;
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

    /// `addresses[index]` answered after those before it did not: start there next time.
    fn answered(&self, addresses: &Arc<[SocketAddr]>, index: usize) {
        let mut answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::ptr_eq(&answer.addresses, addresses) {
            answer.first = index;
        }
    }

    /// None of `addresses` answered a dial made at `now`: a dial from [`AFTER_REFUSAL`] on
    /// looks the name up again.
    fn refused(&self, addresses: &Arc<[SocketAddr]>, now: Instant) {
        let mut answer = self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::ptr_eq(&answer.addresses, addresses) {
            let soon = now + AFTER_REFUSAL;
            answer.due = Some(answer.due.map_or(soon, |due| due.min(soon)));
        }
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
