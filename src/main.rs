//! The `wsgate` binary: parse the command line, load the config, start logging, run.
//! Exit codes: 0 success; 1 `check` found problems / `explain` denied / runtime failure;
//! 2 usage error; 78 (EX_CONFIG) `run` refused its configuration before binding any port.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use wsgate::cli;

/// jemalloc rather than glibc's malloc: its per-thread caches serve the handshake's larger
/// and aligned allocations without glibc's slow path (Cargo.toml, docs/performance.md).
/// Tuned, if ever needed, with `_RJEM_MALLOC_CONF` (the symbols are prefixed).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "wsgate",
    version,
    about = "WebSocket authentication reverse proxy",
    after_help = "Exit codes: 0 ok; 1 check found problems, explain denied, or a runtime failure; \
                  2 usage error; 78 run refused its configuration (before binding any port).\n\
                  Logs: one JSON line per event on stdout; WSGATE_LOG sets the filter (e.g. debug)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve: authenticate WebSocket upgrades and relay them to the upstream.
    Run {
        /// Config file (TOML).
        #[arg(long, env = "WSGATE_CONFIG")]
        config: PathBuf,
    },
    /// Validate a config and print the effective policy (secrets as fingerprints).
    Check {
        /// Config file (TOML).
        #[arg(long, env = "WSGATE_CONFIG")]
        config: PathBuf,
        /// Also write the signed identity assertion's public keys (current and next) as a
        /// JWKS to FILE, for upstreams that pin keys; `-` prints only the JWKS on stdout.
        /// Needs [identity.assertion] with key_file (a generated key exists only at run time).
        #[arg(long, value_name = "FILE")]
        print_jwks: Option<PathBuf>,
    },
    /// Run the proxy's handshake checks and exact decision path on a token; print every step.
    Explain(cli::ExplainArgs),
    /// Sign a test token with a configured issuer (refused in production).
    Mint(cli::MintArgs),
    /// One-command try-out: embedded echo upstream, proxy, dev key, ready token.
    Demo(wsgate::cli::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => cli::run(&config),
        Command::Check { config, print_jwks } => cli::check(&config, print_jwks.as_deref()),
        Command::Explain(args) => cli::explain(&args),
        Command::Mint(args) => cli::mint(&args),
        Command::Demo(args) => wsgate::cli::demo::main(&args),
    }
}
