//! Attacks on the claims (all validly signed, so the claim alone decides): type confusion
//! (CVE-2026-25537, jwt-go's `aud` bypass), CR/LF and NUL aimed at the identity headers,
//! and size: oversize tokens and many dots (CVE-2025-30204).

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::{Range, assemble, b64, claims, hmac_key, hs256};
use crate::denials::{
    ALGORITHM_NOT_ALLOWED, AUDIENCE_MISMATCH, CLAIM_INVALID, CLAIM_MISSING, ISSUER_UNKNOWN,
    TOKEN_MALFORMED, TOKEN_TOO_LARGE,
};
use crate::support::Upgrade;
use crate::support::tokens::ISSUER;

/// HS256 with the real secret over the standard claims changed by `changes` (`null`
/// removes a claim).
fn token_with(changes: Value) -> String {
    let mut payload = Value::Object(claims(ISSUER));
    super::merge(&mut payload, changes);
    hs256(json!({}), &payload)
}

/// HS256 with the real secret over a payload given as JSON text (duplicates, `1e400`).
fn token_over_text(payload: &str) -> String {
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "kid": "hs-1"})
            .to_string()
            .as_bytes()),
        b64(payload.as_bytes())
    );
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &hmac_key(), Algorithm::HS256).expect("sign");
    format!("{input}.{signature}")
}

