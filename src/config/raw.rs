//! The serde mirror of the TOML file.
//!
//! Every table denies unknown keys, so a typo (`max_conections`) is an error rather than
//! a silently ignored setting. Every field is optional here: defaults, ranges and enum
//! spellings are applied in `validate.rs`, where all problems can be collected at once
//! instead of stopping at serde's first.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub environment: Option<String>,
    #[serde(default)]
    pub server: RawServer,
    pub upstream: Option<RawUpstream>,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub identity: RawIdentity,
    #[serde(default)]
    pub e2e_bypass: RawBypass,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub sessions: RawSessions,
    #[serde(default)]
    pub admin: RawAdmin,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSessions {
    pub store: Option<String>,
    pub redis_url: Option<RawSecret>,
    pub max_per_user: Option<i64>,
    pub max_per_client_ip: Option<i64>,
    pub refresh_path: Option<String>,
    pub on_store_error: Option<String>,
    pub store_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub token: Option<RawSecret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub max_connections: Option<i64>,
    pub handshake_timeout: Option<String>,
    pub drain_timeout: Option<String>,
    pub max_session_duration: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_frame_bytes: Option<i64>,
    pub max_message_bytes: Option<i64>,
    pub send_timeout: Option<String>,
    pub max_pings_per_second: Option<i64>,
    pub tls: Option<RawTls>,
    pub trust_forwarded_headers: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub client_ca_file: Option<String>,
    /// `"required"` or `"optional"`; only with `client_ca_file`.
    pub client_auth: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    pub url: Option<String>,
    pub connect_timeout: Option<String>,
    pub response_timeout: Option<String>,
    pub preserve_host: Option<bool>,
    pub ca_file: Option<String>,
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub deny: Option<String>,
    pub token_sources: Option<Vec<String>>,
    pub leeway: Option<String>,
    pub session_expiry: Option<String>,
    pub max_token_bytes: Option<i64>,
    pub token_cache_size: Option<i64>,
    pub allowed_origins: Option<Vec<String>>,
    pub forward_token: Option<bool>,
    pub max_lifetime: Option<String>,
    #[serde(default)]
    pub issuers: Vec<RawIssuer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIssuer {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub audiences: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub secret: Option<RawSecret>,
    pub public_key_file: Option<String>,
    pub jwks_file: Option<String>,
    pub jwks_url: Option<String>,
    pub discovery_url: Option<String>,
    pub jwks_refresh: Option<String>,
    pub jwks_cooldown: Option<String>,
    pub jwks_max_stale: Option<String>,
    pub jwks_timeout: Option<String>,
    pub jwks_ca_file: Option<String>,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub environments: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    pub user_header: Option<String>,
    pub user_claim: Option<String>,
    pub method_header: Option<String>,
    /// Header name -> claim name, in file order.
    pub claim_headers: Option<Pairs>,
    /// `"token"` (default) or `"client_cert"`.
    pub user_from: Option<String>,
    pub assertion: Option<RawAssertion>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAssertion {
    pub enabled: Option<bool>,
    pub header: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<OneOrMany>,
    pub ttl: Option<String>,
    pub algorithm: Option<String>,
    pub key_file: Option<String>,
    pub next_key_file: Option<String>,
    pub claims: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBypass {
    pub enabled: Option<bool>,
    pub header: Option<String>,
    pub keys: Option<Vec<RawBypassKey>>,
    /// Shorthand for `keys = [{ name = "default", secret = ... }]`.
    pub key: Option<RawSecret>,
    pub allowed_environments: Option<Vec<String>>,
    pub user_header: Option<String>,
    pub default_user: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBypassKey {
    pub name: Option<String>,
    pub secret: Option<RawSecret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub path: Option<String>,
    pub auth: Option<String>,
    /// Claim -> required value, in file order.
    pub claims: Option<Pairs>,
    /// `"required"` or `"none"` (default).
    pub client_cert: Option<String>,
}

/// A string, or a list of strings (`audience = "a"` or `audience = ["a", "b"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// `{ env = "NAME" }`, `{ file = "PATH" }` or a bare string (a literal secret).
///
/// Deserialized by hand so that a mistake gets a precise message (`unknown field `path`,
/// expected `env` or `file``) instead of serde's "did not match any variant", and so that
/// no error message can ever quote a literal value.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum RawSecret {
    Env(String),
    File(String),
    Literal(String),
}

impl fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawSecret::Env(name) => write!(f, "Env({name:?})"),
            RawSecret::File(path) => write!(f, "File({path:?})"),
            RawSecret::Literal(_) => f.write_str("Literal(<redacted>)"),
        }
    }
}

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawSecret, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

