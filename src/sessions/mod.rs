//! Live sessions and their control: ids, the registry, revocation, caps and refresh.
//!
//! A session id names one relayed connection in the client's 101 (`X-Wsgate-Session`),
//! in its log lines, and in the [`Registry`] that revocation (admin API), caps (at the
//! handshake) and refresh (`POST {refresh_path}`) act on. docs/sessions.md describes the
//! contract.
//!
//! - `id`: the 128-bit session id.
//! - `record`: what the registry knows about a session; what revocations match.
//! - `revocation`: what an operator can revoke, and the list in force.
//! - `caps`: `max_per_user` and `max_per_client_ip`.
//! - `memory`: this replica's live sessions and their relay handles.
//! - `registry`: the service the proxy and the admin API call.
//! - `refresh`: what a refresh's new token must share with the session's.
//! - `redis_store`, `sync`: the registry shared through Redis, and the replica's link.
//! - `admin`: the admin API's session endpoints.

mod admin;
mod caps;
mod memory;
mod record;
mod redis_store;
mod refresh;
mod registry;
mod revocation;
mod sync;

pub use admin::{AdminApi, MAX_BODY_BYTES, admin_response};
pub use caps::Caps;
pub use record::{SessionRecord, Target};
pub use refresh::same_holder;
pub use registry::{Extended, Registration, Registry, Revoked};
pub use revocation::{DEFAULT_TTL, MAX_TTL, Revocation};
