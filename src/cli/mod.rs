//! The subcommands behind `main.rs`: `run`, `check`, `explain`, `mint`, `demo`.
//!
//! Each returns the process exit code; nothing here panics on bad input. Every one that
//! reads a config file turns it into what runs through `server::runtime`, so they all
//! judge a configuration alike.

mod check;
pub mod demo;
mod explain;
mod jwks;
mod mint;
mod run;
pub mod signals;
mod watch;

use std::process::ExitCode;

pub use check::check;
pub use explain::{ExplainArgs, explain};
pub use mint::{MintArgs, mint};
pub use run::run;
pub use signals::shutdown_signal;

/// EX_CONFIG from sysexits.h: the configuration is unusable.
pub const EXIT_CONFIG: u8 = 78;
/// EX_SOFTWARE: the startup self-test failed (a broken build, not a bad config).
pub const EXIT_SOFTWARE: u8 = 70;

/// The tokio runtime a server runs on (`run`, `demo`) and how many threads serve
/// connections ([`crate::Listeners::threads`]); when the runtime cannot be started, says
/// why on stderr and gives the exit code.
///
/// One serving thread per CPU the process may use (its affinity mask and cgroup CPU quota,
/// as `available_parallelism` reads them), each with tokio's current-thread runtime. On
/// one CPU that is this runtime, which then also runs the admin listener, reloads and key
/// refreshes; on more, these stay on this runtime and every connection is served by
/// `server/threads.rs`'s threads, each accepting on its own `SO_REUSEPORT` socket. A
/// connection stays on the thread that accepted it: no work-stealing queues, no
/// cross-thread wake-ups and no atomics on the scheduler's hot path (callgrind: 9.4 k ->
/// 8.4 k instructions per 64 B round trip against the multi-thread runtime,
/// docs/performance.md "Seventh pass" and "Thirteenth pass"). Nothing in wsgate blocks a
/// runtime thread.
fn serving_runtime() -> Result<(tokio::runtime::Runtime, usize), ExitCode> {
    let threads = std::thread::available_parallelism().map_or(1, |cpus| cpus.get());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("cannot start the runtime: {error}");
            ExitCode::FAILURE
        })?;
    Ok((runtime, threads))
}
