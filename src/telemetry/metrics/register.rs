//! Creating and registering every wsgate collector on the caller's registry: names, help
//! texts, label names, histogram buckets, and the series that exist from the start.

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use super::{
    Metrics, RefreshResult, ReloadResult, RevocationScope, StoreOperation, UpstreamErrorKind,
};
use crate::domain::refusal::Refusal;

/// Handshake-duration buckets, in seconds: a local JWT check takes well under a
/// millisecond, a JWKS refetch or a slow upstream dial takes seconds.
const HANDSHAKE_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

impl Metrics {
    /// Creates every collector and registers it on `registry`.
    ///
    /// # Panics
    /// When `registry` already holds wsgate metrics: registering twice is a programming
    /// error (one `Metrics` per registry), not a runtime condition.
    pub fn new(registry: &Registry) -> Metrics {
        let metrics = Metrics {
            auth_denied: counter_vec(
                registry,
                "wsgate_auth_denied_total",
                "Requests refused before the handshake, by route and reason code.",
                &["route", "reason"],
            ),
            auth_allowed: counter_vec(
                registry,
                "wsgate_auth_allowed_total",
                "Requests let through, by route and authentication method.",
                &["route", "method"],
            ),
            sessions_active: gauge_vec(
                registry,
                "wsgate_sessions_active",
                "WebSocket sessions currently relayed, by route.",
                &["route"],
            ),
            sessions_closed: counter_vec(
                registry,
                "wsgate_sessions_closed_total",
                "WebSocket sessions ended, by route, the side that ended them, close code and \
                 the reason code when wsgate ended them (else none).",
                &["route", "initiator", "code", "reason"],
            ),
            handshake_duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "wsgate_handshake_duration_seconds",
                        "Time from the request's arrival to the handshake's outcome.",
                    )
                    .buckets(HANDSHAKE_BUCKETS.to_vec()),
                    &["route", "outcome"],
                ),
            ),
            relayed_frames: counter_vec(
                registry,
                "wsgate_relayed_frames_total",
                "WebSocket frames relayed, by direction.",
                &["direction"],
            ),
            relayed_bytes: counter_vec(
                registry,
                "wsgate_relayed_bytes_total",
                "WebSocket payload bytes relayed (frame headers not counted), by direction.",
                &["direction"],
            ),
            upstream_errors: counter_vec(
                registry,
                "wsgate_upstream_errors_total",
                "Failed upstream connections, by kind.",
                &["kind"],
            ),
            jwks_refresh: counter_vec(
                registry,
                "wsgate_jwks_refresh_total",
                "JWKS fetches, by configured issuer name and result.",
                &["issuer", "result"],
            ),
            jwks_keys: gauge_vec(
                registry,
                "wsgate_jwks_keys",
                "Keys currently usable, by configured issuer name.",
                &["issuer"],
            ),
            jwks_last_success: register(
                registry,
                GaugeVec::new(
                    Opts::new(
                        "wsgate_jwks_last_success_timestamp_seconds",
                        "Unix time of the last successful JWKS fetch, by configured issuer name.",
                    ),
                    &["issuer"],
                ),
            ),
            certificate_expiry: register(
                registry,
                GaugeVec::new(
                    Opts::new(
                        "wsgate_tls_certificate_expiry_timestamp_seconds",
                        "Unix time at which each certificate wsgate presents expires (its notAfter), \
                         updated on every (re)load: listener, upstream_client, assertion.",
                    ),
                    &["certificate"],
                ),
            ),
            e2e_bypass: counter_vec(
                registry,
                "wsgate_e2e_bypass_total",
                "Requests carrying the E2E bypass header, by configured key name and result.",
                &["key", "result"],
            ),
            token_cache: counter_vec(
                registry,
                "wsgate_token_cache_lookups_total",
                "Verified-token cache lookups (auth.token_cache_size > 0), by result: hit or miss.",
                &["result"],
            ),
            config_reloads: counter_vec(
                registry,
                "wsgate_config_reloads_total",
                "Config reloads, by result.",
                &["result"],
            ),
            config_last_reload_successful: register(
                registry,
                IntGauge::new(
                    "wsgate_config_last_reload_successful",
                    "1 when the last config reload succeeded (or none was tried), 0 while \
                     the policy in force is older than the file because a reload failed.",
                ),
            ),
            connections_active: register(
                registry,
                IntGauge::new(
                    "wsgate_connections_active",
                    "TCP connections currently open on the proxy listener.",
                ),
            ),
            connections_rejected: counter_vec(
                registry,
                "wsgate_connections_rejected_total",
                "TCP connections over max_connections closed without an answer (the \
                 overflow pool was full too), by reason code.",
                &["reason"],
            ),
            max_connections: register(
                registry,
                IntGauge::new(
                    "wsgate_max_connections",
                    "The configured server.max_connections (the limit of \
                     wsgate_connections_active).",
                ),
            ),
            draining: register(
                registry,
                IntGauge::new(
                    "wsgate_draining",
                    "1 while a graceful shutdown drain is under way, else 0.",
                ),
            ),
            revocations: counter_vec(
                registry,
                "wsgate_revocations_total",
                "Revocations accepted by the admin API, by scope.",
                &["scope"],
            ),
            sessions_revoked: counter_vec(
                registry,
                "wsgate_sessions_revoked_total",
                "Live sessions on this replica closed by a revocation, by the revocation's scope.",
                &["scope"],
            ),
            session_refresh: counter_vec(
                registry,
                "wsgate_session_refresh_total",
                "Session refresh requests, by result (ok, or the refusal's reason code).",
                &["result"],
            ),
            session_store_errors: counter_vec(
                registry,
                "wsgate_session_store_errors_total",
                "Session store operations that failed or timed out, by operation.",
                &["operation"],
            ),
        };

        let build_info = gauge_vec(
            registry,
            "wsgate_build_info",
            "Always 1; the version label says which wsgate is running.",
            &["version"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        // Series with small fixed label sets exist from the start, so `rate()` and
        // alerts see a 0 instead of an absent series.
        for kind in UpstreamErrorKind::ALL {
            metrics.upstream_errors.with_label_values(&[kind.as_str()]);
        }
        for result in ReloadResult::ALL {
            metrics.config_reloads.with_label_values(&[result.as_str()]);
        }
        metrics
            .connections_rejected
            .with_label_values(&[Refusal::Overloaded.as_str()]);
        metrics.config_last_reload_successful.set(1);
        metrics.relay_counters();
        register_process_collector(registry);
        for scope in RevocationScope::ALL {
            metrics.revocations.with_label_values(&[scope.as_str()]);
            metrics
                .sessions_revoked
                .with_label_values(&[scope.as_str()]);
        }
        metrics
            .session_refresh
            .with_label_values(&[RefreshResult::Ok.as_str()]);
        for operation in StoreOperation::ALL {
            metrics
                .session_store_errors
                .with_label_values(&[operation.as_str()]);
        }

        metrics
    }
}

/// Registers the `process_*` series (resident and virtual memory, CPU seconds, open and
/// maximum file descriptors, start time), read from `/proc/self` at each scrape. Linux
/// only: the prometheus crate has no collector for other systems.
#[cfg(target_os = "linux")]
fn register_process_collector(registry: &Registry) {
    let collector = prometheus::process_collector::ProcessCollector::for_self();
    registry
        .register(Box::new(collector))
        .expect("the process collector is registered once per registry");
}

#[cfg(not(target_os = "linux"))]
fn register_process_collector(_registry: &Registry) {}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

/// Registers one collector. The names, help texts and label names are constants of this
/// file, so creation only fails on a programming error (a bad name, a double
/// registration); that is a panic at startup, never mid-traffic.
fn register<C>(registry: &Registry, collector: prometheus::Result<C>) -> C
where
    C: prometheus::core::Collector + Clone + 'static,
{
    let collector = collector.expect("metric definitions in register.rs are valid");
    registry
        .register(Box::new(collector.clone()))
        .expect("wsgate metrics are registered once per registry");
    collector
}
