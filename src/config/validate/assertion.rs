//! `[identity.assertion]`: the signed identity sent upstream. Key files are read and
//! parsed here, so a wrong key is a config error naming `identity.assertion.key_file`,
//! never a failure at the first request.

use http::HeaderName;

use super::Validator;
use crate::config::PRODUCTION;
use crate::config::raw::RawAssertion;
use crate::config::{
    AssertionAlgorithm, AssertionConfig, KeyFile, MAX_ASSERTION_TTL as MAX_TTL, RESERVED_CLAIMS,
};
use crate::jose::signing_key::SigningKey;

impl Validator<'_> {
    /// The validated table when enabled (`Some(None)` when absent or disabled); `None`
    /// when anything in it was wrong. `header` was validated by the caller, which needs
    /// it even while the assertion is off.
    pub(super) fn assertion(
        &mut self,
        raw: Option<RawAssertion>,
        header: Option<HeaderName>,
        environment: &str,
    ) -> Option<Option<AssertionConfig>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        // A table that is present means "on" unless it says otherwise.
        if !raw.enabled.unwrap_or(true) {
            return Some(None);
        }
        let mark = self.errors.len();
        let issuer = match raw.issuer {
            Some(issuer) if issuer.trim().is_empty() => self.error(
                "identity.assertion.issuer",
                r#"is empty; e.g. "wsgate" or this deployment's URL"#,
            ),
            issuer => Some(issuer.unwrap_or_else(|| "wsgate".to_owned())),
        };
        let audience = match raw.audience.map(|a| a.into_vec()) {
            None => self.error(
                "identity.assertion.audience",
                r#"is required: the name the upstream expects in `aud`, e.g. "chat-backend""#,
            ),
            Some(list) if list.is_empty() || list.iter().any(|a| a.trim().is_empty()) => self
                .error(
                    "identity.assertion.audience",
                    r#"is empty; name the upstream, e.g. "chat-backend" (or a list of names)"#,
                ),
            Some(list) => Some(list),
        };
        let ttl = self.duration("identity.assertion.ttl", raw.ttl.as_deref(), "60s");
        if ttl.is_some_and(|ttl| ttl > MAX_TTL) {
            self.error::<()>(
                "identity.assertion.ttl",
                "is longer than 5m; an assertion proves one connection's identity and must be short-lived",
            );
        }
        let algorithm = match raw.algorithm.as_deref() {
            None => Some(AssertionAlgorithm::Es256),
            Some(text) => match AssertionAlgorithm::parse(text) {
                Some(algorithm) => Some(algorithm),
                None => self.error(
                    "identity.assertion.algorithm",
                    format!(r#"{text:?} is not one of "ES256", "EdDSA""#),
                ),
            },
        };
        let key = match (&raw.key_file, algorithm) {
            (Some(path), Some(algorithm)) => self
                .assertion_key("identity.assertion.key_file", path, algorithm)
                .map(Some),
            (Some(_), None) => None,
            (None, _) if environment == PRODUCTION => self.error(
                "identity.assertion.key_file",
                format!(
                    "is required in environment {PRODUCTION:?}: without it each replica generates its own key at start, so upstreams see keys change on every restart and replicas disagree"
                ),
            ),
            (None, _) => {
                self.warn(
                    "identity.assertion.key_file is not set: a signing key is generated at start, so each replica has its own and it changes on every restart; upstreams must fetch /.well-known/jwks.json from every replica. Set key_file for anything shared",
                );
                Some(None)
            }
        };
        let next_key = match (&raw.next_key_file, algorithm) {
            (Some(_), _) if raw.key_file.is_none() => self.error(
                "identity.assertion.next_key_file",
                "needs identity.assertion.key_file: rotation goes from one configured key to the next",
            ),
            (Some(path), Some(algorithm)) => self
                .assertion_key("identity.assertion.next_key_file", path, algorithm)
                .map(Some),
            (Some(_), None) => None,
            (None, _) => Some(None),
        };
        let mut claims = Vec::new();
        for (index, claim) in raw.claims.unwrap_or_default().into_iter().enumerate() {
            let key = format!("identity.assertion.claims[{index}]");
            if claim.is_empty() {
                self.error::<()>(key, "is empty");
            } else if RESERVED_CLAIMS.contains(&claim.as_str()) {
                self.error::<()>(
                    key,
                    format!(
                        "{claim:?} is written by wsgate itself ({}); remove it",
                        RESERVED_CLAIMS.join(", ")
                    ),
                );
            } else if claims.contains(&claim) {
                self.error::<()>(key, format!("{claim:?} is listed twice"));
            } else {
                claims.push(claim);
            }
        }
        if self.errors.len() > mark {
            return None;
        }
        Some(Some(AssertionConfig {
            header: header?,
            issuer: issuer?,
            audience: audience?,
            ttl: ttl?,
            algorithm: algorithm?,
            key: key?,
            next_key: next_key?,
            claims,
        }))
    }

    /// Reads and parses one PEM private key for `algorithm`.
    fn assertion_key(
        &mut self,
        key: &str,
        path: &str,
        algorithm: AssertionAlgorithm,
    ) -> Option<KeyFile> {
        let (path, pem) = self.read_file(key, path)?;
        match SigningKey::from_pem(&pem, algorithm) {
            Ok(_) => Some(KeyFile { path, pem }),
            Err(problem) => self.error(key, format!("{} {problem}", path.display())),
        }
    }
}
