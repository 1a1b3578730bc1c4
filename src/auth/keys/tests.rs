//! Tests for `keys::load` over the committed fixtures (`tests/fixtures/regenerate.sh`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::public::PublicKey;
use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn issuer(algorithms: &[Algorithm], keys: KeySource) -> IssuerConfig {
    IssuerConfig {
        name: "primary".to_owned(),
        issuer: "https://auth.example.com".to_owned(),
        audiences: Vec::new(),
        algorithms: algorithms.to_vec(),
        keys,
        typ: None,
        environments: Vec::new(),
        enabled: true,
    }
}

fn pem(name: &str, algorithms: &[Algorithm]) -> Result<IssuerKeys, Vec<String>> {
    load(&issuer(
        algorithms,
        KeySource::PublicKeyFile {
            path: format!("keys/{name}").into(),
            pem: fixture(name),
            kid: None,
        },
    ))
}

fn jwks(json: &[u8], algorithms: &[Algorithm]) -> Result<IssuerKeys, Vec<String>> {
    load(&issuer(
        algorithms,
        KeySource::JwksFile {
            path: "jwks.json".into(),
            json: json.to_vec(),
        },
    ))
}

fn fixture_jwk(kid: &str) -> Value {
    let document: Value = serde_json::from_slice(&fixture("jwks.json")).unwrap();
    document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .clone()
}

fn algorithms_of(keys: &IssuerKeys) -> Vec<Algorithm> {
    keys.keys.iter().map(|k| k.algorithm).collect()
}

#[test]
fn secret_gives_one_key_per_configured_hs_algorithm() {
    let secret = Secret::new(SecretSource::Env("JWT_SECRET".into()), vec![b'k'; 40]);
    let config = issuer(
        &[Algorithm::HS256, Algorithm::HS512],
        KeySource::Secret {
            secret: secret.clone(),
            kid: Some("main".into()),
        },
    );
    let keys = load(&config).unwrap();
    assert_eq!(algorithms_of(&keys), [Algorithm::HS256, Algorithm::HS512]);
    for key in &keys.keys {
        assert_eq!(key.kid.as_deref(), Some("main"));
        assert_eq!(*key.fingerprint, secret.fingerprint());
        assert_eq!(key.description, "HMAC secret from env var JWT_SECRET");
    }
}

#[test]
fn secret_with_an_asymmetric_algorithm_is_refused() {
    let config = issuer(
        &[Algorithm::RS256],
        KeySource::Secret {
            secret: Secret::new(SecretSource::Literal, vec![b'k'; 40]),
            kid: None,
        },
    );
    assert!(load(&config).unwrap_err()[0].contains("HS256/HS384/HS512"));
}

#[test]
fn public_key_file_detects_the_key_family() {
    let rsa = pem("rsa2048.pub.pem", &[Algorithm::RS256, Algorithm::PS384]).unwrap();
    assert_eq!(algorithms_of(&rsa), [Algorithm::RS256, Algorithm::PS384]);
    assert_eq!(
        rsa.keys[0].description,
        "RSA 2048-bit public key from file keys/rsa2048.pub.pem"
    );
    let ec = pem("ec384.pub.pem", &[Algorithm::ES384]).unwrap();
    assert_eq!(
        ec.keys[0].description,
        "EC P-384 public key from file keys/ec384.pub.pem"
    );
    let ed = pem("ed25519.pub.pem", &[Algorithm::EdDSA]).unwrap();
    assert_eq!(
        ed.keys[0].description,
        "Ed25519 public key from file keys/ed25519.pub.pem"
    );
    let pkcs1 = pem("rsa2048.pkcs1.pub.pem", &[Algorithm::RS256]).unwrap();
    assert_eq!(pkcs1.keys[0].fingerprint, rsa.keys[0].fingerprint);
}

