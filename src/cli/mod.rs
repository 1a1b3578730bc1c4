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

/// The tokio runtime a server runs on (`run`, `demo`); when it cannot be started, says why
/// on stderr and gives the exit code.
///
/// One worker per CPU the process may use (its affinity mask and cgroup CPU quota, as
/// `available_parallelism` reads them). With a single CPU (a sidecar limited to one core,
/// a Cloud Run instance with one vCPU) the runtime is the current-thread one: every task
/// and the I/O driver run on one thread, with no work-stealing queues, no cross-thread
/// wake-ups and no atomics on the scheduler's hot path (callgrind: 9.4 k -> 8.4 k
/// instructions per 64 B round trip, docs/performance.md "Seventh pass"). Nothing in
/// wsgate blocks a runtime thread, so the two behave alike.
fn serving_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    let one_cpu = std::thread::available_parallelism().is_ok_and(|cpus| cpus.get() == 1);
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build().map_err(|error| {
        eprintln!("cannot start the runtime: {error}");
        ExitCode::FAILURE
    })
}
