//! Tests for `jwt::verify`, with real crypto and the keys in `tests/fixtures/`
//! (`tests/fixtures/regenerate.sh`). Each test is named after the rule it pins; the
//! SECURITY-CASES row is in a comment.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::*;
use crate::auth::keys::{self, IssuerKeys};
use crate::auth::trace::{NoTrace, Step};
use crate::config::{DenyMode, KeySource, Secret, SecretSource, SessionExpiry};

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
            auth: AuthConfig {
                deny: DenyMode::Http,
                token_sources: Vec::new(),
                leeway: Duration::from_secs(LEEWAY),
                session_expiry: SessionExpiry::Close,
                max_token_bytes: 8192,
                allowed_origins: Vec::new(),
                forward_token: false,
                max_lifetime: None,
                issuers,
            },
            keys,
        }
    }

    fn one(algorithms: &[Algorithm], keys: KeySource) -> Gate {
        Gate::new(vec![issuer("primary", ISS, algorithms, keys)])
    }

    fn hs256() -> Gate {
        Gate::one(&[Algorithm::HS256], secret_source(HS_SECRET, None))
    }

    fn verify(&self, token: &str) -> Result<VerifiedToken, Reason> {
        verify(token, &self.auth, &self.keys, NOW, &mut NoTrace)
    }

    fn reason(&self, token: &str) -> Reason {
        match self.verify(token) {
            Ok(v) => panic!("token accepted (sub {:?}), expected a refusal", v.subject),
            Err(reason) => reason,
        }
    }

    fn explain(&self, token: &str) -> (Result<VerifiedToken, Reason>, Vec<Step>) {
        let mut steps = Vec::new();
        let result = verify(token, &self.auth, &self.keys, NOW, &mut steps);
        (result, steps)
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

// ---------------------------------------------------------------------------------------
// Accepted tokens

#[test]
fn every_algorithm_verifies_with_its_own_key() {
    use Algorithm::*;
    for alg in [
        HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA,
    ] {
        let source = match alg.family() {
            AlgorithmFamily::Hmac => secret_source(HS_SECRET, None),
            _ => pem_source(public_pem(alg), None),
        };
        let gate = Gate::one(&[alg], source);
        let token = signed(header(alg), claims(), &private_key(alg), alg);
        let verified = gate
            .verify(&token)
            .unwrap_or_else(|r| panic!("{alg:?}: {r}"));
        assert_eq!(verified.algorithm, alg);
        assert_eq!(verified.subject, "alice");
        assert_eq!(verified.expires_at, NOW + 600);
        assert_eq!(verified.issuer, 0);
        assert_eq!(verified.key_fingerprint, gate.keys[0].keys[0].fingerprint);
        assert_eq!(verified.claims["aud"], "chat");
    }
}

#[test]
fn jwks_keys_verify_by_kid() {
    let cases = [
        (Algorithm::RS256, "rsa-1"),
        (Algorithm::PS512, "rsa-1"),
        (Algorithm::ES256, "ec256-1"),
        (Algorithm::ES384, "ec384-1"),
        (Algorithm::EdDSA, "ed-1"),
    ];
    for (alg, kid) in cases {
        let gate = Gate::one(&[alg], jwks_source(&fixture("jwks.json")));
        let header = json!({"alg": format!("{alg:?}"), "kid": kid});
        let token = signed(header, claims(), &private_key(alg), alg);
        let verified = gate
            .verify(&token)
            .unwrap_or_else(|r| panic!("{alg:?}: {r}"));
        assert_eq!(verified.algorithm, alg);
    }
}

#[test]
fn one_issuer_among_several_is_chosen_by_exact_iss() {
    let gate = Gate::new(vec![
        issuer(
            "other",
            "https://other.example.com",
            &[Algorithm::RS256],
            pem_source("rsa2048.pub.pem", None),
        ),
        issuer(
            "primary",
            ISS,
            &[Algorithm::HS256],
            secret_source(HS_SECRET, None),
        ),
    ]);
    assert_eq!(gate.verify(&hs(claims())).unwrap().issuer, 1);
}

// ---------------------------------------------------------------------------------------
// Size and encoding (C9, C10, E1–E5, J19, J20)

#[test]
fn token_over_max_token_bytes_is_too_large_before_decoding() {
    // C9
    let mut gate = Gate::hs256();
    gate.auth.max_token_bytes = 64;
    assert_eq!(gate.reason(&"a".repeat(65)), Reason::TokenTooLarge);
    assert_eq!(gate.reason(&"a".repeat(64)), Reason::TokenMalformed);
    let valid = hs(claims());
    gate.auth.max_token_bytes = valid.len() - 1;
    assert_eq!(gate.reason(&valid), Reason::TokenTooLarge);
    gate.auth.max_token_bytes = valid.len();
    assert!(gate.verify(&valid).is_ok());
}

#[test]
fn megabyte_of_dots_is_refused_by_the_size_check_alone() {
    // C10
    let gate = Gate::hs256();
    let dots = ".".repeat(1 << 20);
    let started = Instant::now();
    for _ in 0..1000 {
        assert_eq!(gate.reason(&dots), Reason::TokenTooLarge);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "size check is not O(1)"
    );
}

#[test]
fn empty_token_wrong_segment_counts_and_only_dots_are_malformed() {
    // E1
    let gate = Gate::hs256();
    let valid = hs(claims());
    let parts: Vec<&str> = valid.split('.').collect();
    for token in [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        parts[0].into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{valid}.{}", parts[2]),
        format!(".{}.{}", parts[1], parts[2]),
        format!("{}..{}", parts[0], parts[2]),
    ] {
        assert_eq!(gate.reason(&token), Reason::TokenMalformed, "{token:?}");
    }
}

#[test]
fn five_segment_jwe_is_malformed_without_decryption() {
    // J19: even a PBES2 header with a huge p2c is never looked at.
    let gate = Gate::hs256();
    let header =
        b64(r#"{"alg":"PBES2-HS512+A256KW","enc":"A256GCM","p2c":2147483647,"p2s":"AAAA"}"#);
    let token = format!("{header}.AAAA.AAAA.AAAA.AAAA");
    let (result, steps) = gate.explain(&token);
    assert_eq!(result.unwrap_err(), Reason::TokenMalformed);
    assert!(steps[0].detail.contains("JWE"), "{:?}", steps[0]);
}

#[test]
fn jws_json_serialization_is_malformed() {
    // J20
    let gate = Gate::hs256();
    let valid = hs(claims());
    let parts: Vec<&str> = valid.split('.').collect();
    let general = json!({"payload": parts[1], "signatures": [{"protected": parts[0], "signature": parts[2]}]});
    let flattened = json!({"payload": parts[1], "header": {"alg": "HS256"}, "signature": parts[2]});
    assert_eq!(gate.reason(&general.to_string()), Reason::TokenMalformed);
    assert_eq!(gate.reason(&flattened.to_string()), Reason::TokenMalformed);
}

#[test]
fn base64_padding_plus_slash_and_whitespace_are_malformed() {
    // E2
    let gate = Gate::hs256();
    let valid = hs(claims());
    let parts: Vec<&str> = valid.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    for token in [
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}==.{s}"),
        format!("{h}.{p}.{s}="),
        format!(
            "{h}.{}.{s}",
            p.replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1)
        ),
        format!(
            "{h}.{}.{s}",
            p.replacen(|c: char| c.is_ascii_alphanumeric(), "/", 1)
        ),
        format!(
            "{h}.{p}.{}",
            s.replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1)
        ),
        format!("{h}.{p} .{s}"),
        format!("{h}.{}\n{}.{s}", &p[..4], &p[4..]),
        format!(" {h}.{p}.{s}"),
        format!("{h}.{p}.{s}\n"),
    ] {
        assert_eq!(gate.reason(&token), Reason::TokenMalformed, "{token:?}");
    }
}

