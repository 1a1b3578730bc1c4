//! Builders and doubles shared by the scenarios: a recording echo upstream, a scripted
//! raw-TCP upstream, an in-process proxy on ephemeral ports, token minting, a raw HTTP/1.1
//! client for malformed requests, a metric matcher, and a handle on the `wsgate` binary.
//!
//! Every wait is bounded by [`within`] and waits for an event (a message, a close, a
//! connection, a log line); nothing sleeps for a fixed time.

#![allow(dead_code)] // each scenario file uses a different subset of the harness

pub(crate) mod certs;
pub(crate) mod client;
pub(crate) mod control;
pub(crate) mod jwks;
pub(crate) mod metrics;
pub(crate) mod policy;
pub(crate) mod process;
pub(crate) mod proxy;
pub(crate) mod raw;
pub(crate) mod redis;
pub(crate) mod tokens;
pub(crate) mod upstream;

use std::future::Future;
use std::time::Duration;

pub(crate) use client::{Upgrade, expect_close, expect_echo};
pub(crate) use metrics::metric_value;
pub(crate) use process::{TempDir, WsgateProcess};
pub(crate) use proxy::{TestProxy, TestProxyBuilder};
pub(crate) use raw::RawResponse;
pub(crate) use tokens::Claims;
pub(crate) use upstream::{EchoUpstream, ScriptedUpstream, Seen};

/// Upper bound for any single event a test waits for. Generous: debug builds on two
/// shared cores.
pub(crate) const PATIENCE: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test with `what` if it takes longer than [`PATIENCE`].
pub(crate) async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {PATIENCE:?} waiting for {what}"),
    }
}

/// Re-evaluates `check` until it returns `Some`, for state that is only observable by
/// asking (a metrics scrape). Bounded by [`PATIENCE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
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
pub(crate) fn closed_port_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr
}