#[test]
fn ec_curve_selects_its_one_algorithm() {
    let p256 = pem("ec256.pub.pem", &[Algorithm::ES256, Algorithm::ES384]).unwrap();
    assert_eq!(algorithms_of(&p256), [Algorithm::ES256]);
    let p384 = pem("ec384.pub.pem", &[Algorithm::ES256, Algorithm::ES384]).unwrap();
    assert_eq!(algorithms_of(&p384), [Algorithm::ES384]);
    let errors = pem("ec384.pub.pem", &[Algorithm::ES256]).unwrap_err();
    assert!(
        errors[0].contains("holds an EC P-384 key but algorithms are [ES256]"),
        "{errors:?}"
    );
}

#[test]
fn key_family_must_match_the_issuer_algorithms() {
    let errors = pem("ec256.pub.pem", &[Algorithm::RS256]).unwrap_err();
    assert_eq!(
        errors,
        [
            "issuer \"primary\": public_key_file keys/ec256.pub.pem: holds an EC P-256 key but algorithms are [RS256]"
        ]
    );
    assert!(pem("rsa2048.pub.pem", &[Algorithm::EdDSA]).is_err());
    assert!(pem("ed25519.pub.pem", &[Algorithm::ES256]).is_err());
}

#[test]
fn small_rsa_unsupported_curves_and_private_keys_are_refused() {
    let small = pem("rsa1024.pub.pem", &[Algorithm::RS256]).unwrap_err();
    assert!(small[0].contains("1024 bits; at least 2048"), "{small:?}");
    assert!(pem("ec521.pub.pem", &[Algorithm::ES256]).unwrap_err()[0].contains("P-521"));
    assert!(pem("secp256k1.pub.pem", &[Algorithm::ES256]).unwrap_err()[0].contains("secp256k1"));
    for private in ["rsa2048.key.pem", "ec256.key.pem", "ed25519.key.pem"] {
        let errors = pem(
            private,
            &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
        )
        .unwrap_err();
        assert!(errors[0].contains("give the public key"), "{errors:?}");
    }
}

#[test]
fn broken_pem_files_are_refused_with_a_reason() {
    let load_text = |text: &str| {
        load(&issuer(
            &[Algorithm::RS256],
            KeySource::PublicKeyFile {
                path: "k.pem".into(),
                pem: text.as_bytes().to_vec(),
                kid: None,
            },
        ))
    };
    let good = String::from_utf8(fixture("rsa2048.pub.pem")).unwrap();
    assert!(load_text("").is_err());
    assert!(load_text("not a pem").is_err());
    assert!(load_text(&good.replace("END PUBLIC KEY", "END SOMETHING")).is_err());
    assert!(load_text(&good.replace('M', "!")).is_err());
    assert!(load_text(&format!("{good}{good}")).unwrap_err()[0].contains("several PEM blocks"));
    let truncated: String = good
        .lines()
        .filter(|l| !l.starts_with("MII"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(load_text(&truncated).is_err());
    assert!(load_text(&good).is_ok());
}

#[test]
fn pem_and_jwks_of_the_same_key_share_a_fingerprint() {
    let all = [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    let from_jwks = |kid: &str, alg: Algorithm| {
        let document = json!({"keys": [fixture_jwk(kid)]}).to_string();
        jwks(document.as_bytes(), &[alg]).unwrap().keys[0]
            .fingerprint
            .clone()
    };
    let pairs = [
        ("rsa2048.pub.pem", "rsa-1", all[0]),
        ("ec256.pub.pem", "ec256-1", all[1]),
        ("ec384.pub.pem", "ec384-1", all[2]),
        ("ed25519.pub.pem", "ed-1", all[3]),
    ];
    for (file, kid, alg) in pairs {
        let from_pem = pem(file, &[alg]).unwrap().keys[0].fingerprint.clone();
        assert_eq!(from_pem, from_jwks(kid, alg), "{file}");
        assert!(from_pem.starts_with("sha256:") && from_pem.len() == 19);
    }
}

#[test]
fn thumbprint_matches_rfc_7638_example() {
    // RFC 7638 §3.1: the thumbprint of this RSA key is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
    let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    let key = PublicKey::Rsa {
        n: URL_SAFE_NO_PAD.decode(n).unwrap(),
        e: vec![1, 0, 1],
    };
    let expected = URL_SAFE_NO_PAD
        .decode("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        .unwrap();
    let hex: String = expected[..6].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        fingerprint(key.thumbprint_input().as_bytes()),
        format!("sha256:{hex}")
    );
}

#[test]
fn jwks_derives_algorithms_from_key_type_and_issuer() {
    let loaded = jwks(&fixture("jwks.json"), &[Algorithm::RS256, Algorithm::PS256]).unwrap();
    let rsa: Vec<_> = loaded
        .keys
        .iter()
        .map(|k| (k.kid.as_deref().unwrap(), k.algorithm))
        .collect();
    assert_eq!(
        rsa,
        [("rsa-1", Algorithm::RS256), ("rsa-1", Algorithm::PS256)]
    );
    assert_eq!(
        loaded.keys[0].description,
        "RSA 2048-bit public key (kid \"rsa-1\") from JWKS file jwks.json"
    );
    // The EC, OKP, small RSA and P-521 keys were skipped, each with a reason.
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("ec256-1") && w.contains("does not fit"))
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("rsa-small") && w.contains("1024 bits"))
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("ec521-1") && w.contains("P-521"))
    );
    assert!(loaded.warnings[0].starts_with("issuer \"primary\": jwks_file jwks.json: "));
}

