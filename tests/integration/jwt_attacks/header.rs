//! Attacks on the JOSE header and the signature: algorithm confusion, `none`, broken and
//! psychic signatures, `kid` injection, key-source headers (`jku`, `x5u`, `jwk`, `x5c`),
//! `crit`/`b64`/`zip`/nested `cty`, and JWE shapes.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::KEY_UNKNOWN;
use super::{
    EC_ISSUER, RSA_ISSUER, Range, assemble, b64, claims, fixture, hmac_key, hs256, sign_raw,
};
use crate::denials::{ALGORITHM_NOT_ALLOWED, SIGNATURE_INVALID, TOKEN_MALFORMED, TOKEN_TOO_LARGE};
use crate::support::tokens::{ISSUER, SECRET_ENV};

fn payload(iss: &str) -> Value {
    Value::Object(claims(iss))
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture("rsa2048.key.pem")).expect("rsa2048 key")
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(&fixture("ec256.key.pem")).expect("ec256 key")
}

/// The attacker's own RSA key (any key wsgate does not trust).
fn attacker_rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture("rsa1024.key.pem")).expect("rsa1024 key")
}

/// The signature segment of `token`, decoded.
fn signature_of(token: &str) -> Vec<u8> {
    let (_, signature) = token.rsplit_once('.').expect("three segments");
    base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
        .expect("base64url signature")
}

/// `token` with its signature segment replaced by `signature` (raw bytes).
fn with_signature(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').expect("three segments");
    format!("{input}.{}", b64(signature))
}

