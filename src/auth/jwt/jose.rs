//! The JOSE layer of a token: compact serialization, strict base64url, and the protected
//! header members wsgate acts on (the claims set is `payload.rs`'s).

use std::borrow::Cow;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;

use super::json::{HeaderMembers, Member};
use super::shown;
use crate::domain::refusal::Refusal;

/// The three segments of a compact JWS, header, payload and signature decoded into a
/// [`Scratch`] buffer.
pub(super) struct Compact<'a> {
    pub(super) header: &'a [u8],
    pub(super) payload: &'a [u8],
    /// Still base64url; may be empty (then `signature_invalid`).
    pub(super) signature: &'a str,
    /// `signature` decoded (once: the check that it is base64url is that decoding).
    pub(super) signature_bytes: &'a [u8],
    /// `header.payload` as sent: what the signature covers.
    pub(super) signing_input: &'a str,
}

/// Where [`Compact::split`] decodes the three segments: on the stack when they fit (every
/// usual token, RS4096 signatures included), else in one heap buffer.
pub(super) struct Scratch {
    stack: [u8; SCRATCH_BYTES],
    heap: Vec<u8>,
}

const SCRATCH_BYTES: usize = 1024;

impl Scratch {
    pub(super) fn new() -> Scratch {
        Scratch {
            stack: [0; SCRATCH_BYTES],
            heap: Vec::new(),
        }
    }
}

impl<'a> Compact<'a> {
    pub(super) fn split(token: &'a str, scratch: &'a mut Scratch) -> Result<Compact<'a>, String> {
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
        let room = |segment: &str| base64::decoded_len_estimate(segment.len());
        let total = room(header) + room(payload) + room(signature);
        let buffer: &'a mut [u8] = if total <= SCRATCH_BYTES {
            &mut scratch.stack[..total]
        } else {
            scratch.heap.resize(total, 0);
            &mut scratch.heap[..]
        };
        let (header_room, rest) = buffer.split_at_mut(room(header));
        let (payload_room, signature_room) = rest.split_at_mut(room(payload));
        Ok(Compact {
            header: decode(header, header_room, "header")?,
            payload: decode(payload, payload_room, "payload")?,
            signature,
            signature_bytes: decode(signature, signature_room, "signature")?,
            signing_input: &token[..header.len() + 1 + payload.len()],
        })
    }
}

/// Strict base64url without padding, into `room` (at least the segment's estimated length).
fn decode<'b>(segment: &str, room: &'b mut [u8], name: &str) -> Result<&'b [u8], String> {
    match URL_SAFE_NO_PAD.decode_slice(segment, &mut *room) {
        Ok(length) => Ok(&room[..length]),
        Err(_) => Err(format!("{name} is not base64url without padding")),
    }
}

/// The protected header members wsgate acts on, borrowed from the decoded header where
/// they hold no escapes.
pub(super) struct JoseHeader<'a> {
    pub(super) alg: Algorithm,
    pub(super) kid: Option<Cow<'a, str>>,
    pub(super) typ: Option<Cow<'a, str>>,
    /// Key-source members present but never used (`jku`, `x5u`, `jwk`, `x5c`).
    pub(super) ignored: Vec<&'static str>,
}

impl<'a> JoseHeader<'a> {
    /// One pass over the header object (duplicates refused, every value checked as JSON),
    /// then the members' rules in their fixed order.
    pub(super) fn parse(bytes: &'a [u8]) -> Result<JoseHeader<'a>, (Refusal, String)> {
        let malformed = |why: String| (Refusal::TokenMalformed, why);
        let header = match HeaderMembers::scan(bytes) {
            Some(header) => header,
            None => serde_json::from_slice::<HeaderMembers<'a>>(bytes).map_err(|e| {
                malformed(format!(
                    "header is not a JSON object without duplicates: {e}"
                ))
            })?,
        };
        let alg = match header.alg {
            Member::Text(name) if name.eq_ignore_ascii_case("none") => {
                return Err((
                    Refusal::AlgorithmNotAllowed,
                    format!("alg {} (unsigned) is never allowed", shown(&name)),
                ));
            }
            Member::Text(name) => Algorithm::from_str(&name).map_err(|_| {
                (
                    Refusal::AlgorithmNotAllowed,
                    format!("alg {} is not a supported algorithm name", shown(&name)),
                )
            })?,
            Member::Other => return Err(malformed("alg is not a string".to_owned())),
            Member::Absent => return Err(malformed("alg is missing".to_owned())),
        };
        for name in ["crit", "b64", "zip"] {
            if header.present.has(name) {
                return Err(malformed(format!(
                    "header parameter {name:?} is not supported"
                )));
            }
        }
        let text = |name: &str, member: Member<'a>| match member {
            Member::Absent => Ok(None),
            Member::Text(value) => Ok(Some(value)),
            Member::Other => Err(malformed(format!("{name} is not a string"))),
        };
        if let Some(cty) = text("cty", header.cty)?
            && typ_matches(&cty, "JWT")
        {
            return Err(malformed(
                "cty JWT: nested tokens are not supported".to_owned(),
            ));
        }
        let ignored = ["jku", "x5u", "jwk", "x5c"]
            .into_iter()
            .filter(|name| header.present.has(name))
            .collect();
        Ok(JoseHeader {
            alg,
            kid: text("kid", header.kid)?,
            typ: text("typ", header.typ)?,
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
