//! Remote key sets (`jwks_url`, `discovery_url`): the cache, its background refresh, and
//! the single-flight refetch a token with an unknown `kid` triggers.
//!
//! Per remote issuer one [`RemoteKeys`] holds the last good key set as an
//! `Arc<IssuerKeys>` swapped whole, so a verification uses one consistent set and a
//! refresh never shows half a set. The rules:
//! - **Stale-while-error**: a failed fetch never replaces the cached set, and an empty set
//!   is never swapped in (a JWKS with no usable key is a failed fetch). Only
//!   `jwks_max_stale` after the last success are the keys dropped; from then on the
//!   issuer's handshakes get `keys_unavailable` and readiness turns false.
//! - **Schedule**: the first fetch at once, then every `jwks_refresh`; after a failure,
//!   exponential backoff with jitter from about 1 s up to 60 s.
//! - **Single flight**: every fetch (scheduled or triggered) runs in its own task, and
//!   whoever needs a fetch while one is under way awaits that one. Cancelling a waiter
//!   (a client that hangs up) never cancels the fetch.
//! - **Cooldown**: a token whose `kid` is unknown (or that finds no keys) triggers a fetch
//!   at most once per `jwks_cooldown` per issuer, so a flood of random kids costs one
//!   fetch per cooldown (docs/security-cases.md J9, R6); the token is then verified once more.
//!
//! This file holds one issuer's cache ([`RemoteKeys`]); `sets.rs` the caches of one
//! `Gate` ([`sets::RemoteSets`]), whose background tasks stop when it is dropped or
//! [`sets::RemoteSets::stop`] is called (a reload replaced the gate).

mod fetch;
pub mod sets;
#[cfg(test)]
mod tests;

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::auth::keys::IssuerKeys;
use crate::config::{IssuerConfig, RemoteSource};
use crate::telemetry::metrics::{JwksRefreshResult, Metrics};
use crate::timer::Timer;

pub use fetch::{Failure, Fetcher, MAX_BODY_BYTES};

/// Where fetched key sets come from: [`Fetcher`] over the network, a script in tests.
pub trait Fetch: Send + Sync {
    fn fetch<'a>(
        &'a self,
        issuer: &'a IssuerConfig,
        source: &'a RemoteSource,
    ) -> BoxFuture<'a, Result<IssuerKeys, Failure>>;
}

impl Fetch for Fetcher {
    fn fetch<'a>(
        &'a self,
        issuer: &'a IssuerConfig,
        source: &'a RemoteSource,
    ) -> BoxFuture<'a, Result<IssuerKeys, Failure>> {
        Fetcher::fetch(self, issuer, source).boxed()
    }
}

/// First retry delay after a failed fetch (before jitter); doubles per failure.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest retry delay after failed fetches.
const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// What became of a refetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refetch {
    /// A fetch finished (or the keys changed meanwhile): verify again. The detail says
    /// what happened, for `explain`.
    Done(String),
    /// No fetch: the cooldown has not passed since the last triggered one.
    CoolingDown(String),
}

/// One remote issuer's cached keys.
pub struct RemoteKeys {
    issuer: IssuerConfig,
    source: RemoteSource,
    fetcher: Arc<dyn Fetch>,
    cached: RwLock<Cached>,
    flight: Mutex<Flight>,
    /// Returned while nothing usable is cached; one allocation, so it compares equal by
    /// pointer from one call to the next.
    empty: Arc<IssuerKeys>,
    /// Set by [`RemoteSets::start`]; fetches before that (`explain`) count on a private
    /// registry.
    metrics: OnceLock<Arc<Metrics>>,
    changed: Arc<watch::Sender<()>>,
}

#[derive(Clone)]
struct Cached {
    keys: Arc<IssuerKeys>,
    /// When the last successful fetch finished; `None` before the first.
    fetched_at: Option<Instant>,
}

#[derive(Default)]
struct Flight {
    /// The fetch under way, which every caller awaits instead of starting its own.
    current: Option<Shared<BoxFuture<'static, Result<usize, Failure>>>>,
    /// When a token last triggered a fetch (for `jwks_cooldown`).
    last_triggered: Option<Instant>,
}

impl RemoteKeys {
    fn new(
        issuer: IssuerConfig,
        source: RemoteSource,
        fetcher: Arc<dyn Fetch>,
        changed: Arc<watch::Sender<()>>,
    ) -> RemoteKeys {
        let empty = Arc::new(IssuerKeys::default());
        RemoteKeys {
            issuer,
            source,
            fetcher,
            cached: RwLock::new(Cached {
                keys: empty.clone(),
                fetched_at: None,
            }),
            flight: Mutex::new(Flight::default()),
            empty,
            metrics: OnceLock::new(),
            changed,
        }
    }

    /// The keys to verify with now: the last good set, or an empty one before the first
    /// success and once the set is older than `jwks_max_stale`.
    pub fn current(&self) -> Arc<IssuerKeys> {
        let cached = read(&self.cached);
        match cached.fetched_at {
            Some(at) if at.elapsed() <= self.source.max_stale => cached.keys.clone(),
            _ => self.empty.clone(),
        }
    }

    /// How many keys are usable now, if any.
    fn held(&self) -> Option<usize> {
        Some(self.current().keys.len()).filter(|&n| n > 0)
    }

