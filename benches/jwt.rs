//! Token validation per algorithm through `wsgate::auth::jwt::verify`, the proxy's exact
//! path (size, compact form, header, payload, issuer, algorithm, key, signature, claims),
//! with the keys in `tests/fixtures/`. Plus two references that say where the time goes:
//! a token whose signature fails (everything but the crypto, and an early exit), and the
//! bare signature check done with `ring` (already in the tree through rustls).
//!
//!   cargo bench --bench jwt
//!
//! Timings are never asserted; `cargo test --all-targets` runs each benchmark once.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use wsgate::auth::Gate;
use wsgate::auth::jwt::verify;
use wsgate::auth::trace::NoTrace;
use wsgate::config::Config;

const SECRET: &str = "bench-only-HMAC-secret-at-least-32-bytes";

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The DER inside a PEM file.
fn pem_der(name: &str) -> Vec<u8> {
    let text = String::from_utf8(fixture(name)).expect("PEM is text");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM base64")
}

fn gate() -> Gate {
    let toml = format!(
        r#"
environment = "bench"
[upstream]
url = "ws://127.0.0.1:1"
[auth]
token_sources = ["header:authorization"]
[[auth.issuers]]
name = "hs"
issuer = "https://hs.bench"
audiences = ["bench"]
algorithms = ["HS256"]
secret = {{ env = "BENCH_HS_SECRET" }}
[[auth.issuers]]
name = "rs"
issuer = "https://rs.bench"
audiences = ["bench"]
algorithms = ["RS256"]
public_key_file = "{rs}"
[[auth.issuers]]
name = "es"
issuer = "https://es.bench"
audiences = ["bench"]
algorithms = ["ES256"]
public_key_file = "{es}"
[[auth.issuers]]
name = "ed"
issuer = "https://ed.bench"
audiences = ["bench"]
algorithms = ["EdDSA"]
public_key_file = "{ed}"
"#,
        rs = fixture_path("rsa2048.pub.pem"),
        es = fixture_path("ec256.pub.pem"),
        ed = fixture_path("ed25519.pub.pem"),
    );
    let env = |name: &str| (name == "BENCH_HS_SECRET").then(|| SECRET.to_owned());
    let config = Config::parse(&toml, "bench.toml", &env, std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    Gate::new(Arc::new(config)).unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn token(alg: Algorithm, iss: &str, key: &EncodingKey) -> String {
    let now = now();
    let claims = json!({
        "iss": iss, "aud": "bench", "sub": "bench-user",
        "iat": now, "exp": now + 3600, "scope": "chat read write",
    });
    jsonwebtoken::encode(&Header::new(alg), &claims, key).expect("sign")
}

fn tokens() -> Vec<(&'static str, String)> {
    vec![
        (
            "HS256",
            token(
                Algorithm::HS256,
                "https://hs.bench",
                &EncodingKey::from_secret(SECRET.as_bytes()),
            ),
        ),
        (
            "RS256",
            token(
                Algorithm::RS256,
                "https://rs.bench",
                &EncodingKey::from_rsa_pem(&fixture("rsa2048.key.pem")).expect("RSA key"),
            ),
        ),
        (
            "ES256",
            token(
                Algorithm::ES256,
                "https://es.bench",
                &EncodingKey::from_ec_pem(&fixture("ec256.key.pem")).expect("EC key"),
            ),
        ),
        (
            "EdDSA",
            token(
                Algorithm::EdDSA,
                "https://ed.bench",
                &EncodingKey::from_ed_pem(&fixture("ed25519.key.pem")).expect("Ed25519 key"),
            ),
        ),
    ]
}

fn bench_verify(c: &mut Criterion) {
    let gate = gate();
    let auth = &gate.config().auth;
    let keys = &gate.keys()[..];
    let now = now();
    let tokens = tokens();
    let mut group = c.benchmark_group("jwt_verify");
    for (name, token) in &tokens {
        let verified = verify(token, auth, keys, now, &mut NoTrace);
        assert!(verified.is_ok(), "{name}: {verified:?}");
        group.bench_function(*name, |b| {
            b.iter(|| verify(black_box(token), auth, keys, now, &mut NoTrace))
        });
    }
    // Everything but the crypto: an HS256 token whose signature is wrong (the claims are
    // never looked at, so this is parsing + issuer + key selection + a failed HMAC).
    let (_, hs) = &tokens[0];
    let (head, _) = hs.rsplit_once('.').expect("three segments");
    let forged = format!("{head}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
    assert!(verify(&forged, auth, keys, now, &mut NoTrace).is_err());
    group.bench_function("HS256 bad signature", |b| {
        b.iter(|| verify(black_box(&forged), auth, keys, now, &mut NoTrace))
    });
    group.finish();

    // The bare signature checks with ring, for comparison with the backend wsgate uses
    // (jsonwebtoken's rust_crypto: the `rsa`, `p256` and `ed25519-dalek` crates).
    let mut group = c.benchmark_group("signature_only_ring");
    let split = |token: &str| {
        let (input, signature) = token.rsplit_once('.').expect("three segments");
        (
            input.as_bytes().to_vec(),
            URL_SAFE_NO_PAD.decode(signature).expect("signature"),
        )
    };
    let spki_tail = |name: &str, n: usize| {
        let der = pem_der(name);
        der[der.len() - n..].to_vec()
    };
    let references: [(&str, &dyn ring::signature::VerificationAlgorithm, Vec<u8>); 3] = [
        (
            "RS256",
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            pem_der("rsa2048.pkcs1.pub.pem"),
        ),
        (
            "ES256",
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            spki_tail("ec256.pub.pem", 65),
        ),
        (
            "EdDSA",
            &ring::signature::ED25519,
            spki_tail("ed25519.pub.pem", 32),
        ),
    ];
    for (name, algorithm, public_key) in references {
        let token = &tokens.iter().find(|(n, _)| *n == name).expect("token").1;
        let (input, signature) = split(token);
        let key = ring::signature::UnparsedPublicKey::new(algorithm, public_key);
        key.verify(&input, &signature)
            .expect("ring verifies the fixture token");
        group.bench_function(name, |b| {
            b.iter(|| key.verify(black_box(&input), black_box(&signature)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
