//! Test tokens: HS256 with the secret the test proxy trusts, or deliberately wrong ones.
//!
//! Secrets reach the proxy through the env-lookup closure (`{ env = "WSGATE_TEST_SECRET" }`),
//! so no key files are needed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

/// The env var the test configs name for the primary issuer's secret.
pub(crate) const SECRET_ENV: &str = "WSGATE_TEST_SECRET";
/// The primary issuer's HMAC secret (≥ 32 bytes).
pub(crate) const SECRET: &str = "wsgate-integration-primary-secret-7f3a9c1e5b";
/// Another service's secret: tokens signed with it must fail `signature_invalid`.
pub(crate) const OTHER_SECRET: &str = "billing-service-secret-not-shared-2d8e4f6a0c";
/// `iss` of the primary issuer.
pub(crate) const ISSUER: &str = "https://auth.wsgate.test";
/// The audience the primary issuer accepts.
pub(crate) const AUDIENCE: &str = "chat";

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit i64")
}

/// A claim set, starting from one the primary issuer accepts.
#[derive(Debug, Clone)]
pub(crate) struct Claims(Map<String, Value>);

impl Claims {
    /// Valid for ten minutes: iss, aud, sub, iat, exp, email, scope.
    pub(crate) fn valid_for(sub: &str) -> Claims {
        let now = now();
        let value = json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "iat": now,
            "exp": now + 600,
            "email": format!("{sub}@example.com"),
            "scope": "chat:read chat:write",
        });
        match value {
            Value::Object(map) => Claims(map),
            _ => unreachable!("json! object literal"),
        }
    }

    pub(crate) fn set(mut self, claim: &str, value: impl Into<Value>) -> Claims {
        self.0.insert(claim.to_owned(), value.into());
        self
    }

    pub(crate) fn without(mut self, claim: &str) -> Claims {
        self.0.remove(claim);
        self
    }

    /// HS256 with the primary secret.
    pub(crate) fn sign(&self) -> String {
        self.sign_with(Algorithm::HS256, SECRET)
    }

    pub(crate) fn sign_with(&self, algorithm: Algorithm, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            &self.0,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode test token")
    }

    /// HS256 with the primary secret and `kid` in the JOSE header.
    pub(crate) fn sign_with_kid(&self, kid: &str) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(
            &header,
            &self.0,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encode test token")
    }

    /// A compact token with an arbitrary JOSE header and the given signature segment,
    /// for forgeries the library refuses to produce (`alg: none`, ...).
    pub(crate) fn forge(&self, header: Value, signature: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header json"));
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&self.0).expect("claims json"));
        format!("{header}.{payload}.{signature}")
    }
}

/// A valid token for `alice`.
pub(crate) fn alice() -> String {
    Claims::valid_for("alice").sign()
}

/// The three dot-separated segments of a compact token.
pub(crate) fn segments(token: &str) -> Vec<&str> {
    token.split('.').filter(|s| !s.is_empty()).collect()
}
