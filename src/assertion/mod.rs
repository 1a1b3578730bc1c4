//! The signed identity assertion (`[identity.assertion]`): a short-lived JWT wsgate signs
//! for every admitted request, so an upstream that wants proof can check that the
//! identity headers came from wsgate and not from whoever reached its port.
//!
//! Per connection (a WebSocket session, or one plain HTTP request) [`Assertion::sign`]
//! writes `iss`, `aud`, `sub` (the caller, when there is one), `iat`, `exp`, `jti` (random,
//! 128 bits), `auth_method` (`jwt`, `e2e-bypass`, `anonymous`, `client-cert`), `sid` (the
//! session id, WebSocket sessions only) and the configured claims copied from the
//! verified token; the header carries `alg`, `typ: JWT` and `kid`, the RFC 7638
//! thumbprint of the signing key. The current key signs; the next key (rotation) is only
//! published, so upstreams learn it before it signs anything. [`Assertion::jwks`] is the
//! document served at `/.well-known/jwks.json` on the admin listener.
//!
//! `key.rs` reads, generates and describes one key.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, HeaderValue};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value, json};

use crate::config::{AssertionConfig, KeyFile};
use crate::jose::signing_key::SigningKey;

use crate::auth::Grant;
use crate::domain::session_id::SessionId;

/// The signer built from an [`AssertionConfig`]; rebuilt on every reload.
#[derive(Debug)]
pub struct Assertion {
    config: AssertionConfig,
    current: Arc<SigningKey>,
    next: Option<Arc<SigningKey>>,
    /// The current key was generated at start (no `key_file`).
    generated: bool,
    jwks: String,
    /// `notAfter` of a certificate kept in `key_file` beside the key, if any.
    pub certificate_expires_at: Option<u64>,
}

impl Assertion {
    /// Loads (or generates) the keys. Errors name the config key.
    pub fn new(config: &AssertionConfig) -> Result<Assertion, String> {
        let load = |name: &str, file: &KeyFile| {
            SigningKey::from_pem(&file.pem, config.algorithm).map_err(|problem| {
                format!(
                    "identity.assertion.{name}: {} {problem}",
                    file.path.display()
                )
            })
        };
        let (current, generated) = match &config.key {
            Some(file) => (load("key_file", file)?, false),
            None => (
                SigningKey::generate(config.algorithm).map_err(|problem| {
                    format!("identity.assertion: cannot generate a key: {problem}")
                })?,
                true,
            ),
        };
        let next = match &config.next_key {
            Some(file) => Some(Arc::new(load("next_key_file", file)?)),
            None => None,
        };
        Ok(Assertion::assemble(
            config.clone(),
            Arc::new(current),
            next,
            generated,
        ))
    }

    fn assemble(
        config: AssertionConfig,
        current: Arc<SigningKey>,
        next: Option<Arc<SigningKey>>,
        generated: bool,
    ) -> Assertion {
        let mut keys = vec![current.jwk()];
        if let Some(next) = next.as_ref().filter(|next| next.kid() != current.kid()) {
            keys.push(next.jwk());
        }
        let jwks = json!({ "keys": keys }).to_string();
        let certificate_expires_at = config.key.as_ref().and_then(|file| {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            let first = CertificateDer::pem_slice_iter(&file.pem).next()?.ok()?;
            crate::net::tls::not_after(&first)
        });
        Assertion {
            config,
            current,
            next,
            generated,
            jwks,
            certificate_expires_at,
        }
    }

    /// On reload: keep `previous`'s generated key when this one was generated too and the
    /// algorithm is unchanged, so a reload does not change the `kid` under upstreams.
    pub fn adopt_generated(self, previous: &Assertion) -> Assertion {
        if self.generated
            && previous.generated
            && previous.current.algorithm() == self.current.algorithm()
        {
            Assertion::assemble(self.config, previous.current.clone(), self.next, true)
        } else {
            self
        }
    }

    /// The header the assertion travels in.
    pub fn header(&self) -> &HeaderName {
        &self.config.header
    }

    /// The key was generated at start: every replica has its own.
    pub fn generated(&self) -> bool {
        self.generated
    }

    /// The current (signing) key.
    pub fn current_key(&self) -> &SigningKey {
        &self.current
    }

    /// The next key, published ahead of its use.
    pub fn next_key(&self) -> Option<&SigningKey> {
        self.next.as_deref()
    }

    /// The JWKS document: the current key, then the next one.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// Signs the assertion for `grant` at `now` (unix seconds). `None` only if the system's
    /// random source fails, which the caller turns into a refusal.
    pub fn sign(&self, grant: &Grant, session: Option<SessionId>, now: u64) -> Option<HeaderValue> {
        let mut jti = [0u8; 16];
        SystemRandom::new().fill(&mut jti).ok()?;
        let mut claims = Map::new();
        for (name, value) in &grant.claims {
            claims.insert(name.clone(), value.clone());
        }
        claims.insert("iss".into(), Value::String(self.config.issuer.clone()));
        let audience = match self.config.audience.as_slice() {
            [one] => Value::String(one.clone()),
            many => Value::from(many.to_vec()),
        };
        claims.insert("aud".into(), audience);
        if let Some(user) = &grant.user {
            claims.insert("sub".into(), Value::String(user.clone()));
        }
        claims.insert("iat".into(), Value::from(now));
        claims.insert(
            "exp".into(),
            Value::from(now.saturating_add(self.config.ttl.as_secs())),
        );
        claims.insert("jti".into(), Value::String(hex(&jti)));
        claims.insert(
            "auth_method".into(),
            Value::String(grant.method.header_value().into()),
        );
        if let Some(session) = session {
            claims.insert("sid".into(), Value::String(session.to_string()));
        }
        let header = json!({
            "alg": self.current.algorithm().as_str(),
            "typ": "JWT",
            "kid": self.current.kid(),
        });
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string()));
        let signature = self.current.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&signature);
        // base64url and dots only: always a valid header value.
        HeaderValue::from_str(&token).ok()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
