//! Connections served by more than one thread (`server/threads.rs`): every thread's
//! sessions are relayed and drained, and the process's limits hold across them.
//!
//! In-process, the proxy listener is a plain one, so the first serving thread accepts on it
//! and the others from duplicates of it; `wsgate run` binds it with `SO_REUSEPORT` and gives each thread a
//! socket of its own, which the binary test below covers (one thread per CPU).

use std::time::Duration;

use crate::denials::{OVERLOADED, assert_http_refusal};
use crate::support::client::Session;
use crate::support::process::bound_addresses;
use crate::support::proxy::admin_get;
use crate::support::tokens::{SECRET, SECRET_ENV, alice};
use crate::support::{
    EchoUpstream, TempDir, TestProxy, Upgrade, WsgateProcess, eventually, expect_close,
    expect_echo, metric_value, within,
};

/// Sessions opened one after another: whichever thread accepts each, each is relayed.
async fn open_sessions(proxy: std::net::SocketAddr, count: usize) -> Vec<Session> {
    let mut sessions = Vec::with_capacity(count);
    for index in 0..count {
        let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy).await;
        expect_echo(&mut session, &format!("session {index}")).await;
        sessions.push(session);
    }
    sessions
}

#[tokio::test]
async fn sessions_on_every_serving_thread_are_relayed_and_drained_with_server_shutdown() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .start_on_threads(3)
        .await;
    let mut sessions = open_sessions(proxy.addr(), 12).await;
    for (index, session) in sessions.iter_mut().enumerate() {
        expect_echo(session, &format!("still live {index}")).await;
    }

    let stopping = tokio::spawn(proxy.shutdown());
    for session in &mut sessions {
        assert_eq!(
            expect_close(session).await,
            (1001, "server_shutdown".to_owned()),
            "every thread's session is told why"
        );
    }
    drop(sessions);
    within("the drain over every thread", stopping)
        .await
        .expect("shutdown task");
}

#[tokio::test]
async fn max_connections_counts_the_connections_of_every_thread() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .max_connections(2)
        .start_on_threads(3)
        .await;
    let mut held = open_sessions(proxy.addr(), 2).await;
    // Whichever thread accepts them, no third connection gets past the limit.
    for _ in 0..4 {
        let refused = Upgrade::to("/ws").bearer(&alice()).send(proxy.addr()).await;
        assert_http_refusal(&refused, OVERLOADED);
    }
    for session in &mut held {
        expect_echo(session, "the held sessions are unaffected").await;
    }
}

#[tokio::test]
async fn run_serves_on_one_thread_per_cpu_and_drains_them_all_on_sigterm() {
    let upstream = EchoUpstream::start().await;
    let dir = TempDir::new();
    let toml = TestProxy::builder().upstream(&upstream.url()).toml();
    let config = dir.write("wsgate.toml", &toml).display().to_string();
    let mut process = WsgateProcess::spawn(&["run", "--config", &config], &[(SECRET_ENV, SECRET)]);
    let (proxy, admin) = bound_addresses(&mut process).await;
    let threads = process
        .wait_for_line("the serving line with its thread count", |line| {
            let line: serde_json::Value = serde_json::from_str(line).ok()?;
            (line["message"] == "wsgate serving").then(|| line["threads"].as_u64())?
        })
        .await;
    let cpus = std::thread::available_parallelism().map_or(1, |cpus| cpus.get());
    assert_eq!(threads, cpus as u64, "one serving thread per CPU");

    // With SO_REUSEPORT the kernel spreads connections over the threads' sockets by their
    // addresses: 16 connections all on one of two sockets has odds of 2^-15.
    let mut sessions = open_sessions(proxy, 16).await;
    eventually("every session counted once", || async {
        let text = admin_get(admin, "/metrics").await.body_text();
        (metric_value(&text, "wsgate_sessions_active", &[]) == Some(16.0)).then_some(())
    })
    .await;

    process.terminate();
    for session in &mut sessions {
        assert_eq!(
            expect_close(session).await,
            (1001, "server_shutdown".to_owned())
        );
    }
    let status = process.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "output:\n{}", process.output());
}

#[tokio::test]
async fn a_second_run_on_a_port_in_use_is_refused_not_given_a_share_of_it() {
    let upstream = EchoUpstream::start().await;
    let dir = TempDir::new();
    let toml = TestProxy::builder().upstream(&upstream.url()).toml();
    let first_config = dir.write("first.toml", &toml).display().to_string();
    let mut first =
        WsgateProcess::spawn(&["run", "--config", &first_config], &[(SECRET_ENV, SECRET)]);
    let (proxy, _) = bound_addresses(&mut first).await;

    // The same port again: with SO_REUSEPORT on the first's sockets, a second process of
    // the same user could have joined their group and taken part of the connections.
    let second_toml = toml.replace(
        "listen = \"127.0.0.1:0\"\nadmin_listen",
        &format!("listen = \"{proxy}\"\nadmin_listen"),
    );
    assert_ne!(
        second_toml, toml,
        "the second config names the first's port"
    );
    let second_config = dir.write("second.toml", &second_toml).display().to_string();
    let (status, stdout, stderr) = crate::support::process::run_to_exit(
        &["run", "--config", &second_config],
        &[(SECRET_ENV, SECRET)],
    )
    .await;
    assert_eq!(
        status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("server.listen {proxy}")),
        "the error names the key and the address:\n{stderr}"
    );

    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy).await;
    expect_echo(&mut session, "the first still serves").await;
    first.terminate();
    let status = first.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "output:\n{}", first.output());
}
