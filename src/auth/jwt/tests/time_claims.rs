//! Time claims: exp, nbf and iat against the clock and the leeway, their types and range
//! (docs/security-cases.md K1–K8).

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