#[test]
fn jwk_use_enc_and_foreign_alg_are_skipped_with_a_warning() {
    let mut enc = fixture_jwk("rsa-1");
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc-key");
    let mut pinned_elsewhere = fixture_jwk("rsa-1");
    pinned_elsewhere["alg"] = json!("RS512");
    pinned_elsewhere["kid"] = json!("rs512-only");
    let mut pinned = fixture_jwk("rsa-1");
    pinned["alg"] = json!("PS256");
    let mut verify_ops = fixture_jwk("ec256-1");
    verify_ops["key_ops"] = json!(["sign"]);
    let document = json!({"keys": [enc, pinned_elsewhere, pinned, verify_ops]}).to_string();
    let loaded = jwks(
        document.as_bytes(),
        &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256],
    )
    .unwrap();
    assert_eq!(
        algorithms_of(&loaded),
        [Algorithm::PS256],
        "alg pins the key to PS256 only"
    );
    assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("\"use\" is \"enc\""));
    assert!(loaded.warnings[1].contains("\"RS512\" is not among"));
    assert!(loaded.warnings[2].contains("key_ops"));
}

#[test]
fn jwks_oct_keys_are_used_only_by_hs_issuers() {
    let oct = json!({"kty": "oct", "kid": "h1", "k": URL_SAFE_NO_PAD.encode([7u8; 32])});
    let document = json!({"keys": [oct, fixture_jwk("rsa-1")]}).to_string();
    let rsa = jwks(document.as_bytes(), &[Algorithm::RS256]).unwrap();
    assert_eq!(algorithms_of(&rsa), [Algorithm::RS256]);
    assert!(rsa.warnings[0].contains("\"oct\" (HMAC) keys are ignored"));
    let hs = jwks(document.as_bytes(), &[Algorithm::HS256]).unwrap();
    assert_eq!(algorithms_of(&hs), [Algorithm::HS256]);
    assert_eq!(*hs.keys[0].fingerprint, fingerprint(&[7u8; 32]));
    let short =
        json!({"keys": [{"kty": "oct", "k": URL_SAFE_NO_PAD.encode([7u8; 16])}]}).to_string();
    assert!(jwks(short.as_bytes(), &[Algorithm::HS256]).is_err());
}