#[test]
fn standard_base64_alphabet_is_malformed() {
    // E2: the same header bytes in the standard alphabet ('+', '/') instead of base64url.
    let gate = Gate::hs256();
    let token = hs_raw(r#"{"alg":"HS256","kid":"???>>>"}"#, &claims().to_string());
    assert!(gate.verify(&token).is_ok());
    let (header, rest) = token.split_once('.').unwrap();
    let standard = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(URL_SAFE_NO_PAD.decode(header).unwrap());
    assert_ne!(standard, header);
    assert_eq!(
        gate.reason(&format!("{standard}.{rest}")),
        Reason::TokenMalformed
    );
}

#[test]
fn non_canonical_last_base64_character_is_malformed() {
    // E2: "eyJ...fQ" and "eyJ...fR" would decode to the same bytes with a lax decoder.
    let gate = Gate::hs256();
    let valid = hs(claims());
    let (input, signature) = valid.rsplit_once('.').unwrap();
    assert_eq!(
        signature.len() % 4,
        3,
        "HS256 signature leaves 2 spare bits"
    );
    let last = signature.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let twin = alphabet.as_bytes()[index ^ 1] as char;
    let token = format!("{input}.{}{twin}", &signature[..signature.len() - 1]);
    assert_eq!(gate.reason(&token), Reason::TokenMalformed);
}

#[test]
fn valid_base64_that_is_not_json_is_malformed() {
    // E3
    let gate = Gate::hs256();
    let good_header = r#"{"alg":"HS256"}"#;
    let good_payload = claims().to_string();
    for (header, payload) in [
        ("not json", good_payload.as_str()),
        (good_header, "not json"),
        ("", good_payload.as_str()),
        ("{\"alg\":\"HS256\"", good_payload.as_str()),
        ("[\"HS256\"]", good_payload.as_str()),
        ("\"HS256\"", good_payload.as_str()),
        ("null", good_payload.as_str()),
    ] {
        let token = hs_raw(header, payload);
        assert_eq!(
            gate.reason(&token),
            Reason::TokenMalformed,
            "{header} / {payload}"
        );
    }
}

#[test]
fn non_utf8_segment_is_malformed() {
    // E4
    let gate = Gate::hs256();
    let payload = claims().to_string();
    let mut header = br#"{"alg":"HS256","x":""#.to_vec();
    header.extend_from_slice(&[0xFF, 0xFE, b'"', b'}']);
    let token = sign_raw(&header, payload.as_bytes(), &hs_key(), Algorithm::HS256);
    assert_eq!(gate.reason(&token), Reason::TokenMalformed);
    let mut payload = br#"{"iss":"https://auth.example.com","sub":""#.to_vec();
    payload.extend_from_slice(&[0xC3, 0x28, b'"', b'}']);
    let token = sign_raw(br#"{"alg":"HS256"}"#, &payload, &hs_key(), Algorithm::HS256);
    assert_eq!(gate.reason(&token), Reason::TokenMalformed);
    // A lone surrogate escape is not a Unicode scalar value either.
    let token = hs_raw(r#"{"alg":"HS256","kid":"\ud800"}"#, &claims().to_string());
    assert_eq!(gate.reason(&token), Reason::TokenMalformed);
}

/// xorshift64*: deterministic, dependency-free randomness for the fuzz-ish tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_input_never_panics_and_is_never_accepted() {
    // E5
    let gate = Gate::hs256();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let alphabet: Vec<char> =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n\0é€{}\""
            .chars()
            .collect();
    for _ in 0..3000 {
        let len = rng.below(200);
        let token: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        assert!(gate.verify(&token).is_err(), "{token:?}");
    }
    // Random JSON-ish segments that decode fine, and single-character mutations of a
    // valid token: refused, whatever the reason, never a panic.
    let pieces = [
        "{",
        "}",
        "[",
        "]",
        "\"alg\"",
        "\"HS256\"",
        ":",
        ",",
        "\"exp\"",
        "1e400",
        "-1",
        "null",
        "\"iss\"",
        "\"\\u0000\"",
        "\u{FEFF}",
    ];
    for _ in 0..2000 {
        let segment = |rng: &mut Rng| -> String {
            let n = rng.below(12);
            (0..n).map(|_| pieces[rng.below(pieces.len())]).collect()
        };
        let (header, payload) = (segment(&mut rng), segment(&mut rng));
        assert!(
            gate.verify(&hs_raw(&header, &payload)).is_err(),
            "{header} {payload}"
        );
    }
    let valid = hs(claims());
    assert!(gate.verify(&valid).is_ok());
    let bytes: Vec<char> = valid.chars().collect();
    for _ in 0..2000 {
        let mut mutated = bytes.clone();
        let at = rng.below(mutated.len());
        let replacement = alphabet[rng.below(alphabet.len())];
        if mutated[at] == replacement {
            continue;
        }
        mutated[at] = replacement;
        let token: String = mutated.into_iter().collect();
        assert!(gate.verify(&token).is_err(), "mutation accepted: {token:?}");
    }
}

// ---------------------------------------------------------------------------------------
// JOSE header, algorithm and key selection (J1–J26)

#[test]
fn alg_none_in_any_case_is_algorithm_not_allowed() {
    // J1
    let gate = Gate::hs256();
    let payload = b64(claims().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        assert_eq!(
            gate.reason(&format!("{header}.{payload}.")),
            Reason::AlgorithmNotAllowed,
            "{alg}"
        );
    }
}

#[test]
fn null_signature_is_signature_invalid() {
    // J2
    let gate = Gate::hs256();
    let valid = hs(claims());
    let (input, _) = valid.rsplit_once('.').unwrap();
    assert_eq!(gate.reason(&format!("{input}.")), Reason::SignatureInvalid);
}

#[test]
fn truncated_or_flipped_signature_is_signature_invalid() {
    // J3
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let source = match alg {
            Algorithm::HS256 => secret_source(HS_SECRET, None),
            _ => pem_source(public_pem(alg), None),
        };
        let gate = Gate::one(&[alg], source);
        let valid = signed(header(alg), claims(), &private_key(alg), alg);
        let (input, signature) = valid.rsplit_once('.').unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let truncated = format!("{input}.{}", b64(&bytes[..bytes.len() - 3]));
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        let flipped = format!("{input}.{first}{}", &signature[1..]);
        assert_eq!(gate.reason(&truncated), Reason::SignatureInvalid, "{alg:?}");
        assert_eq!(gate.reason(&flipped), Reason::SignatureInvalid, "{alg:?}");
    }
}

#[test]
fn valid_signature_with_an_alg_outside_the_issuer_list_is_algorithm_not_allowed() {
    // J4: HS512 with the right secret, while only HS256 is configured.
    let gate = Gate::hs256();
    let token = signed(
        header(Algorithm::HS512),
        claims(),
        &hs_key(),
        Algorithm::HS512,
    );
    assert_eq!(gate.reason(&token), Reason::AlgorithmNotAllowed);
}

#[test]
fn hs256_signed_with_rsa_public_key_pem_is_refused() {
    // J5: the classic key confusion; the key's algorithm comes from config, not the token.
    for pem in ["rsa2048.pub.pem", "ec256.pub.pem"] {
        let alg = if pem.starts_with("rsa") {
            Algorithm::RS256
        } else {
            Algorithm::ES256
        };
        let gate = Gate::one(&[alg], pem_source(pem, None));
        let forged_key = EncodingKey::from_secret(&fixture(pem));
        let token = signed(
            header(Algorithm::HS256),
            claims(),
            &forged_key,
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Reason::AlgorithmNotAllowed, "{pem}");
    }
}

#[test]
fn hmac_secret_that_is_a_public_key_is_refused_at_load() {
    // J6: config validation refuses it; keys::load refuses it again.
    let pem = fixture("rsa2048.pub.pem");
    let config = issuer(
        "primary",
        ISS,
        &[Algorithm::HS256],
        secret_source(&pem, None),
    );
    let errors = keys::load(&config).unwrap_err();
    assert!(errors[0].contains("looks like a PEM or JWK"), "{errors:?}");
    let jwk = br#"{"kty":"RSA","n":"AQAB","e":"AQAB","padding":"to make it long enough"}"#;
    let config = issuer(
        "primary",
        ISS,
        &[Algorithm::HS256],
        secret_source(jwk, None),
    );
    assert!(keys::load(&config).is_err());
}

#[test]
fn token_signed_with_a_weak_or_empty_secret_is_signature_invalid() {
    // J7
    let gate = Gate::hs256();
    for weak in [&b"secret"[..], b"", b"password", b"your-256-bit-secret"] {
        let token = signed(
            header(Algorithm::HS256),
            claims(),
            &EncodingKey::from_secret(weak),
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Reason::SignatureInvalid);
    }
    let config = issuer(
        "primary",
        ISS,
        &[Algorithm::HS256],
        secret_source(b"secret", None),
    );
    assert!(keys::load(&config).unwrap_err()[0].contains("at least 32"));
}

#[test]
fn a_key_only_verifies_its_own_family_even_under_a_shared_kid() {
    // J8: an EC key and an RSA key published under the same kid.
    let jwks: Value = serde_json::from_slice(&fixture("jwks.json")).unwrap();
    let mut rsa = jwks["keys"][0].clone();
    let mut ec = jwks["keys"][1].clone();
    rsa["kid"] = json!("shared");
    ec["kid"] = json!("shared");
    let document = json!({"keys": [ec, rsa]}).to_string();
    let gate = Gate::one(&[Algorithm::RS256], jwks_source(document.as_bytes()));
    assert_eq!(gate.keys[0].keys.len(), 1, "the EC key does not fit RS256");
    let es = signed(
        json!({"alg": "ES256", "kid": "shared"}),
        claims(),
        &private_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    assert_eq!(gate.reason(&es), Reason::AlgorithmNotAllowed);
    let rs = signed(
        json!({"alg": "RS256", "kid": "shared"}),
        claims(),
        &private_key(Algorithm::RS256),
        Algorithm::RS256,
    );
    assert!(gate.verify(&rs).is_ok());
}

#[test]
fn unknown_kid_is_key_unknown() {
    // J9 (the refresh is the JWKS fetcher's business; with static keys, a miss is final).
    let gate = Gate::one(&[Algorithm::RS256], jwks_source(&fixture("jwks.json")));
    let token = signed(
        json!({"alg": "RS256", "kid": "rsa-2"}),
        claims(),
        &private_key(Algorithm::RS256),
        Algorithm::RS256,
    );
    assert_eq!(gate.reason(&token), Reason::KeyUnknown);
}

#[test]
fn hostile_kid_values_are_exact_in_memory_misses() {
    // J10
    let mut gate = Gate::one(&[Algorithm::HS256], secret_source(HS_SECRET, Some("main")));
    gate.auth.max_token_bytes = 64 * 1024;
    let long = "k".repeat(10 * 1024);
    for kid in [
        "../../../dev/null",
        "",
        "x' UNION SELECT '1';--",
        "|sleep 10",
        "main ",
        "MAIN",
        long.as_str(),
    ] {
        let token = signed(
            json!({"alg": "HS256", "kid": kid}),
            claims(),
            &hs_key(),
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Reason::KeyUnknown, "{kid:?}");
    }
    for kid in [
        json!(1),
        json!(null),
        json!(["main"]),
        json!({"kid": "main"}),
    ] {
        let token = signed(
            json!({"alg": "HS256", "kid": kid}),
            claims(),
            &hs_key(),
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Reason::TokenMalformed, "{kid}");
    }
    let token = signed(
        json!({"alg": "HS256", "kid": "main"}),
        claims(),
        &hs_key(),
        Algorithm::HS256,
    );
    assert!(gate.verify(&token).is_ok());
}

#[test]
fn a_kid_falls_back_to_the_single_key_without_a_configured_kid() {
    // J10/J11: a lone unnamed key is used whatever kid the token names.
    let gate = Gate::hs256();
    let token = signed(
        json!({"alg": "HS256", "kid": "rotated-2024"}),
        claims(),
        &hs_key(),
        Algorithm::HS256,
    );
    assert!(gate.verify(&token).is_ok());
}

#[test]
fn no_kid_with_several_keys_is_key_unknown_and_there_is_no_try_all() {
    // J11
    let gate = Gate::one(
        &[Algorithm::ES256, Algorithm::ES384],
        jwks_source(&fixture("jwks.json")),
    );
    // One key per algorithm: no kid is fine, the algorithm picks it.
    let es256 = signed(
        json!({"alg": "ES256"}),
        claims(),
        &private_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    assert!(gate.verify(&es256).is_ok());
    // Two RSA keys for RS256: ambiguous without kid.
    let jwks: Value = serde_json::from_slice(&fixture("jwks.json")).unwrap();
    let mut second = jwks["keys"][0].clone();
    second["kid"] = json!("rsa-2");
    let document = json!({"keys": [jwks["keys"][0], second]}).to_string();
    let gate = Gate::one(&[Algorithm::RS256], jwks_source(document.as_bytes()));
    let token = signed(
        json!({"alg": "RS256"}),
        claims(),
        &private_key(Algorithm::RS256),
        Algorithm::RS256,
    );
    let (result, steps) = gate.explain(&token);
    assert_eq!(result.unwrap_err(), Reason::KeyUnknown);
    assert!(
        steps
            .last()
            .unwrap()
            .detail
            .contains("never tries every key")
    );
    let named = signed(
        json!({"alg": "RS256", "kid": "rsa-2"}),
        claims(),
        &private_key(Algorithm::RS256),
        Algorithm::RS256,
    );
    assert!(gate.verify(&named).is_ok());
}

#[test]
fn jku_is_never_fetched() {
    // J12: jku/x5u point at a listener we own; the token is judged on configured keys only
    // and the listener sees no connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let gate = Gate::hs256();
    let header = json!({"alg": "HS256", "jku": url, "x5u": url});
    let (result, steps) = gate.explain(&signed(
        header.clone(),
        claims(),
        &hs_key(),
        Algorithm::HS256,
    ));
    assert!(result.is_ok());
    assert!(steps.iter().any(|s| {
        s.detail
            .contains("ignored (never fetched or used): jku, x5u")
    }));
    let attacker = EncodingKey::from_secret(b"attacker-controlled secret, 32+ bytes");
    let forged = signed(header, claims(), &attacker, Algorithm::HS256);
    assert_eq!(gate.reason(&forged), Reason::SignatureInvalid);
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}

#[test]
fn embedded_jwk_and_x5c_header_keys_are_ignored() {
    // J13 (CVE-2018-0114 class): signed with the attacker's own key, published in the header.
    let gate = Gate::one(&[Algorithm::RS256], pem_source("rsa2048.pub.pem", None));
    let attacker_jwks: Value = serde_json::from_slice(&fixture("jwks.json")).unwrap();
    let attacker_jwk = attacker_jwks["keys"][4].clone(); // rsa-small: the attacker's key
    assert_eq!(attacker_jwk["kid"], "rsa-small");
    let attacker_key = EncodingKey::from_rsa_pem(&fixture("rsa1024.key.pem")).unwrap();
    let header = json!({"alg": "RS256", "jwk": attacker_jwk, "x5c": ["MIIB"]});
    let token = signed(header, claims(), &attacker_key, Algorithm::RS256);
    assert_eq!(gate.reason(&token), Reason::SignatureInvalid);
}

#[test]
fn crit_header_is_malformed() {
    // J14
    let gate = Gate::hs256();
    for crit in [json!(["exp"]), json!([]), json!("b64"), json!(null)] {
        let token = signed(
            json!({"alg": "HS256", "crit": crit}),
            claims(),
            &hs_key(),
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Reason::TokenMalformed, "{crit}");
    }
}

#[test]
fn b64_header_is_malformed() {
    // J15
    let gate = Gate::hs256();
    for b64 in [json!(false), json!(true)] {
        let token = signed(
            json!({"alg": "HS256", "b64": b64, "crit": ["b64"]}),
            claims(),
            &hs_key(),
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Reason::TokenMalformed);
        let token = signed(
            json!({"alg": "HS256", "b64": b64}),
            claims(),
            &hs_key(),
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Reason::TokenMalformed);
    }
}

#[test]
fn configured_typ_must_match_case_insensitively_else_malformed() {
    // J16, K22
    let mut config = issuer(
        "primary",
        ISS,
        &[Algorithm::HS256],
        secret_source(HS_SECRET, None),
    );
    config.typ = Some("at+jwt".to_owned());
    let gate = Gate::new(vec![config]);
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        let token = signed(
            json!({"alg": "HS256", "typ": typ}),
            claims(),
            &hs_key(),
            Algorithm::HS256,
        );
        assert!(gate.verify(&token).is_ok(), "{typ}");
    }
    for typ in [
        json!("JWT"),
        json!("at+jwt "),
        json!("application/jwt"),
        json!("xapplication/at+jwt"),
        json!(1),
    ] {
        let token = signed(
            json!({"alg": "HS256", "typ": typ}),
            claims(),
            &hs_key(),
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Reason::TokenMalformed, "{typ}");
    }
    let untyped = signed(
        json!({"alg": "HS256"}),
        claims(),
        &hs_key(),
        Algorithm::HS256,
    );
    assert_eq!(gate.reason(&untyped), Reason::TokenMalformed);
    // Without a configured typ, any string typ (or none) is fine.
    let gate = Gate::hs256();
    for header in [
        json!({"alg": "HS256", "typ": "whatever"}),
        json!({"alg": "HS256"}),
    ] {
        assert!(
            gate.verify(&signed(header, claims(), &hs_key(), Algorithm::HS256))
                .is_ok()
        );
    }
}

#[test]
fn cty_jwt_nested_token_is_malformed() {
    // J17
    let gate = Gate::hs256();
    for cty in ["JWT", "jwt", "application/jwt"] {
        let token = signed(
            json!({"alg": "HS256", "cty": cty}),
            claims(),
            &hs_key(),
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Reason::TokenMalformed, "{cty}");
    }
    let token = signed(
        json!({"alg": "HS256", "cty": "text/plain"}),
        claims(),
        &hs_key(),
        Algorithm::HS256,
    );
    assert!(gate.verify(&token).is_ok());
}

#[test]
fn zip_on_a_jws_is_malformed() {
    // J18
    let gate = Gate::hs256();
    let token = signed(
        json!({"alg": "HS256", "zip": "DEF"}),
        claims(),
        &hs_key(),
        Algorithm::HS256,
    );
    assert_eq!(gate.reason(&token), Reason::TokenMalformed);
}

#[test]
fn duplicate_header_parameter_is_malformed() {
    // J21, including a duplicate hidden behind a JSON escape.
    let gate = Gate::hs256();
    let payload = claims().to_string();
    for header in [
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"alg":"none","alg":"HS256"}"#,
        r#"{"alg":"HS256","a\u006cg":"HS256"}"#,
        r#"{"alg":"HS256","kid":"a","kid":"b"}"#,
    ] {
        assert_eq!(
            gate.reason(&hs_raw(header, &payload)),
            Reason::TokenMalformed,
            "{header}"
        );
    }
}

#[test]
fn lowercase_padded_or_unknown_alg_is_algorithm_not_allowed() {
    // J22, J26 (ES512 does not exist in the crate)
    let gate = Gate::hs256();
    let payload = claims().to_string();
    for alg in [
        "hs256",
        "HS256 ",
        " HS256",
        "Hs256",
        "ES512",
        "RSA-OAEP",
        "HS256\u{0000}",
        "",
    ] {
        let header = json!({"alg": alg}).to_string();
        assert_eq!(
            gate.reason(&hs_raw(&header, &payload)),
            Reason::AlgorithmNotAllowed,
            "{alg:?}"
        );
    }
    for alg in [json!(null), json!(256), json!(["HS256"])] {
        let header = json!({"alg": alg}).to_string();
        assert_eq!(
            gate.reason(&hs_raw(&header, &payload)),
            Reason::TokenMalformed,
            "{alg}"
        );
    }
    assert_eq!(
        gate.reason(&hs_raw(r#"{"typ":"JWT"}"#, &payload)),
        Reason::TokenMalformed
    );
}

#[test]
fn es512_token_is_algorithm_not_allowed() {
    // J26
    let gate = Gate::one(
        &[Algorithm::ES256, Algorithm::ES384],
        pem_source("ec256.pub.pem", None),
    );
    let header = b64(r#"{"alg":"ES512"}"#);
    let token = format!("{header}.{}.{}", b64(claims().to_string()), b64([7u8; 132]));
    assert_eq!(gate.reason(&token), Reason::AlgorithmNotAllowed);
}

#[test]
fn es256_zero_signature_is_signature_invalid() {
    // J23 (CVE-2022-21449 "psychic signatures")
    let gate = Gate::one(&[Algorithm::ES256], pem_source("ec256.pub.pem", None));
    let valid = signed(
        header(Algorithm::ES256),
        claims(),
        &private_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    let (input, _) = valid.rsplit_once('.').unwrap();
    assert_eq!(
        gate.reason(&format!("{input}.{}", b64([0u8; 64]))),
        Reason::SignatureInvalid
    );
    assert_eq!(
        gate.reason(&format!("{input}.{}", b64([0u8; 2]))),
        Reason::SignatureInvalid
    );
}

#[test]
fn es256_high_s_copy_is_accepted_so_raw_token_bytes_are_never_a_key() {
    // J24: a malleated signature is a different token string for the same claims. Not a
    // forgery; documented so nobody dedups or caches on raw token bytes (use jti + iss).
    const ORDER: [u8; 32] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63,
        0x25, 0x51,
    ];
    let gate = Gate::one(&[Algorithm::ES256], pem_source("ec256.pub.pem", None));
    let valid = signed(
        header(Algorithm::ES256),
        claims(),
        &private_key(Algorithm::ES256),
        Algorithm::ES256,
    );
    let (input, signature) = valid.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let difference = i16::from(ORDER[i]) - i16::from(bytes[32 + i]) - borrow;
        borrow = i16::from(difference < 0);
        bytes[32 + i] = difference.rem_euclid(256) as u8;
    }
    let malleated = format!("{input}.{}", b64(&bytes));
    assert_ne!(malleated, valid);
    let first = gate.verify(&valid).unwrap();
    let second = gate.verify(&malleated).unwrap();
    assert_eq!(first.claims, second.claims);
}

#[test]
fn rsa_key_under_2048_bits_in_jwks_is_dropped_and_its_tokens_are_key_unknown() {
    // J25
    let gate = Gate::one(&[Algorithm::RS256], jwks_source(&fixture("jwks.json")));
    assert!(
        gate.keys[0]
            .warnings
            .iter()
            .any(|w| w.contains("rsa-small") && w.contains("1024 bits"))
    );
    let key = EncodingKey::from_rsa_pem(&fixture("rsa1024.key.pem")).unwrap();
    let token = signed(
        json!({"alg": "RS256", "kid": "rsa-small"}),
        claims(),
        &key,
        Algorithm::RS256,
    );
    assert_eq!(gate.reason(&token), Reason::KeyUnknown);
}

#[test]
fn issuer_without_loaded_keys_is_keys_unavailable() {
    let mut gate = Gate::hs256();
    gate.keys[0].keys.clear();
    assert_eq!(gate.reason(&hs(claims())), Reason::KeysUnavailable);
    gate.keys.clear();
    assert_eq!(gate.reason(&hs(claims())), Reason::KeysUnavailable);
}

// ---------------------------------------------------------------------------------------
// Claims (K1–K23)

#[test]
fn missing_exp_is_claim_missing() {
    // K1
    assert_eq!(
        Gate::hs256().reason(&hs(with(claims(), json!({"exp": null})))),
        Reason::ClaimMissing
    );
}

#[test]
fn expiry_is_judged_at_exp_plus_leeway() {
    // K2: expired when now >= exp + leeway.
    let gate = Gate::hs256();
    let at = |exp: u64| gate.verify(&hs(with(claims(), json!({"exp": exp, "iat": exp - 60}))));
    assert!(
        at(NOW - LEEWAY + 1).is_ok(),
        "past by leeway - 1 s: accepted"
    );
    assert_eq!(
        at(NOW - LEEWAY).unwrap_err(),
        Reason::TokenExpired,
        "exactly exp + leeway"
    );
    assert_eq!(
        at(NOW - LEEWAY - 1).unwrap_err(),
        Reason::TokenExpired,
        "past by leeway + 1 s"
    );
    let mut strict = Gate::hs256();
    strict.auth.leeway = Duration::ZERO;
    assert_eq!(
        strict.reason(&hs(with(claims(), json!({"exp": NOW})))),
        Reason::TokenExpired
    );
    assert!(
        strict
            .verify(&hs(with(claims(), json!({"exp": NOW + 1}))))
            .is_ok()
    );
}

#[test]
fn exp_of_the_wrong_type_or_range_is_claim_invalid() {
    // K3 (CVE-2026-25537 class)
    let gate = Gate::hs256();
    for exp in [
        json!("never"),
        json!(format!("{}", NOW + 600)),
        json!(-1),
        json!(-0.5),
        json!([NOW + 600]),
        json!({}),
        json!(true),
    ] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"exp": exp.clone()})))),
            Reason::ClaimInvalid,
            "{exp}"
        );
    }
    let null_exp = hs_raw(
        r#"{"alg":"HS256"}"#,
        &format!(r#"{{"iss":"{ISS}","sub":"a","aud":"chat","exp":null}}"#),
    );
    assert_eq!(gate.reason(&null_exp), Reason::ClaimInvalid);
    for exp in ["1e400", "-1e400", "1.5e999"] {
        let payload = format!(r#"{{"iss":"{ISS}","sub":"alice","aud":"chat","exp":{exp}}}"#);
        assert_eq!(
            gate.reason(&hs_raw(r#"{"alg":"HS256"}"#, &payload)),
            Reason::ClaimInvalid,
            "{exp}"
        );
    }
    // Out of range anywhere else is not a time claim problem: the payload is malformed.
    let payload = format!(
        r#"{{"iss":"{ISS}","sub":"alice","aud":"chat","exp":{},"n":1e400}}"#,
        NOW + 600
    );
    assert_eq!(
        gate.reason(&hs_raw(r#"{"alg":"HS256"}"#, &payload)),
        Reason::TokenMalformed
    );
    // ...and the signature still comes first.
    let payload = format!(r#"{{"iss":"{ISS}","sub":"alice","aud":"chat","exp":1e400}}"#);
    let forged = sign_raw(
        br#"{"alg":"HS256"}"#,
        payload.as_bytes(),
        &EncodingKey::from_secret(b"x"),
        Algorithm::HS256,
    );
    assert_eq!(gate.reason(&forged), Reason::SignatureInvalid);
}

#[test]
fn float_exp_is_accepted_and_rounded_down() {
    // K4
    let gate = Gate::hs256();
    let verified = gate
        .verify(&hs(with(
            claims(),
            json!({"exp": (NOW + 100) as f64 + 0.9}),
        )))
        .unwrap();
    assert_eq!(verified.expires_at, NOW + 100);
}

#[test]
fn absurdly_far_exp_is_accepted_unless_max_lifetime_is_set() {
    // K5
    let mut gate = Gate::hs256();
    for exp in [json!(u64::MAX), json!(1e300)] {
        let verified = gate
            .verify(&hs(with(claims(), json!({"exp": exp}))))
            .unwrap();
        assert_eq!(verified.expires_at, u64::MAX);
    }
    gate.auth.max_lifetime = Some(Duration::from_secs(3600));
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"exp": u64::MAX})))),
        Reason::ClaimInvalid
    );
    // exp - iat within the limit: accepted; exp - now is used without iat.
    assert!(
        gate.verify(&hs(with(
            claims(),
            json!({"exp": NOW + 3000, "iat": NOW - 500})
        )))
        .is_ok()
    );
    assert_eq!(
        gate.reason(&hs(with(
            claims(),
            json!({"exp": NOW + 3000, "iat": NOW - 700})
        ))),
        Reason::ClaimInvalid
    );
    assert!(
        gate.verify(&hs(with(claims(), json!({"exp": NOW + 3600, "iat": null}))))
            .is_ok()
    );
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"exp": NOW + 3601, "iat": null})))),
        Reason::ClaimInvalid
    );
}

