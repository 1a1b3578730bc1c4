//! The Prometheus metrics wsgate exports, as one owned struct.
//!
//! [`Metrics`] is built on a `prometheus::Registry` that the caller passes in (never a
//! global), so every test gets its own registry and can assert exact values. Methods are
//! named for what happened (`denied`, `session_closed`) and every label value comes from a
//! closed set: a [`Reason`], one of the enums below, a configured route path, a configured
//! issuer name or a configured bypass key name. Nothing here ever sees a token, a user id
//! or a raw close code. `docs/metrics.md` lists every series this file produces.
//!
//! Every refusal is counted once under its reason code, so one query answers "why were
//! callers turned away": `wsgate_auth_denied_total{route, reason}` for every request wsgate
//! answered with a refusal (auth denials, and also `upstream_unavailable`,
//! `upstream_rejected`, `overloaded` and `server_shutdown`), `wsgate_sessions_closed_total
//! {reason}` for sessions wsgate ended, and `wsgate_connections_rejected_total{reason}` for
//! connections dropped over the limit before a request could be read.

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::domain::reason::Reason;

mod labels;

pub use labels::{
    AuthMethodLabel, BypassResult, CertificateLabel, HandshakeOutcome, InitiatorLabel,
    JwksRefreshResult, RefreshResult, ReloadResult, RevocationScope, StoreOperation,
    UpstreamErrorKind, close_code_label,
};

/// Handshake-duration buckets, in seconds: a local JWT check takes well under a
/// millisecond, a JWKS refetch or a slow upstream dial takes seconds.
const HANDSHAKE_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Every wsgate metric, registered on one registry.
#[derive(Clone)]
pub struct Metrics {
    auth_denied: IntCounterVec,
    auth_allowed: IntCounterVec,
    sessions_active: IntGaugeVec,
    sessions_closed: IntCounterVec,
    handshake_duration: HistogramVec,
    relayed_frames: IntCounterVec,
    relayed_bytes: IntCounterVec,
    upstream_errors: IntCounterVec,
    jwks_refresh: IntCounterVec,
    jwks_keys: IntGaugeVec,
    jwks_last_success: GaugeVec,
    e2e_bypass: IntCounterVec,
    config_reloads: IntCounterVec,
    config_last_reload_successful: IntGauge,
    certificate_expiry: GaugeVec,
    token_cache: IntCounterVec,
    connections_active: IntGauge,
    connections_rejected: IntCounterVec,
    max_connections: IntGauge,
    draining: IntGauge,
    revocations: IntCounterVec,
    sessions_revoked: IntCounterVec,
    session_refresh: IntCounterVec,
    session_store_errors: IntCounterVec,
}

