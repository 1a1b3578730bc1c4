//! The admin listener's endpoints: `/metrics`, `/healthz`, `/readyz`, the JWKS, and
//! session control's `/admin/*` (its body read under a bound, then
//! `sessions::admin_response`).

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use super::{State, jwks};
use crate::sessions::{MAX_BODY_BYTES, admin_response};
use crate::telemetry::metrics;

/// `/admin/*`: the body (bounded) read, then `sessions::admin_response`.
pub(super) async fn session_control(
    state: &State,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or unreadable",
            );
        }
    };
    admin_response(
        state.sessions.as_ref(),
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &body,
    )
    .await
}

/// Routes one admin request.
pub(super) fn respond<B>(state: &State, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, metrics::render(&state.registry));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(metrics::TEXT_CONTENT_TYPE),
            );
            response
        }
        "/healthz" => text(StatusCode::OK, "ok"),
        "/readyz" => match state.health.readiness() {
            Ok(()) => text(StatusCode::OK, "ready"),
            Err(not_ready) => text(StatusCode::SERVICE_UNAVAILABLE, not_ready.as_str()),
        },
        "/.well-known/jwks.json" => jwks::response(&state.keys),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// A plain-text response that no cache keeps: probes must see the state of now.
pub(super) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    crate::http::uncached::uncached(status, "text/plain; charset=utf-8", body)
}