#[test]
fn nbf_beyond_the_leeway_is_not_yet_valid() {
    // K6: not yet valid when nbf - leeway > now.
    let gate = Gate::hs256();
    let at = |nbf: u64| gate.verify(&hs(with(claims(), json!({"nbf": nbf}))));
    assert!(at(NOW + LEEWAY).is_ok());
    assert!(at(NOW + LEEWAY - 1).is_ok());
    assert_eq!(at(NOW + LEEWAY + 1).unwrap_err(), Reason::TokenNotYetValid);
    assert_eq!(
        gate.reason(&hs(with(
            claims(),
            json!({"nbf": (NOW + LEEWAY) as f64 + 0.5})
        ))),
        Reason::TokenNotYetValid
    );
}

#[test]
fn nbf_of_the_wrong_type_is_claim_invalid() {
    // K7
    let gate = Gate::hs256();
    for nbf in [json!("0"), json!([0]), json!({}), json!(-5), json!(false)] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"nbf": nbf.clone()})))),
            Reason::ClaimInvalid,
            "{nbf}"
        );
    }
}

#[test]
fn iat_in_the_future_beyond_the_leeway_is_claim_invalid() {
    // K8
    let gate = Gate::hs256();
    assert!(
        gate.verify(&hs(with(claims(), json!({"iat": NOW + LEEWAY}))))
            .is_ok()
    );
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"iat": NOW + LEEWAY + 1})))),
        Reason::ClaimInvalid
    );
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"iat": "yesterday"})))),
        Reason::ClaimInvalid
    );
}