/// The live counters a relay bumps per frame, for both directions.
///
/// Cloned handles: incrementing one is a single atomic add, no label lookup per frame.
#[derive(Clone, Debug)]
pub struct RelayCounterHandles {
    pub frames_to_upstream: IntCounter,
    pub bytes_to_upstream: IntCounter,
    pub frames_to_client: IntCounter,
    pub bytes_to_client: IntCounter,
}

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
            .with_label_values(&[Reason::Overloaded.as_str()]);
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

    /// A request on `route` was refused for `reason`.
    pub fn denied(&self, route: &str, reason: Reason) {
        self.auth_denied
            .with_label_values(&[route, reason.as_str()])
            .inc();
    }

    /// A request on `route` was let through by `method`.
    pub fn allowed(&self, route: &str, method: AuthMethodLabel) {
        self.auth_allowed
            .with_label_values(&[route, method.as_str()])
            .inc();
    }

    /// A WebSocket session on `route` started relaying.
    pub fn session_opened(&self, route: &str) {
        self.sessions_active.with_label_values(&[route]).inc();
    }

    /// A WebSocket session on `route` ended. `code` is the close code of the first close
    /// frame, `None` when the connection ended without one; `reason` is why wsgate ended
    /// it, `None` when a peer did.
    pub fn session_closed(
        &self,
        route: &str,
        initiator: InitiatorLabel,
        code: Option<u16>,
        reason: Option<Reason>,
    ) {
        self.sessions_active.with_label_values(&[route]).dec();
        let reason = reason.map_or("none", Reason::as_str);
        self.sessions_closed
            .with_label_values(&[route, initiator.as_str(), close_code_label(code), reason])
            .inc();
    }

    /// A handshake on `route` reached `outcome` after `seconds`.
    pub fn handshake(&self, route: &str, outcome: HandshakeOutcome, seconds: f64) {
        self.handshake_duration
            .with_label_values(&[route, outcome.as_str()])
            .observe(seconds);
    }

    /// An upstream connection attempt failed.
    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        self.upstream_errors
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// Handles for the relay's per-frame counters.
    pub fn relay_counters(&self) -> RelayCounterHandles {
        let to_upstream = [Direction::ToUpstream.as_str()];
        let to_client = [Direction::ToClient.as_str()];
        RelayCounterHandles {
            frames_to_upstream: self.relayed_frames.with_label_values(&to_upstream),
            bytes_to_upstream: self.relayed_bytes.with_label_values(&to_upstream),
            frames_to_client: self.relayed_frames.with_label_values(&to_client),
            bytes_to_client: self.relayed_bytes.with_label_values(&to_client),
        }
    }

    /// A request carried the E2E bypass header.
    ///
    /// `key` is the configured name of the key that matched. It is only used for
    /// [`BypassResult::Accepted`]; other results are labelled `key="none"`, because no
    /// configured key matched and the presented value must never become a label.
    pub fn e2e_bypass(&self, key: &str, result: BypassResult) {
        let key = match result {
            BypassResult::Accepted => key,
            BypassResult::Invalid | BypassResult::Disabled => "none",
        };
        self.e2e_bypass
            .with_label_values(&[key, result.as_str()])
            .inc();
    }

    /// The certificates loaded now: `Some(notAfter)` sets the series, `None` removes it
    /// (that certificate is no longer configured).
    pub fn certificate_expiry(&self, certificate: CertificateLabel, not_after: Option<u64>) {
        match not_after {
            Some(seconds) => self
                .certificate_expiry
                .with_label_values(&[certificate.as_str()])
                .set(seconds as f64),
            None => {
                let _ = self
                    .certificate_expiry
                    .remove_label_values(&[certificate.as_str()]);
            }
        }
    }

    /// The hit and miss counters of the verified-token cache.
    pub fn token_cache_counters(&self) -> (IntCounter, IntCounter) {
        (
            self.token_cache.with_label_values(&["hit"]),
            self.token_cache.with_label_values(&["miss"]),
        )
    }

    /// A config reload finished.
    pub fn config_reload(&self, result: ReloadResult) {
        self.config_reloads
            .with_label_values(&[result.as_str()])
            .inc();
        // Applied (even with keys waiting for a restart) or refused.
        let applied = match result {
            ReloadResult::Success | ReloadResult::RestartRequired => 1,
            ReloadResult::Error => 0,
        };
        self.config_last_reload_successful.set(applied);
    }

    /// A JWKS fetch for the configured issuer `issuer` finished.
    pub fn jwks_refreshed(&self, issuer: &str, result: JwksRefreshResult) {
        self.jwks_refresh
            .with_label_values(&[issuer, result.as_str()])
            .inc();
        if result == JwksRefreshResult::Success {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64());
            self.jwks_last_success.with_label_values(&[issuer]).set(now);
        }
    }

    /// The configured issuer `issuer` now has `count` usable keys.
    pub fn jwks_keys(&self, issuer: &str, count: usize) {
        self.jwks_keys
            .with_label_values(&[issuer])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// A TCP connection was accepted on the proxy listener.
    pub fn connection_opened(&self) {
        self.connections_active.inc();
    }

    /// A TCP connection on the proxy listener ended.
    pub fn connection_closed(&self) {
        self.connections_active.dec();
    }

    /// A TCP connection over `max_connections` was closed without an answer, because the
    /// pool that answers such connections with `overloaded` was full too. (Answered ones
    /// are counted by [`Metrics::denied`] under their route.)
    pub fn connection_rejected_overloaded(&self) {
        self.connections_rejected
            .with_label_values(&[Reason::Overloaded.as_str()])
            .inc();
    }

    /// The configured `server.max_connections`, for alerts on `wsgate_connections_active`
    /// nearing it.
    pub fn set_max_connections(&self, max: usize) {
        self.max_connections
            .set(i64::try_from(max).unwrap_or(i64::MAX));
    }

    /// The admin API accepted a revocation of `scope`.
    pub fn revocation(&self, scope: RevocationScope) {
        self.revocations.with_label_values(&[scope.as_str()]).inc();
    }

    /// A revocation of `scope` closed `count` live sessions on this replica.
    pub fn sessions_revoked(&self, scope: RevocationScope, count: u64) {
        self.sessions_revoked
            .with_label_values(&[scope.as_str()])
            .inc_by(count);
    }

    /// A refresh request ended with `result`.
    pub fn session_refresh(&self, result: RefreshResult) {
        self.session_refresh
            .with_label_values(&[result.as_str()])
            .inc();
    }

    /// A session-store operation failed or timed out.
    pub fn session_store_error(&self, operation: StoreOperation) {
        self.session_store_errors
            .with_label_values(&[operation.as_str()])
            .inc();
    }

    /// A graceful-shutdown drain started (`true`) or the process is serving (`false`).
    pub fn set_draining(&self, draining: bool) {
        self.draining.set(i64::from(draining));
    }
}

/// The Prometheus text exposition of everything in `registry`.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    // Encoding our own well-formed families into a String cannot fail; if it ever did, a
    // partial scrape is better than none, so the error is dropped.
    let _ = TextEncoder::new().encode_utf8(&registry.gather(), &mut text);
    text
}

/// The `Content-Type` of [`render`]'s output.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `direction` label of the relay counters.
#[derive(Debug, Clone, Copy)]
enum Direction {
    ToUpstream,
    ToClient,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::ToUpstream => "to_upstream",
            Direction::ToClient => "to_client",
        }
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
    let collector = collector.expect("metric definitions in metrics.rs are valid");
    registry
        .register(Box::new(collector.clone()))
        .expect("wsgate metrics are registered once per registry");
    collector
}

#[cfg(test)]
pub(crate) mod tests;
