//! Recording a request's decision: its log line and metrics, in one call to
//! `telemetry::record_decision`.
//!
//! A refusal the upstream caused is recorded like every other refusal: the auth decision
//! let the caller in (already logged and counted as allowed), then the upstream could not
//! be reached or answered an invalid 101. The client gets a refusal
//! (`upstream_unavailable` or `upstream_rejected`), so it is recorded as one: the
//! failure's detail first, then the `request denied` line and
//! `wsgate_auth_denied_total{route, reason}`, so one query counts every refusal.

use super::*;
use crate::config::IssuerId;

impl Proxy {
    /// An admitted request whose upstream failed: the failure's detail ("upstream error",
    /// `wsgate_upstream_errors_total`), then the refusal the client gets, recorded like
    /// every other refusal ("request denied", `wsgate_auth_denied_total`), so one query
    /// counts every `upstream_unavailable` and `upstream_rejected` answer. Returns the
    /// reason to refuse with.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_upstream_refusal(
        &self,
        gate: &Gate,
        grant: &Grant,
        route: &str,
        client: SocketAddr,
        websocket: bool,
        error: &UpstreamError,
        started: Instant,
    ) -> Refusal {
        let kind = upstream_kind(error);
        let detail = error.to_string();
        let caller = Caller {
            method: grant.method,
            user: grant.user.as_deref(),
        };
        let verdict = Verdict::UpstreamFailed {
            caller,
            kind,
            detail: &detail,
        };
        self.record_decision(
            gate,
            grant.issuer,
            route,
            client,
            websocket,
            started,
            verdict,
        );
        kind.reason()
    }

    /// Records the decision about one request, its log line and its metrics together
    /// (`telemetry::record_decision`); `issuer` names one of the configured issuers.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_decision(
        &self,
        gate: &Gate,
        issuer: Option<IssuerId>,
        route: &str,
        client: SocketAddr,
        websocket: bool,
        started: Instant,
        verdict: Verdict<'_>,
    ) {
        let issuer = issuer.map(|i| gate.config().auth.issuer(i).name.as_str());
        telemetry::record_decision(
            &self.metrics,
            &Decision {
                route,
                client,
                websocket,
                issuer,
                duration: started.elapsed(),
                verdict,
            },
        );
    }
}

fn upstream_kind(error: &UpstreamError) -> UpstreamErrorKind {
    match error {
        UpstreamError::Connect(_) | UpstreamError::Protocol(_) => UpstreamErrorKind::Connect,
        UpstreamError::Timeout => UpstreamErrorKind::Timeout,
        UpstreamError::Tls(_) => UpstreamErrorKind::Tls,
        UpstreamError::Rejected(_) => UpstreamErrorKind::Rejected,
    }
}
