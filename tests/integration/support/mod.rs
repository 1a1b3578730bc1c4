//! Builders and doubles shared by the scenarios: a recording echo upstream, a scripted
//! raw-TCP upstream, an in-process proxy on ephemeral ports, token minting, a raw HTTP/1.1
//! client for malformed requests, a metric matcher, and a handle on the `wsgate` binary.
//!
//! Every wait is bounded by [`within`] and waits for an event (a message, a close, a
//! connection, a log line); nothing sleeps for a fixed time.

#![allow(dead_code)] // each scenario file uses a different subset of the harness

pub mod certs;
pub mod client;
pub mod control;
pub mod jwks;
pub mod metrics;
pub mod policy;
pub mod process;
pub mod proxy;
pub mod raw;
pub mod redis;
pub mod tokens;
pub mod upstream;

use std::future::Future;
use std::time::Duration;

pub use client::{Upgrade, expect_close, expect_echo};
pub use metrics::metric_value;
pub use process::{TempDir, WsgateProcess};
pub use proxy::{TestProxy, TestProxyBuilder};
pub use raw::RawResponse;
pub use tokens::Claims;
pub use upstream::{EchoUpstream, ScriptedUpstream, Seen};

/// Upper bound for any single event a test waits for. Generous: debug builds on two
/// shared cores.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test with `what` if it takes longer than [`PATIENCE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {PATIENCE:?} waiting for {what}"),
    }
}

/// Re-evaluates `check` until it returns `Some`, for state that is only observable by
/// asking (a metrics scrape). Bounded by [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(what, async {
        let mut interval = tokio::time::interval(Duration::from_millis(25));
        loop {
            interval.tick().await;
            if let Some(value) = check().await {
                return value;
            }
        }
    })
    .await
}

/// A loopback address nothing listens on: bound once to learn a free port, then released.
pub fn closed_port_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr
}
