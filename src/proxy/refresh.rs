//! `POST {sessions.refresh_path}` on the client listener: a live session's token replaced
//! by a newer one, so `session_expiry = "close"` ends it at the new `exp` instead of the
//! first token's.
//!
//! The request names its session in `X-Wsgate-Session` and carries the new token in any
//! configured token source. The token goes through the same decision as a handshake
//! (`Gate::decide`, on the session's route), must name the same issuer and subject
//! (`claim_mismatch` otherwise) and no revocation in force (`token_revoked`); only then
//! does the session's deadline move. A refused refresh changes nothing.

use std::net::SocketAddr;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::time::Instant;

use super::answer::Answer;
use super::record::issuer_name;
use super::{Body, Proxy};
use crate::auth::trace::NoTrace;
use crate::auth::{Gate, Grant, RequestView};
use crate::config::SessionExpiry;
use crate::domain::clock::unix_now;
use crate::domain::refusal::Refusal;
use crate::domain::session_id::{SESSION_HEADER, SessionId};
use crate::net::tls::ClientCertificate;
use crate::sessions::{SessionRecord, Target};
use crate::telemetry::metrics::RefreshResult;

impl Proxy {
    pub(super) async fn refresh(
        &self,
        request: Request<Incoming>,
        client: SocketAddr,
        certificate: &ClientCertificate,
    ) -> Response<Body> {
        if request.method() != Method::POST {
            return Answer::json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "method_not_allowed", "message": "refresh is POST"}),
            )
            .header(header::ALLOW, HeaderValue::from_static("POST"))
            .into_response();
        }
        let session = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| SessionId::parse(text.trim()));
        let finding = Instant::now();
        let found = match session {
            Some(id) => self.registry.find(id).await,
            None => Ok(None),
        };
        // The store's share of this request's wait, so far.
        let spent = finding.elapsed();
        let Ok(record) = found else {
            let reason = Refusal::SessionsUnavailable;
            self.metrics.session_refresh(RefreshResult::Refused(reason));
            return Answer::denial(reason).into_response();
        };
        let Some(record) = record else {
            self.metrics.session_refresh(RefreshResult::SessionUnknown);
            tracing::info!(client = %client, result = "session_unknown", "session refresh refused");
            return Answer::json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({
                    "error": "session_unknown",
                    "message": "X-Wsgate-Session names no live session",
                }),
            )
            .into_response();
        };
        let policy = self.policy();
        let gate = &policy.gate;
        let config = gate.config();
        let view = RequestView {
            path: &record.route,
            query: request.uri().query(),
            headers: request.headers(),
            client_cert: certificate,
        };
        let budget = self.server.handshake_timeout;
        let decision = match tokio::time::timeout(
            budget,
            gate.decide(&view, unix_now(), &mut NoTrace),
        )
        .await
        {
            Ok(Ok(grant)) => self.judge_refresh(gate, &record, &grant),
            Ok(Err(denial)) => Err(denial.reason),
            Err(_) => Err(Refusal::KeysUnavailable),
        };
        let extended = match decision {
            Ok(expires_at) => {
                let deadline = match config.auth.session_expiry {
                    SessionExpiry::Close => {
                        Some(expires_at.saturating_add(config.auth.leeway.as_secs()))
                    }
                    SessionExpiry::Keep => None,
                };
                let max_age = self.server.max_session_duration;
                // With the memory store, a session that ended meanwhile: nothing to refresh.
                self.registry
                    .extend(&record, expires_at, deadline, max_age, spent)
                    .await
                    .map_err(|_| {
                        if self.registry.is_shared() {
                            Refusal::SessionsUnavailable
                        } else {
                            Refusal::TokenExpired
                        }
                    })
            }
            Err(reason) => Err(reason),
        };
        match extended {
            Ok(extended) => {
                self.metrics.session_refresh(RefreshResult::Ok);
                tracing::info!(
                    session = %record.session,
                    user = record.user.as_deref().unwrap_or(""),
                    client = %client,
                    expires_at = extended.expires_at,
                    result = "ok",
                    "session refreshed"
                );
                Answer::json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "session": record.session,
                        "expires_at": extended.expires_at,
                        "expires_in": extended.expires_at.saturating_sub(unix_now()),
                    }),
                )
                .into_response()
            }
            Err(reason) => {
                self.metrics.session_refresh(RefreshResult::Refused(reason));
                tracing::info!(
                    session = %record.session,
                    user = record.user.as_deref().unwrap_or(""),
                    client = %client,
                    reason = reason.as_str(),
                    result = reason.as_str(),
                    "session refresh refused"
                );
                Answer::denial(reason).into_response()
            }
        }
    }

    /// The new token's `exp` when the grant may replace the session's token.
    fn judge_refresh(
        &self,
        gate: &Gate,
        record: &SessionRecord,
        grant: &Grant,
    ) -> Result<u64, Refusal> {
        let config = gate.config();
        let expires_at = crate::sessions::same_holder(
            config,
            grant,
            record.issuer.as_deref(),
            record.subject.as_deref(),
        )
        .map_err(|(reason, _)| reason)?;
        let issuer = issuer_name(config, grant.issuer);
        let token = grant.token.as_ref().ok_or(Refusal::TokenMissing)?;
        let target = Target {
            session: Some(record.session),
            user: grant.user.as_deref(),
            issuer,
            jti: token.jti.as_deref(),
            kid: token.kid.as_deref(),
        };
        if self.registry.revoked(&target).is_some() {
            return Err(Refusal::TokenRevoked);
        }
        Ok(expires_at)
    }
}
