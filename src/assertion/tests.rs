//! The assertion as an upstream sees it: verified here with jsonwebtoken against the
//! published JWKS (a second implementation, not wsgate's own signing code).

use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};

use super::*;
use crate::config::AssertionAlgorithm;
use crate::domain::auth_method::AuthMethod;

fn fixture(name: &str) -> KeyFile {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let pem = std::fs::read(&path).expect("fixture");
    KeyFile { path, pem }
}

fn config(algorithm: AssertionAlgorithm, key: Option<KeyFile>) -> AssertionConfig {
    AssertionConfig {
        header: HeaderName::from_static("x-auth-assertion"),
        issuer: "wsgate-test".into(),
        audience: vec!["chat-backend".into()],
        ttl: Duration::from_secs(60),
        algorithm,
        key,
        next_key: None,
        claims: vec!["email".into()],
    }
}

fn grant() -> Grant {
    Grant {
        route: crate::config::RouteId::nth(0),
        method: AuthMethod::Jwt,
        user: Some("alice".into()),
        headers: Vec::new(),
        expires_at: None,
        issuer: Some(crate::config::IssuerId::nth(0)),
        bypass_key: None,
        claims: vec![("email".into(), json!("alice@example.com"))],
        token: None,
    }
}

/// Verifies `token` against `jwks` the way an upstream would: pick the key by `kid`.
fn verify(token: &str, jwks: &str, algorithm: jsonwebtoken::Algorithm) -> Value {
    let set: JwkSet = serde_json::from_str(jwks).expect("a JWKS");
    let header = jsonwebtoken::decode_header(token).expect("a JWS header");
    let kid = header.kid.expect("a kid");
    let jwk = set.find(&kid).expect("the kid is published");
    let key = DecodingKey::from_jwk(jwk).expect("a usable JWK");
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&["chat-backend"]);
    validation.set_issuer(&["wsgate-test"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the assertion verifies")
        .claims
}

#[test]
fn an_es256_assertion_verifies_against_the_published_jwks() {
    let assertion = Assertion::new(&config(
        AssertionAlgorithm::Es256,
        Some(fixture("ec256.key.pem")),
    ))
    .expect("assertion");
    let session = SessionId::generate().expect("session id");
    let now = crate::domain::clock::unix_now();
    let token = assertion
        .sign(&grant(), Some(session), now)
        .expect("signed");
    let claims = verify(
        token.to_str().expect("ascii"),
        assertion.jwks(),
        jsonwebtoken::Algorithm::ES256,
    );
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["auth_method"], "jwt");
    assert_eq!(claims["sid"], session.to_string());
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], now + 60);
    assert_eq!(claims["jti"].as_str().map(str::len), Some(32));
}

#[test]
fn an_eddsa_assertion_verifies_and_plain_http_has_no_session() {
    let assertion = Assertion::new(&config(
        AssertionAlgorithm::EdDsa,
        Some(fixture("ed25519.key.pem")),
    ))
    .expect("assertion");
    let token = assertion
        .sign(&grant(), None, crate::domain::clock::unix_now())
        .expect("signed");
    let claims = verify(
        token.to_str().expect("ascii"),
        assertion.jwks(),
        jsonwebtoken::Algorithm::EdDSA,
    );
    assert!(claims.get("sid").is_none(), "{claims}");
}

#[test]
fn every_assertion_has_its_own_jti() {
    let assertion = Assertion::new(&config(AssertionAlgorithm::Es256, None)).expect("assertion");
    let jti = |token: HeaderValue| {
        let payload = token
            .to_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        claims["jti"].clone()
    };
    let first = jti(assertion.sign(&grant(), None, 1).unwrap());
    let second = jti(assertion.sign(&grant(), None, 1).unwrap());
    assert_ne!(first, second);
}

#[test]
fn the_next_key_is_published_but_never_signs() {
    let mut rotating = config(AssertionAlgorithm::Es256, Some(fixture("ec256.key.pem")));
    rotating.next_key = Some(fixture("ec256-next.key.pem"));
    let assertion = Assertion::new(&rotating).expect("assertion");
    let set: Value = serde_json::from_str(assertion.jwks()).unwrap();
    let kids: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    let next = assertion.next_key().expect("next key").kid();
    assert_eq!(kids, [assertion.current_key().kid(), next]);
    let token = assertion.sign(&grant(), None, 1).unwrap();
    let header = jsonwebtoken::decode_header(token.to_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(assertion.current_key().kid()));

    // The same key in two encodings is published once.
    let mut same = config(AssertionAlgorithm::Es256, Some(fixture("ec256.key.pem")));
    same.next_key = Some(fixture("ec256.sec1.key.pem"));
    let assertion = Assertion::new(&same).expect("assertion");
    let set: Value = serde_json::from_str(assertion.jwks()).unwrap();
    assert_eq!(set["keys"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_reload_keeps_a_generated_key() {
    let first = Assertion::new(&config(AssertionAlgorithm::Es256, None)).expect("assertion");
    assert!(first.generated());
    let second = Assertion::new(&config(AssertionAlgorithm::Es256, None))
        .expect("assertion")
        .adopt_generated(&first);
    assert_eq!(second.current_key().kid(), first.current_key().kid());
    let other = Assertion::new(&config(AssertionAlgorithm::EdDsa, None))
        .expect("assertion")
        .adopt_generated(&first);
    assert_ne!(other.current_key().kid(), first.current_key().kid());
}

#[test]
fn a_certificate_beside_the_key_reports_its_expiry() {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["wsgate.test".to_owned()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2031, 5, 17);
    let cert = params.self_signed(&key).expect("certificate");
    let pem = format!("{}{}", key.serialize_pem(), cert.pem());
    let file = KeyFile {
        path: PathBuf::from("assertion.pem"),
        pem: pem.into_bytes(),
    };
    let assertion = Assertion::new(&config(AssertionAlgorithm::Es256, Some(file))).expect("key");
    assert_eq!(assertion.certificate_expires_at, Some(1_936_742_400));

    let bare = Assertion::new(&config(
        AssertionAlgorithm::Es256,
        Some(fixture("ec256.key.pem")),
    ))
    .expect("key");
    assert_eq!(bare.certificate_expires_at, None);
}
