//! Identity and shape claims: iss, aud, sub, duplicate claims, the token's kind and the
//! payload's shape (docs/security-cases.md K9–K23; the time claims K1–K8 are in
//! time_claims.rs).

use super::*;

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
            Refusal::IssuerUnknown,
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
            Refusal::IssuerUnknown,
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
        Refusal::SignatureInvalid
    );
    // Claiming an issuer that is configured but not enabled here.
    let (result, steps) = gate.explain(&hs(with(
        claims(),
        json!({"iss": "https://staging.example.com"}),
    )));
    assert_eq!(result.unwrap_err(), Refusal::IssuerUnknown);
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
            Refusal::AudienceMismatch,
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
            Refusal::AudienceMismatch,
            "{aud}"
        );
    }
}

#[test]
fn aud_is_not_checked_when_the_issuer_has_no_audiences() {
    let gate = Gate::hs256_with(|config| config.audiences.clear());
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
        Refusal::ClaimMissing
    );
    for sub in [json!(""), json!(42), json!(["alice"]), json!({})] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"sub": sub.clone()})))),
            Refusal::ClaimInvalid,
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
            Refusal::ClaimInvalid,
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
            Refusal::TokenMalformed,
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
        Refusal::TokenMalformed
    );
    // Nested duplicates are below the top level and not inspected (documented limit).
}

#[test]
fn token_of_another_kind_is_refused_by_aud_or_typ() {
    // K22: an ID token for another client, a token for another API.
    let gate = Gate::hs256();
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"aud": "web-client"})))),
        Refusal::AudienceMismatch
    );
    let gate = Gate::hs256_with(|config| config.typ = Some("at+jwt".to_owned()));
    let id_token = signed_by(Algorithm::HS256, json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(gate.reason(&id_token), Refusal::TokenMalformed);
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
            Refusal::TokenMalformed,
            "{payload:.40}"
        );
    }
    // Trailing whitespace is legal JSON text.
    assert!(
        gate.verify(&hs_raw(r#"{"alg":"HS256"} "#, &format!("{object}\n")))
            .is_ok()
    );
}