#[tokio::test]
async fn hmac_signed_with_a_public_key_pem_is_algorithm_not_allowed() {
    // RFC 8725 §2.1: an HS256 token whose HMAC key is the RSA/EC public key (which the
    // attacker has). Each asymmetric issuer pins its algorithm, so HS* never reaches a key.
    let range = Range::start().await;
    for (iss, kid, public) in [
        (RSA_ISSUER, "rsa-1", "rsa2048.pub.pem"),
        (RSA_ISSUER, "rsa-1", "rsa2048.pkcs1.pub.pem"),
        (EC_ISSUER, "ec-1", "ec256.pub.pem"),
    ] {
        let pem = fixture(public);
        let trimmed = String::from_utf8_lossy(&pem).trim().to_owned();
        for key in [pem.clone(), trimmed.into_bytes()] {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                for kid in [Some(kid), None] {
                    let mut header = json!({"alg": format!("{alg:?}"), "typ": "JWT"});
                    if let Some(kid) = kid {
                        header["kid"] = json!(kid);
                    }
                    let token =
                        sign_raw(&header, &payload(iss), &EncodingKey::from_secret(&key), alg);
                    range
                        .refuses(
                            &format!("{alg:?} with {public} as the secret, iss {iss}, kid {kid:?}"),
                            &token,
                            ALGORITHM_NOT_ALLOWED,
                        )
                        .await;
                }
            }
        }
    }
    // The other direction: a real RS256/ES256 signature presented to the HMAC issuer.
    for (alg, key) in [(Algorithm::RS256, rsa_key()), (Algorithm::ES256, ec_key())] {
        let header = json!({"alg": format!("{alg:?}"), "kid": "hs-1"});
        let token = sign_raw(&header, &payload(ISSUER), &key, alg);
        range
            .refuses(
                &format!("{alg:?} to the HMAC issuer"),
                &token,
                ALGORITHM_NOT_ALLOWED,
            )
            .await;
    }
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn alg_none_in_any_case_and_with_any_signature_is_algorithm_not_allowed() {
    let range = Range::start().await;
    let real = hs256(json!({}), &payload(ISSUER));
    let real_signature = signature_of(&real);
    for iss in [ISSUER, RSA_ISSUER, EC_ISSUER] {
        for alg in ["none", "None", "NONE", "nOnE"] {
            for signature in [Vec::new(), real_signature.clone(), b"x".to_vec()] {
                let header = json!({"alg": alg, "typ": "JWT", "kid": "hs-1"});
                let token = assemble(&header, &payload(iss).to_string(), &signature);
                range
                    .refuses(
                        &format!("alg {alg}, iss {iss}, {} signature bytes", signature.len()),
                        &token,
                        ALGORITHM_NOT_ALLOWED,
                    )
                    .await;
            }
        }
    }
    // Near-names of real algorithms are not algorithms.
    for alg in [
        "hs256",
        "HS256 ",
        " HS256",
        "HS256\u{0}",
        "RS256 ",
        "ES512",
        "PS256x",
    ] {
        let header = json!({"alg": alg, "kid": "hs-1"});
        let token = assemble(&header, &payload(ISSUER).to_string(), &real_signature);
        range
            .refuses(&format!("alg {alg:?}"), &token, ALGORITHM_NOT_ALLOWED)
            .await;
    }
    // No usable alg at all: not a JWS.
    for header in [
        json!({"typ": "JWT"}),
        json!({"alg": null}),
        json!({"alg": ["HS256"]}),
        json!({"alg": 256}),
    ] {
        let token = assemble(&header, &payload(ISSUER).to_string(), &real_signature);
        range
            .refuses(&format!("header {header}"), &token, TOKEN_MALFORMED)
            .await;
    }
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn null_truncated_or_flipped_signatures_are_signature_invalid() {
    let range = Range::start().await;
    let tokens = [
        ("HS256", hs256(json!({}), &payload(ISSUER))),
        (
            "RS256",
            sign_raw(
                &json!({"alg": "RS256", "kid": "rsa-1"}),
                &payload(RSA_ISSUER),
                &rsa_key(),
                Algorithm::RS256,
            ),
        ),
        (
            "ES256",
            sign_raw(
                &json!({"alg": "ES256", "kid": "ec-1"}),
                &payload(EC_ISSUER),
                &ec_key(),
                Algorithm::ES256,
            ),
        ),
    ];
    for (alg, token) in &tokens {
        let signature = signature_of(token);
        let mut flipped_first = signature.clone();
        flipped_first[0] ^= 0x01;
        let mut flipped_last = signature.clone();
        *flipped_last.last_mut().expect("non-empty") ^= 0x80;
        let truncated = &signature[..signature.len() - 1];
        let mut extended = signature.clone();
        extended.push(0);
        for (what, forged) in [
            ("null signature", Vec::new()),
            ("first bit flipped", flipped_first),
            ("last byte flipped", flipped_last),
            ("one byte short", truncated.to_vec()),
            ("one byte more", extended),
            ("all zeros", vec![0; signature.len()]),
        ] {
            range
                .refuses(
                    &format!("{alg}: {what}"),
                    &with_signature(token, &forged),
                    SIGNATURE_INVALID,
                )
                .await;
        }
        // The payload changed under a valid signature (privilege escalation attempt).
        let (header, _) = token.split_once('.').expect("segments");
        let mut escalated = claims(if *alg == "HS256" {
            ISSUER
        } else if *alg == "RS256" {
            RSA_ISSUER
        } else {
            EC_ISSUER
        });
        escalated.insert("sub".to_owned(), json!("admin"));
        let tampered = format!(
            "{header}.{}.{}",
            b64(Value::Object(escalated).to_string().as_bytes()),
            b64(&signature)
        );
        range
            .refuses(
                &format!("{alg}: payload swapped"),
                &tampered,
                SIGNATURE_INVALID,
            )
            .await;
    }
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn psychic_ecdsa_signatures_are_signature_invalid() {
    // CVE-2022-21449: r = s = 0 verified against any message in Java 15-18. Also r, s = n
    // (the group order, which reduces to 0) and the DER encodings some verifiers accept.
    let range = Range::start().await;
    let order = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let mut r_s_n = order.clone();
    r_s_n.extend_from_slice(&order);
    let mut r_one_s_zero = vec![0; 64];
    r_one_s_zero[31] = 1;
    let header = json!({"alg": "ES256", "kid": "ec-1"});
    let body = payload(EC_ISSUER).to_string();
    for (what, signature) in [
        ("r = s = 0", vec![0; 64]),
        ("r = s = n", r_s_n),
        ("r = 1, s = 0", r_one_s_zero),
        (
            "DER r = s = 0",
            vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
        ),
        ("one zero byte", vec![0]),
    ] {
        range
            .refuses(
                &format!("ES256 {what}"),
                &assemble(&header, &body, &signature),
                SIGNATURE_INVALID,
            )
            .await;
    }
    range.assert_nothing_got_through().await;
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

#[tokio::test]
async fn kid_injection_is_an_exact_map_lookup_and_key_unknown() {
    // Signed with the real secret: only the kid is hostile, so nothing but the key lookup
    // can refuse it. The lookup is an exact in-memory match: no file, SQL or shell.
    let range = Range::start().await;
    let long = "k".repeat(4000);
    for kid in [
        "../../../../../../dev/null",
        "/dev/null",
        "../../../../etc/passwd",
        "/proc/self/environ",
        "",
        " ",
        "hs-1 ",
        "HS-1",
        "hs-1\u{0}",
        "hs-1\r\nX-Auth-User: admin",
        "x' UNION SELECT 'secret';--",
        "1' OR '1'='1",
        "|sleep 10",
        "$(sleep 10)",
        "`id`",
        "rsa-1",
        "ec-1",
        long.as_str(),
    ] {
        let token = hs256(json!({ "kid": kid }), &payload(ISSUER));
        range
            .refuses(
                &format!("kid {:?}", kid.chars().take(40).collect::<String>()),
                &token,
                KEY_UNKNOWN,
            )
            .await;
    }
    // A kid that is not a string is not a JWS header wsgate accepts.
    for kid in [json!(1), json!(["hs-1"]), json!({"$ne": ""}), json!(true)] {
        let token = hs256(json!({ "kid": kid }), &payload(ISSUER));
        range
            .refuses(&format!("kid {kid}"), &token, TOKEN_MALFORMED)
            .await;
    }
    // A kid too long for the token limit is refused before anything reads it.
    let token = hs256(json!({ "kid": "k".repeat(10_000) }), &payload(ISSUER));
    range.refuses("kid of 10 KB", &token, TOKEN_TOO_LARGE).await;
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn key_source_headers_are_never_fetched_or_trusted() {
    // jku/x5u point at a server that publishes the attacker's key; jwk/x5c embed one.
    // wsgate judges the token only against its configured keys.
    let range = Range::start().await;
    let jwks = range.attacker.url("/jwks.json");
    let x5u = range.attacker.url("/cert.pem");
    let attacker_jwk = json!({
        "kty": "oct", "k": b64(b"attacker-secret-attacker-secret-32"), "kid": "hs-1"
    });
    let attacker_rsa_jwk: Value = serde_json::from_slice::<Value>(&fixture("jwks.json"))
        .expect("fixture jwks")["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == "rsa-small").cloned())
        .expect("rsa-small in the fixture jwks");
    let x5c = json!([b64(&fixture("tls/localhost.crt.pem"))]);
    let hs_attacker = EncodingKey::from_secret(b"attacker-secret-attacker-secret-32");
    for (what, extra) in [
        ("jku", json!({ "jku": jwks })),
        ("x5u", json!({ "x5u": x5u })),
        ("jwk (oct)", json!({ "jwk": attacker_jwk })),
        ("x5c", json!({ "x5c": x5c })),
        (
            "jku + jwk + x5u + x5c",
            json!({ "jku": jwks, "x5u": x5u, "jwk": attacker_jwk, "x5c": x5c }),
        ),
    ] {
        // HS256 under the real kid, signed with the attacker's secret.
        let mut header = json!({"alg": "HS256", "kid": "hs-1"});
        super::merge(&mut header, extra.clone());
        let token = sign_raw(&header, &payload(ISSUER), &hs_attacker, Algorithm::HS256);
        range
            .refuses(&format!("HS256 + {what}"), &token, SIGNATURE_INVALID)
            .await;

        // RS256 under the real kid, signed with the attacker's RSA key (published in jwk).
        let mut header = json!({"alg": "RS256", "kid": "rsa-1", "jwk": attacker_rsa_jwk});
        super::merge(&mut header, extra.clone());
        let token = sign_raw(
            &header,
            &payload(RSA_ISSUER),
            &attacker_rsa_key(),
            Algorithm::RS256,
        );
        range
            .refuses(&format!("RS256 + {what}"), &token, SIGNATURE_INVALID)
            .await;

        // A kid only the attacker's key set has: a fetching verifier would go get it.
        let mut header = json!({"alg": "RS256", "kid": "attacker"});
        super::merge(&mut header, extra);
        let token = sign_raw(
            &header,
            &payload(RSA_ISSUER),
            &attacker_rsa_key(),
            Algorithm::RS256,
        );
        range
            .refuses(&format!("RS256 kid attacker + {what}"), &token, KEY_UNKNOWN)
            .await;
    }
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn crit_b64_zip_and_nested_tokens_are_token_malformed() {
    // Validly signed, so the header parameter alone decides (RFC 7515 §4.1.11: a crit
    // extension that is not understood must be refused; zip is JWE-only; RFC 7797 b64).
    let range = Range::start().await;
    for extra in [
        json!({"crit": ["exp"]}),
        json!({"crit": ["b64"], "b64": false}),
        json!({"crit": []}),
        json!({"crit": "exp"}),
        json!({"b64": false}),
        json!({"b64": true}),
        json!({"zip": "DEF"}),
        json!({"zip": ""}),
        json!({"cty": "JWT"}),
        json!({"cty": "jwt"}),
        json!({"cty": "application/JWT"}),
        json!({"cty": 1}),
        json!({"typ": 1}),
    ] {
        let token = hs256(extra.clone(), &payload(ISSUER));
        range
            .refuses(&format!("header + {extra}"), &token, TOKEN_MALFORMED)
            .await;
    }
    // Duplicate header members, as JSON text (serde_json keeps the last; wsgate refuses).
    let body = b64(payload(ISSUER).to_string().as_bytes());
    for header_text in [
        r#"{"alg":"none","alg":"HS256","kid":"hs-1"}"#,
        r#"{"alg":"HS256","kid":"hs-1","kid":"other"}"#,
        r#"{"alg":"HS256","kid":"hs-1","\u0061lg":"HS256"}"#,
    ] {
        let input = format!("{}.{body}", b64(header_text.as_bytes()));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &hmac_key(), Algorithm::HS256)
            .expect("sign");
        range
            .refuses(
                &format!("header {header_text}"),
                &format!("{input}.{signature}"),
                TOKEN_MALFORMED,
            )
            .await;
    }
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn jwe_and_json_serializations_are_token_malformed() {
    let range = Range::start().await;
    let segment = |value: Value| b64(value.to_string().as_bytes());
    let jwe = segment(json!({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "rsa-1"}));
    // GHSA-7f9x-gw85-8grf: a PBES2 header with a huge iteration count (never decrypted).
    let pbes2 = segment(
        json!({"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2c": 2_000_000_000u64, "p2s": "c2FsdHNhbHQ"}),
    );
    let dir = segment(json!({"alg": "dir", "enc": "A128CBC-HS256", "zip": "DEF"}));
    for (what, token) in [
        ("RSA-OAEP JWE", format!("{jwe}.a2V5.aXY.Y2lwaGVy.dGFn")),
        ("PBES2 p2c JWE", format!("{pbes2}.a2V5.aXY.Y2lwaGVy.dGFn")),
        ("dir JWE, empty key", format!("{dir}..aXY.Y2lwaGVy.dGFn")),
        ("five empty segments", "....".to_owned()),
        ("four segments", format!("{jwe}.a2V5.aXY.Y2lwaGVy")),
        (
            "JWS JSON serialization",
            json!({
                "payload": b64(payload(ISSUER).to_string().as_bytes()),
                "signatures": [{"protected": segment(json!({"alg": "HS256"})), "signature": "AAAA"}]
            })
            .to_string(),
        ),
        (
            "flattened JWS JSON with unprotected alg",
            json!({
                "payload": b64(payload(ISSUER).to_string().as_bytes()),
                "header": {"alg": "HS256", "kid": "hs-1"},
                "signature": "AAAA"
            })
            .to_string(),
        ),
    ] {
        range.refuses(what, &token, TOKEN_MALFORMED).await;
    }
    // A JWE header in the three-segment form names no signature algorithm.
    for alg in ["RSA-OAEP", "PBES2-HS512+A256KW", "dir", "A256KW"] {
        let header = json!({"alg": alg, "enc": "A256GCM"});
        let token = assemble(&header, &payload(ISSUER).to_string(), b"sig");
        range
            .refuses(
                &format!("3-segment alg {alg}"),
                &token,
                ALGORITHM_NOT_ALLOWED,
            )
            .await;
    }
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn a_public_key_pem_as_the_hmac_secret_is_refused_before_serving() {
    // docs/security-cases.md J6: if an operator configured the RSA/EC public key as the HS256
    // secret, anyone holding the public key could forge tokens. The config is refused, the
    // error names the key and never prints the secret.
    for public in ["rsa2048.pub.pem", "ec256.pub.pem", "rsa2048.pkcs1.pub.pem"] {
        let pem = String::from_utf8(fixture(public)).expect("PEM is text");
        let toml = super::config("ws://127.0.0.1:9", "http");
        let lookup = |name: &str| (name == SECRET_ENV).then(|| pem.clone());
        let errors =
            wsgate::config::Config::parse(&toml, "<test>", &lookup, std::path::Path::new("."))
                .err()
                .unwrap_or_else(|| panic!("{public} as an HMAC secret was accepted"))
                .to_string();
        assert!(errors.contains("auth.issuers"), "{public}: {errors}");
        assert!(errors.contains("PEM"), "{public}: {errors}");
        assert!(
            !errors.contains("BEGIN PUBLIC KEY"),
            "the secret is never printed: {errors}"
        );
    }
}
