//! The Prometheus metrics wsgate exports, as one owned struct.
//!
//! [`Metrics`] is built on a `prometheus::Registry` that the caller passes in (never a
//! global), so every test gets its own registry and can assert exact values. Methods are
//! named for what happened (`denied`, `session_closed`) and every label value comes from a
//! closed set: a domain enum ([`Refusal`], [`CloseReason`], [`AuthMethod`],
//! [`Initiator`]), one of the enums in `labels.rs`, a configured route path, a configured
//! issuer name or a configured bypass key name. Nothing here ever sees a token, a user id
//! or a raw close code. `docs/metrics.md` lists every series this module produces.
//!
//! Every refusal is counted once under its reason code, so one query answers "why were
//! callers turned away": `wsgate_auth_denied_total{route, reason}` for every request wsgate
//! answered with a refusal (auth denials, and also `upstream_unavailable`,
//! `upstream_rejected`, `overloaded` and `server_shutdown`), `wsgate_sessions_closed_total
//! {reason}` for sessions wsgate ended, and `wsgate_connections_rejected_total{reason}` for
//! connections dropped over the limit before a request could be read.
//!
//! Here: the struct and one method per event; `register.rs` creates and registers the
//! collectors; `relay_counters.rs` hands the relay its per-frame counters; `labels.rs`
//! holds the label sets that are wsgate's metrics' own.

use prometheus::{
    GaugeVec, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry, TextEncoder,
};

use crate::domain::auth_method::AuthMethod;
use crate::domain::close_reason::CloseReason;
use crate::domain::initiator::Initiator;
use crate::domain::refusal::Refusal;

mod labels;
mod register;
mod relay_counters;
mod route;

pub use labels::{
    BypassResult, CertificateLabel, HandshakeOutcome, JwksRefreshResult, RefreshResult,
    ReloadResult, RevocationScope, StoreOperation, UpstreamErrorKind, close_code_label,
};
pub use relay_counters::RelayCounters;
pub use route::RouteSeries;

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

impl Metrics {
    /// A request on `route` was refused for `reason`.
    pub fn denied(&self, route: &str, reason: Refusal) {
        self.auth_denied
            .with_label_values(&[route, reason.as_str()])
            .inc();
    }

    /// A request on `route` was let through by `method`.
    pub fn allowed(&self, route: &RouteSeries, method: AuthMethod) {
        self.allowed_series(route, method).inc();
    }

    /// A WebSocket session on `route` started relaying.
    pub fn session_opened(&self, route: &RouteSeries) {
        self.sessions_active_series(route).inc();
    }

    /// A WebSocket session on `route` ended. `code` is the close code of the first close
    /// frame, `None` when the connection ended without one; `reason` is why wsgate ended
    /// it, `None` when a peer did.
    pub fn session_closed(
        &self,
        route: &RouteSeries,
        initiator: Initiator,
        code: Option<u16>,
        reason: Option<CloseReason>,
    ) {
        self.sessions_active_series(route).dec();
        let reason = reason.map_or("none", CloseReason::as_str);
        self.sessions_closed
            .with_label_values(&[
                route.path(),
                initiator.as_str(),
                close_code_label(code),
                reason,
            ])
            .inc();
    }

    /// A handshake on `route` reached `outcome` after `seconds`.
    pub fn handshake(&self, route: &RouteSeries, outcome: HandshakeOutcome, seconds: f64) {
        match outcome {
            HandshakeOutcome::Allowed => self.handshake_allowed_series(route).observe(seconds),
            _ => self
                .handshake_duration
                .with_label_values(&[route.path(), outcome.as_str()])
                .observe(seconds),
        }
    }

    /// An upstream connection attempt failed.
    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        self.upstream_errors
            .with_label_values(&[kind.as_str()])
            .inc();
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
            .with_label_values(&[Refusal::Overloaded.as_str()])
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

#[cfg(test)]
pub(crate) mod tests;
