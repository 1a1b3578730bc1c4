//! `[[auth.issuers]]`: names, `iss`, audiences, algorithms and key material (secrets,
//! public keys, JWKS files, remote key sets). The HMAC secret rules defend against
//! algorithm confusion (RFC 8725 §3.5: a public key used as an HMAC secret) and
//! guessable secrets (§2.2).

use std::str::FromStr;

use jsonwebtoken::{Algorithm, AlgorithmFamily};

use super::Validator;
use crate::config::raw::{RawIssuer, RawSecret};
use crate::config::{IssuerConfig, KeySource, Secret, SecretSource};

use super::remote_keys::RemoteTiming;
use super::rules::{ALGORITHM_NAMES, is_label, weak_secret_problem};

impl Validator<'_> {
    pub(super) fn issuer(
        &mut self,
        index: usize,
        raw: RawIssuer,
        environment: &str,
    ) -> Option<IssuerConfig> {
        let key = format!("auth.issuers[{index}]");
        let mark = self.errors.len();

        let name = match raw.name {
            None => self.error(
                format!("{key}.name"),
                r#"is required, e.g. name = "primary" (used in logs and metrics)"#,
            ),
            Some(name) if is_label(&name) => Some(name),
            Some(name) => self.error(
                format!("{key}.name"),
                format!(
                    "{name:?} must be 1-64 characters of a-z, 0-9, _ and - (it labels metrics)"
                ),
            ),
        };
        let issuer = match raw.issuer {
            None => self.error(
                format!("{key}.issuer"),
                r#"is required: the exact iss value, e.g. "https://auth.example.com""#,
            ),
            Some(issuer) if issuer.is_empty() => self.error(
                format!("{key}.issuer"),
                "is empty; give the exact iss value",
            ),
            Some(issuer) => Some(issuer),
        };
        let audiences = raw.audiences.unwrap_or_default();
        if audiences.iter().any(String::is_empty) {
            self.error::<()>(format!("{key}.audiences"), "contains an empty audience");
        }
        let environments = raw.environments.unwrap_or_default();
        if environments.iter().any(|e| e.trim().is_empty()) {
            self.error::<()>(
                format!("{key}.environments"),
                "contains an empty environment name",
            );
        }
        let typ = match raw.typ {
            Some(typ) if typ.is_empty() => self.error(
                format!("{key}.typ"),
                "is empty; remove it or give e.g. \"at+jwt\"",
            ),
            typ => Some(typ),
        };
        let algorithms = self.algorithms(&key, raw.algorithms);
        let family = algorithms
            .as_ref()
            .and_then(|a| a.first())
            .map(|a| a.family());

        let kid = match raw.kid {
            Some(kid) if kid.is_empty() => self.error(
                format!("{key}.kid"),
                "is empty; remove it or give the key id",
            ),
            kid => Some(kid),
        };
        let enabled = environments.is_empty() || environments.iter().any(|e| e == environment);
        let keys = self.key_source(
            &key,
            KeyFields {
                secret: raw.secret,
                public_key_file: raw.public_key_file,
                jwks_file: raw.jwks_file,
                jwks_url: raw.jwks_url,
                discovery_url: raw.discovery_url,
                timing: RemoteTiming {
                    refresh: raw.jwks_refresh,
                    cooldown: raw.jwks_cooldown,
                    max_stale: raw.jwks_max_stale,
                    timeout: raw.jwks_timeout,
                    ca_file: raw.jwks_ca_file,
                },
                kid: kid.flatten(),
            },
            family,
            enabled,
        );

        if self.errors.len() > mark {
            return None;
        }
        let name = name?;
        if audiences.is_empty() {
            self.warn(format!(
                "{key} ({name}) has no audiences: aud is not checked, so a token this issuer minted for another service is accepted"
            ));
        }
        Some(IssuerConfig {
            name,
            issuer: issuer?,
            audiences,
            algorithms: algorithms?,
            keys: keys?,
            typ: typ?,
            environments,
            enabled,
        })
    }

    pub(super) fn algorithms(
        &mut self,
        key: &str,
        raw: Option<Vec<String>>,
    ) -> Option<Vec<Algorithm>> {
        let key = format!("{key}.algorithms");
        let raw = match raw {
            None => return self.error(key, r#"is required, e.g. ["RS256"] or ["HS256"]"#),
            Some(raw) if raw.is_empty() => {
                return self.error(key, r#"is empty; list at least one, e.g. ["RS256"]"#);
            }
            Some(raw) => raw,
        };
        let mut algorithms: Vec<Algorithm> = Vec::new();
        let mut ok = true;
        for name in &raw {
            if name.eq_ignore_ascii_case("none") {
                ok = false;
                self.error::<()>(key.clone(), r#""none" (unsigned tokens) is never allowed"#);
                continue;
            }
            match Algorithm::from_str(name) {
                Ok(algorithm) if !algorithms.contains(&algorithm) => algorithms.push(algorithm),
                Ok(_) => {}
                Err(_) => {
                    ok = false;
                    self.error::<()>(
                        key.clone(),
                        format!("unknown algorithm {name:?}; supported (exact spelling): {ALGORITHM_NAMES}"),
                    );
                }
            }
        }
        if !ok {
            return None;
        }
        let first = algorithms.first()?.family();
        if algorithms.iter().any(|a| a.family() != first) {
            let mixes_hmac = algorithms
                .iter()
                .any(|a| a.family() == AlgorithmFamily::Hmac);
            let why = if mixes_hmac {
                "mixes HMAC and public-key algorithms, which lets a public key be used as an HMAC secret (algorithm confusion)"
            } else {
                "mixes public-key families, but one issuer's key material is one family"
            };
            return self.error(
                key,
                format!(
                    "{why}; use one family per issuer and declare a second issuer for the other"
                ),
            );
        }
        Some(algorithms)
    }

    /// The issuer's key material. `load` is false for an issuer disabled in this
    /// environment: its shape is checked but nothing is read, so a staging-only issuer's
    /// variable need not exist in production (its `KeySource` then holds no bytes).
    pub(super) fn key_source(
        &mut self,
        key: &str,
        fields: KeyFields,
        family: Option<AlgorithmFamily>,
        load: bool,
    ) -> Option<KeySource> {
        let given: Vec<&str> = [
            ("secret", fields.secret.is_some()),
            ("public_key_file", fields.public_key_file.is_some()),
            ("jwks_file", fields.jwks_file.is_some()),
            ("jwks_url", fields.jwks_url.is_some()),
            ("discovery_url", fields.discovery_url.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        match given.as_slice() {
            [] => {
                return self.error(
                    key,
                    r#"has no key source; set exactly one of secret = { env = "VAR" }, public_key_file, jwks_file, jwks_url or discovery_url"#,
                );
            }
            [_] => {}
            several => {
                return self.error(
                    key,
                    format!(
                        "has several key sources ({}); set exactly one",
                        several.join(", ")
                    ),
                );
            }
        }
        let remote = fields.jwks_url.is_some() || fields.discovery_url.is_some();
        if !remote {
            for (name, set) in fields.timing.given() {
                if set {
                    self.error::<()>(
                        format!("{key}.{name}"),
                        "applies only to jwks_url and discovery_url; remove it",
                    );
                }
            }
        }
        let hmac = family == Some(AlgorithmFamily::Hmac);
        if let Some(raw) = fields.secret {
            let key = format!("{key}.secret");
            if family.is_some() && !hmac {
                return self.error(
                    key,
                    "is an HMAC key but algorithms are public-key ones; use public_key_file or jwks_file, or HS256",
                );
            }
            if !load {
                let secret = Secret::new(unloaded_source(&raw, self), Vec::new());
                return Some(KeySource::Secret {
                    secret,
                    kid: fields.kid,
                });
            }
            let secret = self.secret(&key, &raw)?;
            if let Some(problem) = hmac_secret_problem(secret.expose()) {
                return self.error(key, format!("{} {problem}", secret.source()));
            }
            return Some(KeySource::Secret {
                secret,
                kid: fields.kid,
            });
        }
        let what = given[0];
        if hmac {
            return self.error(
                format!("{key}.{what}"),
                "HS algorithms verify with a shared secret, not a public key; use secret = { env = \"VAR\" } or public-key algorithms",
            );
        }
        if let Some(path) = fields.public_key_file {
            if !load {
                let path = self.resolve_path(&path);
                return Some(KeySource::PublicKeyFile {
                    path,
                    pem: Vec::new(),
                    kid: fields.kid,
                });
            }
            let (path, pem) = self.read_file(&format!("{key}.public_key_file"), &path)?;
            return Some(KeySource::PublicKeyFile {
                path,
                pem,
                kid: fields.kid,
            });
        }
        if fields.kid.is_some() {
            return self.error(
                format!("{key}.kid"),
                "applies to secret and public_key_file; a JWKS names its own kids",
            );
        }
        if remote {
            return self.remote_source(
                key,
                fields.jwks_url,
                fields.discovery_url,
                fields.timing,
                load,
            );
        }
        let path = fields.jwks_file?;
        if !load {
            let path = self.resolve_path(&path);
            return Some(KeySource::JwksFile {
                path,
                json: Vec::new(),
            });
        }
        let (path, json) = self.read_file(&format!("{key}.jwks_file"), &path)?;
        Some(KeySource::JwksFile { path, json })
    }
}

/// Where an unread secret would come from, for `check`'s output.
pub(super) fn unloaded_source(raw: &RawSecret, validator: &Validator<'_>) -> SecretSource {
    match raw {
        RawSecret::Env(name) => SecretSource::Env(name.clone()),
        RawSecret::File(path) => SecretSource::File(validator.resolve_path(path)),
        RawSecret::Literal(_) => SecretSource::Literal,
    }
}

pub(super) struct KeyFields {
    secret: Option<RawSecret>,
    public_key_file: Option<String>,
    jwks_file: Option<String>,
    jwks_url: Option<String>,
    discovery_url: Option<String>,
    timing: RemoteTiming,
    kid: Option<String>,
}

/// Why `bytes` must not be an HMAC secret, phrased to follow the secret's source.
pub(super) fn hmac_secret_problem(bytes: &[u8]) -> Option<String> {
    let start = bytes.trim_ascii_start();
    if start.starts_with(b"-----BEGIN") {
        return Some(
            "looks like a PEM key; a public key used as an HMAC secret lets anyone who has it forge tokens (RFC 8725 §3.5). Use public_key_file with RS*/ES* algorithms, or a random secret".to_owned(),
        );
    }
    if start.starts_with(b"{") {
        return Some(
            "looks like a JSON/JWK object; put key sets in jwks_file with public-key algorithms, or use a random secret".to_owned(),
        );
    }
    if looks_like_der(bytes) {
        return Some(
            "looks like a DER-encoded key; a key used as an HMAC secret invites algorithm confusion (RFC 8725 §3.5). Use a random secret".to_owned(),
        );
    }
    weak_secret_problem(bytes)
}

/// A DER SEQUENCE whose declared length covers exactly the whole value.
pub(super) fn looks_like_der(bytes: &[u8]) -> bool {
    match bytes {
        [0x30, 0x81, len, rest @ ..] => usize::from(*len) == rest.len(),
        [0x30, 0x82, hi, lo, rest @ ..] => {
            usize::from(u16::from_be_bytes([*hi, *lo])) == rest.len()
        }
        _ => false,
    }
}
