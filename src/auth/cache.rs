//! The verified-token cache (`auth.token_cache_size`), as Envoy's `jwt_cache_config`: a
//! token seen again skips parsing and the signature check.
//!
//! - Bounded: at most `auth.token_cache_size` entries; when full, the oldest insertion goes
//!   (FIFO). `0` (the default) turns the cache off: nothing is hashed or stored.
//! - Keyed by the SHA-256 of the whole token as sent, never by the raw token (no token
//!   bytes are held) and never by a part of it (ES256 signatures are malleable: the same
//!   claims under another signature are another key, verified on their own).
//! - An entry never outlives the token: it is only used while `now < exp` (the leeway is
//!   not extended to cached entries: past `exp` the token is verified again, with leeway).
//!   Every other time check (`nbf`, `iat`, `max_lifetime`) can only turn from fail to pass
//!   as time goes on, so a token that passed once keeps passing until `exp`.
//! - Tied to the key set that verified it: an entry is used only while its issuer's
//!   current key set is the same one (`Arc` identity). A JWKS refresh installs a new set,
//!   so it invalidates that issuer's entries, and a set gone stale (`jwks_max_stale`) stops
//!   every hit. A reload builds a new gate with an empty cache.
//! - Revocation needs nothing from the cache to hold: revocations in force are judged on
//!   every request after the gate's decision (`proxy/admit.rs`, on the grant's user, `jti`
//!   and `kid`), hits included. [`TokenCache::invalidate`], through
//!   [`crate::auth::Gate::invalidate_cached_tokens`], is the one hook to drop matching
//!   entries early (by subject, issuer, `jti`, ...), e.g. if a revocation check ever moves
//!   before the cache.
//! - `wsgate explain` never reads or fills it: it shows every step of a fresh verification.
//!
//! Route claims and identity headers are derived from the cached claims per request, so a
//! cached token judged on another route is judged by that route's rules.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use prometheus::IntCounter;

use super::jwt::VerifiedToken;
use super::keys::IssuerKeys;

/// SHA-256 of a token.
pub type TokenDigest = [u8; 32];

/// The cache; one per [`crate::auth::Gate`].
pub struct TokenCache {
    capacity: usize,
    inner: Mutex<Inner>,
    /// `wsgate_token_cache_lookups_total{result="hit"|"miss"}`, once attached.
    counters: OnceLock<(IntCounter, IntCounter)>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<TokenDigest, Entry>,
    /// Insertion order for eviction: (digest, the entry's sequence number then). A digest
    /// whose entry was replaced or dropped since is skipped when it comes up.
    order: VecDeque<(TokenDigest, u64)>,
    next: u64,
}

struct Entry {
    verified: Arc<VerifiedToken>,
    /// The issuer's key set the signature was checked with.
    keys: Weak<IssuerKeys>,
    sequence: u64,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; `0` is off.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            inner: Mutex::new(Inner::default()),
            counters: OnceLock::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Counts hits and misses from now on (later calls do nothing).
    pub fn attach_counters(&self, hit: IntCounter, miss: IntCounter) {
        let _ = self.counters.set((hit, miss));
    }

    /// The cache key of `token`.
    pub fn digest(token: &str) -> TokenDigest {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut key = [0; 32];
        key.copy_from_slice(digest.as_ref());
        key
    }

    /// The cached verification of the token with digest `key`, if it is unexpired at `now`
    /// (unix seconds) and its issuer still verifies with the same key set
    /// (`keys[issuer]`, as [`crate::auth::Gate::keys`] returns them). Counts a hit or a miss.
    pub fn get(
        &self,
        key: &TokenDigest,
        keys: &[Arc<IssuerKeys>],
        now: u64,
    ) -> Option<Arc<VerifiedToken>> {
        let found = {
            let mut inner = self.lock();
            let usable = inner.entries.get(key).map(|entry| {
                let same_keys =
                    entry.verified.issuer.slot(keys).is_some_and(|current| {
                        std::ptr::eq(Arc::as_ptr(current), entry.keys.as_ptr())
                    });
                (same_keys && now < entry.verified.expires_at).then(|| entry.verified.clone())
            });
            match usable {
                Some(Some(verified)) => Some(verified),
                Some(None) => {
                    // Expired or verified with another key set: never usable again.
                    inner.entries.remove(key);
                    None
                }
                None => None,
            }
        };
        if let Some((hit, miss)) = self.counters.get() {
            if found.is_some() { hit } else { miss }.inc();
        }
        found
    }

    /// Remembers that the token with digest `key` verified as `verified` with `keys` (its
    /// issuer's key set), unless it expires by `now`.
    pub fn insert(
        &self,
        key: TokenDigest,
        verified: Arc<VerifiedToken>,
        keys: &Arc<IssuerKeys>,
        now: u64,
    ) {
        if !self.enabled() || now >= verified.expires_at {
            return;
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        while inner.entries.len() >= self.capacity && !inner.entries.contains_key(&key) {
            let Some((oldest, sequence)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .entries
                .get(&oldest)
                .is_some_and(|entry| entry.sequence == sequence)
            {
                inner.entries.remove(&oldest);
            }
        }
        let sequence = inner.next;
        inner.next += 1;
        inner.entries.insert(
            key,
            Entry {
                verified,
                keys: Arc::downgrade(keys),
                sequence,
            },
        );
        inner.order.push_back((key, sequence));
        // Entries dropped by `get` or `invalidate` leave their slot in `order`; keep it
        // bounded too.
        if inner.order.len() > 2 * self.capacity {
            let entries = &inner.entries;
            inner.order.retain(|(digest, sequence)| {
                entries
                    .get(digest)
                    .is_some_and(|entry| entry.sequence == *sequence)
            });
        }
    }

    /// Drops every entry whose token matches `revoked`: the revocation hook. Returns how
    /// many were dropped.
    pub fn invalidate(&self, revoked: impl Fn(&VerifiedToken) -> bool) -> usize {
        let mut inner = self.lock();
        let before = inner.entries.len();
        inner.entries.retain(|_, entry| !revoked(&entry.verified));
        before - inner.entries.len()
    }

    /// How many tokens are cached (expired ones included until looked up or evicted).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing here can leave the maps half-updated: a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
