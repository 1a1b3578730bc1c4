//! JOSE header and algorithm checks (docs/security-cases.md J1–J26): alg, crit, b64, typ, cty, zip,
//! jku/jwk/x5c, duplicate parameters.

use super::*;

#[test]
fn alg_none_in_any_case_is_algorithm_not_allowed() {
    // J1
    let gate = Gate::hs256();
    let payload = b64(claims().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        assert_eq!(
            gate.reason(&format!("{header}.{payload}.")),
            Refusal::AlgorithmNotAllowed,
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
    assert_eq!(gate.reason(&format!("{input}.")), Refusal::SignatureInvalid);
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
        assert_eq!(
            gate.reason(&truncated),
            Refusal::SignatureInvalid,
            "{alg:?}"
        );
        assert_eq!(gate.reason(&flipped), Refusal::SignatureInvalid, "{alg:?}");
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
    assert_eq!(gate.reason(&token), Refusal::AlgorithmNotAllowed);
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
    assert_eq!(gate.reason(&forged), Refusal::SignatureInvalid);
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
    assert_eq!(gate.reason(&token), Refusal::SignatureInvalid);
}

#[test]
fn crit_header_is_malformed() {
    // J14
    let gate = Gate::hs256();
    for crit in [json!(["exp"]), json!([]), json!("b64"), json!(null)] {
        let token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "crit": crit}));
        assert_eq!(gate.reason(&token), Refusal::TokenMalformed, "{crit}");
    }
}

#[test]
fn b64_header_is_malformed() {
    // J15
    let gate = Gate::hs256();
    for b64 in [json!(false), json!(true)] {
        let token = signed_by(
            Algorithm::HS256,
            json!({"alg": "HS256", "b64": b64, "crit": ["b64"]}),
        );
        assert_eq!(gate.reason(&token), Refusal::TokenMalformed);
        let token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "b64": b64}));
        assert_eq!(gate.reason(&token), Refusal::TokenMalformed);
    }
}

#[test]
fn configured_typ_must_match_case_insensitively_else_malformed() {
    // J16, K22
    let gate = Gate::hs256_with(|config| config.typ = Some("at+jwt".to_owned()));
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        let token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "typ": typ}));
        assert!(gate.verify(&token).is_ok(), "{typ}");
    }
    for typ in [
        json!("JWT"),
        json!("at+jwt "),
        json!("application/jwt"),
        json!("xapplication/at+jwt"),
        json!(1),
    ] {
        let token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "typ": typ}));
        assert_eq!(gate.reason(&token), Refusal::TokenMalformed, "{typ}");
    }
    let untyped = signed_by(Algorithm::HS256, json!({"alg": "HS256"}));
    assert_eq!(gate.reason(&untyped), Refusal::TokenMalformed);
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
        let token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "cty": cty}));
        assert_eq!(gate.reason(&token), Refusal::TokenMalformed, "{cty}");
    }
    let token = signed_by(
        Algorithm::HS256,
        json!({"alg": "HS256", "cty": "text/plain"}),
    );
    assert!(gate.verify(&token).is_ok());
}

#[test]
fn zip_on_a_jws_is_malformed() {
    // J18
    let gate = Gate::hs256();
    let token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "zip": "DEF"}));
    assert_eq!(gate.reason(&token), Refusal::TokenMalformed);
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
            Refusal::TokenMalformed,
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
            Refusal::AlgorithmNotAllowed,
            "{alg:?}"
        );
    }
    for alg in [json!(null), json!(256), json!(["HS256"])] {
        let header = json!({"alg": alg}).to_string();
        assert_eq!(
            gate.reason(&hs_raw(&header, &payload)),
            Refusal::TokenMalformed,
            "{alg}"
        );
    }
    assert_eq!(
        gate.reason(&hs_raw(r#"{"typ":"JWT"}"#, &payload)),
        Refusal::TokenMalformed
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
    assert_eq!(gate.reason(&token), Refusal::AlgorithmNotAllowed);
}

#[test]
fn unread_header_members_are_checked_as_json_and_for_duplicates() {
    // J21, E4: members wsgate does not read are parsed as strictly as the ones it does
    // (UTF-8, escapes, numbers within f64's range), duplicates refused after unescaping;
    // nested objects are not inspected for duplicates.
    let gate = Gate::hs256();
    let payload = claims().to_string();
    for header in [
        r#"{"alg":"HS256","x":1e400}"#,
        r#"{"alg":"HS256","jwk":[1e400]}"#,
        r#"{"alg":"HS256","x":"\ud800"}"#,
        r#"{"alg":"HS256","x":{"y":"\udc00"}}"#,
        r#"{"alg":"HS256","x":1,"\u0078":2}"#,
        r#"{"alg":"HS256","k\u0069d":"a","kid":"b"}"#,
        r#"{"alg":"HS256","jku":"a","jku":"a"}"#,
    ] {
        assert_eq!(
            gate.reason(&hs_raw(header, &payload)),
            Refusal::TokenMalformed,
            "{header}"
        );
    }
    let (result, steps) = gate.explain(&hs_raw(r#"{"alg":"HS256","x":1,"x":2}"#, &payload));
    assert_eq!(result.unwrap_err(), Refusal::TokenMalformed);
    assert!(
        steps.iter().any(|s| s
            .detail
            .contains(r#"header is not a JSON object without duplicates: duplicate member "x" at line 1 column 24"#)),
        "{steps:?}"
    );
    for header in [
        r#"{"alg":"HS256","x":{"y":1,"y":2}}"#,
        r#"{"alg":"HS\u0032\u0035\u0036","t\u0079p":"J\u0057T"}"#,
    ] {
        assert!(gate.verify(&hs_raw(header, &payload)).is_ok(), "{header}");
    }
}