#[test]
fn iss_missing_non_string_or_array_is_issuer_unknown() {
    // K9, K10, K11
    let gate = Gate::hs256();
    for iss in [
        json!(null),
        json!(123),
        json!(["evil", ISS]),
        json!([ISS]),
        json!({"iss": ISS}),
    ] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"iss": iss.clone()})))),
            Reason::IssuerUnknown,
            "{iss}"
        );
    }
    for iss in [
        "https://auth.example.com/",
        "HTTPS://AUTH.EXAMPLE.COM",
        "https://evil.example.com",
        "",
    ] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"iss": iss})))),
            Reason::IssuerUnknown,
            "{iss}"
        );
    }
}

#[test]
fn keys_are_bound_to_their_issuer() {
    // K12: provider A's key cannot vouch for provider B's iss.
    let other_secret = b"second issuer's own HMAC secret, 32+ bytes";
    let mut disabled = issuer(
        "staging-only",
        "https://staging.example.com",
        &[Algorithm::HS256],
        secret_source(HS_SECRET, None),
    );
    disabled.enabled = false;
    disabled.environments = vec!["staging".to_owned()];
    let gate = Gate::new(vec![
        issuer(
            "a",
            ISS,
            &[Algorithm::HS256],
            secret_source(HS_SECRET, None),
        ),
        issuer(
            "b",
            "https://b.example.com",
            &[Algorithm::HS256],
            secret_source(other_secret, None),
        ),
        disabled,
    ]);
    // Signed with A's key, claiming to be B: only B's key is consulted.
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"iss": "https://b.example.com"})))),
        Reason::SignatureInvalid
    );
    // Claiming an issuer that is configured but not enabled here.
    let (result, steps) = gate.explain(&hs(with(
        claims(),
        json!({"iss": "https://staging.example.com"}),
    )));
    assert_eq!(result.unwrap_err(), Reason::IssuerUnknown);
    assert!(
        steps
            .last()
            .unwrap()
            .detail
            .contains("not enabled in this environment")
    );
}