#[test]
fn jwks_without_usable_keys_is_an_error_listing_why() {
    let errors = jwks(&fixture("jwks.json"), &[Algorithm::HS256]).unwrap_err();
    assert!(
        errors[0].contains("no usable key for algorithms [HS256] (of 6 keys)"),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 7);
    for bad in [
        &b"not json"[..],
        b"{}",
        br#"{"keys":"x"}"#,
        b"[]",
        br#"{"keys":[]}"#,
        br#"{"keys":[1,"a",null]}"#,
    ] {
        assert!(
            jwks(bad, &[Algorithm::RS256]).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn malformed_jwk_members_are_skipped() {
    let mut padded = fixture_jwk("rsa-1");
    padded["n"] = json!(format!("{}=", padded["n"].as_str().unwrap()));
    let mut short_x = fixture_jwk("ec256-1");
    short_x["x"] = json!("AAAA");
    let mut off_curve = fixture_jwk("ec256-1");
    off_curve["y"] = off_curve["x"].clone();
    let mut even_exponent = fixture_jwk("rsa-1");
    even_exponent["e"] = json!("AQAA");
    let mut numeric_kid = fixture_jwk("ed-1");
    numeric_kid["kid"] = json!(5);
    let unknown = json!({"kty": "RSA-HSM", "kid": "x"});
    let mut private = fixture_jwk("ed-1");
    private["d"] = json!("AAAA");
    let document =
        json!({"keys": [padded, short_x, off_curve, even_exponent, numeric_kid, unknown, private]})
            .to_string();
    let errors = jwks(
        document.as_bytes(),
        &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
    )
    .err()
    .unwrap_or_default();
    // Every key skipped; none of them panicked or slipped through.
    assert_eq!(errors.len(), 8, "{errors:#?}");
    assert!(errors[7].contains("private key material"));
}

#[test]
fn duplicate_kid_and_algorithm_keeps_the_first_key() {
    let first = fixture_jwk("rsa-1");
    let mut second = fixture_jwk("rsa-1");
    second["e"] = json!("Aw"); // e = 3, a different key under the same kid
    let document = json!({"keys": [first, second]}).to_string();
    let loaded = jwks(document.as_bytes(), &[Algorithm::RS256]).unwrap();
    assert_eq!(loaded.keys.len(), 1);
    assert!(loaded.warnings[0].contains("same kid and algorithm"));
}

#[test]
fn descriptions_and_errors_never_hold_key_material() {
    let secret = vec![b'z'; 48];
    let config = issuer(
        &[Algorithm::HS256],
        KeySource::Secret {
            secret: Secret::new(SecretSource::Literal, secret.clone()),
            kid: None,
        },
    );
    let keys = load(&config).unwrap();
    assert!(!format!("{:?}", keys.keys[0].description).contains("zzzz"));
    let loaded = jwks(&fixture("jwks.json"), &[Algorithm::RS256]).unwrap();
    let n = fixture_jwk("rsa-1")["n"].as_str().unwrap().to_owned();
    for text in loaded
        .warnings
        .iter()
        .chain(loaded.keys.iter().map(|k| &k.description))
    {
        assert!(!text.contains(&n[..20]));
    }
}

#[test]
fn rsa_pkcs1_keys_are_parsed_once_at_load_pss_and_ec_are_not() {
    let rsa = pem(
        "rsa2048.pub.pem",
        &[Algorithm::RS256, Algorithm::RS512, Algorithm::PS256],
    )
    .unwrap();
    let parsed: Vec<(Algorithm, bool)> = rsa
        .keys
        .iter()
        .map(|key| (key.algorithm, key.rsa.is_some()))
        .collect();
    assert_eq!(
        parsed,
        [
            (Algorithm::RS256, true),
            (Algorithm::RS512, true),
            (Algorithm::PS256, false)
        ]
    );
    let ec = pem("ec256.pub.pem", &[Algorithm::ES256]).unwrap();
    assert!(ec.keys.iter().all(|key| key.rsa.is_none()));
}
