//! The remote key caches of one `Gate`, parallel to `AuthConfig::issuers`: built from the
//! configuration, their background refresh started and stopped together, fetched keys
//! carried over a reload, and readiness (every remote issuer holds keys).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Failure, Fetch, Fetcher, RemoteKeys, read, write};
use crate::auth::keys::IssuerKeys;
use crate::config::{Config, IssuerConfig, IssuerId, KeySource, RemoteSource};
use crate::telemetry::metrics::Metrics;
use crate::timer::Timer;

/// The remote key sets of one gate, parallel to `AuthConfig::issuers` (`None` for
/// issuers with static keys and for issuers not enabled in this environment).
pub struct RemoteSets {
    issuers: Vec<Option<Arc<RemoteKeys>>>,
    /// Stops the background tasks.
    stop: CancellationToken,
    started: AtomicBool,
    /// Bumped whenever an issuer gains or loses its keys, and on stop.
    changed: Arc<watch::Sender<()>>,
    /// What the refresh tasks wait on: the timer thread ([`Timer::coarse`]).
    timer: Timer,
}

impl RemoteSets {
    /// Prepares a cache per enabled remote issuer. Nothing is fetched until
    /// [`RemoteSets::start`] or a verification needs keys.
    pub fn new(config: &Config) -> io::Result<RemoteSets> {
        let remote = config
            .enabled_issuers()
            .any(|issuer| matches!(issuer.keys, KeySource::Remote(_)));
        if !remote {
            return Ok(RemoteSets::with_fetcher(config, Arc::new(NoFetch)));
        }
        Ok(RemoteSets::with_fetcher(config, Arc::new(Fetcher::new()?)))
    }

    /// [`RemoteSets::new`] with the fetches going to `fetcher`.
    pub fn with_fetcher(config: &Config, fetcher: Arc<dyn Fetch>) -> RemoteSets {
        let changed = Arc::new(watch::Sender::new(()));
        let mut issuers = Vec::with_capacity(config.auth.issuers.len());
        for issuer in &config.auth.issuers {
            let remote = match &issuer.keys {
                KeySource::Remote(source) if issuer.enabled => Some(Arc::new(RemoteKeys::new(
                    issuer.clone(),
                    source.clone(),
                    fetcher.clone(),
                    changed.clone(),
                ))),
                _ => None,
            };
            issuers.push(remote);
        }
        RemoteSets {
            issuers,
            stop: CancellationToken::new(),
            started: AtomicBool::new(false),
            changed,
            timer: Timer::coarse(),
        }
    }

    /// The refresh tasks wait on `timer` instead (tests on paused time: `Timer::Tokio`).
    pub fn on_timer(mut self, timer: Timer) -> RemoteSets {
        self.timer = timer;
        self
    }

    /// The cache of issuer `id`, when its keys are remote.
    pub fn get(&self, id: IssuerId) -> Option<&Arc<RemoteKeys>> {
        id.slot(&self.issuers).and_then(Option::as_ref)
    }

    /// Starts one background refresh task per remote issuer (once; later calls do
    /// nothing). Fetches are counted on `metrics`.
    pub fn start(&self, metrics: Arc<Metrics>) {
        if self.started.swap(true, Ordering::SeqCst) || self.stop.is_cancelled() {
            return;
        }
        for remote in self.issuers.iter().flatten() {
            let _ = remote.metrics.set(metrics.clone());
            // 0 until the first fetch succeeds, so "no keys" is a series alerts can see.
            metrics.jwks_keys(&remote.issuer.name, remote.held().unwrap_or(0));
            tokio::spawn(
                remote
                    .clone()
                    .maintain(self.stop.clone(), self.timer.clone()),
            );
        }
    }

    /// Stops the background tasks (a reload replaced this gate). Verifications still
    /// work with the cached keys.
    pub fn stop(&self) {
        self.stop.cancel();
        self.changed.send_replace(());
    }

    /// Takes over the cached keys of `previous` for every issuer whose remote source and
    /// algorithms are unchanged, so a reload does not wait for a fetch (or fail
    /// `keys_unavailable` meanwhile).
    pub fn adopt(&self, previous: &RemoteSets) {
        for remote in self.issuers.iter().flatten() {
            let same = previous.issuers.iter().flatten().find(|old| {
                old.issuer.name == remote.issuer.name
                    && old.issuer.issuer == remote.issuer.issuer
                    && old.issuer.algorithms == remote.issuer.algorithms
                    && old.source.location == remote.source.location
            });
            if let Some(old) = same {
                let cached = read(&old.cached).clone();
                *write(&remote.cached) = cached;
            }
        }
        self.changed.send_replace(());
    }

    /// Every remote issuer holds keys (trivially true without remote issuers).
    pub fn ready(&self) -> bool {
        self.issuers
            .iter()
            .flatten()
            .all(|remote| remote.held().is_some())
    }

    /// A receiver marked changed whenever [`RemoteSets::ready`] may have changed.
    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.changed.subscribe()
    }
}

impl Drop for RemoteSets {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The fetcher of a gate without remote issuers: never called.
struct NoFetch;

impl Fetch for NoFetch {
    fn fetch<'a>(
        &'a self,
        _issuer: &'a IssuerConfig,
        _source: &'a RemoteSource,
    ) -> BoxFuture<'a, Result<IssuerKeys, Failure>> {
        async { Err(Failure::Error("no remote key sets are configured".into())) }.boxed()
    }
}
