//! The claims set read as it was before the scan: serde_json reading the payload into a
//! duplicate-free `Map<String, Value>` (`json::UniqueMap`), with the time-claims retry.
//! [`agree`] compares that reading with [`Payload::parse`]'s, for the differential tests
//! (`tests/payload.rs`) and the `jwt` fuzz target (`crate::fuzzing::jwt`).

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use super::json::{UniqueMap, UniqueMapSeed};
use super::payload::{Claim, Claims, Payload};

/// The payload step as it was: the map, whether a time claim was out of range, or the
/// message.
fn reference(bytes: &[u8]) -> Result<(Map<String, Value>, bool), String> {
    match serde_json::from_slice::<UniqueMap>(bytes) {
        Ok(UniqueMap(claims)) => Ok((claims, false)),
        Err(e) if e.to_string().starts_with("number out of range") => {
            let mut seed = UniqueMapSeed {
                skip: &["exp", "nbf", "iat"],
            };
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            let claims = serde::de::DeserializeSeed::deserialize(&mut seed, &mut deserializer)
                .and_then(|claims| deserializer.end().map(|()| claims))
                .map_err(|_| format!("payload is not a valid JSON object: {e}"))?;
            Ok((claims, true))
        }
        Err(e) => Err(format!(
            "payload is not a JSON object without duplicates: {e}"
        )),
    }
}

/// What the claims code read from a `Value` before, read from a [`Claim`].
fn same_claim(claim: Claim<'_>, value: &Value, context: &str) {
    assert_eq!(&claim.to_value(), value, "{context}");
    let type_name = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    assert_eq!(claim.type_name(), type_name, "{context}");
    assert_eq!(claim.as_str().as_deref(), value.as_str(), "{context}");
    assert_eq!(claim.as_bool(), value.as_bool(), "{context}");
    assert_eq!(claim.as_u64(), value.as_u64(), "{context}");
    assert_eq!(
        claim.number().map(|n| n.to_string()),
        value.as_number().map(Number::to_string),
        "{context}"
    );
    assert_eq!(
        claim.number_text().map(Cow::into_owned),
        value.as_number().map(Number::to_string),
        "{context}"
    );
    assert_eq!(
        claim.number().and_then(|n| n.as_f64()).map(f64::to_bits),
        value.as_f64().map(f64::to_bits),
        "{context}"
    );
    match value {
        Value::Array(items) => {
            let scanned: Vec<Claim<'_>> = claim.items().collect();
            assert_eq!(scanned.len(), items.len(), "{context}");
            for (item, value) in scanned.into_iter().zip(items) {
                same_claim(item, value, context);
            }
        }
        _ => assert_eq!(claim.items().count(), 0, "{context}"),
    }
}

/// Both readings of `bytes` agree: acceptance, message, time flag, every claim. True when
/// the payload was accepted.
pub(crate) fn agree(bytes: &[u8]) -> bool {
    let context = format!("payload {:?}", String::from_utf8_lossy(bytes));
    let new = Payload::parse(bytes);
    match (reference(bytes), new) {
        (Err(old), Err(new)) => assert_eq!(old, new, "{context}"),
        (Ok((map, old_flag)), Ok(payload)) => {
            assert_eq!(old_flag, payload.unrepresentable_time, "{context}");
            let claims = &payload.claims;
            assert_eq!(claims.len(), map.len(), "{context}");
            for (name, value) in &map {
                let claim = claims
                    .get(name)
                    .unwrap_or_else(|| panic!("{context}: no {name:?}"));
                same_claim(claim, value, &context);
            }
            let names: Vec<&str> = claims.iter().map(|(name, _)| name).collect();
            for name in &names {
                assert!(map.contains_key(*name), "{context}: extra {name:?}");
            }
        }
        (old, new) => panic!(
            "{context}: reference {:?}, scan {:?}",
            old.map(|(map, flag)| (Value::Object(map), flag)),
            new.map(|payload| (payload.claims, payload.unrepresentable_time))
        ),
    }
    // Without the retry, the scan alone accepts exactly what serde_json accepts.
    let accepted = Claims::parse(bytes).is_some();
    assert_eq!(
        accepted,
        serde_json::from_slice::<UniqueMap>(bytes).is_ok(),
        "{context}"
    );
    accepted
}
