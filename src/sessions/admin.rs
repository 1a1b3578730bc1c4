//! The admin API's session endpoints, on `admin_listen` behind `[admin] token`:
//! `POST /admin/revoke` and `GET /admin/sessions[?user=S]`. Without a configured token
//! they do not exist (404); a missing or wrong bearer is 401. The bearer is compared in
//! constant time (over SHA-256 digests, so its length does not leak either). Both
//! endpoints are audited in the log; revocations are counted.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, header};
use http_body_util::Full;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::revocation::Revocation;
use super::{Registry, SessionRecord};
use crate::config::Secret;

/// The admin API's session endpoints, as configured.
pub struct AdminApi {
    pub token: Secret,
    pub registry: Arc<Registry>,
    /// A revocation's `ttl` when the request gives none: the longest token lifetime the
    /// issuers allow.
    pub default_ttl: Duration,
    /// Each configured issuer's name and `iss`: a key revocation may name the issuer by
    /// either, and is held under the name.
    pub issuers: Vec<(String, String)>,
}

/// Largest request body accepted on `/admin/*`.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Answers one `/admin/*` request. `api` is `None` when no admin token is configured:
/// the endpoints then do not exist.
pub async fn admin_response(
    api: Option<&AdminApi>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let Some(api) = api else {
        return json(
            StatusCode::NOT_FOUND,
            &error("not_found", "no such endpoint"),
        );
    };
    if !authorized(&api.token, headers) {
        tracing::warn!(
            audit = "admin",
            path,
            "admin API call without a valid bearer token"
        );
        let mut response = json(
            StatusCode::UNAUTHORIZED,
            &error("unauthorized", "a valid admin bearer token is required"),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"wsgate-admin\""),
        );
        return response;
    }
    match (path, method) {
        ("/admin/revoke", &Method::POST) => revoke(api, body).await,
        ("/admin/sessions", &Method::GET) => list(api, query).await,
        ("/admin/revoke", _) => not_allowed("POST"),
        ("/admin/sessions", _) => not_allowed("GET"),
        _ => json(
            StatusCode::NOT_FOUND,
            &error("not_found", "no such endpoint"),
        ),
    }
}

async fn revoke(api: &AdminApi, body: &[u8]) -> Response<Full<Bytes>> {
    let (revocation, ttl) = match Revocation::parse_request(body) {
        Ok(parsed) => parsed,
        Err(why) => return json(StatusCode::BAD_REQUEST, &error("invalid_request", &why)),
    };
    let revocation = match revocation {
        Revocation::Key { issuer, kid } => Revocation::Key {
            issuer: api
                .issuers
                .iter()
                .find(|(_, iss)| *iss == issuer)
                .map_or(issuer, |(name, _)| name.clone()),
            kid,
        },
        other => other,
    };
    let ttl = ttl.unwrap_or(api.default_ttl);
    let revoked = api.registry.revoke(revocation.clone(), ttl).await;
    tracing::warn!(
        audit = "revoke",
        scope = revocation.scope().as_str(),
        revoked = %revocation.describe(),
        ttl_s = ttl.as_secs(),
        closed = revoked.closed,
        shared = revoked.shared,
        "revocation in force"
    );
    if !revoked.shared {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({
                "error": "sessions_unavailable",
                "message": "the revocation holds on this replica only: the session store did not answer; retry",
                "revoked": revocation,
                "until": revoked.until,
                "closed": revoked.closed,
            }),
        );
    }
    json(
        StatusCode::OK,
        &serde_json::json!({
            "revoked": revocation,
            "scope": revocation.scope().as_str(),
            "until": revoked.until,
            "closed": revoked.closed,
        }),
    )
}

async fn list(api: &AdminApi, query: Option<&str>) -> Response<Full<Bytes>> {
    let mut user = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "user" => user = Some(value.into_owned()),
            other => {
                return json(
                    StatusCode::BAD_REQUEST,
                    &error(
                        "invalid_request",
                        &format!("unknown parameter {other:?}; the only one is user"),
                    ),
                );
            }
        }
    }
    let Ok(sessions): Result<Vec<SessionRecord>, _> = api.registry.list(user.as_deref()).await
    else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &error("sessions_unavailable", "the session store did not answer"),
        );
    };
    tracing::info!(
        audit = "list_sessions",
        user = user.as_deref().unwrap_or(""),
        count = sessions.len(),
        "live sessions listed"
    );
    json(
        StatusCode::OK,
        &serde_json::json!({ "count": sessions.len(), "sessions": sessions }),
    )
}

/// `Authorization: Bearer <token>`, compared in constant time.
fn authorized(token: &Secret, headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Some((scheme, presented)) = value.to_str().ok().and_then(|value| value.split_once(' '))
    else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let presented = Sha256::digest(presented.trim().as_bytes());
    let expected = Sha256::digest(token.expose());
    presented.ct_eq(&expected).into()
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &error("method_not_allowed", "method not allowed"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    response
}

fn error(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": code, "message": message })
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    crate::http::uncached::uncached(status, "application/json", body.to_string())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::config::SecretSource;

    const TOKEN: &str = "admin-token-0123456789";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let token = Secret::new(SecretSource::Literal, TOKEN.as_bytes().to_vec());
        assert!(authorized(&token, &headers(&[&format!("Bearer {TOKEN}")])));
        assert!(authorized(&token, &headers(&[&format!("bearer {TOKEN}")])));
        for bad in [
            vec![],
            vec!["Bearer".to_owned()],
            vec![format!("Basic {TOKEN}")],
            vec![format!("Bearer {TOKEN}x")],
            vec![format!("Bearer {}", &TOKEN[1..])],
            vec![TOKEN.to_owned()],
            // Two credentials are one too many, even if one is right.
            vec![format!("Bearer {TOKEN}"), "Bearer wrong".to_owned()],
        ] {
            let values: Vec<&str> = bad.iter().map(String::as_str).collect();
            assert!(!authorized(&token, &headers(&values)), "{bad:?}");
        }
    }
}