#[test]
fn aud_missing_or_of_the_wrong_type_is_audience_mismatch() {
    // K13, K14
    let gate = Gate::hs256();
    for aud in [
        json!(null),
        json!(123),
        json!({"aud": "chat"}),
        json!([]),
        json!(["other", 5]),
        json!(true),
    ] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"aud": aud.clone()})))),
            Reason::AudienceMismatch,
            "{aud}"
        );
    }
}

#[test]
fn aud_array_matches_when_any_member_is_configured() {
    // K15
    let gate = Gate::hs256();
    assert!(
        gate.verify(&hs(with(claims(), json!({"aud": ["other", "chat"]}))))
            .is_ok()
    );
    assert!(
        gate.verify(&hs(with(claims(), json!({"aud": "chat"}))))
            .is_ok()
    );
}

#[test]
fn aud_must_match_exactly() {
    // K16
    let gate = Gate::hs256();
    for aud in [
        json!("chat-evil"),
        json!("Chat"),
        json!("CHAT"),
        json!(" chat"),
        json!(["chat2"]),
        json!(""),
    ] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"aud": aud.clone()})))),
            Reason::AudienceMismatch,
            "{aud}"
        );
    }
}

#[test]
fn aud_is_not_checked_when_the_issuer_has_no_audiences() {
    let mut config = issuer(
        "primary",
        ISS,
        &[Algorithm::HS256],
        secret_source(HS_SECRET, None),
    );
    config.audiences.clear();
    let gate = Gate::new(vec![config]);
    assert!(
        gate.verify(&hs(with(claims(), json!({"aud": null}))))
            .is_ok()
    );
}

