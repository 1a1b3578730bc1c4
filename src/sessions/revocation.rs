//! [`Revocation`]: a user, a token (`jti`), a session or an issuer's signing key that may
//! no longer hold a session; parsed from the admin API's request, matched against live
//! sessions and new handshakes, and kept in a [`Revocations`] list until it expires.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::record::Target;
use crate::domain::session_id::SessionId;
use crate::telemetry::metrics::RevocationScope;

/// The longest `ttl` a revocation may ask for: as long as the longest duration config
/// accepts.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// The default `ttl` when no issuer limits token lifetimes (`auth.max_lifetime` unset).
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// What one revocation names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Revocation {
    User(String),
    Jti(String),
    Session(SessionId),
    /// An issuer's signing key: the configured issuer name and the key's `kid`.
    Key {
        issuer: String,
        kid: String,
    },
}

/// A revocation and when it lapses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Active {
    pub revocation: Revocation,
    /// Unix seconds.
    pub until: u64,
}

impl Revocation {
    pub fn scope(&self) -> RevocationScope {
        match self {
            Revocation::User(_) => RevocationScope::User,
            Revocation::Jti(_) => RevocationScope::Jti,
            Revocation::Session(_) => RevocationScope::Session,
            Revocation::Key { .. } => RevocationScope::Key,
        }
    }

    pub fn matches(&self, target: &Target<'_>) -> bool {
        match self {
            Revocation::User(user) => target.user == Some(user.as_str()),
            Revocation::Jti(jti) => target.jti == Some(jti.as_str()),
            Revocation::Session(id) => target.session == Some(*id),
            Revocation::Key { issuer, kid } => {
                target.issuer == Some(issuer.as_str()) && target.kid == Some(kid.as_str())
            }
        }
    }

    /// A stable text naming the revocation (for the audit log and store keys).
    pub fn describe(&self) -> String {
        match self {
            Revocation::User(user) => format!("user {user:?}"),
            Revocation::Jti(jti) => format!("jti {jti:?}"),
            Revocation::Session(id) => format!("session {id}"),
            Revocation::Key { issuer, kid } => format!("issuer {issuer:?} kid {kid:?}"),
        }
    }

    /// Parses `POST /admin/revoke`'s body: exactly one of `{"user"}`, `{"jti"}`,
    /// `{"session"}`, `{"issuer", "kid"}`, and an optional `"ttl"` (seconds, or a
    /// duration such as `"15m"`). The error is a sentence for the 400 answer.
    pub fn parse_request(body: &[u8]) -> Result<(Revocation, Option<Duration>), String> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|error| format!("the body is not JSON ({error})"))?;
        let Value::Object(mut fields) = value else {
            return Err("the body must be a JSON object".to_owned());
        };
        let ttl = match fields.remove("ttl") {
            None => None,
            Some(value) => Some(ttl(&value)?),
        };
        if let Some(unknown) = fields
            .keys()
            .find(|key| !matches!(key.as_str(), "user" | "jti" | "session" | "issuer" | "kid"))
        {
            return Err(format!(
                "unknown field {unknown:?}; give one of user, jti, session, or issuer with kid"
            ));
        }
        let user = text(&mut fields, "user")?;
        let jti = text(&mut fields, "jti")?;
        let session = text(&mut fields, "session")?;
        let issuer = text(&mut fields, "issuer")?;
        let kid = text(&mut fields, "kid")?;
        let revocation = match (user, jti, session, issuer, kid) {
            (Some(user), None, None, None, None) => Revocation::User(user),
            (None, Some(jti), None, None, None) => Revocation::Jti(jti),
            (None, None, Some(session), None, None) => Revocation::Session(
                SessionId::parse(&session)
                    .ok_or("\"session\" must be a session id: 32 hexadecimal digits")?,
            ),
            (None, None, None, Some(issuer), Some(kid)) => Revocation::Key { issuer, kid },
            (None, None, None, Some(_), None) | (None, None, None, None, Some(_)) => {
                return Err("a key revocation needs both \"issuer\" and \"kid\"".to_owned());
            }
            _ => {
                return Err("give exactly one of user, jti, session, or issuer with kid".to_owned());
            }
        };
        Ok((revocation, ttl))
    }
}

