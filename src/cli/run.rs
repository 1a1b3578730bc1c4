//! `wsgate run`: refuse a bad config before binding anything, then serve until SIGTERM,
//! reloading on SIGHUP and file changes (`watch.rs`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{EXIT_CONFIG, EXIT_SOFTWARE, serving_runtime, shutdown_signal, watch};
use crate::config::Config;
use crate::server::{self, Listeners, runtime};
use crate::telemetry::metrics::Metrics;

/// `wsgate run`: exit 78 when the configuration is refused, 70 when the startup
/// self-test fails, 1 when serving fails, 0 after a drain.
pub fn run(path: &Path) -> ExitCode {
    let _logs = crate::telemetry::init_logging();
    let policy = match runtime::load(path) {
        Ok(policy) => policy,
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
    let config = policy.gate.config().clone();
    raise_open_files_limit(&config);
    let (executor, threads) = match serving_runtime() {
        Ok(serving) => serving,
        Err(code) => return code,
    };
    executor.block_on(async move {
        let shutdown = shutdown_signal();
        let listeners = match Listeners::bind(&config, threads).await {
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
        let result = server::serve(policy, listeners, registry, metrics, shutdown, reloads).await;
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
