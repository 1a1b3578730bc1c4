//! Size and encoding (docs/security-cases.md C9, C10, E1–E5, J19, J20): size limits and malformed
//! input.

use super::*;

#[test]
fn token_over_max_token_bytes_is_too_large_before_decoding() {
    // C9
    let mut gate = Gate::hs256();
    gate.auth.max_token_bytes = 64;
    assert_eq!(gate.reason(&"a".repeat(65)), Refusal::TokenTooLarge);
    assert_eq!(gate.reason(&"a".repeat(64)), Refusal::TokenMalformed);
    let valid = hs(claims());
    gate.auth.max_token_bytes = valid.len() - 1;
    assert_eq!(gate.reason(&valid), Refusal::TokenTooLarge);
    gate.auth.max_token_bytes = valid.len();
    assert!(gate.verify(&valid).is_ok());
}

#[test]
fn megabyte_of_dots_is_refused_by_the_size_check_alone() {
    // C10
    let gate = Gate::hs256();
    let dots = ".".repeat(1 << 20);
    let started = Instant::now();
    for _ in 0..1000 {
        assert_eq!(gate.reason(&dots), Refusal::TokenTooLarge);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "size check is not O(1)"
    );
}

#[test]
fn empty_token_wrong_segment_counts_and_only_dots_are_malformed() {
    // E1
    let gate = Gate::hs256();
    let valid = hs(claims());
    let parts: Vec<&str> = valid.split('.').collect();
    for token in [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        parts[0].into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{valid}.{}", parts[2]),
        format!(".{}.{}", parts[1], parts[2]),
        format!("{}..{}", parts[0], parts[2]),
    ] {
        assert_eq!(gate.reason(&token), Refusal::TokenMalformed, "{token:?}");
    }
}

#[test]
fn five_segment_jwe_is_malformed_without_decryption() {
    // J19: even a PBES2 header with a huge p2c is never looked at.
    let gate = Gate::hs256();
    let header =
        b64(r#"{"alg":"PBES2-HS512+A256KW","enc":"A256GCM","p2c":2147483647,"p2s":"AAAA"}"#);
    let token = format!("{header}.AAAA.AAAA.AAAA.AAAA");
    let (result, steps) = gate.explain(&token);
    assert_eq!(result.unwrap_err(), Refusal::TokenMalformed);
    assert!(steps[0].detail.contains("JWE"), "{:?}", steps[0]);
}

#[test]
fn jws_json_serialization_is_malformed() {
    // J20
    let gate = Gate::hs256();
    let valid = hs(claims());
    let parts: Vec<&str> = valid.split('.').collect();
    let general = json!({"payload": parts[1], "signatures": [{"protected": parts[0], "signature": parts[2]}]});
    let flattened = json!({"payload": parts[1], "header": {"alg": "HS256"}, "signature": parts[2]});
    assert_eq!(gate.reason(&general.to_string()), Refusal::TokenMalformed);
    assert_eq!(gate.reason(&flattened.to_string()), Refusal::TokenMalformed);
}

#[test]
fn base64_padding_plus_slash_and_whitespace_are_malformed() {
    // E2
    let gate = Gate::hs256();
    let valid = hs(claims());
    let parts: Vec<&str> = valid.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    for token in [
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}==.{s}"),
        format!("{h}.{p}.{s}="),
        format!(
            "{h}.{}.{s}",
            p.replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1)
        ),
        format!(
            "{h}.{}.{s}",
            p.replacen(|c: char| c.is_ascii_alphanumeric(), "/", 1)
        ),
        format!(
            "{h}.{p}.{}",
            s.replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1)
        ),
        format!("{h}.{p} .{s}"),
        format!("{h}.{}\n{}.{s}", &p[..4], &p[4..]),
        format!(" {h}.{p}.{s}"),
        format!("{h}.{p}.{s}\n"),
    ] {
        assert_eq!(gate.reason(&token), Refusal::TokenMalformed, "{token:?}");
    }
}

