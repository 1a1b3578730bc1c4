//! Duplicate-free JSON objects read by serde_json: the claims set into a `Map` (where the
//! claims scan refuses a payload: for serde_json's message, or the claims beside an
//! out-of-range time claim; see `payload.rs`), and the JOSE header into the few members
//! wsgate acts on, borrowed from the decoded bytes where they hold no escapes (read by the
//! scan first, [`HeaderMembers::scan`], and by serde_json where the scan steps aside).
//!
//! Both refuse a member name seen before, compared after unescaping (`"e\u0078p"`
//! duplicates `"exp"`), as soon as the name is read. Every value is parsed as fully as
//! `serde_json::Value` would parse it (UTF-8 and escapes in strings, numbers within f64's
//! range, the nesting limit), so a header is refused exactly when it would be as a `Value`,
//! whether or not wsgate reads the member.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value};

use super::scan::{self, JsonKind, NameKey, Scanned, Span};
use super::shown;

/// A JSON object that refuses duplicate member names (serde_json's `Map` keeps the last).
pub(super) struct UniqueMap(pub(super) Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut seed = UniqueMapSeed { skip: &[] };
        de::DeserializeSeed::deserialize(&mut seed, deserializer).map(UniqueMap)
    }
}

/// The visitor behind [`UniqueMap`]; members named in `skip` are parsed but dropped.
pub(super) struct UniqueMapSeed {
    pub(super) skip: &'static [&'static str],
}

impl<'de> de::DeserializeSeed<'de> for &mut UniqueMapSeed {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut UniqueMapSeed {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        let mut skipped: Vec<String> = Vec::new();
        while let Some(name) = access.next_key::<String>()? {
            if self.skip.contains(&name.as_str()) {
                if skipped.contains(&name) {
                    return Err(duplicate(&name));
                }
                access.next_value::<IgnoredAny>()?;
                skipped.push(name);
                continue;
            }
            // One search of the map for both the duplicate check and the insertion.
            match map.entry(name) {
                Entry::Occupied(entry) => return Err(duplicate(entry.key())),
                Entry::Vacant(entry) => {
                    entry.insert(access.next_value::<Value>()?);
                }
            }
        }
        Ok(map)
    }
}

fn duplicate<E: de::Error>(name: &str) -> E {
    E::custom(format_args!("duplicate member {}", shown(name)))
}

/// A header member wsgate reads as text.
pub(super) enum Member<'de> {
    Absent,
    Text(Cow<'de, str>),
    /// Present, and not a string (checked as JSON, then dropped).
    Other,
}

/// The JOSE header members wsgate acts on; every other member is checked and dropped.
pub(super) struct HeaderMembers<'de> {
    pub(super) alg: Member<'de>,
    pub(super) kid: Member<'de>,
    pub(super) typ: Member<'de>,
    pub(super) cty: Member<'de>,
    /// Which of [`FLAGGED`] are present, whatever their value.
    pub(super) present: Present,
}

/// Members wsgate refuses (`crit`, `b64`, `zip`) or notes as ignored (`jku`, `x5u`,
/// `jwk`, `x5c`) by their presence alone.
const FLAGGED: [&str; 7] = ["crit", "b64", "zip", "jku", "x5u", "jwk", "x5c"];

/// One bit per name of [`FLAGGED`].
#[derive(Clone, Copy, Default)]
pub(super) struct Present(u8);

impl Present {
    /// Whether `name` (one of [`FLAGGED`]) is in the header. Inlined, so that the names
    /// callers pass are matched at compile time.
    #[inline]
    pub(super) fn has(self, name: &str) -> bool {
        FLAGGED
            .iter()
            .position(|flagged| *flagged == name)
            .is_some_and(|index| self.0 & (1 << index) != 0)
    }
}

impl<'de> Deserialize<'de> for HeaderMembers<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeaderVisitor)
    }
}