    /// A token was verified against `seen` and found no key for its `kid` (or no keys at
    /// all). Fetches once, unless a fetch is under way (then awaits it), the keys changed
    /// since `seen` (nothing to wait for), or a triggered fetch happened less than
    /// `jwks_cooldown` ago (nothing is fetched).
    pub async fn refetch(self: &Arc<Self>, seen: &Arc<IssuerKeys>) -> Refetch {
        let flight = {
            let mut flight = lock(&self.flight);
            match &flight.current {
                Some(current) => current.clone(),
                None if !Arc::ptr_eq(&self.current(), seen) => {
                    return Refetch::Done("the cached keys changed meanwhile".into());
                }
                None => {
                    let now = Instant::now();
                    if let Some(last) = flight.last_triggered {
                        let since = now.saturating_duration_since(last);
                        if since < self.source.cooldown {
                            return Refetch::CoolingDown(format!(
                                "not refetched: the last kid-triggered fetch was {} ago and jwks_cooldown is {}",
                                humantime::format_duration(round(since)),
                                humantime::format_duration(self.source.cooldown)
                            ));
                        }
                    }
                    flight.last_triggered = Some(now);
                    self.launch(&mut flight)
                }
            }
        };
        let url = self.source.location.url();
        Refetch::Done(match flight.await {
            Ok(count) => format!("refetched {url}: {count} usable keys"),
            Err(failure) => format!("refetch failed, cached keys kept: {failure}"),
        })
    }

    /// Joins the fetch under way, or starts one.
    fn fetch(self: &Arc<Self>) -> Shared<BoxFuture<'static, Result<usize, Failure>>> {
        let mut flight = lock(&self.flight);
        match &flight.current {
            Some(current) => current.clone(),
            None => self.launch(&mut flight),
        }
    }

    /// Spawns a fetch and registers it as the one under way. The task clears the
    /// registration when it ends, so a fetch that panics or is aborted cannot wedge the
    /// cache.
    fn launch(
        self: &Arc<Self>,
        flight: &mut Flight,
    ) -> Shared<BoxFuture<'static, Result<usize, Failure>>> {
        struct Landing(Arc<RemoteKeys>);
        impl Drop for Landing {
            fn drop(&mut self) {
                lock(&self.0.flight).current = None;
            }
        }
        let landing = Landing(self.clone());
        let task = tokio::spawn(async move {
            let outcome = landing.0.fetch_and_store().await;
            drop(landing);
            outcome
        });
        let shared = async move {
            task.await
                .unwrap_or_else(|e| Err(Failure::Error(format!("fetch task ended: {e}"))))
        }
        .boxed()
        .shared();
        flight.current = Some(shared.clone());
        shared
    }

    /// One fetch: on success the new set replaces the cached one; on failure the cached
    /// set stays. Either way the outcome is logged and counted.
    async fn fetch_and_store(&self) -> Result<usize, Failure> {
        let outcome = self.fetcher.fetch(&self.issuer, &self.source).await;
        let metrics = self.metrics();
        let name = self.issuer.name.as_str();
        match outcome {
            Ok(keys) => {
                let count = keys.keys.len();
                for warning in &keys.warnings {
                    tracing::warn!(
                        issuer = name,
                        warning = warning.as_str(),
                        "jwks key skipped"
                    );
                }
                *write(&self.cached) = Cached {
                    keys: Arc::new(keys),
                    fetched_at: Some(Instant::now()),
                };
                crate::telemetry::record_jwks_refresh(
                    metrics,
                    name,
                    JwksRefreshResult::Success,
                    Some(count),
                    None,
                );
                self.changed.send_replace(());
                Ok(count)
            }
            Err(failure) => {
                crate::telemetry::record_jwks_refresh(
                    metrics,
                    name,
                    failure.result(),
                    None,
                    Some(failure.message()),
                );
                self.expire();
                Err(failure)
            }
        }
    }

    /// Drops the cached keys once they are older than `jwks_max_stale`.
    fn expire(&self) {
        let mut cached = write(&self.cached);
        let stale = cached
            .fetched_at
            .is_some_and(|at| at.elapsed() > self.source.max_stale);
        if stale && !cached.keys.keys.is_empty() {
            cached.keys = self.empty.clone();
            drop(cached);
            crate::telemetry::record_jwks_expired(
                self.metrics(),
                &self.issuer.name,
                self.source.max_stale,
            );
            self.changed.send_replace(());
        }
    }

    /// The background task: fetch now (or when the adopted keys are due), then every
    /// `jwks_refresh`; after failures, back off. Ends when `stop` is cancelled. The waits
    /// are `timer`'s: the timer thread's in the proxy, so a pending refresh keeps no timer
    /// in the runtime that also serves connections on one CPU.
    async fn maintain(self: Arc<Self>, stop: CancellationToken, timer: Timer) {
        let mut failures: u32 = 0;
        loop {
            let delay = if failures > 0 {
                backoff(failures)
            } else {
                let fetched_at = read(&self.cached).fetched_at;
                fetched_at.map_or(Duration::ZERO, |at| {
                    (at + self.source.refresh).saturating_duration_since(Instant::now())
                })
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = timer.sleep(delay) => {}
            }
            let flight = self.fetch();
            let outcome = tokio::select! {
                () = stop.cancelled() => return,
                outcome = flight => outcome,
            };
            failures = match outcome {
                Ok(_) => 0,
                Err(_) => failures.saturating_add(1),
            };
        }
    }

    fn metrics(&self) -> &Metrics {
        self.metrics
            .get_or_init(|| Arc::new(Metrics::new(&prometheus::Registry::new())))
    }
}

/// The wait before retry number `failures` (1-based): `BACKOFF_START` doubled per
/// failure, capped at `BACKOFF_CAP`, then "equal jitter" (half fixed, half random) so
/// replicas that failed together do not retry together.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let base = BACKOFF_START.saturating_mul(1 << exponent).min(BACKOFF_CAP);
    let random = std::hash::RandomState::new().build_hasher().finish();
    // A fraction in [0, 1) from the top 53 bits.
    let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
    base / 2 + base.mul_f64(fraction / 2.0)
}

/// Whole seconds, for messages.
fn round(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
