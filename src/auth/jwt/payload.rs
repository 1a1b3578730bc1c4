//! The claims set: the decoded payload kept once, with where each top-level member lies
//! in it, read in one pass that builds nothing ([`scan`](super::scan)). Claims are read
//! where they are used: strings borrowed unless they hold escapes, numbers and arrays
//! read from their text, a `serde_json::Value` only where one is asked for.
//!
//! The rules are serde_json's, as when the claims set was a `Map<String, Value>`: the
//! payload is accepted exactly when `serde_json` accepts it as an object without
//! duplicate top-level names (compared after unescaping: `"e\u0078p"` duplicates `"exp"`),
//! and every refusal carries serde_json's own message, asked for only then. `1e400` in
//! `exp`, `nbf` or `iat` is the one number out of range the payload survives, flagged for
//! the claims step (`claim_invalid`).

use std::borrow::Cow;
use std::fmt;

use serde::de;
use serde_json::{Number, Value};

use super::json::{UniqueMap, UniqueMapSeed};
use super::scan::{self, JsonKind, Member, NameKey, Scanned};

/// The claims set of a token, duplicate-free at the top level. Two are equal when their
/// payloads are the same text (the same claims spaced or ordered differently are not).
/// `Default` is the empty set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// The payload as decoded (JSON text).
    text: Box<str>,
    /// Top-level members in document order.
    members: Vec<Member>,
    /// The names that hold escapes, unescaped: (index in `members`, name). Empty (no
    /// allocation) for usual tokens.
    unescaped: Vec<(usize, Box<str>)>,
}

impl Claims {
    /// The claims set in `payload` (JSON text), when it is an object serde_json accepts,
    /// without duplicate top-level names and without a number out of f64's range.
    pub fn parse(payload: &[u8]) -> Option<Claims> {
        let text = std::str::from_utf8(payload).ok()?;
        let mut members = scan::members(text)?;
        let mut unescaped = Vec::new();
        for (index, member) in members.iter_mut().enumerate() {
            if member.name.escaped {
                let name = serde_json::from_str::<String>(slice(text, member.name)).ok()?;
                member.key = NameKey::of(&name);
                unescaped.push((index, name.into_boxed_str()));
            }
        }
        let claims = Claims {
            text: text.into(),
            members,
            unescaped,
        };
        (!claims.has_duplicates()).then_some(claims)
    }

    /// The claim named `name` (compared with the unescaped names).
    pub fn get(&self, name: &str) -> Option<Claim<'_>> {
        let key = NameKey::of(name);
        let index = self.members.iter().position(|member| member.key == key)?;
        if key.is_whole() {
            return Some(self.claim(self.members[index].value));
        }
        // Longer names share a key with other names: the first with the whole name.
        let index = (index..self.members.len())
            .find(|&index| self.members[index].key == key && self.name(index) == name)?;
        Some(self.claim(self.members[index].value))
    }

    /// Every claim, in the order the token lists them.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Claim<'_>)> {
        (0..self.members.len())
            .map(|index| (self.name(index), self.claim(self.members[index].value)))
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The payload as decoded: the claims set's JSON text.
    pub fn json(&self) -> &str {
        &self.text
    }

    fn name(&self, index: usize) -> &str {
        let name = self.members[index].name;
        // `unescaped` is filled in member order: a binary search, so that a payload of
        // thousands of escaped names costs n log n before its signature is checked, not n².
        if name.escaped
            && let Ok(at) = self.unescaped.binary_search_by_key(&index, |(i, _)| *i)
        {
            return &self.unescaped[at].1;
        }
        inside_quotes(slice(&self.text, name))
    }

    fn claim(&self, value: Scanned) -> Claim<'_> {
        Claim {
            json: slice(&self.text, value),
            kind: value.kind,
            escaped: value.escaped,
        }
    }

    fn has_duplicates(&self) -> bool {
        let count = self.members.len();
        if count <= 16 {
            let same = |i: usize, j: usize| {
                let key = self.members[i].key;
                key == self.members[j].key && (key.is_whole() || self.name(i) == self.name(j))
            };
            return (1..count).any(|i| (0..i).any(|j| same(i, j)));
        }
        // Many names: sorted, so a crafted payload costs n log n, not n².
        let mut names: Vec<&str> = (0..count).map(|index| self.name(index)).collect();
        names.sort_unstable();
        names.windows(2).any(|pair| pair[0] == pair[1])
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Claims({})", self.text)
    }
}

/// One claim's value, as the token has it.
#[derive(Clone, Copy)]
pub struct Claim<'a> {
    /// The value's JSON text (strings with their quotes).
    json: &'a str,
    kind: JsonKind,
    /// A string that holds escapes.
    escaped: bool,
}

impl<'a> Claim<'a> {
    pub fn kind(&self) -> JsonKind {
        self.kind
    }

