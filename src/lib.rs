//! wsgate: a WebSocket authentication reverse proxy.
//!
//! One connection's life (see `docs/architecture.md`):
//! `server` accepts and serves HTTP/1.1 with hyper → `proxy` classifies the request
//! (`ws::handshake` checks RFC 6455 syntax) → `auth` decides (route, origin, token, bypass,
//! JWT) → `upstream` dials and performs the upstream handshake → `relay` moves frames
//! until either side closes or `server`'s shutdown cancels it.
//!
//! The modules, bottom up, are declared below with one line each on their job.

// The layers, bottom up: a module imports only the modules declared above it (checked by
// tests/integration/layout.rs). One blank line between modules keeps rustfmt from sorting
// them alphabetically.

// Vocabulary, no I/O: why a handshake is refused or a session ends, how a caller got in,
// who ended a session, session ids, the clock.
pub mod domain;

// HTTP vocabulary: path normalization, hop-by-hop list, name folding, uncached answers.
pub mod http;

// JOSE vocabulary: the keys wsgate signs with and their JWK form.
pub mod jose;

// WebSocket vocabulary: RFC 6455 handshake checks, `Sec-WebSocket-Accept`, the frame codec.
pub mod ws;

// TOML in, a validated `Config` out; `check`'s rendering.
pub mod config;

// Deadlines kept by one timer thread, so the event loops wait without a timeout.
pub mod timer;

// TLS material and client TLS settings, the outgoing stream, a replaying stream.
pub mod net;

// JSON logs, Prometheus metrics, readiness: one outcome is logged and counted together.
pub mod telemetry;

// The one decision path (`auth::Gate::decide`): routes, origins, tokens, JWT, keys, bypass.
pub mod auth;

// The signed identity for the upstream (`[identity.assertion]`) and its JWKS.
pub mod assertion;

// The frame-aware relay between client and upstream.
pub mod relay;

// Live sessions: ids, the registry (memory or Redis), revocation, refresh, caps.
pub mod sessions;

// The upstream: dialling, the rewritten request, the checked 101.
pub mod upstream;

// One request's life: classify, decide, dial, answer, hand over to the relay.
pub mod proxy;

// The admin listener: /metrics, /healthz, /readyz, the JWKS, session control.
pub mod admin;

// Config to what runs (`server::runtime`), listeners, accept loop, reload, shutdown.
pub mod server;

// The command line: run, check, explain, mint, demo, signals.
pub mod cli;

// Entry points of the cargo-fuzz targets in `fuzz/` (not API; docs/fuzzing.md).
#[doc(hidden)]
pub mod fuzzing;

pub use server::{Listeners, run};
