//! Building a [`Gate`] from a configuration (every issuer's key material, all problems at
//! once) and what runs beside its decisions: remote key refresh, readiness, the verified
//! token cache's metrics and revocation hook.

use std::sync::Arc;

use super::cache::TokenCache;
use super::keys::{self, IssuerKeys};
use super::remote::sets::RemoteSets;
use super::{Gate, jwt};
use crate::config::{Config, ConfigError, ConfigErrors, RouteId};
use crate::telemetry::metrics::Metrics;

impl Gate {
    /// Parses every issuer's key material; all problems are reported at once.
    pub fn new(config: Arc<Config>) -> Result<Gate, ConfigErrors> {
        let mut keys = Vec::with_capacity(config.auth.issuers.len());
        let mut errors = Vec::new();
        for (index, issuer) in config.auth.issuers.iter().enumerate() {
            // An issuer scoped to other environments is off here: its material was never
            // read (config validation leaves it empty), so there is nothing to parse.
            if !issuer.enabled {
                keys.push(Arc::new(IssuerKeys::default()));
                continue;
            }
            match keys::load(issuer) {
                Ok(loaded) => keys.push(Arc::new(loaded)),
                Err(problems) => {
                    for problem in problems {
                        errors.push(ConfigError::new(format!("auth.issuers[{index}]"), problem));
                    }
                }
            }
        }
        match RemoteSets::new(&config) {
            Ok(remote) if errors.is_empty() => Ok(Gate {
                token_cache: TokenCache::new(config.auth.token_cache_size),
                config,
                keys,
                remote,
            }),
            Ok(_) => Err(ConfigErrors {
                origin: String::new(),
                errors,
            }),
            Err(error) => {
                errors.push(ConfigError::new(
                    "auth.issuers",
                    format!("cannot set up TLS for remote key sets: {error}"),
                ));
                Err(ConfigErrors {
                    origin: String::new(),
                    errors,
                })
            }
        }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The keys each issuer verifies with now, parallel to `AuthConfig::issuers`: static
    /// keys, or the current remote set (empty before the first fetch and once stale).
    pub fn keys(&self) -> Vec<Arc<IssuerKeys>> {
        self.keys
            .iter()
            .zip(self.config.auth.issuer_ids())
            .map(|(keys, (id, _))| match self.remote.get(id) {
                Some(remote) => remote.current(),
                None => keys.clone(),
            })
            .collect()
    }

    /// Starts refreshing remote key sets in the background, counting fetches on
    /// `metrics`. Needs a tokio runtime; later calls do nothing.
    pub fn start_key_refresh(&self, metrics: Arc<Metrics>) {
        self.remote.start(metrics);
    }

    /// Counts verified-token cache lookups on `metrics` (hits and misses); later calls
    /// do nothing.
    pub fn attach_metrics(&self, metrics: &Metrics) {
        if self.token_cache.enabled() {
            let (hit, miss) = metrics.token_cache_counters();
            self.token_cache.attach_counters(hit, miss);
        }
    }

    /// The revocation hook: drops every cached verified token that `revoked` matches, so
    /// its next handshake is verified (and judged) afresh. Returns how many were dropped.
    /// A no-op while `auth.token_cache_size` is 0.
    pub fn invalidate_cached_tokens(&self, revoked: impl Fn(&jwt::VerifiedToken) -> bool) -> usize {
        self.token_cache.invalidate(revoked)
    }

    /// Stops the background refresh (a reload replaced this gate); also happens on drop.
    pub fn stop_key_refresh(&self) {
        self.remote.stop();
    }

    /// Takes over `previous`'s fetched keys for unchanged remote issuers (on reload).
    pub fn adopt_keys(&self, previous: &Gate) {
        self.remote.adopt(&previous.remote);
    }

    /// Every issuer enabled here has keys (readiness).
    pub fn keys_ready(&self) -> bool {
        self.remote.ready()
    }

    /// Marked changed whenever [`Gate::keys_ready`] may have changed, and when the
    /// refresh stops.
    pub fn watch_keys(&self) -> tokio::sync::watch::Receiver<()> {
        self.remote.subscribe()
    }

    /// The route a path falls under (the config always ends with a catch-all): the stricter
    /// of its exact-case and case-insensitive matches (`Config::route_id`).
    pub fn route_id(&self, path: &str) -> RouteId {
        self.config.route_id(path)
    }
}
