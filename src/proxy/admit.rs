//! Session control's part of a decision, judged before any upstream is dialled: a
//! revoked user, token or signing key is refused (`token_revoked`); a WebSocket session
//! is checked against the caps (`too_many_sessions`), or the store's fault
//! (`sessions_unavailable`), and registered under a fresh id.

use std::net::SocketAddr;

use super::{Policy, Proxy};
use crate::auth::{Denial, Grant};
use crate::domain::clock::unix_now;
use crate::domain::refusal::Refusal;
use crate::domain::session_id::SessionId;
use crate::sessions::{Registration, SessionRecord, Target};

impl Proxy {
    /// Session control's part of a decision: a revoked user, token or key is refused
    /// (`token_revoked`); a WebSocket session is checked against the caps
    /// (`too_many_sessions`) and registered under a fresh id.
    pub(super) async fn admit(
        &self,
        policy: &Policy,
        grant: &Grant,
        websocket: bool,
        client: SocketAddr,
    ) -> Result<Option<Registration>, Denial> {
        let config = policy.gate.config();
        let deny = |reason| Denial {
            route: grant.route,
            reason,
            issuer: grant.issuer,
        };
        let issuer = policy.names.issuer(config, grant.issuer);
        let token = grant.token.as_ref();
        let target = Target {
            session: None,
            user: grant.user.as_deref(),
            issuer: issuer.as_deref(),
            jti: token.and_then(|t| t.jti.as_deref()),
            kid: token.and_then(|t| t.kid.as_deref()),
        };
        if let Some(revocation) = self.registry.revoked(&target) {
            tracing::info!(
                route = config.route(grant.route).path.as_str(),
                client = %client,
                user = grant.user.as_deref().unwrap_or(""),
                revoked = %revocation.describe(),
                "credential matches a revocation in force"
            );
            return Err(deny(Refusal::TokenRevoked));
        }
        if !websocket {
            return Ok(None);
        }
        let Some(session) = SessionId::generate() else {
            // The kernel's random source failed: no unguessable id, so no session.
            tracing::error!(client = %client, "cannot draw a session id from the system's random source");
            return Err(deny(Refusal::Overloaded));
        };
        let record = SessionRecord {
            session,
            user: grant.user.clone(),
            issuer,
            subject: token.map(|t| t.subject.clone()),
            jti: token.and_then(|t| t.jti.clone()),
            kid: token.and_then(|t| t.kid.clone()),
            route: policy.names.route(config, grant.route),
            client,
            replica: self.registry.replica_name(),
            started_at: unix_now(),
            expires_at: grant.expires_at,
        };
        self.registry.admit(record).await.map(Some).map_err(deny)
    }
}