const SECRET_FIELDS: &[&str] = &["env", "file"];

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = RawSecret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"{ env = "VAR" } or { file = "PATH" }"#)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawSecret, E> {
        Ok(RawSecret::Literal(value.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSecret, A::Error> {
        let mut found: Option<RawSecret> = None;
        while let Some(key) = map.next_key::<String>()? {
            let make = match key.as_str() {
                "env" => RawSecret::Env,
                "file" => RawSecret::File,
                _ => return Err(de::Error::unknown_field(&key, SECRET_FIELDS)),
            };
            let value = map.next_value::<String>()?;
            if found.is_some() {
                return Err(de::Error::custom(
                    "a secret has either `env` or `file`, not both",
                ));
            }
            found = Some(make(value));
        }
        found.ok_or_else(|| {
            de::Error::custom(r#"empty secret table: use { env = "VAR" } or { file = "PATH" }"#)
        })
    }
}

/// A TOML table of string values kept in file order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Pairs(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Pairs, D::Error> {
        deserializer.deserialize_map(PairsVisitor)
    }
}

struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Pairs;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of string values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
        // The toml deserializer hands keys over sorted; their spans give back file order.
        let mut pairs = Vec::new();
        while let Some(key) = map.next_key::<toml::Spanned<String>>()? {
            let value = map.next_value::<String>()?;
            pairs.push((key.span().start, key.into_inner(), value));
        }
        pairs.sort_by_key(|(start, _, _)| *start);
        Ok(Pairs(
            pairs
                .into_iter()
                .map(|(_, key, value)| (key, value))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Result<RawConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn secrets_take_three_shapes() {
        let config = raw(r#"
            [[auth.issuers]]
            secret = { env = "A" }
            [[auth.issuers]]
            secret = { file = "/run/b" }
            [[auth.issuers]]
            secret = "literal"
        "#)
        .unwrap();
        let secrets: Vec<_> = config
            .auth
            .issuers
            .into_iter()
            .map(|i| i.secret.unwrap())
            .collect();
        assert_eq!(
            secrets,
            [
                RawSecret::Env("A".into()),
                RawSecret::File("/run/b".into()),
                RawSecret::Literal("literal".into())
            ]
        );
    }

    #[test]
    fn secret_tables_are_strict() {
        let err = raw(r#"e2e_bypass.key = { path = "x" }"#).unwrap_err();
        assert!(err.message().contains("unknown field `path`"), "{err}");
        let err = raw(r#"e2e_bypass.key = { env = "A", file = "b" }"#).unwrap_err();
        assert!(err.message().contains("not both"), "{err}");
        let err = raw(r#"e2e_bypass.key = {}"#).unwrap_err();
        assert!(err.message().contains("empty secret table"), "{err}");
    }

    #[test]
    fn literal_secrets_do_not_leak_through_debug() {
        let shown = format!("{:?}", RawSecret::Literal("hunter2".into()));
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn pairs_keep_file_order() {
        let config = raw(r#"
            [identity.claim_headers]
            "X-Z" = "z"
            "X-A" = "a"
        "#)
        .unwrap();
        let pairs = config.identity.claim_headers.unwrap().0;
        assert_eq!(pairs[0].0, "X-Z");
        assert_eq!(pairs[1].0, "X-A");
    }

    #[test]
    fn unknown_keys_are_refused_everywhere() {
        for text in [
            "enviroment = 'x'",
            "[server]\nlisten_addr = 'x'",
            "[server.tls]\ncert = 'x'",
            "[upstream]\nuri = 'x'",
            "[auth]\ntoken_source = []",
            "[[auth.issuers]]\niss = 'x'",
            "[identity]\nuser = 'x'",
            "[identity.assertion]\nkey = 'x'",
            "[e2e_bypass]\nenable = true",
            "[[e2e_bypass.keys]]\nkey = 'x'",
            "[[routes]]\nprefix = '/'",
        ] {
            let err = raw(text).unwrap_err();
            assert!(err.message().contains("unknown field"), "{text}: {err}");
        }
    }
}
