//! The value parsers every section uses (durations, addresses, integers, header names,
//! secrets, files), and TOML syntax errors located by line and column.

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

    /// An issuer's `jwks_ca_file` for its key URL `url` (the `name` key): a CA file, for
    /// https only; not read (only resolved) when the issuer is disabled here (`!load`).
    pub(super) fn jwks_ca_file(
        &mut self,
        issuer_key: &str,
        name: &str,
        url: &str,
        path: Option<&str>,
        load: bool,
    ) -> Option<Option<PathBuf>> {
        let key = format!("{issuer_key}.jwks_ca_file");
        match path {
            None => Some(None),
            Some(_) if url.starts_with("http:") => {
                self.error(key, format!("is only used for https; {name} is http"))
            }
            Some(path) if !load => Some(Some(self.resolve_path(path))),
            Some(path) => self.ca_file(&key, path).map(Some),
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

/// A TOML syntax or shape error, located by line and column. The offending line itself is
/// not quoted: it could hold a literal secret.
pub(super) fn toml_error(text: &str, err: &toml::de::Error) -> ConfigError {
    // Without its input, toml's Display appends "in `a.b.0.c`": the key path.
    let mut bare = err.clone();
    bare.set_input(None);
    let shown = bare.to_string();
    let key = shown
        .lines()
        .find_map(|line| line.strip_prefix("in `")?.strip_suffix('`'))
        .map(|dotted| key_path(text, dotted, err.span().map_or(0, |s| s.start)))
        .unwrap_or_default();
    let mut message = err.message().trim_end().to_owned();
    // For an unknown key toml names the enclosing table; name the key itself.
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field.to_owned());
    let key = match unknown {
        Some(field) if key.is_empty() => field,
        Some(field) => format!("{key}.{field}"),
        None => key,
    };
    let is_secret = key.ends_with("secret") || key.ends_with("key") || key.contains("keys");
    if is_secret && message.starts_with("invalid type") {
        message = r#"must be { env = "VAR" } or { file = "PATH" }"#.to_owned();
    }
    // serde quotes the offending string value; any value may be a misplaced secret.
    for prefix in ["invalid type: string ", "invalid value: string "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let expected = rest.find(", expected").map_or("", |i| &rest[i..]);
            message = format!(
                "{}a string{expected}",
                &prefix[..prefix.len() - "string ".len()]
            );
            break;
        }
    }
    let message = match err.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    };
    ConfigError::new(key, message)
}

/// toml names the key without array indices (`auth.issuers.secret`); put back the index
/// of each `[[array]]` table the error sits in by counting its headers before `offset`.
/// (Inline arrays, `keys = [{ ... }]`, keep the bare name.)
pub(super) fn key_path(text: &str, dotted: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let mut prefix = String::new();
    let mut out = String::new();
    for part in dotted.split('.') {
        if !prefix.is_empty() {
            prefix.push('.');
            out.push('.');
        }
        prefix.push_str(part);
        out.push_str(part);
        let header = format!("[[{prefix}]]");
        let count = before
            .lines()
            .filter(|line| line.trim().replace(' ', "") == header)
            .count();
        if count > 0 {
            out.push_str(&format!("[{}]", count - 1));
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