#[test]
fn sub_missing_is_claim_missing_and_empty_or_numeric_is_claim_invalid() {
    // K17
    let gate = Gate::hs256();
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"sub": null})))),
        Reason::ClaimMissing
    );
    for sub in [json!(""), json!(42), json!(["alice"]), json!({})] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"sub": sub.clone()})))),
            Reason::ClaimInvalid,
            "{sub}"
        );
    }
}

#[test]
fn sub_that_is_not_a_clean_header_value_is_claim_invalid() {
    // K18: refused, never forwarded (no header splitting, no HeaderValue panic later).
    let gate = Gate::hs256();
    let long = "a".repeat(1025);
    for sub in [
        "alice\r\nX-Auth-User: admin",
        "alice\n",
        "al\0ice",
        "al\tice",
        "alicé",
        "ali\u{7f}ce",
        " alice",
        "alice ",
        "\u{202e}",
        long.as_str(),
    ] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"sub": sub})))),
            Reason::ClaimInvalid,
            "{sub:?}"
        );
    }
    for sub in [
        "a",
        "alice smith",
        "user@example.com",
        "auth0|1234",
        &"a".repeat(1024),
    ] {
        let verified = gate
            .verify(&hs(with(claims(), json!({"sub": sub}))))
            .unwrap();
        assert!(http::HeaderValue::from_str(&verified.subject).is_ok());
    }
}

