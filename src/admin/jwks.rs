//! [`PublishedKeys`]: the signed identity assertion's JWKS as `/.well-known/jwks.json`
//! serves it, replaced on every (re)load; 404 while `[identity.assertion]` is off.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;

use super::routes::text;

/// The JWKS document the admin listener publishes; replaced on every (re)load.
#[derive(Debug, Default)]
pub struct PublishedKeys(RwLock<Option<Bytes>>);

impl PublishedKeys {
    pub fn new() -> Arc<PublishedKeys> {
        Arc::new(PublishedKeys::default())
    }

    /// `None`: the assertion is off and the path answers 404.
    pub fn set(&self, jwks: Option<&str>) {
        let value = jwks.map(|text| Bytes::copy_from_slice(text.as_bytes()));
        match self.0.write() {
            Ok(mut guard) => *guard = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }

    pub(super) fn current(&self) -> Option<Bytes> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The document, or 404 while there is none.
pub(super) fn response(keys: &PublishedKeys) -> Response<Full<Bytes>> {
    match keys.current() {
        Some(jwks) => {
            let mut response = Response::new(Full::new(jwks));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static(JWKS_MAX_AGE),
            );
            response
        }
        None => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// How long verifiers may cache the JWKS. Short, so a rotation (a new `next_key_file`)
/// reaches them within a minute; a verifier that meets an unknown `kid` refetches anyway.
const JWKS_MAX_AGE: &str = "public, max-age=60";
