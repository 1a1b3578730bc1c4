//! Reloads and what every (re)load publishes: a new [`Policy`] becomes the policy for new
//! requests as one unit, live sessions keep the one they started with.

use std::sync::Arc;

use crate::admin::jwks::PublishedKeys;
use crate::proxy::{Policy, Proxy};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::{Metrics, ReloadResult};

/// What every (re)load makes public: the assertion's JWKS on the admin listener, the
/// certificates' expiry dates, and a warning when the assertion key was generated here.
pub(super) fn publish(policy: &Policy, keys: &PublishedKeys, metrics: &Metrics) {
    keys.set(policy.assertion.as_ref().map(|a| a.jwks()));
    for (certificate, not_after) in policy.certificate_expiry() {
        metrics.certificate_expiry(certificate, not_after);
    }
    if let Some(assertion) = &policy.assertion
        && assertion.generated()
    {
        tracing::warn!(
            kid = assertion.current_key().kid(),
            "identity.assertion.key_file is not set: signing with a key generated at start; \
             other replicas (and this one after a restart) sign with different keys"
        );
    }
}

/// The one reload entry point: SIGHUP and file changes (`cli/watch.rs`) both end here,
/// with a policy [`super::runtime::load`] built. It becomes the policy for new requests as one unit; keys that need a
/// restart keep their running values and are named in the log line and by
/// `result="restart_required"`.
pub(super) fn apply_reload(
    proxy: &Proxy,
    mut policy: Policy,
    keys: &PublishedKeys,
    sessions_shape: &str,
) {
    // Compared with what the process started with: such a key stays unapplied until a
    // restart, however many reloads come in between.
    let config = policy.gate.config();
    let mut restart = crate::config::restart_required(&proxy.server, &config.server);
    if crate::config::restart_shape(config) != sessions_shape {
        restart.push(crate::config::SESSIONS_RESTART_KEY);
    }
    let previous = proxy.policy();
    if let Some(old) = &previous.assertion {
        policy.assertion = policy.assertion.take().map(|a| a.adopt_generated(old));
    }
    // The listener is TLS or not for the life of the process: a reload changes its
    // files, never whether it has any.
    if policy.tls.is_some() != proxy.secure {
        policy.tls = if proxy.secure {
            previous.tls.clone()
        } else {
            None
        };
    }
    publish(&policy, keys, &proxy.metrics);
    policy.gate.adopt_keys(&previous.gate);
    policy.gate.start_key_refresh(proxy.metrics.clone());
    policy.gate.attach_metrics(&proxy.metrics);
    proxy.replace_policy(Arc::new(policy));
    previous.gate.stop_key_refresh();
    if restart.is_empty() {
        crate::telemetry::record_config_reload(&proxy.metrics, ReloadResult::Success, None);
    } else {
        crate::telemetry::record_config_reload(
            &proxy.metrics,
            ReloadResult::RestartRequired,
            Some(&restart.join(", ")),
        );
    }
}

/// Keeps `/readyz`'s key flag equal to the current gate's: false while an enabled remote
/// issuer has no keys (before the first fetch, after `jwks_max_stale`).
pub(super) async fn track_key_readiness(proxy: Arc<Proxy>, health: Arc<Health>) {
    loop {
        let policy = proxy.policy();
        let mut changed = policy.gate.watch_keys();
        health.set_keys_loaded(policy.gate.keys_ready());
        drop(policy);
        // Err: the gate is gone (replaced by a reload); look at the new one.
        let _ = changed.changed().await;
    }
}
