//! Order of checks, trace, self-test.

use super::*;

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
        assert_eq!(gate.reason(&token), Refusal::SignatureInvalid);
    }
}

#[test]
fn a_refusal_names_the_issuer_once_iss_selected_one() {
    let gate = Gate::hs256();
    let forger = EncodingKey::from_secret(b"not the configured secret at all!!");
    let forged = signed(
        header(Algorithm::HS256),
        claims(),
        &forger,
        Algorithm::HS256,
    );
    let expired = hs(with(claims(), json!({"exp": NOW - 1000})));
    for (token, reason) in [
        (forged, Refusal::SignatureInvalid),
        (expired, Refusal::TokenExpired),
    ] {
        assert_eq!(
            gate.failure(&token).err(),
            Some(Failure {
                reason,
                issuer: Some(IssuerId::nth(0)),
            })
        );
    }
    // Before `iss` is read (or when it names no enabled issuer) there is no issuer.
    for (token, reason) in [
        ("not.a-jwt".to_owned(), Refusal::TokenMalformed),
        (
            hs(with(claims(), json!({"iss": "https://elsewhere"}))),
            Refusal::IssuerUnknown,
        ),
    ] {
        assert_eq!(
            gate.failure(&token).err(),
            Some(Failure {
                reason,
                issuer: None
            })
        );
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
    assert_eq!(result.unwrap_err(), Refusal::SignatureInvalid);
    let last = steps.last().unwrap();
    assert_eq!(last.outcome, Outcome::Fail(Refusal::SignatureInvalid));
    assert!(
        last.detail
            .contains("the HMAC secret likely differs between the signer and wsgate")
    );
    assert!(last.detail.contains(&*gate.keys[0].keys[0].fingerprint));
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
