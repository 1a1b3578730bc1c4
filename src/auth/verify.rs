//! A token's verification within a decision: [`jwt::verify`] against the current keys,
//! the one JWKS refetch a remote issuer's unknown `kid` earns, and the verified-token
//! cache in front of both.

use std::ops::Deref;
use std::sync::Arc;

use super::Gate;
use super::cache::TokenCache;
use super::jwt::{self, Failure, VerifiedToken};
use super::keys::IssuerKeys;
use super::remote::Refetch;
use super::trace::{NoTrace, Outcome, Step, Trace, step};
use crate::domain::refusal::Refusal;

impl Gate {
    /// [`jwt::verify`] against the current keys. When a remote issuer has no key for the
    /// token (`key_unknown`) or no keys at all (`keys_unavailable`), one refetch
    /// (single-flight, within the cooldown) and one more verification. For `explain`, the
    /// first attempt's steps are replaced by one `jwks` step when a refetch happened.
    /// With the token cache on (and no trace: `explain` always verifies afresh), a token
    /// verified before is taken from the cache, see [`super::cache`].
    pub(super) async fn verify_token(
        &self,
        token: &str,
        now: u64,
        trace: &mut (dyn Trace + Send),
    ) -> Result<Verified, Failure> {
        let keys = self.keys();
        if !self.token_cache.enabled() || trace.enabled() {
            let (verified, _) = self.verify_uncached(token, keys, now, trace).await?;
            return Ok(Verified::Own(verified));
        }
        let digest = TokenCache::digest(token);
        if let Some(verified) = self.token_cache.get(&digest, &keys, now) {
            return Ok(Verified::Shared(verified));
        }
        let (verified, verified_with) = self.verify_uncached(token, keys, now, trace).await?;
        let verified = Arc::new(verified);
        self.token_cache
            .insert(digest, verified.clone(), &verified_with, now);
        Ok(Verified::Shared(verified))
    }

    async fn verify_uncached(
        &self,
        token: &str,
        keys: Vec<Arc<IssuerKeys>>,
        now: u64,
        trace: &mut (dyn Trace + Send),
    ) -> Result<(VerifiedToken, Arc<IssuerKeys>), Failure> {
        let auth = &self.config.auth;
        let mut first_steps: Vec<Step> = Vec::new();
        let first = if trace.enabled() {
            jwt::verify(token, auth, &keys, now, &mut first_steps)
        } else {
            jwt::verify(token, auth, &keys, now, &mut NoTrace)
        };
        let retry = match first {
            Err(Failure {
                reason: reason @ (Refusal::KeyUnknown | Refusal::KeysUnavailable),
                issuer: Some(issuer),
            }) => self
                .remote
                .get(issuer)
                .and_then(|remote| Some((reason, remote, issuer.slot(&keys)?.clone()))),
            _ => None,
        };
        // With the key set each verification used, which a cache entry is tied to.
        let with_set = |verified: VerifiedToken, keys: &[Arc<IssuerKeys>]| {
            let set = verified.issuer.slot(keys).cloned().unwrap_or_default();
            (verified, set)
        };
        let Some((reason, remote, seen)) = retry else {
            replay(trace, first_steps);
            return first.map(|verified| with_set(verified, &keys));
        };
        match remote.refetch(&seen).await {
            Refetch::CoolingDown(detail) => {
                replay(trace, first_steps);
                step(trace, "jwks", Outcome::Info, || detail);
                first.map(|verified| with_set(verified, &keys))
            }
            Refetch::Done(detail) => {
                step(trace, "jwks", Outcome::Info, || {
                    format!("{}: {detail}", reason.as_str())
                });
                let fresh = self.keys();
                jwt::verify(token, auth, &fresh, now, trace)
                    .map(|verified| with_set(verified, &fresh))
            }
        }
    }
}

/// A token verified for one decision: its own (the cache off, or `explain`), or shared
/// with the cache.
pub(super) enum Verified {
    Own(VerifiedToken),
    Shared(Arc<VerifiedToken>),
}

impl Deref for Verified {
    type Target = VerifiedToken;

    fn deref(&self) -> &VerifiedToken {
        match self {
            Verified::Own(verified) => verified,
            Verified::Shared(verified) => verified,
        }
    }
}

fn replay(trace: &mut dyn Trace, steps: Vec<Step>) {
    for recorded in steps {
        trace.record(recorded);
    }
}
