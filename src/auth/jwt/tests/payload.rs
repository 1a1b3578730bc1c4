//! The claims scan against the reading it replaced ([`reference`](super::super::reference)):
//! over a table of edge cases and thousands of random and mutated payloads, both accept
//! the same payloads, refuse with the same message, and read the same claims.

use std::borrow::Cow;

use super::fuzz::Rng;
use super::*;
use crate::auth::jwt::payload::Payload;
use crate::auth::jwt::reference::agree;
use crate::auth::jwt::scan;

fn nested(depth: usize) -> String {
    format!(r#"{{"a":{}{}}}"#, "[".repeat(depth), "]".repeat(depth))
}

pub(super) fn table() -> Vec<Vec<u8>> {
    let mut table: Vec<Vec<u8>> = [
        // Usual tokens, whitespace, order.
        r#"{"iss":"https://a.example","sub":"alice","aud":"chat","exp":1700000300,"iat":1700000000,"jti":"x-1"}"#,
        " \t\r\n{ \"sub\" : \"a\" , \"exp\" :1 }\n\t ",
        "{}",
        " { } ",
        r#"{"aud":["a","b"],"scope":"chat:read chat:write","admin":true,"n":null}"#,
        r#"{"roles":["a",1,2.5,true,null,{"x":1},[1]],"o":{"k":{"k":[{}]}}}"#,
        // Duplicates, after unescaping; nested duplicates allowed (last wins).
        r#"{"exp":1,"exp":2}"#,
        r#"{"exp":1,"ex\u0070":2}"#,
        r#"{"e\u0078p":1,"exp":2}"#,
        r#"{"\u0065xp":1,"e\u0078p":2}"#,
        r#"{"a\/b":1,"a/b":2}"#,
        r#"{"a\/b":1,"a\\/b":2}"#,
        r#"{"o":{"k":1,"k":2}}"#,
        r#"{"sub":"a","su\u0062":"a"}"#,
        // Escapes in names and values.
        r#"{"na\u00efve":"caf\u00e9","t":"\"\\\/\b\f\n\r\t","emoji":"\ud83d\ude00","E":"\u00C9\u00e9"}"#,
        r#"{"iss":"https:\/\/a.example","sub":"al\u0069ce"}"#,
        "{\"sub\":\"caf\u{e9} \u{1F600}\"}",
        r#"{"x":"\ud800"}"#,
        r#"{"x":"\udc00"}"#,
        r#"{"x":"\ud800\u0041"}"#,
        r#"{"x":"\ud800\ud800"}"#,
        r#"{"x":"\ud800x"}"#,
        r#"{"x":"\ud83d\ude00\ud83d"}"#,
        r#"{"x":"\u12"}"#,
        r#"{"x":"\u12G4"}"#,
        r#"{"x":"\x"}"#,
        r#"{"x":"\'"}"#,
        "{\"x\":\"a\u{1}b\"}",
        "{\"x\":\"a\tb\"}",
        "{\"x\":\"a\u{7f}b\"}",
        r#"{"x":"unterminated}"#,
        r#"{"x\":1}"#,
        // Numbers.
        r#"{"exp":0,"nbf":-0,"iat":-1,"a":1.5,"b":1e3,"c":1E+3,"d":1e-3,"e":-1.25e-2,"f":0.0}"#,
        r#"{"a":18446744073709551615,"b":18446744073709551616,"c":-9223372036854775808,"d":-9223372036854775809}"#,
        r#"{"a":1.7976931348623157e308,"b":1.7976931348623158e308,"c":1.7976931348623159e308}"#,
        r#"{"a":2e308}"#,
        r#"{"a":1e400}"#,
        r#"{"a":-1e400}"#,
        r#"{"a":1e-400,"b":0e99999999999999999999}"#,
        r#"{"exp":1e400}"#,
        r#"{"exp":1e400,"iss":"x"}"#,
        r#"{"nbf":-1e400,"sub":"a"}"#,
        r#"{"iat":[1e400,"x"]}"#,
        r#"{"exp":1e400,"n":1e400}"#,
        r#"{"exp":1e400,"exp":1}"#,
        r#"{"exp":1e400,"x":"\ud800"}"#,
        r#"{"exp":1e400,"x":1,}"#,
        r#"{"exp":{"a":1e400}}"#,
        r#"{"a":01}"#,
        r#"{"a":00}"#,
        r#"{"a":-}"#,
        r#"{"a":-a}"#,
        r#"{"a":1.}"#,
        r#"{"a":.5}"#,
        r#"{"a":1e}"#,
        r#"{"a":1e+}"#,
        r#"{"a":+1}"#,
        r#"{"a":1.5.5}"#,
        r#"{"a":0x10}"#,
        r#"{"a":NaN}"#,
        r#"{"a":Infinity}"#,
        // Literals and structure.
        r#"{"a":tru}"#,
        r#"{"a":truex}"#,
        r#"{"a":nul}"#,
        r#"{"a":True}"#,
        r#"{"a":1,}"#,
        r#"{,"a":1}"#,
        r#"{"a":1 "b":2}"#,
        r#"{"a" 1}"#,
        r#"{"a":}"#,
        r#"{"a":[1,]}"#,
        r#"{"a":[,1]}"#,
        r#"{"a":[1 2]}"#,
        r#"{"a":{"b"}}"#,
        r#"{"a":{"b":1,}}"#,
        r#"{a:1}"#,
        r#"{1:1}"#,
        r#"{"a":1}}"#,
        r#"{"a":1} x"#,
        r#"{"a":1}{"b":2}"#,
        r#"{"a":1"#,
        r#"{"a""#,
        "{",
        "",
        " ",
        "\u{feff}{}",
        "{\u{a0}}",
        "{\"a\":1}\u{0}",
        // Not objects.
        "[]",
        r#"["sub","a"]"#,
        r#""sub""#,
        "1",
        "null",
        "true",
    ]
    .iter()
    .map(|text| text.as_bytes().to_vec())
    .collect();
    // Nesting around serde_json's limit of 128, the top-level object included.
    for depth in [1, 2, 125, 126, 127, 128, 200] {
        table.push(nested(depth).into_bytes());
    }
    table.push(format!(r#"{{"a":{}1{}}}"#, "{\"b\":".repeat(126), "}".repeat(126)).into_bytes());
    table.push(format!(r#"{{"a":{}1{}}}"#, "{\"b\":".repeat(127), "}".repeat(127)).into_bytes());
    // Many members (the sorted duplicate check), with and without a duplicate.
    let many: Vec<String> = (0..40).map(|i| format!(r#""c{i}":{i}"#)).collect();
    table.push(format!("{{{}}}", many.join(",")).into_bytes());
    table.push(format!(r#"{{{},"c\u0031":0}}"#, many.join(",")).into_bytes());
    table.push(format!(r#"{{{},"c39":0}}"#, many.join(",")).into_bytes());
    // Long and huge numbers without an exponent.
    for digits in [19, 20, 300, 301, 308, 309, 400] {
        table.push(format!(r#"{{"a":{}}}"#, "9".repeat(digits)).into_bytes());
        table.push(format!(r#"{{"a":-{}.5}}"#, "9".repeat(digits)).into_bytes());
        table.push(format!(r#"{{"exp":{}}}"#, "9".repeat(digits)).into_bytes());
    }
    table.push(format!(r#"{{"a":1{}}}"#, "0".repeat(308)).into_bytes());
    table.push(format!(r#"{{"a":0.{}1e310}}"#, "0".repeat(400)).into_bytes());
    // Invalid UTF-8, in and out of strings.
    table.push(b"{\"a\":\"\xff\"}".to_vec());
    table.push(b"{\"a\":\"\xc3\"}".to_vec());
    table.push(b"{\"a\":\"\xc3\\u0041\"}".to_vec());
    table.push(b"{\"\xe2\x82\":1}".to_vec());
    table.push(b"{\"a\":1}\xff".to_vec());
    table.push(b"{\"a\":\"\xed\xa0\x80\"}".to_vec());
    table
}

#[test]
fn the_claims_scan_reads_every_edge_case_as_serde_json_did() {
    let table = table();
    let accepted = table.iter().filter(|payload| agree(payload)).count();
    assert!(
        accepted >= 30,
        "only {accepted} of {} accepted",
        table.len()
    );
}

#[test]
fn escaped_names_are_found_by_their_unescaped_text() {
    let claims = Claims::parse(br#"{"ex\u0070":1,"a\/b":"x","caf\u00e9":true}"#).unwrap();
    assert_eq!(claims.get("exp").unwrap().as_u64(), Some(1));
    assert_eq!(claims.get("a/b").unwrap().as_str().as_deref(), Some("x"));
    assert_eq!(claims.get("café").unwrap().as_bool(), Some(true));
    assert!(claims.get("ex\\u0070").is_none());
    let names: Vec<&str> = claims.iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["exp", "a/b", "café"]);
}

#[test]
fn thousands_of_escaped_names_are_told_apart_and_a_late_duplicate_is_caught() {
    // Every name escaped and over eight bytes (keys collide on the first eight): the
    // lookup of an escaped name's text is a binary search, the duplicate check sorts.
    let names: Vec<String> = (0..5000).map(|i| format!("\\u0063laim-{i:05}")).collect();
    let members: Vec<String> = names.iter().map(|n| format!("\"{n}\":0")).collect();
    let payload = format!("{{{}}}", members.join(","));
    let claims = Claims::parse(payload.as_bytes()).unwrap();
    assert_eq!(claims.len(), 5000);
    assert!(claims.get("claim-04999").is_some());
    assert!(claims.get("claim-05000").is_none());
    let duplicated = format!("{{{},\"claim-00000\":1}}", members.join(","));
    assert!(Claims::parse(duplicated.as_bytes()).is_none());
}

#[test]
fn strings_without_escapes_are_borrowed_from_the_payload() {
    let claims = Claims::parse(br#"{"sub":"alice","iss":"https:\/\/a"}"#).unwrap();
    assert!(matches!(
        claims.get("sub").unwrap().as_str(),
        Some(Cow::Borrowed("alice"))
    ));
    assert!(matches!(
        claims.get("iss").unwrap().as_str(),
        Some(Cow::Owned(iss)) if iss == "https://a"
    ));
    assert_eq!(claims.json(), r#"{"sub":"alice","iss":"https:\/\/a"}"#);
}

#[test]
fn a_time_claim_out_of_range_keeps_the_other_claims_and_is_flagged() {
    // K3: exp 1e400 is claim_invalid, which needs the issuer read first.
    let payload = Payload::parse(br#"{"iss":"https://a","exp":1e400,"sub":"a"}"#).unwrap();
    assert!(payload.unrepresentable_time);
    assert!(payload.claims.get("exp").is_none());
    assert_eq!(
        payload.claims.get("iss").unwrap().as_str().as_deref(),
        Some("https://a")
    );
    // Anywhere else it is the payload that is malformed.
    let refused = Payload::parse(br#"{"iss":"https://a","exp":1,"n":1e400}"#).err();
    assert!(refused.is_some_and(|why| {
        why.starts_with("payload is not a valid JSON object: number out of range")
    }));
}

#[test]
fn non_object_payloads_are_refused_with_serde_json_s_message() {
    for (payload, message) in [
        (
            &b"[1]"[..],
            "payload is not a JSON object without duplicates: invalid type: sequence, expected a JSON object at line 1 column 0",
        ),
        (
            b"\"x\"",
            "payload is not a JSON object without duplicates: invalid type: string \"x\", expected a JSON object at line 1 column 3",
        ),
        (
            br#"{"a":1,"a":2}"#,
            "payload is not a JSON object without duplicates: duplicate member \"a\" at line 1 column 10",
        ),
    ] {
        assert_eq!(Payload::parse(payload).err().as_deref(), Some(message));
    }
}

/// Random JSON-ish text: valid values mostly, with a chance of a broken piece anywhere.
pub(super) fn random_value(rng: &mut Rng, depth: usize, out: &mut Vec<u8>) {
    const STRINGS: [&str; 14] = [
        r#""exp""#,
        r#""e\u0078p""#,
        r#""sub""#,
        r#""a""#,
        r#""""#,
        r#""caf\u00e9""#,
        "\"caf\u{e9}\"",
        r#""\ud83d\ude00""#,
        r#""\ud83d""#,
        r#""a\/b""#,
        r#""\n\t\"""#,
        "\"\u{1}\"",
        r#""\q""#,
        "\"\u{1F600}\"",
    ];
    const NUMBERS: [&str; 16] = [
        "0",
        "-0",
        "1",
        "-1",
        "1.5",
        "1e3",
        "1E-3",
        "1e400",
        "-1e400",
        "01",
        "1.",
        "1e",
        "18446744073709551616",
        "1700000000",
        "0.5",
        "-",
    ];
    const OTHERS: [&str; 8] = ["true", "false", "null", "tru", "nul", "x", "", "]"];
    match rng.below(if depth > 4 { 3 } else { 5 }) {
        0 => out.extend_from_slice(STRINGS[rng.below(STRINGS.len())].as_bytes()),
        1 => out.extend_from_slice(NUMBERS[rng.below(NUMBERS.len())].as_bytes()),
        2 => out.extend_from_slice(OTHERS[rng.below(OTHERS.len())].as_bytes()),
        3 => {
            out.push(b'[');
            for index in 0..rng.below(4) {
                if index > 0 {
                    out.push(b',');
                }
                random_value(rng, depth + 1, out);
            }
            out.push(b']');
        }
        _ => random_object(rng, depth + 1, out, CLAIM_NAMES),
    }
}

const CLAIM_NAMES: &[&str] = &["exp", "e\\u0078p", "sub", "iat", "a", "b"];

/// A random object (see [`random_value`]); most names are drawn from `names` (JSON text).
pub(super) fn random_object(rng: &mut Rng, depth: usize, out: &mut Vec<u8>, names: &[&str]) {
    const SPACE: [&str; 6] = ["", "", " ", "\n", "\t\r", "\u{a0}"];
    out.push(b'{');
    for index in 0..rng.below(6) {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(SPACE[rng.below(SPACE.len())].as_bytes());
        let mut name = Vec::new();
        random_value(rng, depth + 1, &mut name);
        if rng.below(4) > 0 {
            name = format!("\"{}\"", names[rng.below(names.len())]).into_bytes();
        }
        out.extend_from_slice(&name);
        out.extend_from_slice(SPACE[rng.below(SPACE.len())].as_bytes());
        out.push(b':');
        out.extend_from_slice(SPACE[rng.below(SPACE.len())].as_bytes());
        random_value(rng, depth, out);
    }
    out.push(b'}');
}

#[test]
fn random_and_mutated_payloads_are_read_as_serde_json_read_them() {
    let mut rng = Rng(0x5EED_C1A1_0000_0001);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut payload = Vec::new();
        random_object(&mut rng, 0, &mut payload, CLAIM_NAMES);
        accepted += usize::from(agree(&payload));
    }
    // Enough of them valid that acceptance, not only refusal, is compared.
    assert!(accepted > 2_000, "only {accepted} random payloads accepted");
    // Single-byte changes of the table's payloads.
    let table = table();
    let bytes = b"{}[]\":,\\ u0e1.-+Exn\x01\xff\xc3";
    let mut mutated_accepted = 0;
    for _ in 0..20_000 {
        let mut payload = table[rng.below(table.len())].clone();
        if payload.is_empty() {
            continue;
        }
        let at = rng.below(payload.len());
        let byte = bytes[rng.below(bytes.len())];
        match rng.below(3) {
            0 => payload[at] = byte,
            1 => payload.insert(at, byte),
            _ => {
                payload.remove(at);
            }
        }
        mutated_accepted += usize::from(agree(&payload));
    }
    assert!(
        mutated_accepted > 1_000,
        "only {mutated_accepted} mutated payloads accepted"
    );
}

#[test]
fn scanned_array_items_follow_the_array() {
    let items: Vec<String> = scan::items(r#"[ 1 , "a\"b" ,[2,[3]], {"k":[]} ,null ]"#)
        .map(|item| format!("{:?}", item.kind))
        .collect();
    assert_eq!(items, ["Number", "String", "Array", "Object", "Null"]);
    assert_eq!(scan::items("[]").count(), 0);
    assert_eq!(scan::items("[ ]").count(), 0);
    assert_eq!(scan::items("1").count(), 0);
}
