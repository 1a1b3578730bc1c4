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

/// The multi-threaded tokio runtime a server runs on (`run`, `demo`); when it cannot be
/// started, says why on stderr and gives the exit code.
fn serving_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("cannot start the runtime: {error}");
            ExitCode::FAILURE
        })
}
