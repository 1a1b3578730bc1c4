//! Accepted tokens.

use super::*;

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
        assert_eq!(verified.issuer, IssuerId::nth(0));
        assert_eq!(verified.key_fingerprint, gate.keys[0].keys[0].fingerprint);
        assert_eq!(verified.claims.get("aud").unwrap().to_value(), "chat");
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
    assert_eq!(gate.verify(&hs(claims())).unwrap().issuer, IssuerId::nth(1));
}
