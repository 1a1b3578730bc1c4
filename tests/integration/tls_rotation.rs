//! TLS that rotates without a restart, on the real binary: the listener's certificate and
//! key are replaced on disk during traffic and SIGHUP makes new handshakes present the new
//! certificate while live sessions keep going; a broken file is refused (log line,
//! `wsgate_config_reloads_total{result="error"}`) and the last good certificate stays.
//! `wsgate_tls_certificate_expiry_timestamp_seconds{certificate="listener"}` follows.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::support::certs::{Ca, Leaf, Usage, client_config, presented, wss_connect};
use crate::support::process::bound_addresses;
use crate::support::proxy::admin_get;
use crate::support::tokens::{SECRET, SECRET_ENV, alice};
use crate::support::{
    EchoUpstream, TempDir, TestProxy, WsgateProcess, eventually, metric_value, within,
};

type TlsSession =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

async fn echo_once(session: &mut TlsSession, text: &str) {
    session.send(Message::text(text)).await.expect("send");
    match within("the echo", session.next()).await {
        Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), text),
        other => panic!("expected the echo of {text:?}, got {other:?}"),
    }
}

fn leaf(ca: &Ca, year: i32) -> Leaf {
    ca.issue_with(
        &["localhost", "127.0.0.1"],
        Some("wsgate"),
        Usage::Server,
        |params| {
            params.not_after = rcgen::date_time_ymd(year, 1, 1);
        },
    )
}

/// `notAfter` of the listener certificate as the admin listener reports it.
async fn listener_expiry(admin: std::net::SocketAddr) -> Option<f64> {
    let metrics = admin_get(admin, "/metrics").await.body_text();
    metric_value(
        &metrics,
        "wsgate_tls_certificate_expiry_timestamp_seconds",
        &[("certificate", "listener")],
    )
}

