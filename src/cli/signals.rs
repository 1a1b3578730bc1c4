//! SIGTERM/SIGINT: the first starts a graceful drain, a second exits at once.

use std::time::Duration;

/// How long a second shutdown signal waits for the queued log lines to be written before
/// exiting: long enough for a healthy stdout, short enough that it still exits "at once"
/// when the output is stuck.
const EXIT_FLUSH_PATIENCE: Duration = Duration::from_secs(1);

/// Registers SIGTERM/SIGINT handlers now (so a signal that arrives right after the
/// "listening" line is never lost to the default action) and returns a future that
/// completes on the first one; a second one exits at once.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let mut signals = Signals::register();
    async move {
        signals.recv().await;
        tracing::info!("shutdown signal received; a second signal exits immediately");
        tokio::spawn(async move {
            signals.recv().await;
            tracing::warn!("second shutdown signal: exiting without waiting for the drain");
            // `exit` skips the log guard's drop: write the queued lines (this one too) first.
            crate::telemetry::flush_logs(EXIT_FLUSH_PATIENCE);
            std::process::exit(1);
        });
    }
}

struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn register() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot install SIGTERM/SIGINT handlers");
                    None
                }
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        match &mut self.streams {
            Some((term, int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            // Without handlers we cannot drain on request: never complete.
            None => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
