//! Converts the raw TOML mirror into a validated [`Config`], collecting every problem.
//!
//! Parsing stops only at TOML syntax and unknown keys (serde reports the first). After
//! that, every section is checked and every problem is recorded with the key that caused
//! it, so an operator fixes a file in one pass instead of one restart per mistake.
//! Secret values never appear in a message: only the env var or file they came from.
//!
//! The sections live in child modules: `server` (`[server]`, `[upstream]`), `auth`
//! (token sources, origins, limits), `issuers` (issuers and key material) with
//! `remote_keys` (`jwks_url`/`discovery_url`), `identity` (forwarded headers and the E2E
//! bypass), `assertion`, `sessions`, `routes`. Section files never import each other:
//! `primitives` holds the shared value parsers, `rules` the shared predicates (labels,
//! reserved headers, secret strength), `syntax` the TOML error locator.

mod assertion;
mod auth;
mod identity;
mod issuers;
mod primitives;
mod remote_keys;
mod routes;
mod rules;
mod server;
mod sessions;
mod syntax;

use syntax::toml_error;
#[cfg(test)]
mod tests;

use std::path::Path;

use super::raw::RawConfig;
use super::{Config, ConfigError, ConfigErrors, PRODUCTION};

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
}
