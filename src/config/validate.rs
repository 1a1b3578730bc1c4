//! Converts the raw TOML mirror into a validated [`Config`], collecting every problem.
//!
//! Parsing stops only at TOML syntax and unknown keys (serde reports the first). After
//! that, every section is checked and every problem is recorded with the key that caused
//! it, so an operator fixes a file in one pass instead of one restart per mistake.
//! Secret values never appear in a message: only the env var or file they came from.
//!
//! The sections live in child modules: `server` (`[server]`, `[upstream]`), `auth`
//! (token sources, origins, limits), `issuers` (issuers and key material), `identity`
//! (forwarded headers and the E2E bypass); `primitives` holds the shared value parsers.

mod assertion;
mod auth;
mod identity;
mod issuers;
mod primitives;
mod server;
mod sessions;

use primitives::toml_error;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

use super::raw::{RawConfig, RawRoute};
use super::{Config, PRODUCTION, RouteAuth, RouteConfig};

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
        let identity = self.identity(raw.identity, &env_label);
        let e2e_bypass = self.bypass(raw.e2e_bypass, &env_label);
        let routes = self.routes(raw.routes);
        let sessions = self.sessions(raw.sessions);
        let admin = self.admin(raw.admin);

        if let (Some(auth), Some(identity), Some(bypass)) = (&auth, &identity, &e2e_bypass) {
            self.check_header_collisions(auth, identity, bypass);
        }
        if let (Some(routes), Some(server), Some(identity)) = (&routes, &server, &identity) {
            self.check_client_certificates(routes, server, identity);
        }
        if let (Some(routes), Some(environment)) = (&routes, &environment) {
            let bypass_active = e2e_bypass.as_ref().is_some_and(|b| b.active);
            let by_certificate = identity
                .as_ref()
                .is_some_and(|i| i.user_from == super::UserFrom::ClientCert);
            if !issuer_enabled_here && !bypass_active {
                self.check_routes_can_authenticate(routes, environment, by_certificate);
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
            sessions: sessions?,
            admin: admin?,
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
                Some(path) => match crate::http::path::normalize(&path) {
                    Ok(normal) if normal == path => Some(path),
                    // Requests are matched in normalized form: this prefix could never match.
                    Ok(normal) => self.error(
                        format!("{key}.path"),
                        format!("{path:?} is matched in normalized form: write {normal:?}"),
                    ),
                    Err(_) => self.error(
                        format!("{key}.path"),
                        format!(
                            "{path:?} is a path wsgate refuses to route (dot or empty segments, ';', '\\', encoded '/', '\\', '.' or control bytes)"
                        ),
                    ),
                },
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
            let client_cert_required = match raw.client_cert.as_deref() {
                None | Some("none") => Some(false),
                Some("required") => Some(true),
                Some(other) => self.error(
                    format!("{key}.client_cert"),
                    format!(r#"{other:?} is not one of "required", "none""#),
                ),
            };
            let (Some(path), Some(auth), Some(client_cert_required)) =
                (path, auth, client_cert_required)
            else {
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
                client_cert_required,
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
                client_cert_required: false,
                implicit: true,
            });
        }
        self.warn_stricter_children(&routes);
        Some(routes)
    }

    /// A route stricter than the route that catches its neighbours is only as strong as
    /// the agreement between wsgate and the upstream on what a path is: anything the
    /// upstream serves as the child but wsgate sees under another path gets the parent's
    /// (weaker) treatment. wsgate normalizes what it can (`path.rs`); `check` says what
    /// is left to the upstream.
    fn warn_stricter_children(&mut self, routes: &[RouteConfig]) {
        let rank = |auth: RouteAuth| match auth {
            RouteAuth::None => 0,
            RouteAuth::Optional => 1,
            RouteAuth::Required => 2,
        };
        let auth_name = |auth: RouteAuth| match auth {
            RouteAuth::None => "none",
            RouteAuth::Optional => "optional",
            RouteAuth::Required => "required",
        };
        for (index, child) in routes.iter().enumerate() {
            let Some(parent) = routes[index + 1..].iter().find(|r| r.matches(&child.path)) else {
                continue;
            };
            let more_claims = child
                .claims
                .iter()
                .any(|claim| !parent.claims.contains(claim));
            let stricter = rank(child.auth) > rank(parent.auth)
                || (child.auth == parent.auth && child.auth != RouteAuth::None && more_claims);
            if !stricter {
                continue;
            }
            let example = bypass_example(&child.path);
            self.warn(format!(
                "route {child:?} (auth = {}{}) is stricter than {parent:?} (auth = {}{}), which catches the paths around it: \
                 a request the upstream serves as {child:?} but wsgate sees under another path is judged by {parent:?}. \
                 wsgate judges and forwards the normalized path (percent-encoded letters decoded, so {example:?} is judged as {child:?}; \
                 encoded '/', '\\', '.', dot segments, \"//\" and ';' refused) and judges {upper:?} by {child:?} too, \
                 for upstreams that ignore case; but an upstream that ignores a trailing dot ({dot:?}) or a file extension ({ext:?}), \
                 or rewrites paths itself, would still serve {child:?} to a request judged by {parent:?}: \
                 make the parent at least as strict and list the open paths as their own routes",
                auth_name(child.auth),
                if child.claims.is_empty() { "" } else { ", with claims" },
                auth_name(parent.auth),
                if parent.claims.is_empty() { "" } else { ", with claims" },
                child = child.path,
                parent = parent.path,
                upper = child.path.to_ascii_uppercase(),
                dot = format!("{}.", child.path.trim_end_matches('/')),
                ext = format!("{}.json", child.path.trim_end_matches('/')),
            ));
        }
    }

    /// Client certificates need a CA to verify them against, on a TLS listener.
    fn check_client_certificates(
        &mut self,
        routes: &[RouteConfig],
        server: &super::ServerConfig,
        identity: &super::IdentityConfig,
    ) {
        let verifies = server
            .tls
            .as_ref()
            .is_some_and(|tls| tls.client_ca_file.is_some());
        if verifies {
            return;
        }
        for (index, route) in routes.iter().enumerate() {
            if route.client_cert_required {
                self.error::<()>(
                    format!("routes[{index}].client_cert"),
                    "needs server.tls.client_ca_file to verify client certificates against",
                );
            }
        }
        if identity.user_from == super::UserFrom::ClientCert {
            self.error::<()>(
                "identity.user_from",
                r#""client_cert" needs server.tls.client_ca_file and routes with client_cert = "required""#,
            );
        }
    }

    /// A route that wants a caller's identity needs something that can provide one.
    fn check_routes_can_authenticate(
        &mut self,
        routes: &[RouteConfig],
        environment: &str,
        by_certificate: bool,
    ) {
        for (index, route) in routes.iter().enumerate() {
            if route.auth == RouteAuth::None || (by_certificate && route.client_cert_required) {
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
}

/// `path` with its last letter percent-encoded: how a route bypass through encoding looks.
fn bypass_example(path: &str) -> String {
    match path
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_ascii_alphanumeric())
    {
        Some((at, c)) => format!("{}%{:02X}{}", &path[..at], c as u32, &path[at + 1..]),
        None => path.to_owned(),
    }
}