#[test]
fn sub_with_json_escapes_is_compared_decoded() {
    // K19
    let gate = Gate::hs256();
    let payload = format!(
        r#"{{"iss":"{ISS}","sub":"\u0061dmin","aud":"chat","exp":{}}}"#,
        NOW + 60
    );
    assert_eq!(
        gate.verify(&hs_raw(r#"{"alg":"HS256"}"#, &payload))
            .unwrap()
            .subject,
        "admin"
    );
    let escaped_iss = r#"https:\/\/auth.example.com"#;
    let payload = format!(
        r#"{{"iss":"{escaped_iss}","sub":"a","aud":"ch\u0061t","exp":{}}}"#,
        NOW + 60
    );
    assert!(gate.verify(&hs_raw(r#"{"alg":"HS256"}"#, &payload)).is_ok());
}

#[test]
fn duplicate_registered_claims_are_malformed() {
    // K20
    let gate = Gate::hs256();
    let base = format!(
        r#""iss":"{ISS}","sub":"alice","aud":"chat","exp":{}"#,
        NOW + 60
    );
    for extra in [
        format!(r#""exp":{}"#, NOW + 99999),
        r#""nbf":1,"nbf":2"#.to_owned(),
        r#""iss":"https://evil.example.com""#.to_owned(),
        r#""aud":"chat""#.to_owned(),
        r#""sub":"admin""#.to_owned(),
        r#""s\u0075b":"admin""#.to_owned(),
    ] {
        let payload = format!("{{{base},{extra}}}");
        assert_eq!(
            gate.reason(&hs_raw(r#"{"alg":"HS256"}"#, &payload)),
            Reason::TokenMalformed,
            "{extra}"
        );
    }
}

#[test]
fn duplicate_custom_claim_is_malformed() {
    // K21: stricter than the crate (last one wins there), so route claims never see it.
    let gate = Gate::hs256();
    let payload = format!(
        r#"{{"iss":"{ISS}","sub":"alice","aud":"chat","exp":{},"role":"user","role":"admin"}}"#,
        NOW + 60
    );
    assert_eq!(
        gate.reason(&hs_raw(r#"{"alg":"HS256"}"#, &payload)),
        Reason::TokenMalformed
    );
    // Nested duplicates are below the top level and not inspected (documented limit).
}

#[test]
fn token_of_another_kind_is_refused_by_aud_or_typ() {
    // K22: an ID token for another client, a token for another API.
    let gate = Gate::hs256();
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"aud": "web-client"})))),
        Reason::AudienceMismatch
    );
    let mut config = issuer(
        "primary",
        ISS,
        &[Algorithm::HS256],
        secret_source(HS_SECRET, None),
    );
    config.typ = Some("at+jwt".to_owned());
    let gate = Gate::new(vec![config]);
    let id_token = signed(
        json!({"alg": "HS256", "typ": "JWT"}),
        claims(),
        &hs_key(),
        Algorithm::HS256,
    );
    assert_eq!(gate.reason(&id_token), Reason::TokenMalformed);
}

#[test]
fn payload_that_is_not_a_plain_object_is_malformed() {
    // K23
    let mut gate = Gate::hs256();
    gate.auth.max_token_bytes = 64 * 1024;
    let object = claims().to_string();
    let deep = format!(
        r#"{{"iss":"{ISS}","x":{}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(5000), "}".repeat(5000));
    for payload in [
        format!("[{object}]"),
        format!("{object:?}"),
        format!("\u{FEFF}{object}"),
        format!("{object}{{}}"),
        format!("{object}x"),
        deep,
        deep_objects,
    ] {
        assert_eq!(
            gate.reason(&hs_raw(r#"{"alg":"HS256"}"#, &payload)),
            Reason::TokenMalformed,
            "{payload:.40}"
        );
    }
    // Trailing whitespace is legal JSON text.
    assert!(
        gate.verify(&hs_raw(r#"{"alg":"HS256"} "#, &format!("{object}\n")))
            .is_ok()
    );
}

// ---------------------------------------------------------------------------------------
// Order of checks, trace, self-test

#[test]
fn the_signature_is_checked_before_any_claim() {
    let gate = Gate::hs256();
    let forger = EncodingKey::from_secret(b"not the configured secret at all!!");
    for claims in [
        with(claims(), json!({"exp": NOW - 1000})),
        with(claims(), json!({"aud": "x"})),
        with(claims(), json!({"sub": null})),
    ] {
        let token = signed(header(Algorithm::HS256), claims, &forger, Algorithm::HS256);
        assert_eq!(gate.reason(&token), Reason::SignatureInvalid);
    }
}

#[test]
fn explain_records_each_step_with_values() {
    let gate = Gate::hs256();
    let (result, steps) = gate.explain(&hs(claims()));
    assert!(result.is_ok());
    let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "token",
            "header",
            "issuer",
            "algorithm",
            "key",
            "signature",
            "exp",
            "aud",
            "sub"
        ]
    );
    assert!(steps.iter().all(|s| s.outcome == Outcome::Pass));
    let text: String = steps
        .iter()
        .map(|s| format!("{}: {}\n", s.name, s.detail))
        .collect();
    for expected in [
        "HS256",
        ISS,
        "primary",
        &gate.keys[0].keys[0].fingerprint,
        &format!("now {NOW}"),
        "leeway 30 s",
        "\"chat\"",
        "\"alice\"",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
}

#[test]
fn hmac_signature_failure_says_the_secret_likely_differs() {
    let gate = Gate::hs256();
    let token = signed(
        header(Algorithm::HS256),
        claims(),
        &EncodingKey::from_secret(b"the signer's different secret!!!!"),
        Algorithm::HS256,
    );
    let (result, steps) = gate.explain(&token);
    assert_eq!(result.unwrap_err(), Reason::SignatureInvalid);
    let last = steps.last().unwrap();
    assert_eq!(last.outcome, Outcome::Fail(Reason::SignatureInvalid));
    assert!(
        last.detail
            .contains("the HMAC secret likely differs between the signer and wsgate")
    );
    assert!(last.detail.contains(&gate.keys[0].keys[0].fingerprint));
}

#[test]
fn trace_details_never_contain_the_token_or_the_secret() {
    let gate = Gate::hs256();
    let secret_text = String::from_utf8_lossy(HS_SECRET).into_owned();
    let tokens = [
        hs(claims()),
        hs(with(claims(), json!({"exp": NOW - 1000}))),
        signed(
            header(Algorithm::HS256),
            claims(),
            &EncodingKey::from_secret(b"another secret, 32 bytes or more"),
            Algorithm::HS256,
        ),
        hs(with(claims(), json!({"aud": "x"}))),
        "a".repeat(9000),
        "x.y.z".to_owned(),
    ];
    for token in tokens {
        let (_, steps) = gate.explain(&token);
        assert!(!steps.is_empty());
        for step in steps {
            assert!(!step.detail.contains(&token), "token in {step:?}");
            assert!(!step.detail.contains(&secret_text), "secret in {step:?}");
            if let Some((_, signature)) = token.rsplit_once('.') {
                assert!(
                    signature.len() < 8 || !step.detail.contains(signature),
                    "signature in {step:?}"
                );
            }
        }
    }
}

#[test]
fn every_refusal_is_recorded_as_the_last_step() {
    let gate = Gate::hs256();
    for token in [
        hs(with(claims(), json!({"aud": "x"}))),
        "a.b".to_owned(),
        hs(with(claims(), json!({"iss": "x"}))),
    ] {
        let (result, steps) = gate.explain(&token);
        assert_eq!(
            steps.last().unwrap().outcome,
            Outcome::Fail(result.unwrap_err())
        );
    }
}

#[test]
fn self_test_passes_with_the_configured_backend() {
    assert_eq!(self_test(), Ok(()));
}
