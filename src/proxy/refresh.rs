//! `POST {sessions.refresh_path}` on the client listener: a live session's token replaced
//! by a newer one, so `session_expiry = "close"` ends it at the new `exp` instead of the
//! first token's.
//!
//! The request names its session in `X-Wsgate-Session` and carries the new token in any
//! configured token source. The token goes through the same decision as a handshake
//! (`Gate::decide`, on the session's route), must name the same issuer and subject
//! (`claim_mismatch` otherwise) and no revocation in force (`token_revoked`); only then
//! does the session's deadline move. A refused refresh changes nothing.

use http::{Method, StatusCode, header};

use super::*;
use crate::domain::session_id::SESSION_HEADER;
use crate::sessions::Target;
use crate::telemetry::metrics::RefreshResult;

impl Proxy {
    pub(super) async fn refresh(
        &self,
        request: Request<Incoming>,
        client: SocketAddr,
        certificate: &ClientCertificate,
    ) -> Response<Body> {
        if request.method() != Method::POST {
            let mut response = json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "method_not_allowed", "message": "refresh is POST"}),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let session = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| crate::domain::session_id::SessionId::parse(text.trim()));
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
            return denial_response(reason);
        };
        let Some(record) = record else {
            self.metrics.session_refresh(RefreshResult::SessionUnknown);
            tracing::info!(client = %client, result = "session_unknown", "session refresh refused");
            return json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({
                    "error": "session_unknown",
                    "message": "X-Wsgate-Session names no live session",
                }),
            );
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
                json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "session": record.session,
                        "expires_at": extended.expires_at,
                        "expires_in": extended.expires_at.saturating_sub(unix_now()),
                    }),
                )
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
                denial_response(reason)
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
        let issuer = grant.issuer.map(|i| config.auth.issuer(i).name.as_str());
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

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    boxed(response)
}