#[tokio::test]
async fn a_rotated_listener_certificate_serves_new_handshakes_while_sessions_continue() {
    let dir = TempDir::new();
    let ca = Ca::new("rotation");
    let first = leaf(&ca, 2031);
    let second = leaf(&ca, 2032);
    let (cert, key) = first.write(&dir, "listener");
    let upstream = EchoUpstream::start().await;
    let toml = TestProxy::builder()
        .upstream(&upstream.url())
        .server_setting(&format!(
            "tls = {{ cert_file = {cert:?}, key_file = {key:?} }}"
        ))
        .toml();
    let config = dir.write("wsgate.toml", &toml).display().to_string();
    let mut wsgate = WsgateProcess::spawn(&["run", "--config", &config], &[(SECRET_ENV, SECRET)]);
    let (proxy, admin) = bound_addresses(&mut wsgate).await;
    let trust = client_config(&ca, None);

    let (mut live, _) = wss_connect(proxy, trust.clone(), "/ws", Some(&alice()))
        .await
        .expect("a session on the first certificate");
    assert_eq!(presented(&live), first.der.to_vec());
    echo_once(&mut live, "before").await;
    // 2031-01-01T00:00:00Z
    assert_eq!(listener_expiry(admin).await, Some(1_924_992_000.0));

    // Traffic on the live session throughout the rotation: a message and its echo, again
    // and again, until told to stop.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let traffic = tokio::spawn(async move {
        let mut stopped = stopped;
        let mut echoed = 0_u32;
        loop {
            echo_once(&mut live, &format!("message {echoed}")).await;
            echoed += 1;
            if stopped.try_recv().is_ok() {
                return (live, echoed);
            }
        }
    });

    // Rotate: new files, SIGHUP.
    second.write(&dir, "listener");
    wsgate.hangup();
    let wanted = second.der.to_vec();
    let rotated = eventually("a handshake with the new certificate", || {
        let trust = Arc::clone(&trust);
        let wanted = wanted.clone();
        async move {
            let (session, _) = wss_connect(proxy, trust, "/ws", Some(&alice()))
                .await
                .ok()?;
            (presented(&session) == wanted).then_some(session)
        }
    })
    .await;
    let mut rotated = rotated;
    echo_once(&mut rotated, "after").await;
    // 2032-01-01T00:00:00Z
    assert_eq!(listener_expiry(admin).await, Some(1_956_528_000.0));

    // A broken certificate file: the reload is refused, the last good one stays.
    dir.write(
        "listener.crt",
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    );
    wsgate.hangup();
    wsgate
        .wait_for_line("the refused reload", |line| {
            line.contains("config reload failed").then_some(())
        })
        .await;
    let metrics = admin_get(admin, "/metrics").await.body_text();
    assert!(
        metric_value(
            &metrics,
            "wsgate_config_reloads_total",
            &[("result", "error")]
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    let (mut fresh, _) = wss_connect(proxy, trust.clone(), "/ws", Some(&alice()))
        .await
        .expect("handshakes go on with the last good certificate");
    assert_eq!(presented(&fresh), second.der.to_vec());
    echo_once(&mut fresh, "still served").await;
    let _ = stop.send(());
    let (mut live, echoed) = within("the traffic task", traffic)
        .await
        .expect("the live session never failed during the rotations");
    assert!(echoed > 0);
    echo_once(&mut live, "still alive").await;
    echo_once(&mut rotated, "still alive too").await;
    assert_eq!(listener_expiry(admin).await, Some(1_956_528_000.0));
    wsgate.terminate();
}

/// The library's `serve` with its reload channel: the in-process equivalent of SIGHUP.
struct Reloadable {
    proxy: std::net::SocketAddr,
    reloads: tokio::sync::mpsc::Sender<wsgate::proxy::Policy>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn policy(toml: &str) -> wsgate::proxy::Policy {
    let lookup = |name: &str| (name == SECRET_ENV).then(|| SECRET.to_owned());
    let config = wsgate::config::Config::parse(toml, "<test>", &lookup, std::path::Path::new("."))
        .unwrap_or_else(|errors| panic!("{errors}\n{toml}"));
    wsgate::server::runtime::build(Arc::new(config)).unwrap_or_else(|errors| panic!("{errors}"))
}

async fn serve_reloadable(toml: &str) -> Reloadable {
    let listeners = wsgate::Listeners {
        proxy: tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
        admin: tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind"),
        threads: 1,
    };
    let proxy = listeners.proxy.local_addr().expect("addr");
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(wsgate::telemetry::metrics::Metrics::new(&registry));
    let (reloads, receiver) = tokio::sync::mpsc::channel(1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(wsgate::server::serve(
        policy(toml),
        listeners,
        registry,
        metrics,
        async move {
            let _ = stopped.await;
        },
        receiver,
    ));
    Reloadable {
        proxy,
        reloads,
        _stop: stop,
    }
}

#[tokio::test]
async fn a_reload_re_reads_the_upstream_ca_file_for_new_sessions_only() {
    use crate::support::Upgrade;
    use crate::support::certs::tls_front;
    let dir = TempDir::new();
    let old_ca = Ca::new("upstream-2025");
    let new_ca = Ca::new("upstream-2026");
    let echo = EchoUpstream::start().await;
    let old_front = tls_front(
        old_ca
            .issue(&["localhost"], None, Usage::Server)
            .server_config(),
        echo.addr(),
    )
    .await;
    let new_front = tls_front(
        new_ca
            .issue(&["localhost"], None, Usage::Server)
            .server_config(),
        echo.addr(),
    )
    .await;
    let ca_file = old_ca.write(&dir, "upstream-ca.pem");
    let toml = |front: std::net::SocketAddr| {
        TestProxy::builder()
            .upstream(&format!("wss://localhost:{}", front.port()))
            .upstream_setting(&format!("ca_file = {ca_file:?}"))
            .toml()
    };
    let proxy = serve_reloadable(&toml(old_front)).await;
    let (mut live, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.proxy).await;
    crate::support::expect_echo(&mut live, "through the old CA").await;

    // The upstream moves to a certificate from another CA: refused until a reload.
    let moved = toml(new_front);
    dir.write("upstream-ca.pem", &new_ca.pem);
    proxy.reloads.send(policy(&moved)).await.expect("reload");
    let (mut fresh, _) = eventually("a session through the new CA", || async {
        Upgrade::to("/ws")
            .bearer(&alice())
            .connect(proxy.proxy)
            .await
            .ok()
    })
    .await;
    crate::support::expect_echo(&mut fresh, "through the new CA").await;
    crate::support::expect_echo(&mut live, "the old session continues").await;
}
