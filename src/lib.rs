//! wsgate: a WebSocket authentication reverse proxy.
//!
//! One connection's life (see `docs/architecture.md`):
//! `server` accepts and serves HTTP/1.1 with hyper → `proxy` classifies the request
//! (`handshake` checks RFC 6455 syntax) → `auth` decides (route, origin, token, bypass,
//! JWT) → `upstream` dials and performs the upstream handshake → `relay` moves frames
//! until either side closes or `server`'s shutdown cancels it.
//!
//! Module map:
//! - `config`: TOML → validated [`config::Config`]; `check` rendering.
//! - `reason`: the closed set of refusal reasons and their status/close-code/label.
//! - `assertion`: the signed identity (`[identity.assertion]`) and its JWKS.
//! - `auth`: the one decision path ([`auth::Gate::decide`]), token sources, JWT, keys
//!   (static, and remote key sets fetched and refreshed by `auth::remote`), bypass.
//! - `handshake`: RFC 6455 request validation and `Sec-WebSocket-Accept`.
//! - `path`: the one path normalization, for route matching and for the upstream.
//! - `upstream`: upstream connection, request rewriting (identity injection), 101 checks.
//! - `proxy`: the per-request hyper service tying the above together; denials.
//! - `relay`: the frame-aware byte relay between client and upstream.
//! - `server`: listeners, accept loop, connection limit, graceful shutdown; [`run`].
//! - `admin`: `/metrics`, `/healthz`, `/readyz`, and session control's `/admin/*`.
//! - `metrics`: the Prometheus metrics struct.
//! - `prefixed`: a stream that first replays bytes already read from it.
//! - `sessions`: live sessions and their ids (`X-Wsgate-Session`).
//! - `tls`: the listener's TLS material (reloadable), client certificates, expiry dates.
//! - `sessions`: live sessions and their ids (`X-Wsgate-Session`), the registry that
//!   revocation, refresh and caps act on (in memory, or shared through Redis).
//! - `telemetry`: JSON logging and the outcome events that log and count together.
//! - `commands`: `run`, `check`, `explain`, `mint` behind the thin `main.rs`.
//! - `demo`: the one-command try-out.
//! - `fuzzing`: entry points of the cargo-fuzz targets in `fuzz/` (not API; docs/fuzzing.md).

// Layers, bottom up; a module imports only from the layers below it (docs/architecture.md).
// Vocabulary: no I/O.
pub mod domain;
pub mod http;
pub mod jose;
pub mod ws;
// Configuration: TOML in, a validated `Config` out.
pub mod config;
// Plumbing and observability.
pub mod net;
pub mod telemetry;
// The decision.
pub mod assertion;
pub mod auth;
// I/O stages.
pub mod proxy;
pub mod relay;
pub mod sessions;
pub mod upstream;
// Serving.
pub mod admin;
pub mod server;
// The command line.
pub mod cli;
#[doc(hidden)]
pub mod fuzzing;

pub use server::{Listeners, run};