#[test]
fn standard_base64_alphabet_is_malformed() {
    // E2: the same header bytes in the standard alphabet ('+', '/') instead of base64url.
    let gate = Gate::hs256();
    let token = hs_raw(r#"{"alg":"HS256","kid":"???>>>"}"#, &claims().to_string());
    assert!(gate.verify(&token).is_ok());
    let (header, rest) = token.split_once('.').unwrap();
    let standard = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(URL_SAFE_NO_PAD.decode(header).unwrap());
    assert_ne!(standard, header);
    assert_eq!(
        gate.reason(&format!("{standard}.{rest}")),
        Refusal::TokenMalformed
    );
}

#[test]
fn non_canonical_last_base64_character_is_malformed() {
    // E2: "eyJ...fQ" and "eyJ...fR" would decode to the same bytes with a lax decoder.
    let gate = Gate::hs256();
    let valid = hs(claims());
    let (input, signature) = valid.rsplit_once('.').unwrap();
    assert_eq!(
        signature.len() % 4,
        3,
        "HS256 signature leaves 2 spare bits"
    );
    let last = signature.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let twin = alphabet.as_bytes()[index ^ 1] as char;
    let token = format!("{input}.{}{twin}", &signature[..signature.len() - 1]);
    assert_eq!(gate.reason(&token), Refusal::TokenMalformed);
}

#[test]
fn valid_base64_that_is_not_json_is_malformed() {
    // E3
    let gate = Gate::hs256();
    let good_header = r#"{"alg":"HS256"}"#;
    let good_payload = claims().to_string();
    for (header, payload) in [
        ("not json", good_payload.as_str()),
        (good_header, "not json"),
        ("", good_payload.as_str()),
        ("{\"alg\":\"HS256\"", good_payload.as_str()),
        ("[\"HS256\"]", good_payload.as_str()),
        ("\"HS256\"", good_payload.as_str()),
        ("null", good_payload.as_str()),
    ] {
        let token = hs_raw(header, payload);
        assert_eq!(
            gate.reason(&token),
            Refusal::TokenMalformed,
            "{header} / {payload}"
        );
    }
}

#[test]
fn non_utf8_segment_is_malformed() {
    // E4
    let gate = Gate::hs256();
    let payload = claims().to_string();
    let mut header = br#"{"alg":"HS256","x":""#.to_vec();
    header.extend_from_slice(&[0xFF, 0xFE, b'"', b'}']);
    let token = sign_raw(&header, payload.as_bytes(), &hs_key(), Algorithm::HS256);
    assert_eq!(gate.reason(&token), Refusal::TokenMalformed);
    let mut payload = br#"{"iss":"https://auth.example.com","sub":""#.to_vec();
    payload.extend_from_slice(&[0xC3, 0x28, b'"', b'}']);
    let token = sign_raw(br#"{"alg":"HS256"}"#, &payload, &hs_key(), Algorithm::HS256);
    assert_eq!(gate.reason(&token), Refusal::TokenMalformed);
    // A lone surrogate escape is not a Unicode scalar value either.
    let token = hs_raw(r#"{"alg":"HS256","kid":"\ud800"}"#, &claims().to_string());
    assert_eq!(gate.reason(&token), Refusal::TokenMalformed);
}

#[test]
fn segments_larger_than_the_stack_scratch_decode_the_same() {
    // Tokens whose segments do not fit the 1 KiB stack buffer are decoded on the heap,
    // with the same strictness: a 3 KiB claim verifies, and padding after the payload is
    // still refused.
    let gate = Gate::hs256();
    let note = "n".repeat(3000);
    let token = hs(with(claims(), json!({ "note": note })));
    assert!(token.len() > 4000);
    let verified = gate.verify(&token).expect("a large token verifies");
    assert_eq!(verified.claims.get("note").unwrap().to_value(), note);
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut bad = payload.to_owned();
    bad.push('=');
    assert_eq!(
        gate.reason(&format!("{header}.{bad}.{signature}")),
        Refusal::TokenMalformed
    );
}
