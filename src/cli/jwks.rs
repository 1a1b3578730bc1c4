//! `wsgate check --print-jwks FILE`: the signed identity assertion's public keys (current
//! and next) as a JWKS document, for upstreams that pin keys instead of fetching
//! `/.well-known/jwks.json` from the admin listener.

use std::io::Write;
use std::path::Path;

use crate::assertion::Assertion;
use crate::config::Config;

/// Writes the JWKS of `assertion` (the signer built from `config`) to `target` (`-`:
/// stdout). The error says why there is none to write.
pub(super) fn write(
    config: &Config,
    assertion: Option<&Assertion>,
    target: &Path,
) -> Result<(), String> {
    let (Some(settings), Some(assertion)) = (&config.identity.assertion, assertion) else {
        return Err("[identity.assertion] is not enabled: there are no assertion keys".into());
    };
    if settings.key.is_none() {
        return Err(
            "identity.assertion.key_file is not set: the key is generated when wsgate starts and differs per replica, so there is nothing to pin; set key_file, or fetch /.well-known/jwks.json from each replica's admin listener"
                .into(),
        );
    }
    let mut document = assertion.jwks().to_owned();
    document.push('\n');
    if target == Path::new("-") {
        std::io::stdout()
            .write_all(document.as_bytes())
            .map_err(|err| format!("cannot write to stdout: {err}"))
    } else {
        std::fs::write(target, document)
            .map_err(|err| format!("cannot write {}: {err}", target.display()))
    }
}
