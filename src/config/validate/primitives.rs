//! The value parsers every section uses (durations, addresses, integers, header names,
//! secrets, files), recording each problem under its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use http::HeaderName;

use super::{ConfigError, Validator};
use crate::config::raw::RawSecret;
use crate::config::{Secret, SecretSource};

impl Validator<'_> {
    /// Records a problem. Returns `None` so callers can `return self.error(...)`.
    pub(super) fn error<T>(
        &mut self,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Option<T> {
        self.errors.push(ConfigError::new(key, message));
        None
    }

    pub(super) fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    pub(super) fn resolve_path(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base_dir.join(path)
        }
    }

    pub(super) fn read_file(&mut self, key: &str, path: &str) -> Option<(PathBuf, Vec<u8>)> {
        if path.is_empty() {
            return self.error(key, "is empty; give a file path");
        }
        let resolved = self.resolve_path(path);
        match std::fs::read(&resolved) {
            Ok(bytes) if bytes.is_empty() => {
                self.error(key, format!("file {} is empty", resolved.display()))
            }
            Ok(bytes) => Some((resolved, bytes)),
            Err(err) => self.error(
                key,
                format!("cannot read file {}: {err}", resolved.display()),
            ),
        }
    }

    pub(super) fn readable_file(&mut self, key: &str, path: Option<&str>) -> Option<PathBuf> {
        let Some(path) = path else {
            return self.error(key, "is required when [server.tls] is set");
        };
        let resolved = self.resolve_path(path);
        match std::fs::File::open(&resolved) {
            Ok(_) if resolved.is_file() => Some(resolved),
            Ok(_) => self.error(key, format!("{} is not a regular file", resolved.display())),
            Err(err) => self.error(
                key,
                format!("cannot read file {}: {err}", resolved.display()),
            ),
        }
    }

    /// A CA file (`upstream.ca_file`, an issuer's `jwks_ca_file`): a readable PEM file with
    /// at least one certificate.
    pub(super) fn ca_file(&mut self, key: &str, path: &str) -> Option<PathBuf> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let resolved = self.readable_file(key, Some(path))?;
        match CertificateDer::pem_file_iter(&resolved)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        {
            Ok(certs) if !certs.is_empty() => Some(resolved),
            Ok(_) => self.error(
                key,
                format!("{} holds no PEM certificate", resolved.display()),
            ),
            Err(err) => self.error(
                key,
                format!("{} is not valid PEM: {err}", resolved.display()),
            ),
        }
    }

    /// Reads a secret from its env var, file or literal. Only emptiness is checked here;
    /// strength rules depend on what the secret is for. A literal is accepted with a warning.
    pub(super) fn secret(&mut self, key: &str, raw: &RawSecret) -> Option<Secret> {
        match raw {
            RawSecret::Env(name) if name.is_empty() => self.error(key, "env = \"\" names no variable"),
            RawSecret::Env(name) => match (self.env)(name) {
                None => self.error(
                    key,
                    format!("env var {name} is not set; deploy it (e.g. from a secret manager) or change {key}"),
                ),
                Some(value) if value.is_empty() => self.error(
                    key,
                    format!("env var {name} is set but empty; give it the secret value"),
                ),
                Some(value) => Some(Secret::new(SecretSource::Env(name.clone()), value.into_bytes())),
            },
            RawSecret::File(path) => {
                let (resolved, mut bytes) = self.read_file(key, path)?;
                // Editors and `echo` add one newline; strip exactly one, keep anything else.
                if bytes.ends_with(b"\r\n") {
                    bytes.truncate(bytes.len() - 2);
                } else if bytes.ends_with(b"\n") {
                    bytes.truncate(bytes.len() - 1);
                }
                if bytes.is_empty() {
                    return self.error(
                        key,
                        format!("file {} holds only a newline; put the secret in it", resolved.display()),
                    );
                }
                Some(Secret::new(SecretSource::File(resolved), bytes))
            }
            RawSecret::Literal(value) if value.is_empty() => {
                self.error(key, r#"is an empty string; use { env = "VAR" } or { file = "PATH" }"#)
            }
            RawSecret::Literal(value) => {
                self.warn(format!(
                    r#"{key} is a literal in the config file; anyone who can read the file has it. Use {{ env = "VAR" }} or {{ file = "PATH" }}"#
                ));
                Some(Secret::new(SecretSource::Literal, value.clone().into_bytes()))
            }
        }
    }

    pub(super) fn socket_addr(&mut self, key: &str, text: &str) -> Option<SocketAddr> {
        match SocketAddr::from_str(text) {
            Ok(addr) => Some(addr),
            Err(_) => self.error(
                key,
                format!(r#"{text:?} is not an IP:port address; write e.g. "0.0.0.0:8080" or "[::]:8080""#),
            ),
        }
    }

    pub(super) fn integer(
        &mut self,
        key: &str,
        raw: Option<i64>,
        default: u64,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let Some(value) = raw else {
            return Some(default);
        };
        match u64::try_from(value) {
            Ok(value) if (min..=max).contains(&value) => Some(value),
            _ => self.error(
                key,
                format!("{value} is out of range; allowed {min}..={max}"),
            ),
        }
    }

    /// A positive duration: `"30s"`, `"10m"`, `"1h 30m"`.
    pub(super) fn duration(
        &mut self,
        key: &str,
        raw: Option<&str>,
        default: &str,
    ) -> Option<Duration> {
        let duration = self.duration_allow_zero(key, raw.unwrap_or(default))?;
        if duration.is_zero() {
            return self.error(key, format!("must be longer than zero, e.g. {default:?}"));
        }
        Some(duration)
    }

    pub(super) fn duration_allow_zero(&mut self, key: &str, text: &str) -> Option<Duration> {
        match humantime::parse_duration(text) {
            // Deadlines are `Instant + duration`: an absurd value would overflow the clock.
            Ok(duration) if duration > MAX_DURATION => self.error(
                key,
                format!("{text:?} is longer than the 366-day maximum; use \"none\" for no limit where allowed"),
            ),
            Ok(duration) => Some(duration),
            Err(err) => self.error(
                key,
                format!(
                    r#"{text:?} is not a duration ({err}); write e.g. "30s", "10m" or "1h 30m""#
                ),
            ),
        }
    }

    /// A duration where `"none"`, `"off"` or zero means unlimited.
    pub(super) fn optional_duration(&mut self, key: &str, text: &str) -> Option<Option<Duration>> {
        if matches!(text.trim(), "none" | "off") {
            return Some(None);
        }
        let duration = self.duration_allow_zero(key, text)?;
        Some((!duration.is_zero()).then_some(duration))
    }

    pub(super) fn header_name(&mut self, key: &str, text: &str) -> Option<HeaderName> {
        match HeaderName::from_bytes(text.as_bytes()) {
            Ok(name) => Some(name),
            Err(_) => self.error(
                key,
                format!(
                    "{text:?} is not a valid HTTP header name (letters, digits and -!#$%&'*+.^_`|~)"
                ),
            ),
        }
    }
}

/// Longest accepted duration: a year and a day.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);
