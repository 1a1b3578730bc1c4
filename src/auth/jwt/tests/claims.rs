//! Claims (docs/security-cases.md K1–K23).

use super::*;

#[test]
fn missing_exp_is_claim_missing() {
    // K1
    assert_eq!(
        Gate::hs256().reason(&hs(with(claims(), json!({"exp": null})))),
        Refusal::ClaimMissing
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
        Refusal::TokenExpired,
        "exactly exp + leeway"
    );
    assert_eq!(
        at(NOW - LEEWAY - 1).unwrap_err(),
        Refusal::TokenExpired,
        "past by leeway + 1 s"
    );
    let mut strict = Gate::hs256();
    strict.auth.leeway = Duration::ZERO;
    assert_eq!(
        strict.reason(&hs(with(claims(), json!({"exp": NOW})))),
        Refusal::TokenExpired
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
            Refusal::ClaimInvalid,
            "{exp}"
        );
    }
    let null_exp = hs_raw(
        r#"{"alg":"HS256"}"#,
        &format!(r#"{{"iss":"{ISS}","sub":"a","aud":"chat","exp":null}}"#),
    );
    assert_eq!(gate.reason(&null_exp), Refusal::ClaimInvalid);
    for exp in ["1e400", "-1e400", "1.5e999"] {
        let payload = format!(r#"{{"iss":"{ISS}","sub":"alice","aud":"chat","exp":{exp}}}"#);
        assert_eq!(
            gate.reason(&hs_raw(r#"{"alg":"HS256"}"#, &payload)),
            Refusal::ClaimInvalid,
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
        Refusal::TokenMalformed
    );
    // ...and the signature still comes first.
    let payload = format!(r#"{{"iss":"{ISS}","sub":"alice","aud":"chat","exp":1e400}}"#);
    let forged = sign_raw(
        br#"{"alg":"HS256"}"#,
        payload.as_bytes(),
        &EncodingKey::from_secret(b"x"),
        Algorithm::HS256,
    );
    assert_eq!(gate.reason(&forged), Refusal::SignatureInvalid);
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
        Refusal::ClaimInvalid
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
        Refusal::ClaimInvalid
    );
    assert!(
        gate.verify(&hs(with(claims(), json!({"exp": NOW + 3600, "iat": null}))))
            .is_ok()
    );
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"exp": NOW + 3601, "iat": null})))),
        Refusal::ClaimInvalid
    );
}

#[test]
fn nbf_beyond_the_leeway_is_not_yet_valid() {
    // K6: not yet valid when nbf - leeway > now.
    let gate = Gate::hs256();
    let at = |nbf: u64| gate.verify(&hs(with(claims(), json!({"nbf": nbf}))));
    assert!(at(NOW + LEEWAY).is_ok());
    assert!(at(NOW + LEEWAY - 1).is_ok());
    assert_eq!(at(NOW + LEEWAY + 1).unwrap_err(), Refusal::TokenNotYetValid);
    assert_eq!(
        gate.reason(&hs(with(
            claims(),
            json!({"nbf": (NOW + LEEWAY) as f64 + 0.5})
        ))),
        Refusal::TokenNotYetValid
    );
}

#[test]
fn nbf_of_the_wrong_type_is_claim_invalid() {
    // K7
    let gate = Gate::hs256();
    for nbf in [json!("0"), json!([0]), json!({}), json!(-5), json!(false)] {
        assert_eq!(
            gate.reason(&hs(with(claims(), json!({"nbf": nbf.clone()})))),
            Refusal::ClaimInvalid,
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
        Refusal::ClaimInvalid
    );
    assert_eq!(
        gate.reason(&hs(with(claims(), json!({"iat": "yesterday"})))),
        Refusal::ClaimInvalid
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
