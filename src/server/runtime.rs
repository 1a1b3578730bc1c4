//! The one place a validated [`Config`] becomes what runs: a [`Policy`].
//!
//! `Config::parse` checks what the TOML says; this reads and checks what it points at:
//! every issuer's verification keys (the [`Gate`]), the listener's TLS material (its
//! certificate and key, the client CA), the upstream's TLS settings (its CA, the client
//! certificate wsgate presents) and the assertion signer. `wsgate run`, `check`,
//! `explain`, `demo`, every reload and the library's [`super::run`] all come through
//! here, so a configuration `check` accepts is the one `run` serves, and a reload that
//! would fail is refused whole before anything is swapped in.
//!
//! Every problem is reported once, all at once, each naming its key and file; the
//! [`ConfigErrors`] carry the config file as their origin.

use std::path::Path;
use std::sync::Arc;

use crate::assertion::Assertion;
use crate::auth::Gate;
use crate::config::{Config, ConfigError, ConfigErrors};
use crate::net::tls::ListenerTls;
use crate::proxy::{Policy, SharedNames};
use crate::upstream::Upstream;

/// Reads the config file at `path` with the process environment and builds its policy;
/// the problems name `path` as their origin.
pub fn load(path: &Path) -> Result<Policy, ConfigErrors> {
    let config = Config::load(path)?;
    build(Arc::new(config)).map_err(|mut errors| {
        errors.origin = path.display().to_string();
        errors
    })
}

/// Loads everything `config` names. The errors' origin is empty: the caller knows the
/// file (see [`load`]).
pub fn build(config: Arc<Config>) -> Result<Policy, ConfigErrors> {
    // Key problems first (they were always listed first), then the files in the order
    // of the sections that name them.
    let (gate, mut errors) = match Gate::new(config.clone()) {
        Ok(gate) => (Some(gate), Vec::new()),
        Err(problems) => (None, problems.errors),
    };
    // These messages already name the key and the file
    // (`server.tls.cert_file /etc/wsgate/tls.crt: ...`), so they travel as they are.
    let mut problem = |message: String| errors.push(ConfigError::new("", message));
    let tls = match &config.server.tls {
        Some(files) => ListenerTls::new(files)
            .map(Some)
            .map_err(|e| problem(e.to_string())),
        None => Ok(None),
    };
    let upstream = Upstream::new(&config.upstream).map_err(|e| problem(e.to_string()));
    let assertion = match &config.identity.assertion {
        Some(settings) => Assertion::new(settings).map(Some).map_err(&mut problem),
        None => Ok(None),
    };
    match (gate, tls, upstream, assertion) {
        (Some(gate), Ok(tls), Ok(upstream), Ok(assertion)) => Ok(Policy {
            names: SharedNames::new(gate.config()),
            gate,
            upstream,
            assertion,
            tls,
        }),
        _ => Err(ConfigErrors {
            origin: String::new(),
            errors,
        }),
    }
}
