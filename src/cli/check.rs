//! `wsgate check`: the configuration as `run` would serve it, or every problem with it.

use std::path::Path;
use std::process::ExitCode;

use super::jwks;
use crate::config::KeySource;
use crate::server::runtime;

/// `wsgate check`: exit 0 and print the effective policy, or exit 1 listing every problem.
/// With `print_jwks`, also write the assertion's JWKS there (`-`: stdout, alone).
pub fn check(path: &Path, print_jwks: Option<&Path>) -> ExitCode {
    let policy = match runtime::load(path) {
        Ok(policy) => policy,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let config = policy.gate.config().clone();
    if let Some(target) = print_jwks {
        match jwks::write(&config, policy.assertion.as_ref(), target) {
            Ok(()) if target == Path::new("-") => return ExitCode::SUCCESS,
            Ok(()) => {}
            Err(problem) => {
                eprintln!("--print-jwks: {problem}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{}", crate::config::render::render(&config));
    println!();
    println!("# verification keys");
    for (issuer, keys) in config.auth.issuers.iter().zip(policy.gate.keys()) {
        if let (KeySource::Remote(remote), true) = (&issuer.keys, issuer.enabled) {
            println!(
                "# issuer {:?}: keys are fetched from {} when serving (check does not contact it)",
                issuer.name,
                remote.location.url()
            );
        }
        for key in &keys.keys {
            println!(
                "# issuer {:?}: {:?} kid={} {} ({})",
                issuer.name,
                key.algorithm,
                key.kid.as_deref().unwrap_or("-"),
                key.fingerprint,
                key.description
            );
        }
        for warning in &keys.warnings {
            println!("# warning: issuer {:?}: {warning}", issuer.name);
        }
    }
    println!();
    println!("# reload: on SIGHUP, or when one of these files changes (symlink swaps included):");
    println!("#   {}", path.display());
    for file in config.files() {
        println!("#   {}", file.display());
    }
    println!(
        "# a reload applies every key to new connections except these, which need a restart: {}, {}",
        crate::config::RESTART_KEYS.join(", "),
        crate::config::SESSIONS_RESTART_KEY
    );
    if let Some(target) = print_jwks {
        println!("# assertion JWKS written to {}", target.display());
    }
    println!("# configuration OK: {}", path.display());
    ExitCode::SUCCESS
}