impl<'de> HeaderMembers<'de> {
    /// Where the member with `KNOWN[index]`'s name goes; `None` for a name that is only
    /// noted as present (one of [`FLAGGED`]), whose bit this sets.
    fn slot(&mut self, index: usize) -> Option<&mut Member<'de>> {
        match index {
            0 => Some(&mut self.alg),
            1 => Some(&mut self.kid),
            2 => Some(&mut self.typ),
            3 => Some(&mut self.cty),
            flagged => {
                self.present.0 |= 1 << (flagged - 4);
                None
            }
        }
    }

    /// A header with none of its members read yet.
    fn empty() -> HeaderMembers<'de> {
        HeaderMembers {
            alg: Member::Absent,
            kid: Member::Absent,
            typ: Member::Absent,
            cty: Member::Absent,
            present: Present::default(),
        }
    }

    /// The header read by the scan instead of serde_json (the same members, a fraction of
    /// the cost). `None` when the scan refuses the header, and for what it leaves to
    /// serde_json (a name with escapes, a duplicate, more than eight unknown names): then
    /// `Deserialize` reads it, and says why when it refuses.
    pub(super) fn scan(bytes: &'de [u8]) -> Option<HeaderMembers<'de>> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut header = HeaderMembers::empty();
        let mut seen: u16 = 0;
        let mut others = [(NameKey::default(), Span { start: 0, end: 0 }); 8];
        let mut other_count = 0;
        scan::each_member(text, |member| {
            if member.name.escaped {
                return None;
            }
            let name = inside_quotes(text, member.name)?;
            let Some(index) = KNOWN.iter().position(|known| *known == name) else {
                let duplicate = others[..other_count].iter().any(|(key, span)| {
                    *key == member.key
                        && (key.is_whole() || text.get(span.start..span.end) == Some(name))
                });
                if duplicate || other_count == others.len() {
                    return None;
                }
                let inside = Span {
                    start: member.name.span.start + 1,
                    end: member.name.span.end - 1,
                };
                others[other_count] = (member.key, inside);
                other_count += 1;
                return Some(());
            };
            let bit = 1u16 << index;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            let Some(slot) = header.slot(index) else {
                return Some(());
            };
            *slot = match (member.value.kind, member.value.escaped) {
                (JsonKind::String, false) => {
                    Member::Text(Cow::Borrowed(inside_quotes(text, member.value)?))
                }
                (JsonKind::String, true) => {
                    let json = text.get(member.value.span.start..member.value.span.end)?;
                    Member::Text(Cow::Owned(serde_json::from_str(json).ok()?))
                }
                _ => Member::Other,
            };
            Some(())
        })?;
        Some(header)
    }
}

/// A scanned string's text between its quotes.
fn inside_quotes(text: &str, string: Scanned) -> Option<&str> {
    text.get(string.span.start + 1..string.span.end.checked_sub(1)?)
}

struct HeaderVisitor;

/// The names [`HeaderMembers`] reads, then [`FLAGGED`]: the index of a name is its bit in
/// the set of names seen.
const KNOWN: [&str; 11] = [
    "alg", "kid", "typ", "cty", "crit", "b64", "zip", "jku", "x5u", "jwk", "x5c",
];

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = HeaderMembers<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut header = HeaderMembers::empty();
        let mut seen: u16 = 0;
        // Names wsgate does not know; allocated only when the header has one.
        let mut others: BTreeSet<Cow<'de, str>> = BTreeSet::new();
        while let Some(Name(name)) = access.next_key()? {
            let Some(index) = KNOWN.iter().position(|known| *known == name) else {
                if others.contains(&name) {
                    return Err(duplicate(&name));
                }
                access.next_value::<Checked>()?;
                others.insert(name);
                continue;
            };
            let bit = 1u16 << index;
            if seen & bit != 0 {
                return Err(duplicate(&name));
            }
            seen |= bit;
            let Some(slot) = header.slot(index) else {
                access.next_value::<Checked>()?;
                continue;
            };
            *slot = access.next_value::<TextOrOther>()?.0;
        }
        Ok(header)
    }
}

/// A member name, borrowed when it holds no escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(text)))
    }
}

/// A member value: its text when it is a string, else checked and dropped.
struct TextOrOther<'de>(Member<'de>);

impl<'de> Deserialize<'de> for TextOrOther<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyVisitor { text: true })
    }
}

/// Any JSON value, parsed as `serde_json::Value` parses it but not built.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(AnyVisitor { text: false })
            .map(|_| Checked)
    }
}

/// Accepts every JSON value; keeps a string's text when `text` is set.
struct AnyVisitor {
    text: bool,
}

impl<'de> Visitor<'de> for AnyVisitor {
    type Value = TextOrOther<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TextOrOther(Member::Other))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TextOrOther(Member::Other))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TextOrOther(Member::Other))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TextOrOther(Member::Other))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextOrOther(Member::Other))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextOrOther(Member::Other))
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(TextOrOther(if self.text {
            Member::Text(Cow::Borrowed(text))
        } else {
            Member::Other
        }))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(TextOrOther(if self.text {
            Member::Text(Cow::Owned(text.to_owned()))
        } else {
            Member::Other
        }))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(TextOrOther(if self.text {
            Member::Text(Cow::Owned(text))
        } else {
            Member::Other
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        while items.next_element::<Checked>()?.is_some() {}
        Ok(TextOrOther(Member::Other))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Self::Value, A::Error> {
        // Nested objects are not checked for duplicates (as a `Value` would not be).
        while members.next_key::<Checked>()?.is_some() {
            members.next_value::<Checked>()?;
        }
        Ok(TextOrOther(Member::Other))
    }
}
