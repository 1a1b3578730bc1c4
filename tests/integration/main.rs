//! wsgate's integration suite: one test binary, scenarios written against the contract in
//! PRODUCT.md with real sockets on 127.0.0.1 ephemeral ports.
//!
//! - `denials`: every reason code reachable with static HMAC keys, in both deny modes.
//! - `allowed`: token sources (header, query, cookie, subprotocol pair) and the identity
//!   the upstream receives.
//! - `spoofing`: identity headers and their aliases never pass through; `alg: none` never
//!   passes.
//! - `upstream_handshake`: a refused or invalid upstream upgrade is relayed or rejected,
//!   never a tunnel.
//! - `upstream_address`: an upstream named `localhost` and one written as an IPv6 literal.
//! - `sessions`: frames and close codes relayed both ways; graceful shutdown.
//! - `plain_http`: REST requests proxied under the same policy.
//! - `path_confusion`: the path is normalized once, judged and forwarded the same.
//! - `handshake_syntax`: RFC 6455 request checks.
//! - `first_request`: the first request read by hand and what is left to hyper: an
//!   upgrade after a plain request, frames behind the upgrade request, head limits, a head
//!   that never completes, the drain before any request.
//! - `observability`: exact metric values after a known sequence; health endpoints.
//! - `refusal_metrics`: refusals that are not auth denials (`upstream_unavailable`,
//!   `upstream_rejected`, `overloaded`, `server_shutdown`) are counted where
//!   docs/metrics.md says.
//! - `jwks`: remote key sets (`jwks_url`, `discovery_url`) against a fake JWKS server:
//!   readiness, stale-while-error, failed fetches, rotation, single flight, no `jku`.
//! - `jwt_attacks`: the JWT attack suite (alg confusion, `none`, psychic signatures, `kid`
//!   and key-URL injection, `crit`/`b64`/`zip`, JWE shapes, claim type confusion, CR/LF/NUL,
//!   oversize) in both deny modes; the upstream and the attacker's key server see nothing.
//! - `harness`: the doubles and the config builder check themselves.
//! - `binary`: the `wsgate` executable: `check`, `run` exit codes, SIGTERM drain, `demo`,
//!   and logs that never contain a token.
//! - `bypass`: the keyed E2E bypass: near misses, disabled environments, test-marker
//!   headers, rotation, the audit line and a key that never leaks.
//! - `reload`: the binary reloading a config and a secret swapped by symlink, a bad file
//!   kept out, live sessions untouched, keys that need a restart named.
//! - `explain`: `wsgate explain` on the incidents: reason codes, fingerprints, clock, JSON.
//! - `mint_check`: configs that cannot work refused before binding; environment-scoped
//!   issuers; `wsgate mint`.

mod support;

mod allowed;
mod assertion;
mod binary;
mod bypass;
mod denials;
mod explain;
mod first_request;
mod handshake_syntax;
mod harness;
mod jwks;
mod jwt_attacks;
mod layout;
mod mint_check;
mod mtls;
mod observability;
mod path_confusion;
mod plain_http;
mod python_tls;
mod refusal_metrics;
mod reload;
mod serving_threads;
mod session_control;
mod session_control_redis;
mod session_limits;
mod sessions;
mod spoofing;
mod tls;
mod tls_rotation;
mod token_cache;
mod upstream_address;
mod upstream_handshake;
