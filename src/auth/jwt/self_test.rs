//! The startup self-test's fixed material. The RSA key exists only to prove that the
//! crypto backend signs and verifies; it is not a secret and guards nothing.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};

use crate::auth::keys;
use crate::auth::trace::NoTrace;
use crate::config::{
    AuthConfig, DenyMode, IssuerConfig, KeySource, Secret, SecretSource, SessionExpiry,
};

const HMAC_SECRET: &[u8] = b"wsgate self-test HMAC secret, not a real one";
const RSA_PRIVATE_KEY: &str = include_str!("self_test_rsa.key.pem");
const RSA_PUBLIC_KEY: &str = include_str!("self_test_rsa.pub.pem");
const NOW: u64 = 1_700_000_000;

pub(super) fn run() -> Result<(), String> {
    let auth = config();
    let keys: Vec<keys::IssuerKeys> = auth
        .issuers
        .iter()
        .map(|issuer| keys::load(issuer).map_err(|e| e.join("; ")))
        .collect::<Result<_, _>>()?;
    let cases = [
        (
            Algorithm::HS256,
            EncodingKey::from_secret(HMAC_SECRET),
            "https://self-test.hs",
        ),
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(RSA_PRIVATE_KEY.as_bytes())
                .map_err(|e| format!("self-test RSA key: {e}"))?,
            "https://self-test.rs",
        ),
    ];
    for (algorithm, key, iss) in cases {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{algorithm:?}","typ":"JWT"}}"#));
        let payload = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"iss":"{iss}","sub":"self-test","aud":"wsgate","exp":{}}}"#,
            NOW + 60
        ));
        let input = format!("{header}.{payload}");
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, algorithm)
            .map_err(|e| format!("{algorithm:?} self-test signing failed: {e}"))?;
        let token = format!("{input}.{signature}");
        super::verify(&token, &auth, &keys, NOW, &mut NoTrace).map_err(|failure| {
            format!("{algorithm:?} self-test token refused: {}", failure.reason)
        })?;
        // A backend that accepts everything is as broken as one that accepts nothing.
        let tampered = format!("{input}.{}", flip_first_char(&signature));
        if super::verify(&tampered, &auth, &keys, NOW, &mut NoTrace).is_ok() {
            return Err(format!(
                "{algorithm:?} self-test accepted a tampered signature"
            ));
        }
    }
    Ok(())
}

fn flip_first_char(signature: &str) -> String {
    let replacement = if signature.starts_with('A') { "B" } else { "A" };
    format!("{replacement}{}", &signature[1..])
}

fn config() -> AuthConfig {
    let issuer = |name: &str, algorithm: Algorithm, keys: KeySource| IssuerConfig {
        name: name.to_owned(),
        issuer: format!("https://self-test.{name}"),
        audiences: vec!["wsgate".to_owned()],
        algorithms: vec![algorithm],
        keys,
        typ: None,
        environments: Vec::new(),
        enabled: true,
    };
    verifying(
        Duration::ZERO,
        vec![
            issuer(
                "hs",
                Algorithm::HS256,
                KeySource::Secret {
                    secret: Secret::new(SecretSource::Literal, HMAC_SECRET.to_vec()),
                    kid: None,
                },
            ),
            issuer(
                "rs",
                Algorithm::RS256,
                KeySource::PublicKeyFile {
                    path: "(built-in self-test key)".into(),
                    pem: RSA_PUBLIC_KEY.as_bytes().to_vec(),
                    kid: None,
                },
            ),
        ],
    )
}

/// `[auth]` with nothing but `issuers` and `leeway`: what [`super::verify`] reads, the
/// rest at its defaults.
pub(super) fn verifying(leeway: Duration, issuers: Vec<IssuerConfig>) -> AuthConfig {
    AuthConfig {
        deny: DenyMode::Http,
        token_sources: Vec::new(),
        leeway,
        session_expiry: SessionExpiry::Close,
        max_token_bytes: 8192,
        token_cache_size: 0,
        allowed_origins: Vec::new(),
        forward_token: false,
        max_lifetime: None,
        issuers,
    }
}
