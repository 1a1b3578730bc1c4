//! The JOSE layer of a token: compact serialization, strict base64url, duplicate-free JSON
//! objects, and the protected header members wsgate acts on.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::shown;
use crate::domain::refusal::Refusal;

/// The three segments of a compact JWS, header and payload decoded.
pub(super) struct Compact<'a> {
    pub(super) header: Vec<u8>,
    pub(super) payload: Vec<u8>,
    /// Still base64url; may be empty (then `signature_invalid`).
    pub(super) signature: &'a str,
    /// `signature` decoded (once: the check that it is base64url is that decoding).
    pub(super) signature_bytes: Vec<u8>,
    /// `header.payload` as sent: what the signature covers.
    pub(super) signing_input: &'a str,
}

impl<'a> Compact<'a> {
    pub(super) fn split(token: &'a str) -> Result<Compact<'a>, String> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            let count = token.split('.').count();
            return Err(if count == 5 {
                "5 segments: an encrypted JWE, which is not supported".to_owned()
            } else {
                format!("{count} dot-separated segment(s); a compact JWS has 3")
            });
        };
        if header.is_empty() || payload.is_empty() {
            return Err("empty header or payload segment".to_owned());
        }
        let decode = |segment: &str, name: &str| {
            URL_SAFE_NO_PAD
                .decode(segment)
                .map_err(|_| format!("{name} is not base64url without padding"))
        };
        let header_bytes = decode(header, "header")?;
        let payload_bytes = decode(payload, "payload")?;
        let signature_bytes = decode(signature, "signature")?;
        Ok(Compact {
            header: header_bytes,
            payload: payload_bytes,
            signature,
            signature_bytes,
            signing_input: &token[..header.len() + 1 + payload.len()],
        })
    }
}

/// The protected header members wsgate acts on.
pub(super) struct JoseHeader {
    pub(super) alg: Algorithm,
    pub(super) kid: Option<String>,
    pub(super) typ: Option<String>,
    /// Key-source members present but never used (`jku`, `x5u`, `jwk`, `x5c`).
    pub(super) ignored: Vec<&'static str>,
}

impl JoseHeader {
    pub(super) fn parse(bytes: &[u8]) -> Result<JoseHeader, (Refusal, String)> {
        let malformed = |why: String| (Refusal::TokenMalformed, why);
        let UniqueMap(header) = serde_json::from_slice(bytes).map_err(|e| {
            malformed(format!(
                "header is not a JSON object without duplicates: {e}"
            ))
        })?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) if name.eq_ignore_ascii_case("none") => {
                return Err((
                    Refusal::AlgorithmNotAllowed,
                    format!("alg {} (unsigned) is never allowed", shown(name)),
                ));
            }
            Some(Value::String(name)) => Algorithm::from_str(name).map_err(|_| {
                (
                    Refusal::AlgorithmNotAllowed,
                    format!("alg {} is not a supported algorithm name", shown(name)),
                )
            })?,
            Some(_) => return Err(malformed("alg is not a string".to_owned())),
            None => return Err(malformed("alg is missing".to_owned())),
        };
        for name in ["crit", "b64", "zip"] {
            if header.contains_key(name) {
                return Err(malformed(format!(
                    "header parameter {name:?} is not supported"
                )));
            }
        }
        let text = |name: &str| match header.get(name) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(malformed(format!("{name} is not a string"))),
        };
        if let Some(cty) = text("cty")?
            && typ_matches(&cty, "JWT")
        {
            return Err(malformed(
                "cty JWT: nested tokens are not supported".to_owned(),
            ));
        }
        let ignored = ["jku", "x5u", "jwk", "x5c"]
            .into_iter()
            .filter(|name| header.contains_key(*name))
            .collect();
        Ok(JoseHeader {
            alg,
            kid: text("kid")?,
            typ: text("typ")?,
            ignored,
        })
    }

    pub(super) fn describe(&self) -> String {
        let mut detail = format!("alg {:?}", self.alg);
        match &self.kid {
            Some(kid) => detail.push_str(&format!(", kid {}", shown(kid))),
            None => detail.push_str(", no kid"),
        }
        if let Some(typ) = &self.typ {
            detail.push_str(&format!(", typ {}", shown(typ)));
        }
        if !self.ignored.is_empty() {
            detail.push_str(&format!(
                "; ignored (never fetched or used): {}",
                self.ignored.join(", ")
            ));
        }
        detail
    }
}

/// RFC 7515 §4.1.9: media type names compare case-insensitively, and the
/// `application/` prefix may be omitted.
pub(super) fn typ_matches(actual: &str, expected: &str) -> bool {
    fn strip(value: &str) -> &str {
        match value.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &value[12..],
            _ => value,
        }
    }
    strip(actual).eq_ignore_ascii_case(strip(expected))
}

/// The claims set, duplicate-free at the top level.
pub(super) struct Payload {
    pub(super) claims: Map<String, Value>,
    /// `exp`, `nbf` or `iat` held a number outside f64's range (`1e400`): the claims
    /// step turns that into `claim_invalid` once the signature holds.
    pub(super) unrepresentable_time: bool,
}

impl Payload {
    pub(super) fn parse(bytes: &[u8]) -> Result<Payload, String> {
        match serde_json::from_slice::<UniqueMap>(bytes) {
            Ok(UniqueMap(claims)) => Ok(Payload {
                claims,
                unrepresentable_time: false,
            }),
            Err(e) if e.to_string().starts_with("number out of range") => {
                // Parse again skipping the time claims' values: if that succeeds, the
                // out-of-range number was one of them (docs/security-cases.md K3: `exp: 1e400` is
                // claim_invalid).
                let mut seed = UniqueMapSeed { skip: TIME_CLAIMS };
                let mut deserializer = serde_json::Deserializer::from_slice(bytes);
                let claims = de::DeserializeSeed::deserialize(&mut seed, &mut deserializer)
                    .and_then(|claims| deserializer.end().map(|()| claims))
                    .map_err(|_| format!("payload is not a valid JSON object: {e}"))?;
                Ok(Payload {
                    claims,
                    unrepresentable_time: true,
                })
            }
            Err(e) => Err(format!(
                "payload is not a JSON object without duplicates: {e}"
            )),
        }
    }
}

const TIME_CLAIMS: &[&str] = &["exp", "nbf", "iat"];

/// A JSON object that refuses duplicate member names (serde_json's `Map` keeps the last).
/// Names are compared after unescaping, so `"e\u0078p"` duplicates `"exp"`.
struct UniqueMap(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut seed = UniqueMapSeed { skip: &[] };
        de::DeserializeSeed::deserialize(&mut seed, deserializer).map(UniqueMap)
    }
}

/// The visitor behind [`UniqueMap`]; members named in `skip` are parsed but dropped.
struct UniqueMapSeed {
    skip: &'static [&'static str],
}

impl<'de> de::DeserializeSeed<'de> for &mut UniqueMapSeed {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut UniqueMapSeed {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        let mut skipped: Vec<String> = Vec::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) || skipped.contains(&name) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member {}",
                    shown(&name)
                )));
            }
            if self.skip.contains(&name.as_str()) {
                access.next_value::<IgnoredAny>()?;
                skipped.push(name);
            } else {
                let value = access.next_value::<Value>()?;
                map.insert(name, value);
            }
        }
        Ok(map)
    }
}