#[tokio::test]
async fn time_claims_of_the_wrong_type_are_claim_invalid() {
    let range = Range::start().await;
    for claim in ["exp", "nbf", "iat"] {
        for value in [
            json!("9999999999"),
            json!("never"),
            json!(-1),
            json!([9_999_999_999u64]),
            json!({"$gt": 0}),
            json!(true),
        ] {
            range
                .refuses(
                    &format!("{claim}: {value}"),
                    &token_with(json!({ claim: value })),
                    CLAIM_INVALID,
                )
                .await;
        }
        // `null` is a present claim of the wrong type (merge would remove it).
        let mut with_null = claims(ISSUER);
        with_null.insert(claim.to_owned(), Value::Null);
        range
            .refuses(
                &format!("{claim}: null"),
                &token_over_text(&Value::Object(with_null).to_string()),
                CLAIM_INVALID,
            )
            .await;
        // Beyond f64.
        let mut standard = claims(ISSUER);
        standard.remove(claim);
        let text = Value::Object(standard).to_string();
        let huge = format!("{{\"{claim}\":1e400,{}", &text[1..]);
        range
            .refuses(
                &format!("{claim}: 1e400"),
                &token_over_text(&huge),
                CLAIM_INVALID,
            )
            .await;
    }
    range
        .refuses("no exp", &token_with(json!({"exp": null})), CLAIM_MISSING)
        .await;
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn iss_must_be_one_configured_string() {
    // RFC 7519 §4.1.1: a single StringOrURI. An array holding the real issuer is not it.
    let range = Range::start().await;
    for iss in [
        json!([ISSUER]),
        json!(["https://evil.example", ISSUER]),
        json!(123),
        json!({"iss": ISSUER}),
        json!(true),
        json!(ISSUER.to_uppercase()),
        json!(format!("{ISSUER}/")),
        json!(format!("{ISSUER}\u{0}")),
        json!(""),
    ] {
        range
            .refuses(
                &format!("iss {iss}"),
                &token_with(json!({ "iss": iss })),
                ISSUER_UNKNOWN,
            )
            .await;
    }
    range
        .refuses("no iss", &token_with(json!({"iss": null})), ISSUER_UNKNOWN)
        .await;
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn aud_must_share_an_exact_string_with_the_issuers_audiences() {
    // CVE-2020-26160 (jwt-go): a mistyped aud skipped the check.
    let range = Range::start().await;
    for aud in [
        json!(123),
        json!({"aud": "chat"}),
        json!([]),
        json!([1]),
        json!(["other", 1]),
        json!("chat-evil"),
        json!("CHAT"),
        json!(" chat"),
        json!("chat\u{0}"),
        json!(true),
    ] {
        range
            .refuses(
                &format!("aud {aud}"),
                &token_with(json!({ "aud": aud })),
                AUDIENCE_MISMATCH,
            )
            .await;
    }
    range
        .refuses(
            "no aud",
            &token_with(json!({"aud": null})),
            AUDIENCE_MISMATCH,
        )
        .await;
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn sub_must_be_a_non_empty_string_usable_as_a_header_value() {
    let range = Range::start().await;
    for sub in [
        json!(42),
        json!(0),
        json!(true),
        json!(["alice"]),
        json!({"id": "alice"}),
        json!(""),
        json!(" alice"),
        json!("alice "),
    ] {
        range
            .refuses(
                &format!("sub {sub}"),
                &token_with(json!({ "sub": sub })),
                CLAIM_INVALID,
            )
            .await;
    }
    range
        .refuses("no sub", &token_with(json!({"sub": null})), CLAIM_MISSING)
        .await;
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn crlf_and_nul_in_identity_claims_never_become_headers() {
    // A value that would split or truncate a header at the upstream (`X-Auth-User` from
    // sub, `X-Auth-Email` from email) is refused, never forwarded or mangled.
    let range = Range::start().await;
    for hostile in [
        "alice\r\nX-Auth-User: admin",
        "alice\nX-Auth-Method: e2e-bypass",
        "alice\rX",
        "alice\u{0}admin",
        "alice\u{0}",
        "alice\tadmin",
        "al\u{7f}ice",
        "alïce",
        "alice\u{2028}x",
    ] {
        for claim in ["sub", "email"] {
            range
                .refuses(
                    &format!("{claim} {hostile:?}"),
                    &token_with(json!({ claim: hostile })),
                    CLAIM_INVALID,
                )
                .await;
        }
    }
    // The same through JSON escapes, written by hand.
    let mut standard = claims(ISSUER);
    standard.remove("sub");
    let text = Value::Object(standard).to_string();
    for escaped in [r#""alice\r\nX-Auth-User: admin""#, r#""alice\u0000""#] {
        let payload = format!("{{\"sub\":{escaped},{}", &text[1..]);
        range
            .refuses(
                &format!("sub {escaped} (escaped)"),
                &token_over_text(&payload),
                CLAIM_INVALID,
            )
            .await;
    }
    // Duplicate claims (RFC 7519 §4): "last one wins" would let a second sub slip by.
    for (claim, second) in [("sub", json!("admin")), ("exp", json!(9_999_999_999u64))] {
        let payload = format!(
            "{},\"{claim}\":{second}}}",
            &Value::Object(claims(ISSUER))
                .to_string()
                .trim_end_matches('}')
        );
        range
            .refuses(
                &format!("duplicate {claim}"),
                &token_over_text(&payload),
                TOKEN_MALFORMED,
            )
            .await;
    }
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn oversize_and_many_dot_tokens_are_refused_before_any_decoding() {
    let range = Range::start().await;
    // Just over auth.max_token_bytes (8192 by default), validly signed.
    let padded = token_with(json!({"pad": "p".repeat(8200)}));
    range.refuses("8 KiB token", &padded, TOKEN_TOO_LARGE).await;
    // CVE-2025-30204: many dots cost an allocation per dot in a splitting parser.
    range
        .refuses("60 000 dots", &".".repeat(60_000), TOKEN_TOO_LARGE)
        .await;
    for what in ["8000 dots", "two dots", "a.b.c.d.e.f", "empty segments"] {
        let token = match what {
            "8000 dots" => ".".repeat(8000),
            "two dots" => "..".to_owned(),
            "a.b.c.d.e.f" => "a.b.c.d.e.f".to_owned(),
            _ => format!("{}..", b64(json!({"alg": "HS256"}).to_string().as_bytes())),
        };
        range.refuses(what, &token, TOKEN_MALFORMED).await;
    }
    // Strict base64url: padding, the standard alphabet and whitespace are not JWS.
    let good = token_with(json!({}));
    let (header, rest) = good.split_once('.').expect("segments");
    for (what, token) in [
        ("padding", format!("{header}==.{rest}")),
        (
            "plus sign",
            format!("{}+.{rest}", &header[..header.len() - 1]),
        ),
        ("not JSON", format!("{}.{rest}", b64(b"alg=HS256"))),
        (
            "JSON array payload",
            assemble(&json!({"alg": "HS256"}), "[1,2]", b"s"),
        ),
        (
            "BOM payload",
            assemble(&json!({"alg": "HS256"}), "\u{feff}{}", b"s"),
        ),
    ] {
        range.refuses(what, &token, TOKEN_MALFORMED).await;
    }
    // A megabyte of dots does not fit a request head at all: hyper answers 431 and the
    // process keeps serving.
    let request = Upgrade::to("/ws").bearer(&".".repeat(1 << 20));
    let response = request.send(range.http_addr()).await;
    assert_eq!(response.status, 431, "1 MiB header: {response:?}");
    range
        .refuses("after the 1 MiB head", &".".repeat(10), TOKEN_MALFORMED)
        .await;
    range.assert_nothing_got_through().await;
}

#[tokio::test]
async fn attacks_get_the_same_reason_through_every_token_source() {
    let range = Range::start().await;
    let forged = token_with(json!({"sub": 42}));
    let none = assemble(
        &json!({"alg": "none"}),
        &Value::Object(claims(ISSUER)).to_string(),
        b"",
    );
    for (token, expected) in [(forged, CLAIM_INVALID), (none, ALGORITHM_NOT_ALLOWED)] {
        for (what, request) in [
            ("header", Upgrade::to("/ws").bearer(&token)),
            ("query", Upgrade::to(&format!("/ws?access_token={token}"))),
            (
                "subprotocol",
                Upgrade::to("/ws").header("Sec-WebSocket-Protocol", &format!("bearer, {token}")),
            ),
        ] {
            range.refuses_request(what, &request, expected).await;
        }
    }
    range.assert_nothing_got_through().await;
}
