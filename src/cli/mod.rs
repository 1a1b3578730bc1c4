//! The subcommands behind `main.rs`: `run`, `check`, `explain`, `mint`.
//!
//! Each returns the process exit code; nothing here panics on bad input.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::auth::Gate;
use crate::config::{Config, ConfigErrors, KeySource};
use crate::server::{self, Listeners};
use crate::telemetry::metrics::Metrics;

pub mod demo;
mod explain;
mod jwks;
mod mint;
pub mod signals;
mod watch;

pub use signals::shutdown_signal;

pub use explain::{ExplainArgs, explain};
pub use mint::{MintArgs, mint};

/// EX_CONFIG from sysexits.h: the configuration is unusable.
pub const EXIT_CONFIG: u8 = 78;
/// EX_SOFTWARE: the startup self-test failed (a broken build, not a bad config).
pub const EXIT_SOFTWARE: u8 = 70;

/// `wsgate run`: refuse a bad config before binding anything, then serve until SIGTERM.
pub fn run(path: &Path) -> ExitCode {
    let _logs = crate::telemetry::init_logging();
    let gate = match load_gate(path) {
        Ok(gate) => gate,
        Err(errors) => {
            // The text for a terminal on stderr, the same problems as one JSON log line
            // on stdout for a log pipeline.
            eprint!("{errors}");
            crate::telemetry::record_config_refused(path, &errors);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(error) = crate::auth::jwt::self_test() {
        eprintln!("startup self-test failed: {error}");
        tracing::error!(%error, "startup self-test failed: the JWT crypto backend does not work");
        return ExitCode::from(EXIT_SOFTWARE);
    }
    raise_open_files_limit(gate.config());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let config = gate.config().clone();
        let shutdown = shutdown_signal();
        let listeners = match bind(&config).await {
            Ok(listeners) => listeners,
            Err(error) => {
                eprintln!("{error}");
                tracing::error!(%error, "cannot bind");
                return ExitCode::FAILURE;
            }
        };
        let registry = prometheus::Registry::new();
        let metrics = Arc::new(Metrics::new(&registry));
        let (reload_tx, reloads) = tokio::sync::mpsc::channel(1);
        tokio::spawn({
            let (path, metrics) = (path.to_owned(), metrics.clone());
            async move { watch::watch(path, &config, reload_tx, metrics).await }
        });
        let result = server::serve(gate, listeners, registry, metrics, shutdown, reloads).await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(%error, "server failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// Descriptors besides the sessions' own: listeners, the epoll and signal descriptors,
/// logs, config reads, JWKS fetches, plain HTTP forwarding.
const SPARE_DESCRIPTORS: u64 = 64;

/// Raises the soft open-files limit to the hard one, and warns when even that cannot hold
/// `server.max_connections` sessions (two descriptors each: client and upstream): such a
/// process would meet EMFILE (accept back-off, dial failures) before its own limit.
fn raise_open_files_limit(config: &Config) {
    let sessions = u64::try_from(config.server.max_connections).unwrap_or(u64::MAX);
    let needed = sessions.saturating_mul(2).saturating_add(SPARE_DESCRIPTORS);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => tracing::warn!(
            open_files_limit = limit,
            needed,
            max_connections = sessions,
            "the open-files limit cannot hold server.max_connections sessions (two descriptors each): \
             raise the hard limit (ulimit -Hn, systemd LimitNOFILE, a container's nofile ulimit) \
             or lower server.max_connections"
        ),
        Ok(limit) => tracing::debug!(open_files_limit = limit, needed, "open-files limit"),
        Err(error) => tracing::warn!(%error, "cannot read or raise the open-files limit"),
    }
}

/// Config, keys and TLS material: everything that can be wrong with the files.
fn load_gate(path: &Path) -> Result<Gate, ConfigErrors> {
    let config = Config::load(path)?;
    let gate = Gate::new(Arc::new(config)).map_err(|mut errors| {
        errors.origin = path.display().to_string();
        errors
    })?;
    if let Err(error) = server::check_tls(gate.config()) {
        // The message names the key (`server.tls.cert_file ...`, `upstream.client_key_file ...`).
        return Err(ConfigErrors {
            origin: path.display().to_string(),
            errors: vec![crate::config::ConfigError::new("", error.to_string())],
        });
    }
    Ok(gate)
}

async fn bind(config: &Config) -> std::io::Result<Listeners> {
    let proxy = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("server.listen {}: {e}", config.server.listen),
            )
        })?;
    let admin = tokio::net::TcpListener::bind(config.server.admin_listen)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("server.admin_listen {}: {e}", config.server.admin_listen),
            )
        })?;
    tracing::info!(
        listen = %proxy.local_addr()?,
        admin_listen = %admin.local_addr()?,
        "listening"
    );
    Ok(Listeners { proxy, admin })
}

/// `wsgate check`: exit 0 and print the effective policy, or exit 1 listing every problem.
/// With `print_jwks`, also write the assertion's JWKS there (`-`: stdout, alone).
pub fn check(path: &Path, print_jwks: Option<&Path>) -> ExitCode {
    let gate = match load_gate(path) {
        Ok(gate) => gate,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let config = gate.config().clone();
    if let Some(target) = print_jwks {
        match jwks::write(&config, target) {
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
    for (issuer, keys) in config.auth.issuers.iter().zip(gate.keys()) {
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