    /// The value's JSON text, as the token has it.
    pub fn json(&self) -> &'a str {
        self.json
    }

    /// "a string", "an array"...: for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            JsonKind::Null => "null",
            JsonKind::Bool => "a boolean",
            JsonKind::Number => "a number",
            JsonKind::String => "a string",
            JsonKind::Array => "an array",
            JsonKind::Object => "an object",
        }
    }

    /// A string's text, unescaped (borrowed when it holds no escapes).
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        match (self.kind, self.escaped) {
            (JsonKind::String, false) => Some(Cow::Borrowed(inside_quotes(self.json))),
            // Escapes are serde_json's to read, exactly as a `Value` would.
            (JsonKind::String, true) => serde_json::from_str::<String>(self.json)
                .ok()
                .map(Cow::Owned),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match (self.kind, self.json) {
            (JsonKind::Bool, "true") => Some(true),
            (JsonKind::Bool, _) => Some(false),
            _ => None,
        }
    }

    /// A number that is a non-negative integer within u64 (as `Number::as_u64`).
    pub fn as_u64(&self) -> Option<u64> {
        if self.kind != JsonKind::Number {
            return None;
        }
        // Digits only (no sign, fraction or exponent); over u64::MAX serde_json reads a
        // float: `None`, as `as_u64` says.
        self.json.bytes().try_fold(0u64, |whole, byte| {
            let digit = char::from(byte).to_digit(10)?;
            whole.checked_mul(10)?.checked_add(u64::from(digit))
        })
    }

    /// A number as serde_json reads it.
    pub fn number(&self) -> Option<Number> {
        match self.kind {
            JsonKind::Number => serde_json::from_str(self.json).ok(),
            _ => None,
        }
    }

    /// A number as a `Value` prints it (`1.0e3` is `1000.0`).
    pub fn number_text(&self) -> Option<Cow<'a, str>> {
        match self.as_u64() {
            // Digits without a leading zero: what the u64 prints.
            Some(_) => Some(Cow::Borrowed(self.json)),
            None => self.number().map(|number| Cow::Owned(number.to_string())),
        }
    }

    /// An array's items (none for anything else).
    pub fn items(&self) -> impl Iterator<Item = Claim<'a>> + use<'a> {
        let json = self.json;
        let items = match self.kind {
            JsonKind::Array => Some(scan::items(json)),
            _ => None,
        };
        items.into_iter().flatten().map(move |item| Claim {
            json: slice(json, item),
            kind: item.kind,
            escaped: item.escaped,
        })
    }

    /// The value as a `serde_json::Value` (allocates; for what needs one).
    pub fn to_value(&self) -> Value {
        // The scan accepted this text as serde_json does: it reads back.
        serde_json::from_str(self.json).unwrap_or(Value::Null)
    }
}

impl fmt::Debug for Claim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.json)
    }
}

/// The claims set of a payload that passed as a JSON object.
pub(super) struct Payload {
    pub(super) claims: Claims,
    /// `exp`, `nbf` or `iat` held a number outside f64's range (`1e400`): the claims
    /// step turns that into `claim_invalid` once the signature holds.
    pub(super) unrepresentable_time: bool,
}

impl Payload {
    pub(super) fn parse(bytes: &[u8]) -> Result<Payload, String> {
        match Claims::parse(bytes) {
            Some(claims) => Ok(Payload {
                claims,
                unrepresentable_time: false,
            }),
            None => Payload::parse_refused(bytes),
        }
    }

    /// The payload the scan refused: serde_json reads it into a map, which says why, or
    /// (`1e400` in a time claim) holds the other claims.
    #[cold]
    fn parse_refused(bytes: &[u8]) -> Result<Payload, String> {
        let (map, unrepresentable_time) = match serde_json::from_slice::<UniqueMap>(bytes) {
            Ok(UniqueMap(map)) => (map, false),
            Err(e) if e.to_string().starts_with("number out of range") => {
                // Parse again skipping the time claims' values: if that succeeds, the
                // out-of-range number was one of them (docs/security-cases.md K3: `exp:
                // 1e400` is claim_invalid).
                let mut seed = UniqueMapSeed { skip: TIME_CLAIMS };
                let mut deserializer = serde_json::Deserializer::from_slice(bytes);
                let map = de::DeserializeSeed::deserialize(&mut seed, &mut deserializer)
                    .and_then(|map| deserializer.end().map(|()| map))
                    .map_err(|_| format!("payload is not a valid JSON object: {e}"))?;
                (map, true)
            }
            Err(e) => {
                return Err(format!(
                    "payload is not a JSON object without duplicates: {e}"
                ));
            }
        };
        // The scan refuses nothing else serde_json accepts (tests/payload.rs compares
        // them): the claims are the map without the time claims, written out again.
        debug_assert!(
            unrepresentable_time,
            "the claims scan refused a payload serde_json accepts: {:?}",
            String::from_utf8_lossy(bytes)
        );
        serde_json::to_string(&map)
            .ok()
            .and_then(|text| Claims::parse(text.as_bytes()))
            .map(|claims| Payload {
                claims,
                unrepresentable_time,
            })
            .ok_or_else(|| "payload is not a valid JSON object".to_owned())
    }
}

const TIME_CLAIMS: &[&str] = &["exp", "nbf", "iat"];

fn slice(text: &str, value: Scanned) -> &str {
    text.get(value.span.start..value.span.end)
        .unwrap_or_default()
}

/// A string's JSON text without its quotes.
fn inside_quotes(json: &str) -> &str {
    json.get(1..json.len().saturating_sub(1))
        .unwrap_or_default()
}
