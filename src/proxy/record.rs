//! Every decision recorded once, its log line and metrics together, in one call to
//! `telemetry::record_decision`: a refusal ("request denied", `wsgate_auth_denied_total`),
//! a grant ("request allowed", and the audit line of an end-to-end bypass), and a refusal
//! the upstream caused.
//!
//! An upstream failure is a refusal like any other: the auth decision let the caller in
//! (already logged and counted as allowed), then the upstream could not be reached or
//! answered an invalid 101. The client gets `upstream_unavailable` or
//! `upstream_rejected`, so it is recorded as one: the failure's detail first ("upstream
//! error", `wsgate_upstream_errors_total`), then the `request denied` line and
//! `wsgate_auth_denied_total{route, reason}`, so one query counts every refusal.

use std::net::SocketAddr;
use tokio::time::Instant;

use super::{Policy, Proxy};
use crate::auth::{Denial, Grant};
use crate::config::{Config, IssuerId, RouteId};
use crate::domain::refusal::Refusal;
use crate::telemetry::metrics::BypassResult;
use crate::telemetry::{self, Caller, Decision, Verdict};
use crate::upstream::UpstreamError;

impl Proxy {
    /// A refusal by the decision (or the drain, or `max_connections`).
    pub(super) fn record_denial(
        &self,
        policy: &Policy,
        denial: &Denial,
        client: SocketAddr,
        websocket: bool,
        started: Instant,
    ) {
        let verdict = Verdict::Denied(denial.reason);
        let (route, issuer) = (denial.route, denial.issuer);
        self.record_decision(policy, route, issuer, client, websocket, started, verdict);
        let bypass_result = match denial.reason {
            Refusal::E2eBypassDisabled => Some(BypassResult::Disabled),
            Refusal::E2eKeyInvalid => Some(BypassResult::Invalid),
            _ => None,
        };
        if let Some(result) = bypass_result {
            self.metrics.e2e_bypass("none", result);
        }
    }

    /// A grant; a bypass key's use is also counted and audited.
    pub(super) fn record_grant(
        &self,
        policy: &Policy,
        grant: &Grant,
        client: SocketAddr,
        websocket: bool,
        started: Instant,
    ) {
        let verdict = Verdict::Allowed(caller(grant));
        let (route, issuer) = (grant.route, grant.issuer);
        self.record_decision(policy, route, issuer, client, websocket, started, verdict);
        let config = policy.gate.config();
        if let Some(key) = grant.bypass_key.map(|k| config.e2e_bypass.key(k)) {
            self.metrics.e2e_bypass(&key.name, BypassResult::Accepted);
            tracing::warn!(
                audit = "e2e_bypass",
                key = key.name.as_str(),
                user = grant.user.as_deref().unwrap_or(""),
                client = %client,
                route = config.route(grant.route).path.as_str(),
                "end-to-end test bypass used"
            );
        }
    }

    /// An admitted request whose upstream failed: the failure's detail, then the refusal
    /// the client gets. Returns the reason to refuse with.
    pub(super) fn record_upstream_refusal(
        &self,
        policy: &Policy,
        grant: &Grant,
        client: SocketAddr,
        websocket: bool,
        error: &UpstreamError,
        started: Instant,
    ) -> Refusal {
        let kind = error.kind();
        let detail = error.to_string();
        let verdict = Verdict::UpstreamFailed {
            caller: caller(grant),
            kind,
            detail: &detail,
        };
        let (route, issuer) = (grant.route, grant.issuer);
        self.record_decision(policy, route, issuer, client, websocket, started, verdict);
        kind.reason()
    }

    /// Records the decision about one request on the configured route `route`, its log
    /// line and its metrics together (`telemetry::record_decision`).
    #[allow(clippy::too_many_arguments)]
    fn record_decision(
        &self,
        policy: &Policy,
        route: RouteId,
        issuer: Option<IssuerId>,
        client: SocketAddr,
        websocket: bool,
        started: Instant,
        verdict: Verdict<'_>,
    ) {
        let config = policy.gate.config();
        telemetry::record_decision(
            &self.metrics,
            &Decision {
                route: &policy.names.series(config, route),
                client,
                websocket,
                issuer: issuer_name(config, issuer),
                duration: started.elapsed(),
                verdict,
            },
        );
    }
}

/// Who the auth decision let in.
fn caller(grant: &Grant) -> Caller<'_> {
    Caller {
        method: grant.method,
        user: grant.user.as_deref(),
    }
}

/// The configured name of the issuer a decision names.
pub(super) fn issuer_name(config: &Config, issuer: Option<IssuerId>) -> Option<&str> {
    issuer.map(|i| config.auth.issuer(i).name.as_str())
}
