//! [`SessionRecord`]: what the registry knows about one live session, as the admin API
//! lists it and as Redis stores it; and [`Target`], the view of a session or a
//! handshake that revocations are matched against.
//!
//! The names a record shares with the configuration and the registry (route, issuer,
//! replica) are reference-counted, not copied per session; they serialize as the strings
//! they are.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::session_id::SessionId;

/// One live session, registered at its handshake and removed when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub session: SessionId,
    /// The forwarded identity (`identity.user_claim`, or the bypass's test identity).
    pub user: Option<String>,
    /// The configured issuer name (never the token's own `iss`).
    #[serde(default, with = "shared_str::optional")]
    pub issuer: Option<Arc<str>>,
    /// The token's `sub`.
    pub subject: Option<String>,
    pub jti: Option<String>,
    pub kid: Option<String>,
    /// The configured route path.
    #[serde(with = "shared_str")]
    pub route: Arc<str>,
    pub client: SocketAddr,
    /// The replica that relays the session.
    #[serde(with = "shared_str")]
    pub replica: Arc<str>,
    /// Unix seconds.
    pub started_at: u64,
    /// The token's `exp` (unix seconds), moved by each refresh; `None` without a token.
    pub expires_at: Option<u64>,
}

impl SessionRecord {
    pub fn target(&self) -> Target<'_> {
        Target {
            session: Some(self.session),
            user: self.user.as_deref(),
            issuer: self.issuer.as_deref(),
            jti: self.jti.as_deref(),
            kid: self.kid.as_deref(),
        }
    }
}

/// What a revocation can name in a session or in a handshake's grant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target<'a> {
    pub session: Option<SessionId>,
    pub user: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub jti: Option<&'a str>,
    pub kid: Option<&'a str>,
}

/// `Arc<str>` as a plain JSON string (serde's own impl needs its `rc` feature, which
/// would rebuild the whole dependency tree for three fields).
mod shared_str {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Arc<str>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Arc<str>, D::Error> {
        String::deserialize(deserializer).map(Arc::from)
    }

    /// `Option<Arc<str>>`: `null` or a string.
    pub(super) mod optional {
        use std::sync::Arc;

        use serde::{Deserialize, Deserializer, Serializer};

        pub(in crate::sessions::record) fn serialize<S: Serializer>(
            value: &Option<Arc<str>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => serializer.serialize_some(&**value),
                None => serializer.serialize_none(),
            }
        }

        pub(in crate::sessions::record) fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Arc<str>>, D::Error> {
            Option::<String>::deserialize(deserializer).map(|value| value.map(Arc::from))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(issuer: Option<&str>) -> SessionRecord {
        SessionRecord {
            session: SessionId::parse("0123456789abcdef0123456789abcdef").unwrap(),
            user: Some("alice".to_owned()),
            issuer: issuer.map(Arc::from),
            subject: Some("u-1".to_owned()),
            jti: None,
            kid: Some("k1".to_owned()),
            route: Arc::from("/ws"),
            client: "127.0.0.1:5000".parse().unwrap(),
            replica: Arc::from("host-1a2b3c4d"),
            started_at: 1_700_000_000,
            expires_at: Some(1_700_000_600),
        }
    }

    /// The JSON Redis stores and the admin API lists: the shared names are plain strings,
    /// as when they were `String`s.
    #[test]
    fn a_record_serializes_as_plain_json_strings_and_reads_back() {
        let json = serde_json::to_string(&record(Some("primary"))).unwrap();
        assert_eq!(
            json,
            r#"{"session":"0123456789abcdef0123456789abcdef","user":"alice","issuer":"primary","subject":"u-1","jti":null,"kid":"k1","route":"/ws","client":"127.0.0.1:5000","replica":"host-1a2b3c4d","started_at":1700000000,"expires_at":1700000600}"#
        );
        assert_eq!(
            serde_json::from_str::<SessionRecord>(&json).unwrap(),
            record(Some("primary"))
        );
        let without = serde_json::to_string(&record(None)).unwrap();
        assert!(without.contains(r#""issuer":null"#), "{without}");
        assert_eq!(
            serde_json::from_str::<SessionRecord>(&without).unwrap(),
            record(None)
        );
        // A record written without the field at all still reads (as `Option` fields do).
        let missing = without.replace(r#""issuer":null,"#, "");
        assert_eq!(
            serde_json::from_str::<SessionRecord>(&missing).unwrap(),
            record(None)
        );
    }
}
