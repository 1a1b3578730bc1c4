//! A refusal the upstream caused, recorded like every other refusal.
//!
//! The auth decision let the caller in (already logged and counted as allowed), then the
//! upstream could not be reached or answered an invalid 101. The client gets a refusal
//! (`upstream_unavailable` or `upstream_rejected`), so it is recorded as one: the
//! failure's detail first, then the `request denied` line and
//! `wsgate_auth_denied_total{route, reason}`, so one query counts every refusal.

use super::*;

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
        let issuer = grant
            .issuer
            .and_then(|i| gate.config().auth.issuers.get(i))
            .map(|i| i.name.as_str());
        telemetry::record_decision(
            &self.metrics,
            &Decision {
                route,
                client,
                websocket,
                issuer,
                duration: started.elapsed(),
                verdict: Verdict::UpstreamFailed {
                    caller: Caller {
                        method: grant.method,
                        user: grant.user.as_deref(),
                    },
                    kind,
                    detail: &error.to_string(),
                },
            },
        );
        kind.reason()
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