fn text(fields: &mut Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.remove(name) {
        None => Ok(None),
        Some(Value::String(text)) if !text.is_empty() && text.len() <= 1024 => Ok(Some(text)),
        Some(_) => Err(format!(
            "{name:?} must be a non-empty string of at most 1024 bytes"
        )),
    }
}

fn ttl(value: &Value) -> Result<Duration, String> {
    let ttl = match value {
        Value::Number(n) => n.as_u64().map(Duration::from_secs),
        Value::String(text) => humantime::parse_duration(text).ok(),
        _ => None,
    };
    match ttl {
        Some(ttl) if !ttl.is_zero() && ttl <= MAX_TTL => Ok(ttl),
        _ => Err(
            "\"ttl\" must be a positive number of seconds or a duration such as \"15m\", at most 366 days"
                .to_owned(),
        ),
    }
}

/// The revocations in force, as this replica knows them. Lapsed ones are dropped as they
/// are met.
#[derive(Debug, Default)]
pub(super) struct Revocations {
    active: Vec<Active>,
}

impl Revocations {
    /// Adds (or extends) a revocation.
    pub(super) fn insert(&mut self, active: Active) {
        match self
            .active
            .iter_mut()
            .find(|a| a.revocation == active.revocation)
        {
            Some(existing) => existing.until = existing.until.max(active.until),
            None => self.active.push(active),
        }
    }

    /// The first revocation in force at `now` that matches `target`.
    pub(super) fn matching(&mut self, target: &Target<'_>, now: u64) -> Option<&Revocation> {
        self.active.retain(|a| a.until > now);
        self.active
            .iter()
            .find(|a| a.revocation.matches(target))
            .map(|a| &a.revocation)
    }

    /// Every revocation in force at `now`.
    pub(super) fn in_force(&mut self, now: u64) -> Vec<Active> {
        self.active.retain(|a| a.until > now);
        self.active.clone()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<(Revocation, Option<Duration>), String> {
        Revocation::parse_request(body.as_bytes())
    }

    #[test]
    fn each_scope_parses_with_an_optional_ttl() {
        assert_eq!(
            parse(r#"{"user":"alice"}"#),
            Ok((Revocation::User("alice".into()), None))
        );
        assert_eq!(
            parse(r#"{"jti":"t-1","ttl":60}"#),
            Ok((Revocation::Jti("t-1".into()), Some(Duration::from_secs(60))))
        );
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse(&format!(r#"{{"session":"{id}","ttl":"15m"}}"#)),
            Ok((
                Revocation::Session(SessionId::parse(id).unwrap()),
                Some(Duration::from_secs(900))
            ))
        );
        assert_eq!(
            parse(r#"{"issuer":"primary","kid":"k1"}"#),
            Ok((
                Revocation::Key {
                    issuer: "primary".into(),
                    kid: "k1".into()
                },
                None
            ))
        );
    }

    #[test]
    fn anything_but_exactly_one_scope_is_refused() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"user":"a","jti":"b"}"#,
            r#"{"issuer":"primary"}"#,
            r#"{"kid":"k1"}"#,
            r#"{"user":""}"#,
            r#"{"user":7}"#,
            r#"{"session":"nope"}"#,
            r#"{"user":"a","ttl":0}"#,
            r#"{"user":"a","ttl":-5}"#,
            r#"{"user":"a","ttl":"soon"}"#,
            r#"{"user":"a","role":"admin"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_revocation_matches_only_what_it_names_until_it_lapses() {
        let mut list = Revocations::default();
        list.insert(Active {
            revocation: Revocation::Key {
                issuer: "primary".into(),
                kid: "k1".into(),
            },
            until: 100,
        });
        let signed_k1 = Target {
            issuer: Some("primary"),
            kid: Some("k1"),
            ..Target::default()
        };
        let other_issuer = Target {
            issuer: Some("partner"),
            kid: Some("k1"),
            ..Target::default()
        };
        assert!(list.matching(&signed_k1, 99).is_some());
        assert!(list.matching(&other_issuer, 99).is_none());
        assert!(list.matching(&signed_k1, 100).is_none());
        assert!(list.is_empty());
    }
}
