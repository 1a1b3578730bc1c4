//! `[identity]` and `[e2e_bypass]`: the headers wsgate writes or reads on the caller's
//! behalf. Names are compared after the folding CGI/WSGI/nginx apply (`X_Auth_User` and
//! `x.auth.user` reach a backend as the same variable), so two settings can never name
//! one header in different spellings, and none may be a header that carries the
//! connection, the credentials or the forwarding chain.

use http::HeaderName;

use super::Validator;
use super::rules::{is_label, is_reserved_header, weak_secret_problem};
use crate::config::raw::{RawBypass, RawIdentity, RawSecret};
use crate::config::{
    AuthConfig, BypassConfig, BypassKey, IdentityConfig, PRODUCTION, TokenSource, UserFrom,
};
use crate::http::fold::fold;

const DEFAULT_ALLOWED_ENVIRONMENTS: [&str; 3] = ["development", "test", "staging"];

impl Validator<'_> {
    pub(super) fn identity(
        &mut self,
        raw: RawIdentity,
        environment: &str,
    ) -> Option<IdentityConfig> {
        let mark = self.errors.len();
        let assertion_header = self.forwarded_header(
            "identity.assertion.header",
            raw.assertion
                .as_ref()
                .and_then(|a| a.header.as_deref())
                .unwrap_or(crate::config::assertion::DEFAULT_HEADER),
        );
        let assertion = self.assertion(raw.assertion, assertion_header.clone(), environment);
        let user_from = match raw.user_from.as_deref() {
            None | Some("token") => Some(UserFrom::Token),
            Some("client_cert") => Some(UserFrom::ClientCert),
            Some(other) => self.error(
                "identity.user_from",
                format!(r#"{other:?} is not one of "token", "client_cert""#),
            ),
        };
        let user_header = self.forwarded_header(
            "identity.user_header",
            raw.user_header.as_deref().unwrap_or("X-Auth-User"),
        );
        let method_header = self.forwarded_header(
            "identity.method_header",
            raw.method_header.as_deref().unwrap_or("X-Auth-Method"),
        );
        let user_claim = match raw.user_claim {
            Some(claim) if claim.is_empty() => {
                self.error("identity.user_claim", r#"is empty; e.g. "sub""#)
            }
            claim => Some(claim.unwrap_or_else(|| "sub".to_owned())),
        };
        let mut claim_headers = Vec::new();
        for (header, claim) in raw.claim_headers.map(|p| p.0).unwrap_or_default() {
            let key = format!("identity.claim_headers.{header:?}");
            if claim.is_empty() {
                self.error::<()>(key.clone(), "names an empty claim");
            }
            if let Some(name) = self.forwarded_header(&key, &header) {
                claim_headers.push((key, name, claim));
            }
        }

        let mut seen: Vec<(String, &HeaderName)> = Vec::new();
        let named = [
            ("identity.user_header".to_owned(), &user_header),
            ("identity.method_header".to_owned(), &method_header),
            ("identity.assertion.header".to_owned(), &assertion_header),
        ];
        let all = named
            .iter()
            .filter_map(|(key, name)| Some((key.clone(), name.as_ref()?)))
            .chain(
                claim_headers
                    .iter()
                    .map(|(key, name, _)| (key.clone(), name)),
            );
        for (key, name) in all {
            if let Some((other, _)) = seen
                .iter()
                .find(|(_, seen)| fold(seen.as_str()) == fold(name.as_str()))
            {
                self.error::<()>(
                    key.clone(),
                    format!("{name} is the same header as {other} (compared case-insensitively, with _ . and - alike); use distinct names"),
                );
            }
            seen.push((key, name));
        }

        if self.errors.len() > mark {
            return None;
        }
        Some(IdentityConfig {
            user_header: user_header?,
            user_claim: user_claim?,
            method_header: method_header?,
            claim_headers: claim_headers
                .into_iter()
                .map(|(_, name, claim)| (name, claim))
                .collect(),
            user_from: user_from?,
            assertion_header: assertion_header?,
            assertion: assertion?,
        })
    }

    pub(super) fn bypass(&mut self, raw: RawBypass, environment: &str) -> Option<BypassConfig> {
        let mark = self.errors.len();
        let enabled = raw.enabled.unwrap_or(false);
        let header = self.forwarded_header(
            "e2e_bypass.header",
            raw.header.as_deref().unwrap_or("X-E2E-Bypass-Key"),
        );
        let user_header = self.forwarded_header(
            "e2e_bypass.user_header",
            raw.user_header.as_deref().unwrap_or("X-E2E-User"),
        );
        if let (Some(a), Some(b)) = (&header, &user_header)
            && fold(a.as_str()) == fold(b.as_str())
        {
            self.error::<()>(
                "e2e_bypass.user_header",
                format!("{b} is the same header as e2e_bypass.header"),
            );
        }
        let default_user = raw
            .default_user
            .unwrap_or_else(|| "e2e-test-user".to_owned());
        let plain = !default_user.is_empty()
            && default_user.trim() == default_user
            && default_user
                .bytes()
                .all(|b| b == b' ' || b.is_ascii_graphic());
        if !plain {
            self.error::<()>(
                "e2e_bypass.default_user",
                "must be non-empty printable ASCII without surrounding spaces (it is sent as a header value)",
            );
        }
        let allowed_environments = raw
            .allowed_environments
            .unwrap_or_else(|| DEFAULT_ALLOWED_ENVIRONMENTS.map(String::from).to_vec());
        if allowed_environments.iter().any(|e| e == PRODUCTION) {
            self.error::<()>(
                "e2e_bypass.allowed_environments",
                "contains \"production\"; the E2E bypass never runs in production, remove it",
            );
        }

        let raw_keys = self.bypass_key_list(raw.key, raw.keys);
        if enabled {
            if environment == PRODUCTION {
                self.error::<()>(
                    "e2e_bypass.enabled",
                    format!("is true but environment {PRODUCTION:?} forbids the E2E bypass; set enabled = false in production's config"),
                );
            } else if !allowed_environments.iter().any(|e| e == environment) {
                self.error::<()>(
                    "e2e_bypass.enabled",
                    format!(
                        "is true but environment {environment:?} is not in e2e_bypass.allowed_environments {allowed_environments:?}; add it there or set enabled = false"
                    ),
                );
            }
            if raw_keys.as_ref().is_some_and(Vec::is_empty) {
                self.error::<()>(
                    "e2e_bypass.keys",
                    r#"e2e_bypass.enabled is true but no key is configured; add keys = [{ name = "ci", secret = { env = "E2E_BYPASS_KEY" } }]"#,
                );
            }
        }
        // Keys are read only when the bypass is on: an unset variable is then the incident
        // (a key never deployed), while a disabled bypass must not need its variables.
        let mut keys = Vec::new();
        if let (true, Some(raw_keys)) = (enabled, raw_keys) {
            for (key, name, raw) in raw_keys {
                let Some(secret) = self.secret(&key, &raw) else {
                    continue;
                };
                match weak_secret_problem(secret.expose()) {
                    Some(problem) => {
                        self.error::<()>(key, format!("bypass key {} {problem}", secret.source()));
                    }
                    None => keys.push(BypassKey { name, secret }),
                }
            }
        }

        if self.errors.len() > mark {
            return None;
        }
        Some(BypassConfig {
            active: enabled,
            enabled,
            header: header?,
            keys,
            allowed_environments,
            user_header: user_header?,
            default_user,
        })
    }

    /// `key = {...}` or `keys = [{ name, secret }]`, as (key path, name, secret); `None`
    /// when the shape is wrong (already reported).
    fn bypass_key_list(
        &mut self,
        key: Option<RawSecret>,
        keys: Option<Vec<crate::config::raw::RawBypassKey>>,
    ) -> Option<Vec<(String, String, RawSecret)>> {
        let mark = self.errors.len();
        let list = match (key, keys) {
            (Some(_), Some(_)) => {
                return self.error(
                    "e2e_bypass.key",
                    "set either key (one key named \"default\") or keys (named keys), not both",
                );
            }
            (Some(secret), None) => vec![(
                "e2e_bypass.key".to_owned(),
                Some("default".to_owned()),
                Some(secret),
            )],
            (None, keys) => keys
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(index, k)| (format!("e2e_bypass.keys[{index}]"), k.name, k.secret))
                .collect(),
        };
        let mut out: Vec<(String, String, RawSecret)> = Vec::new();
        for (key, name, secret) in list {
            let name = match name {
                None => self.error(
                    format!("{key}.name"),
                    r#"is required, e.g. name = "ci" (it labels metrics)"#,
                ),
                Some(name) if !is_label(&name) => self.error(
                    format!("{key}.name"),
                    format!("{name:?} must be 1-64 characters of a-z, 0-9, _ and -"),
                ),
                Some(name) if name == "none" => self.error(
                    format!("{key}.name"),
                    r#""none" is reserved: it labels failed bypass attempts in wsgate_e2e_bypass_total"#,
                ),
                Some(name) if out.iter().any(|(_, n, _)| *n == name) => self.error(
                    format!("{key}.name"),
                    format!("{name:?} is used by another key; names must be unique"),
                ),
                Some(name) => Some(name),
            };
            let secret_key = if key == "e2e_bypass.key" {
                key.clone()
            } else {
                format!("{key}.secret")
            };
            let secret = match secret {
                None => self.error(secret_key.clone(), r#"is required: secret = { env = "VAR" } or { file = "PATH" }"#),
                Some(RawSecret::Literal(_)) => self.error(
                    secret_key.clone(),
                    r#"a bypass key cannot be a literal in the config file; use { env = "VAR" } or { file = "PATH" }"#,
                ),
                Some(secret) => Some(secret),
            };
            if let (Some(name), Some(secret)) = (name, secret) {
                out.push((secret_key, name, secret));
            }
        }
        (self.errors.len() == mark).then_some(out)
    }

    /// The bypass and token headers are read from the client while identity headers are
    /// stripped from it: one name in both roles would break one of them.
    pub(super) fn check_header_collisions(
        &mut self,
        auth: &AuthConfig,
        identity: &IdentityConfig,
        bypass: &BypassConfig,
    ) {
        let mut inbound: Vec<(String, &HeaderName)> = vec![
            ("e2e_bypass.header".to_owned(), &bypass.header),
            ("e2e_bypass.user_header".to_owned(), &bypass.user_header),
        ];
        for (index, source) in auth.token_sources.iter().enumerate() {
            if let TokenSource::Header(name) = source {
                inbound.push((format!("auth.token_sources[{index}]"), name));
            }
        }
        let mut outbound: Vec<(String, &HeaderName)> = vec![
            ("identity.user_header".to_owned(), &identity.user_header),
            ("identity.method_header".to_owned(), &identity.method_header),
            (
                "identity.assertion.header".to_owned(),
                &identity.assertion_header,
            ),
        ];
        for (name, _) in &identity.claim_headers {
            outbound.push((format!("identity.claim_headers.{:?}", name.as_str()), name));
        }
        for (key, name) in &inbound {
            if let Some((other, _)) = outbound
                .iter()
                .find(|(_, o)| fold(o.as_str()) == fold(name.as_str()))
            {
                self.error::<()>(
                    key.clone(),
                    format!("{name} is also {other}, which wsgate strips from clients and sets itself; use distinct names"),
                );
            }
        }
        if let Some((key, name)) = inbound[2..]
            .iter()
            .find(|(_, n)| fold(n.as_str()) == fold(bypass.header.as_str()))
        {
            self.error::<()>(
                key.clone(),
                format!("{name} is also e2e_bypass.header; use distinct names"),
            );
        }
    }

    /// A header name wsgate sets or reads besides the request's own: valid and not reserved.
    fn forwarded_header(&mut self, key: &str, text: &str) -> Option<HeaderName> {
        let name = self.header_name(key, text)?;
        if is_reserved_header(name.as_str()) {
            return self.error(
                key,
                format!("{text:?} is reserved (connection, WebSocket handshake, credential or X-Forwarded-* header); choose another name, e.g. X-Auth-..."),
            );
        }
        Some(name)
    }
}
