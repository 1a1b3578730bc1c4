//! Converts the raw TOML mirror into a validated [`Config`], collecting every problem.
//!
//! Parsing stops only at TOML syntax and unknown keys (serde reports the first). After
//! that, every section is checked and every problem is recorded with the key that caused
//! it, so an operator fixes a file in one pass instead of one restart per mistake.
//! Secret values never appear in a message: only the env var or file they came from.
//!
//! The sections live in child modules: `auth` (token sources, origins, issuers, key
//! material) and `identity` (forwarded headers and the E2E bypass).

mod auth;
mod identity;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use http::HeaderName;

use super::raw::{RawConfig, RawRoute, RawSecret, RawServer, RawUpstream};
use super::{
    Config, PRODUCTION, RouteAuth, RouteConfig, Secret, SecretSource, ServerConfig, TlsFiles,
    UpstreamConfig,
};

/// One problem with the configuration, naming the key (`auth.issuers[0].secret`) and, where
/// relevant, the env var or file. Never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path; empty for file-level problems (syntax, unreadable file).
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file (or `<string>`) the problems are in.
    pub origin: String,
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub fn single(error: ConfigError) -> ConfigErrors {
        ConfigErrors {
            origin: String::new(),
            errors: vec![error],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        if self.origin.is_empty() {
            writeln!(
                f,
                "invalid configuration ({n} problem{}):",
                if n == 1 { "" } else { "s" }
            )?;
        } else {
            writeln!(
                f,
                "invalid configuration in {} ({n} problem{}):",
                self.origin,
                if n == 1 { "" } else { "s" }
            )?;
        }
        for error in &self.errors {
            writeln!(f, "  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The process environment, or a test's map, as seen by config parsing.
pub type Environment<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(super) fn parse(
    text: &str,
    origin: &str,
    env: Environment<'_>,
    base_dir: &Path,
) -> Result<Config, ConfigErrors> {
    let fail = |errors| ConfigErrors {
        origin: origin.to_owned(),
        errors,
    };
    let raw: RawConfig = toml::from_str(text).map_err(|err| fail(vec![toml_error(text, &err)]))?;
    let mut validator = Validator {
        env,
        base_dir,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    match validator.config(raw) {
        Some(config) if validator.errors.is_empty() => Ok(config),
        _ => Err(fail(validator.errors)),
    }
}

/// Collects problems while converting sections. Each section method returns `None` when
/// anything in it was wrong (the problem is already recorded), so checks that span
/// sections only run on sections that parsed.
struct Validator<'a> {
    env: Environment<'a>,
    base_dir: &'a Path,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
}

impl Validator<'_> {
    fn config(&mut self, raw: RawConfig) -> Option<Config> {
        let environment = self.environment(raw.environment);
        let env_label = environment.clone().unwrap_or_default();
        let server = self.server(raw.server);
        let upstream = self.upstream(raw.upstream);
        // Judged from the raw issuers so a problem elsewhere in [auth] cannot hide it.
        let issuer_enabled_here = raw.auth.issuers.iter().any(|issuer| {
            issuer
                .environments
                .as_ref()
                .is_none_or(|envs| envs.is_empty() || envs.contains(&env_label))
        });
        let auth = self.auth(raw.auth, &env_label);
        let identity = self.identity(raw.identity);
        let e2e_bypass = self.bypass(raw.e2e_bypass, &env_label);
        let routes = self.routes(raw.routes);

        if let (Some(auth), Some(identity), Some(bypass)) = (&auth, &identity, &e2e_bypass) {
            self.check_header_collisions(auth, identity, bypass);
        }
        if let (Some(routes), Some(environment)) = (&routes, &environment) {
            let bypass_active = e2e_bypass.as_ref().is_some_and(|b| b.active);
            if !issuer_enabled_here && !bypass_active {
                self.check_routes_can_authenticate(routes, environment);
            }
        }

        Some(Config {
            environment: environment?,
            server: server?,
            upstream: upstream?,
            auth: auth?,
            identity: identity?,
            e2e_bypass: e2e_bypass?,
            routes: routes?,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    fn environment(&mut self, raw: Option<String>) -> Option<String> {
        match raw {
            None => self.error(
                "environment",
                r#"is required: a label such as "staging" or "production"; it scopes issuers and the E2E bypass"#,
            ),
            Some(label) if label.trim().is_empty() || label.trim() != label => self.error(
                "environment",
                r#"must be a non-empty label without surrounding spaces, e.g. "staging""#,
            ),
            // Other modules compare with PRODUCTION exactly: a "Production" must not slip by.
            Some(label) if label.eq_ignore_ascii_case(PRODUCTION) && label != PRODUCTION => self.error(
                "environment",
                format!("{label:?} must be spelled {PRODUCTION:?} (lowercase) so production-only protections apply"),
            ),
            Some(label) => {
                if matches!(label.to_ascii_lowercase().as_str(), "prod" | "prd" | "live") {
                    self.warn(format!(
                        "environment {label:?} is not {PRODUCTION:?}: the production protections (no E2E bypass, no mint) do not apply"
                    ));
                }
                Some(label)
            }
        }
    }

    fn server(&mut self, raw: RawServer) -> Option<ServerConfig> {
        let mark = self.errors.len();
        let listen = self.listen(raw.listen.as_deref());
        let admin_listen = self.socket_addr(
            "server.admin_listen",
            raw.admin_listen.as_deref().unwrap_or("0.0.0.0:9090"),
        );
        if let (Some(listen), Some(admin)) = (listen, admin_listen) {
            let same_ip = listen.ip() == admin.ip()
                || listen.ip().is_unspecified()
                || admin.ip().is_unspecified();
            if listen.port() != 0 && listen.port() == admin.port() && same_ip {
                self.error::<()>(
                    "server.admin_listen",
                    format!(
                        "{admin} overlaps server.listen ({listen}); give the admin endpoints their own port"
                    ),
                );
            }
        }
        let max_connections = self.integer(
            "server.max_connections",
            raw.max_connections,
            10_000,
            1,
            10_000_000,
        );
        let handshake_timeout = self.duration(
            "server.handshake_timeout",
            raw.handshake_timeout.as_deref(),
            "10s",
        );
        let drain_timeout = self.duration_allow_zero(
            "server.drain_timeout",
            raw.drain_timeout.as_deref().unwrap_or("25s"),
        );
        let max_session_duration = self.optional_duration(
            "server.max_session_duration",
            raw.max_session_duration.as_deref().unwrap_or("55m"),
        );
        let idle_timeout = self.optional_duration(
            "server.idle_timeout",
            raw.idle_timeout.as_deref().unwrap_or("10m"),
        );
        let max_frame_bytes = self.integer(
            "server.max_frame_bytes",
            raw.max_frame_bytes,
            1 << 20,
            125,
            1 << 30,
        );
        let max_message_bytes = self.integer(
            "server.max_message_bytes",
            raw.max_message_bytes,
            16 << 20,
            125,
            1 << 32,
        );
        if let (Some(frame), Some(message)) = (max_frame_bytes, max_message_bytes) {
            if frame > message {
                self.error::<()>(
                    "server.max_frame_bytes",
                    format!(
                        "{frame} exceeds server.max_message_bytes ({message}); a frame is part of a message, so lower it or raise max_message_bytes"
                    ),
                );
            }
        }
        let tls = match raw.tls {
            None => Some(None),
            Some(tls) => {
                let cert_file =
                    self.readable_file("server.tls.cert_file", tls.cert_file.as_deref());
                let key_file = self.readable_file("server.tls.key_file", tls.key_file.as_deref());
                Some(Some(TlsFiles {
                    cert_file: cert_file?,
                    key_file: key_file?,
                }))
            }
        };
        if self.errors.len() > mark {
            return None;
        }
        Some(ServerConfig {
            listen: listen?,
            admin_listen: admin_listen?,
            max_connections: usize::try_from(max_connections?).ok()?,
            handshake_timeout: handshake_timeout?,
            drain_timeout: drain_timeout?,
            max_session_duration: max_session_duration?,
            idle_timeout: idle_timeout?,
            max_frame_bytes: max_frame_bytes?,
            max_message_bytes: max_message_bytes?,
            tls: tls?,
            trust_forwarded_headers: raw.trust_forwarded_headers.unwrap_or(false),
        })
    }

    /// `server.listen`, with the port replaced by the `PORT` env var when it is set
    /// (Cloud Run and Heroku-style platforms choose the port).
    fn listen(&mut self, raw: Option<&str>) -> Option<SocketAddr> {
        let mut addr = self.socket_addr("server.listen", raw.unwrap_or("0.0.0.0:8080"));
        if let Some(port) = (self.env)("PORT") {
            match port.trim().parse::<u16>() {
                Ok(port) => {
                    if let Some(addr) = &mut addr {
                        addr.set_port(port);
                    }
                }
                Err(_) => addr = self.error(
                    "server.listen",
                    format!(
                        "env var PORT ({port:?}) is not a port number (0-65535); fix or unset PORT"
                    ),
                ),
            }
        }
        addr
    }

    fn upstream(&mut self, raw: Option<RawUpstream>) -> Option<UpstreamConfig> {
        let Some(raw) = raw else {
            return self.error(
                "upstream.url",
                r#"is required: the backend to relay to, e.g. [upstream] url = "ws://127.0.0.1:8000""#,
            );
        };
        let connect_timeout = self.duration(
            "upstream.connect_timeout",
            raw.connect_timeout.as_deref(),
            "5s",
        );
        let response_timeout = self.duration(
            "upstream.response_timeout",
            raw.response_timeout.as_deref(),
            "60s",
        );
        let Some(text) = raw.url else {
            return self.error(
                "upstream.url",
                r#"is required, e.g. url = "ws://127.0.0.1:8000""#,
            );
        };
        let url = match url::Url::parse(&text) {
            Ok(url) => url,
            Err(err) => {
                // The text is not quoted: a malformed URL may still carry credentials.
                return self.error(
                    "upstream.url",
                    format!("is not a URL ({err}); write e.g. \"ws://127.0.0.1:8000\""),
                );
            }
        };
        let mut problems = Vec::new();
        let tls = match url.scheme() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            other => {
                problems.push(format!(
                    "scheme {other:?} is not supported; use ws, wss, http or https"
                ));
                false
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            problems.push(
                "must not carry credentials (user:password@); the upstream trusts wsgate's identity headers instead"
                    .to_owned(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            problems.push(
                "must not have a query or fragment; the client's query is forwarded".to_owned(),
            );
        }
        let host = url.host_str().filter(|h| !h.is_empty());
        if host.is_none() {
            problems.push("has no host".to_owned());
        }
        if !problems.is_empty() {
            for problem in problems {
                // Never quote the URL itself: it may carry a password.
                self.error::<()>("upstream.url", problem);
            }
            return None;
        }
        let host = host?.to_owned();
        let port = url.port_or_known_default()?;
        let base_path = url.path().trim_end_matches('/').to_owned();
        Some(UpstreamConfig {
            tls,
            host,
            port,
            base_path,
            url,
            connect_timeout: connect_timeout?,
            response_timeout: response_timeout?,
            preserve_host: raw.preserve_host.unwrap_or(false),
        })
    }

    fn routes(&mut self, raw: Vec<RawRoute>) -> Option<Vec<RouteConfig>> {
        let mark = self.errors.len();
        let mut routes: Vec<RouteConfig> = Vec::with_capacity(raw.len() + 1);
        for (index, raw) in raw.into_iter().enumerate() {
            let key = format!("routes[{index}]");
            let path = match raw.path {
                None => self.error(format!("{key}.path"), r#"is required, e.g. path = "/ws""#),
                Some(path) if !path.starts_with('/') => self.error(
                    format!("{key}.path"),
                    format!("{path:?} must start with \"/\""),
                ),
                Some(path) if path.contains(['?', '#']) || path.contains(char::is_whitespace) => {
                    self.error(
                        format!("{key}.path"),
                        format!(
                            "{path:?} must be a plain path prefix (no query, fragment or spaces)"
                        ),
                    )
                }
                Some(path) => Some(path),
            };
            let auth = match raw.auth.as_deref() {
                None | Some("required") => Some(RouteAuth::Required),
                Some("optional") => Some(RouteAuth::Optional),
                Some("none") => Some(RouteAuth::None),
                Some(other) => self.error(
                    format!("{key}.auth"),
                    format!(r#"{other:?} is not one of "required", "optional", "none""#),
                ),
            };
            let claims = raw.claims.map(|pairs| pairs.0).unwrap_or_default();
            for (claim, _) in &claims {
                if claim.is_empty() {
                    self.error::<()>(format!("{key}.claims"), "a claim name is empty");
                }
            }
            if auth == Some(RouteAuth::None) && !claims.is_empty() {
                self.error::<()>(
                    format!("{key}.claims"),
                    r#"claims need a verified token, which an auth = "none" route never has; use auth = "required""#,
                );
            }
            let (Some(path), Some(auth)) = (path, auth) else {
                continue;
            };
            if let Some(earlier) = routes.iter().position(|r| r.path == path) {
                self.error::<()>(
                    format!("{key}.path"),
                    format!("{path:?} duplicates routes[{earlier}].path; merge the two routes"),
                );
            } else if let Some(earlier) = routes.iter().position(|r| r.matches(&path)) {
                self.error::<()>(
                    format!("{key}.path"),
                    format!(
                        "{path:?} is never reached: routes[{earlier}] ({:?}) matches it first; list more specific paths first",
                        routes[earlier].path
                    ),
                );
            }
            routes.push(RouteConfig {
                path,
                auth,
                claims,
                implicit: false,
            });
        }
        if self.errors.len() > mark {
            return None;
        }
        if !routes.iter().any(|r| r.path == "/") {
            routes.push(RouteConfig {
                path: "/".to_owned(),
                auth: RouteAuth::Required,
                claims: Vec::new(),
                implicit: true,
            });
        }
        Some(routes)
    }

    /// A route that wants a caller's identity needs something that can provide one.
    fn check_routes_can_authenticate(&mut self, routes: &[RouteConfig], environment: &str) {
        for (index, route) in routes.iter().enumerate() {
            if route.auth == RouteAuth::None {
                continue;
            }
            let which = if route.implicit {
                r#"the implicit catch-all route "/" (added because no route has path "/")"#
                    .to_owned()
            } else {
                format!("route {:?}", route.path)
            };
            let key = if route.implicit {
                "routes".to_owned()
            } else {
                format!("routes[{index}].auth")
            };
            self.error::<()>(
                key,
                format!(
                    "{which} needs authentication but no issuer is enabled in environment {environment:?} and the E2E bypass is off; add an [[auth.issuers]] for this environment or set auth = \"none\""
                ),
            );
        }
    }

    // ---- primitives -------------------------------------------------------------------

    /// Records a problem. Returns `None` so callers can `return self.error(...)`.
    fn error<T>(&mut self, key: impl Into<String>, message: impl Into<String>) -> Option<T> {
        self.errors.push(ConfigError::new(key, message));
        None
    }

    fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    fn resolve_path(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base_dir.join(path)
        }
    }

    fn read_file(&mut self, key: &str, path: &str) -> Option<(PathBuf, Vec<u8>)> {
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

    fn readable_file(&mut self, key: &str, path: Option<&str>) -> Option<PathBuf> {
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

    /// Reads a secret from its env var, file or literal. Only emptiness is checked here;
    /// strength rules depend on what the secret is for. A literal is accepted with a warning.
    fn secret(&mut self, key: &str, raw: &RawSecret) -> Option<Secret> {
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

    fn socket_addr(&mut self, key: &str, text: &str) -> Option<SocketAddr> {
        match SocketAddr::from_str(text) {
            Ok(addr) => Some(addr),
            Err(_) => self.error(
                key,
                format!(r#"{text:?} is not an IP:port address; write e.g. "0.0.0.0:8080" or "[::]:8080""#),
            ),
        }
    }

    fn integer(
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
    fn duration(&mut self, key: &str, raw: Option<&str>, default: &str) -> Option<Duration> {
        let duration = self.duration_allow_zero(key, raw.unwrap_or(default))?;
        if duration.is_zero() {
            return self.error(key, format!("must be longer than zero, e.g. {default:?}"));
        }
        Some(duration)
    }

    fn duration_allow_zero(&mut self, key: &str, text: &str) -> Option<Duration> {
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
    fn optional_duration(&mut self, key: &str, text: &str) -> Option<Option<Duration>> {
        if matches!(text.trim(), "none" | "off") {
            return Some(None);
        }
        let duration = self.duration_allow_zero(key, text)?;
        Some((!duration.is_zero()).then_some(duration))
    }

    fn header_name(&mut self, key: &str, text: &str) -> Option<HeaderName> {
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
const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// A TOML syntax or shape error, located by line and column. The offending line itself is
/// not quoted: it could hold a literal secret.
fn toml_error(text: &str, err: &toml::de::Error) -> ConfigError {
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
fn key_path(text: &str, dotted: &str, offset: usize) -> String {
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
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
