//! Tests for `jwt::verify`, with real crypto and the keys in `tests/fixtures/`
//! (`tests/fixtures/regenerate.sh`). Each test is named after the rule it pins; the
//! docs/security-cases.md row is in a comment.

use std::time::Duration;

use tokio::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::*;
use crate::auth::keys::{self, IssuerKeys};
use crate::auth::trace::{NoTrace, Step};
use crate::config::{KeySource, Secret, SecretSource};

mod accepted;
mod claims;
mod encoding;
mod fuzz;
mod header;
mod header_scan;
mod key_selection;
mod order;
mod payload;
mod time_claims;

const NOW: u64 = 1_700_000_000;
const LEEWAY: u64 = 30;
const ISS: &str = "https://auth.example.com";
const HS_SECRET: &[u8] = b"test-only HMAC secret, 32+ bytes long!";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn secret_source(secret: &[u8], kid: Option<&str>) -> KeySource {
    KeySource::Secret {
        secret: Secret::new(SecretSource::Env("JWT_SECRET".into()), secret.to_vec()),
        kid: kid.map(str::to_owned),
    }
}

fn pem_source(name: &str, kid: Option<&str>) -> KeySource {
    KeySource::PublicKeyFile {
        path: name.into(),
        pem: fixture(name),
        kid: kid.map(str::to_owned),
    }
}

fn jwks_source(json: &[u8]) -> KeySource {
    KeySource::JwksFile {
        path: "jwks.json".into(),
        json: json.to_vec(),
    }
}

fn issuer(name: &str, iss: &str, algorithms: &[Algorithm], keys: KeySource) -> IssuerConfig {
    IssuerConfig {
        name: name.to_owned(),
        issuer: iss.to_owned(),
        audiences: vec!["chat".to_owned()],
        algorithms: algorithms.to_vec(),
        keys,
        typ: None,
        environments: Vec::new(),
        enabled: true,
    }
}

/// An `AuthConfig` over `issuers` plus their loaded keys.
struct Gate {
    auth: AuthConfig,
    keys: Vec<IssuerKeys>,
}

impl Gate {
    fn new(issuers: Vec<IssuerConfig>) -> Gate {
        let keys = issuers
            .iter()
            .map(|i| keys::load(i).unwrap_or_else(|e| panic!("{e:?}")))
            .collect();
        Gate {
            auth: super::self_test::verifying(Duration::from_secs(LEEWAY), issuers),
            keys,
        }
    }

    fn one(algorithms: &[Algorithm], keys: KeySource) -> Gate {
        Gate::new(vec![issuer("primary", ISS, algorithms, keys)])
    }

    fn hs256() -> Gate {
        Gate::hs256_with(|_| {})
    }

    /// The HS256 issuer of `hs256`, with `change` made to its configuration first.
    fn hs256_with(change: impl FnOnce(&mut IssuerConfig)) -> Gate {
        let mut config = issuer(
            "primary",
            ISS,
            &[Algorithm::HS256],
            secret_source(HS_SECRET, None),
        );
        change(&mut config);
        Gate::new(vec![config])
    }

    fn verify(&self, token: &str) -> Result<VerifiedToken, Refusal> {
        self.failure(token).map_err(|failure| failure.reason)
    }

    /// [`verify`]'s own answer, with the issuer a refusal names.
    fn failure(&self, token: &str) -> Result<VerifiedToken, Failure> {
        verify(token, &self.auth, &self.keys, NOW, &mut NoTrace)
    }

    fn reason(&self, token: &str) -> Refusal {
        match self.verify(token) {
            Ok(v) => panic!("token accepted (sub {:?}), expected a refusal", v.subject),
            Err(reason) => reason,
        }
    }

    fn explain(&self, token: &str) -> (Result<VerifiedToken, Refusal>, Vec<Step>) {
        let mut steps = Vec::new();
        let result = verify(token, &self.auth, &self.keys, NOW, &mut steps);
        (result.map_err(|failure| failure.reason), steps)
    }
}

fn claims() -> Value {
    json!({"iss": ISS, "sub": "alice", "aud": "chat", "exp": NOW + 600, "iat": NOW - 10})
}

fn with(mut base: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().expect("changes is an object") {
        if value.is_null() {
            base.as_object_mut().unwrap().remove(name);
        } else {
            base[name] = value.clone();
        }
    }
    base
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs the header and payload bytes exactly as given.
fn sign_raw(header: &[u8], payload: &[u8], key: &EncodingKey, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("sign");
    format!("{input}.{signature}")
}

fn hs_key() -> EncodingKey {
    EncodingKey::from_secret(HS_SECRET)
}

/// HS256 over a header and a payload given as raw JSON text.
fn hs_raw(header: &str, payload: &str) -> String {
    sign_raw(
        header.as_bytes(),
        payload.as_bytes(),
        &hs_key(),
        Algorithm::HS256,
    )
}

/// HS256 token with the standard header and these claims.
fn hs(claims: Value) -> String {
    hs_raw(r#"{"alg":"HS256","typ":"JWT"}"#, &claims.to_string())
}

fn signed(header: Value, claims: Value, key: &EncodingKey, alg: Algorithm) -> String {
    sign_raw(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        key,
        alg,
    )
}

/// A token with this header and the standard claims, signed by `alg`'s test key.
fn signed_by(alg: Algorithm, header: Value) -> String {
    signed(header, claims(), &private_key(alg), alg)
}

fn private_key(alg: Algorithm) -> EncodingKey {
    match alg.family() {
        AlgorithmFamily::Hmac => hs_key(),
        AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&fixture("rsa2048.key.pem")).unwrap(),
        AlgorithmFamily::Ec if alg == Algorithm::ES256 => {
            EncodingKey::from_ec_pem(&fixture("ec256.key.pem")).unwrap()
        }
        AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&fixture("ec384.key.pem")).unwrap(),
        AlgorithmFamily::Ed => EncodingKey::from_ed_pem(&fixture("ed25519.key.pem")).unwrap(),
    }
}

fn public_pem(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ec256.pub.pem",
        Algorithm::ES384 => "ec384.pub.pem",
        Algorithm::EdDSA => "ed25519.pub.pem",
        _ => "rsa2048.pub.pem",
    }
}

fn header(alg: Algorithm) -> Value {
    json!({"alg": format!("{alg:?}"), "typ": "JWT"})
}
