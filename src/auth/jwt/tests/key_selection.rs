//! Key selection and key families (docs/security-cases.md J1–J26): kid, key confusion, weak
//! secrets, JWKS, ECDSA signatures, issuers without keys.

use super::*;

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
        assert_eq!(gate.reason(&token), Refusal::AlgorithmNotAllowed, "{pem}");
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
        assert_eq!(gate.reason(&token), Refusal::SignatureInvalid);
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
    let es = signed_by(Algorithm::ES256, json!({"alg": "ES256", "kid": "shared"}));
    assert_eq!(gate.reason(&es), Refusal::AlgorithmNotAllowed);
    let rs = signed_by(Algorithm::RS256, json!({"alg": "RS256", "kid": "shared"}));
    assert!(gate.verify(&rs).is_ok());
}

#[test]
fn unknown_kid_is_key_unknown() {
    // J9 (the refresh is the JWKS fetcher's business; with static keys, a miss is final).
    let gate = Gate::one(&[Algorithm::RS256], jwks_source(&fixture("jwks.json")));
    let token = signed_by(Algorithm::RS256, json!({"alg": "RS256", "kid": "rsa-2"}));
    assert_eq!(gate.reason(&token), Refusal::KeyUnknown);
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
        let token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "kid": kid}));
        assert_eq!(gate.reason(&token), Refusal::KeyUnknown, "{kid:?}");
    }
    for kid in [
        json!(1),
        json!(null),
        json!(["main"]),
        json!({"kid": "main"}),
    ] {
        let token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "kid": kid}));
        assert_eq!(gate.reason(&token), Refusal::TokenMalformed, "{kid}");
    }
    let token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "kid": "main"}));
    assert!(gate.verify(&token).is_ok());
}

#[test]
fn a_kid_falls_back_to_the_single_key_without_a_configured_kid() {
    // J10/J11: a lone unnamed key is used whatever kid the token names.
    let gate = Gate::hs256();
    let token = signed_by(
        Algorithm::HS256,
        json!({"alg": "HS256", "kid": "rotated-2024"}),
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
    let es256 = signed_by(Algorithm::ES256, json!({"alg": "ES256"}));
    assert!(gate.verify(&es256).is_ok());
    // Two RSA keys for RS256: ambiguous without kid.
    let jwks: Value = serde_json::from_slice(&fixture("jwks.json")).unwrap();
    let mut second = jwks["keys"][0].clone();
    second["kid"] = json!("rsa-2");
    let document = json!({"keys": [jwks["keys"][0], second]}).to_string();
    let gate = Gate::one(&[Algorithm::RS256], jwks_source(document.as_bytes()));
    let token = signed_by(Algorithm::RS256, json!({"alg": "RS256"}));
    let (result, steps) = gate.explain(&token);
    assert_eq!(result.unwrap_err(), Refusal::KeyUnknown);
    assert!(
        steps
            .last()
            .unwrap()
            .detail
            .contains("never tries every key")
    );
    let named = signed_by(Algorithm::RS256, json!({"alg": "RS256", "kid": "rsa-2"}));
    assert!(gate.verify(&named).is_ok());
}

#[test]
fn es256_zero_signature_is_signature_invalid() {
    // J23 (CVE-2022-21449 "psychic signatures")
    let gate = Gate::one(&[Algorithm::ES256], pem_source("ec256.pub.pem", None));
    let valid = signed_by(Algorithm::ES256, header(Algorithm::ES256));
    let (input, _) = valid.rsplit_once('.').unwrap();
    assert_eq!(
        gate.reason(&format!("{input}.{}", b64([0u8; 64]))),
        Refusal::SignatureInvalid
    );
    assert_eq!(
        gate.reason(&format!("{input}.{}", b64([0u8; 2]))),
        Refusal::SignatureInvalid
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
    let valid = signed_by(Algorithm::ES256, header(Algorithm::ES256));
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
    assert_eq!(gate.reason(&token), Refusal::KeyUnknown);
}

#[test]
fn issuer_without_loaded_keys_is_keys_unavailable() {
    let mut gate = Gate::hs256();
    gate.keys[0].keys.clear();
    assert_eq!(gate.reason(&hs(claims())), Refusal::KeysUnavailable);
    gate.keys.clear();
    assert_eq!(gate.reason(&hs(claims())), Refusal::KeysUnavailable);
}

#[test]
fn a_kid_that_the_lone_unnamed_key_does_not_verify_is_key_unknown() {
    // J10 with a single key configured without a kid: the fallback above is only for a
    // token that key verifies; any other token naming a kid names a key wsgate lacks.
    let gate = Gate::hs256();
    let forged = EncodingKey::from_secret(b"not-the-configured-secret-at-all-0123456789");
    for kid in [
        "../../../dev/null",
        "x' UNION SELECT '1';--",
        "rotated-2025",
    ] {
        let token = signed(
            json!({"alg": "HS256", "kid": kid}),
            claims(),
            &forged,
            Algorithm::HS256,
        );
        assert_eq!(gate.reason(&token), Refusal::KeyUnknown, "{kid:?}");
    }
    // Without a kid the same forgery is what it is: a signature that does not verify.
    let token = signed(
        header(Algorithm::HS256),
        claims(),
        &forged,
        Algorithm::HS256,
    );
    assert_eq!(gate.reason(&token), Refusal::SignatureInvalid);
}
