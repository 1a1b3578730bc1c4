//! The header read by the scan ([`HeaderMembers::scan`]) against serde_json's reading
//! (`HeaderMembers`'s `Deserialize`), which it stands in for: whenever the scan answers,
//! serde_json accepts the header and reads the same members; where the scan steps aside,
//! serde_json reads it as before.

use super::fuzz::Rng;
use super::payload::{random_object, table};
use crate::auth::jwt::json::{HeaderMembers, Member};
use crate::auth::jwt::scan;

/// A header's members, comparable: (alg, kid, typ, cty) as absent / text / other, and
/// the flagged names present.
fn members(header: &HeaderMembers<'_>) -> (Vec<Option<Option<String>>>, Vec<&'static str>) {
    let member = |member: &Member<'_>| match member {
        Member::Absent => None,
        Member::Text(text) => Some(Some(text.to_string())),
        Member::Other => Some(None),
    };
    let flagged = ["crit", "b64", "zip", "jku", "x5u", "jwk", "x5c"]
        .into_iter()
        .filter(|name| header.present.has(name))
        .collect();
    (
        [&header.alg, &header.kid, &header.typ, &header.cty]
            .into_iter()
            .map(member)
            .collect(),
        flagged,
    )
}

/// True when the scan answered.
fn agree(bytes: &[u8]) -> bool {
    let context = format!("header {:?}", String::from_utf8_lossy(bytes));
    let reference = serde_json::from_slice::<HeaderMembers<'_>>(bytes);
    match HeaderMembers::scan(bytes) {
        Some(scanned) => {
            let reference = reference
                .unwrap_or_else(|e| panic!("{context}: the scan accepted, serde_json: {e}"));
            assert_eq!(members(&scanned), members(&reference), "{context}");
            true
        }
        None => {
            // The scan steps aside only for what it leaves to serde_json.
            if reference.is_ok() {
                let count = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(scan::members)
                    .map_or(0, |members| members.len());
                assert!(bytes.contains(&b'\\') || count > 8, "{context}");
            }
            false
        }
    }
}

#[test]
fn the_header_scan_reads_headers_as_serde_json_did() {
    let mut headers: Vec<Vec<u8>> = [
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"RS256","kid":"k-1","typ":"at+jwt","cty":"json"}"#,
        r#" { "alg" : "ES256" , "kid" : "a\/b" } "#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"alg":"HS256","al\u0067":"none"}"#,
        r#"{"alg":"HS256","x":1,"x":2}"#,
        r#"{"alg":"HS256","longer-name-1":1,"longer-name-2":2,"longer-name-1":3}"#,
        r#"{"alg":"HS256","crit":["exp"],"b64":false,"zip":"DEF","jku":"https://x","x5u":1,"jwk":{},"x5c":[]}"#,
        r#"{"alg":"HS256","crit":null,"crit":null}"#,
        r#"{"alg":5,"kid":null,"typ":["JWT"],"cty":{"a":1}}"#,
        r#"{"alg":"HS256","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8}"#,
        r#"{"alg":"HS256","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9}"#,
        r#"{"alg":"HS256","x":1e400}"#,
        r#"{"alg":"HS256","jwk":[1e400]}"#,
        r#"{"alg":"HS256","kid":"\ud800"}"#,
        r#"{"alg":"\u0048S256","kid":"caf\u00e9"}"#,
        r#"{"alg":"HS256"}x"#,
        "[]",
        "",
    ]
    .iter()
    .map(|text| text.as_bytes().to_vec())
    .collect();
    headers.extend(table());
    let answered = headers.iter().filter(|header| agree(header)).count();
    assert!(answered >= 40, "the scan answered only {answered}");
    // The usual header is the scan's.
    assert!(HeaderMembers::scan(br#"{"alg":"HS256","typ":"JWT"}"#).is_some());
}

#[test]
fn random_and_mutated_headers_are_read_as_serde_json_read_them() {
    const NAMES: &[&str] = &[
        "alg",
        "kid",
        "typ",
        "cty",
        "crit",
        "b64",
        "zip",
        "jku",
        "x5u",
        "jwk",
        "x5c",
        "x",
        "a-longer-name",
        "al\\u0067",
    ];
    let mut rng = Rng(0x5EED_4EAD_0000_0001);
    let mut answered = 0;
    for _ in 0..20_000 {
        let mut header = Vec::new();
        random_object(&mut rng, 0, &mut header, NAMES);
        answered += usize::from(agree(&header));
    }
    assert!(answered > 2_000, "the scan answered only {answered}");
    let valid = br#"{"alg":"HS256","kid":"k","typ":"JWT","x":[1,{"y":null}]}"#;
    let bytes = b"{}[]\":,\\ u0e1.-+Exn\x01\xff\xc3";
    for _ in 0..5_000 {
        let mut header = valid.to_vec();
        let at = rng.below(header.len());
        header[at] = bytes[rng.below(bytes.len())];
        agree(&header);
    }
}
