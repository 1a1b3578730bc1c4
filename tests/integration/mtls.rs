//! Certificates on both sides, made in the test with rcgen: client certificates on the TLS
//! listener (`server.tls.client_ca_file`, `client_auth`, routes' `client_cert`,
//! `identity.user_from = "client_cert"`), and the upstream's certificate checked by name
//! and date, with wsgate's own client certificate toward an upstream that asks for one.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::support::certs::{Ca, Leaf, Usage, client_config, tls_front, wss_connect};
use crate::support::metric_value;
use crate::support::tokens::alice;
use crate::support::{EchoUpstream, TempDir, TestProxy, TestProxyBuilder, Upgrade, within};

/// A TLS listener with a server certificate from `ca`, verifying clients against `ca`.
fn mtls(builder: TestProxyBuilder, dir: &TempDir, ca: &Ca, client_auth: &str) -> TestProxyBuilder {
    let server = ca.issue(&["localhost", "127.0.0.1"], Some("wsgate"), Usage::Server);
    let (cert, key) = server.write(dir, "listener");
    let ca_file = ca.write(dir, "clients-ca.pem");
    builder.server_setting(&format!(
        "tls = {{ cert_file = {cert:?}, key_file = {key:?}, client_ca_file = {ca_file:?}, client_auth = {client_auth:?} }}"
    ))
}

async fn echo_once<S>(session: &mut tokio_tungstenite::WebSocketStream<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    session.send(Message::text(text)).await.expect("send");
    match within("the echo", session.next()).await {
        Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), text),
        other => panic!("expected the echo, got {other:?}"),
    }
}

#[track_caller]
fn refused_with<T: std::fmt::Debug>(result: Result<T, WsError>, reason: &str) {
    match result {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 403);
            assert_eq!(
                response
                    .headers()
                    .get("x-wsgate-reason")
                    .and_then(|v| v.to_str().ok()),
                Some(reason)
            );
        }
        other => panic!("expected 403 {reason}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_certificate_identifies_the_caller_on_routes_that_require_one() {
    let dir = TempDir::new();
    let ca = Ca::new("clients");
    let upstream = EchoUpstream::start().await;
    let proxy = mtls(TestProxy::builder(), &dir, &ca, "optional")
        .upstream(&upstream.url())
        .ws_route_setting("client_cert = \"required\"")
        .identity_setting("user_from = \"client_cert\"")
        .start()
        .await;
    let worker = ca.issue(&["worker.chat.internal"], Some("svc-worker"), Usage::Client);

    // Verified: the certificate alone admits the caller, no token needed.
    let (mut session, _) =
        wss_connect(proxy.addr(), client_config(&ca, Some(&worker)), "/ws", None)
            .await
            .expect("an mTLS session");
    echo_once(&mut session, "over mTLS").await;
    let seen = upstream.request(0).await;
    assert_eq!(seen.one("x-auth-user"), "svc-worker");
    assert_eq!(seen.one("x-auth-method"), "client-cert");

    // None presented where one is required.
    refused_with(
        wss_connect(proxy.addr(), client_config(&ca, None), "/ws", None).await,
        "client_cert_missing",
    );
    // Optional elsewhere: a token is enough.
    let (mut session, _) = wss_connect(
        proxy.addr(),
        client_config(&ca, None),
        "/api",
        Some(&alice()),
    )
    .await
    .expect("no certificate needed on /api");
    echo_once(&mut session, "token only").await;

    // From a CA wsgate does not trust: refused wherever it is presented.
    let stranger_ca = Ca::new("strangers");
    let stranger = stranger_ca.issue(&[], Some("mallory"), Usage::Client);
    for path in ["/ws", "/api"] {
        refused_with(
            wss_connect(
                proxy.addr(),
                client_config(&ca, Some(&stranger)),
                path,
                Some(&alice()),
            )
            .await,
            "client_cert_invalid",
        );
    }
    let metrics = proxy.metrics().await;
    let denied = |reason: &str| {
        metric_value(
            &metrics,
            "wsgate_auth_denied_total",
            &[("route", "/ws"), ("reason", reason)],
        )
    };
    assert_eq!(denied("client_cert_missing"), Some(1.0));
    assert_eq!(denied("client_cert_invalid"), Some(1.0));
    assert_eq!(
        metric_value(
            &metrics,
            "wsgate_auth_allowed_total",
            &[("route", "/ws"), ("method", "client_cert")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn client_auth_required_refuses_every_request_without_a_verified_certificate() {
    let dir = TempDir::new();
    let ca = Ca::new("clients");
    let upstream = EchoUpstream::start().await;
    let proxy = mtls(TestProxy::builder(), &dir, &ca, "required")
        .upstream(&upstream.url())
        .start()
        .await;
    refused_with(
        wss_connect(proxy.addr(), client_config(&ca, None), "/public", None).await,
        "client_cert_missing",
    );
    let expired = ca.issue_with(&[], Some("old-worker"), Usage::Client, |params| {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    refused_with(
        wss_connect(
            proxy.addr(),
            client_config(&ca, Some(&expired)),
            "/public",
            None,
        )
        .await,
        "client_cert_invalid",
    );
    // With a certificate, tokens still decide who the caller is (user_from = "token").
    let worker = ca.issue(&[], Some("svc-worker"), Usage::Client);
    let (mut session, _) = wss_connect(
        proxy.addr(),
        client_config(&ca, Some(&worker)),
        "/ws",
        Some(&alice()),
    )
    .await
    .expect("certificate and token");
    echo_once(&mut session, "both").await;
    assert_eq!(upstream.request(0).await.one("x-auth-user"), "alice");
}

/// A `wss` upstream (a TLS front before an echo upstream) presenting `leaf`.
async fn wss_upstream(echo: &EchoUpstream, leaf: &Leaf) -> String {
    let addr = tls_front(leaf.server_config(), echo.addr()).await;
    format!("wss://localhost:{}", addr.port())
}

#[tokio::test]
async fn an_upstream_certificate_that_expired_or_names_another_host_is_502_upstream_unavailable() {
    let dir = TempDir::new();
    let ca = Ca::new("upstreams");
    let ca_file = ca.write(&dir, "upstream-ca.pem");
    let echo = EchoUpstream::start().await;
    let expired = ca.issue_with(&["localhost"], None, Usage::Server, |params| {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let elsewhere = ca.issue(&["other.example"], None, Usage::Server);
    let good = ca.issue(&["localhost"], None, Usage::Server);
    for (leaf, why) in [
        (&expired, "expired"),
        (&elsewhere, "wrong name"),
        (&good, "good"),
    ] {
        let proxy = TestProxy::builder()
            .upstream(&wss_upstream(&echo, leaf).await)
            .upstream_setting(&format!("ca_file = {ca_file:?}"))
            .start()
            .await;
        let response = Upgrade::to("/ws")
            .bearer(&alice())
            .send_head(proxy.addr())
            .await
            .0;
        if why == "good" {
            assert_eq!(response.status, 101, "the control case must pass");
            continue;
        }
        assert_eq!(response.status, 502, "{why}");
        assert_eq!(
            response.header("x-wsgate-reason"),
            Some("upstream_unavailable"),
            "{why}"
        );
        let metrics = proxy.metrics().await;
        assert_eq!(
            metric_value(&metrics, "wsgate_upstream_errors_total", &[("kind", "tls")]),
            Some(1.0),
            "{why}"
        );
    }
}

#[tokio::test]
async fn wsgate_presents_its_client_certificate_to_an_upstream_that_asks() {
    let dir = TempDir::new();
    let ca = Ca::new("internal");
    let ca_file = ca.write(&dir, "internal-ca.pem");
    let echo = EchoUpstream::start().await;
    // The upstream requires a client certificate from `ca`.
    let server = ca.issue(&["localhost"], None, Usage::Server);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.der.clone()], server.key())
        .expect("server config");
    let front = tls_front(Arc::new(config), echo.addr()).await;
    let url = format!("wss://localhost:{}", front.port());

    let identity = ca.issue_with(&[], Some("wsgate"), Usage::Client, |params| {
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
    });
    let (cert, key) = identity.write(&dir, "wsgate-client");
    let proxy = TestProxy::builder()
        .upstream(&url)
        .upstream_setting(&format!("ca_file = {ca_file:?}"))
        .upstream_setting(&format!("client_cert_file = {cert:?}"))
        .upstream_setting(&format!("client_key_file = {key:?}"))
        .start()
        .await;
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    crate::support::expect_echo(&mut session, "with a client certificate").await;
    assert_eq!(
        metric_value(
            &proxy.metrics().await,
            "wsgate_tls_certificate_expiry_timestamp_seconds",
            &[("certificate", "upstream_client")]
        ),
        Some(1_936_742_400.0),
        "2031-05-17T00:00:00Z"
    );

    // Without one, the upstream refuses the TLS session: 502, never a 101.
    let bare = TestProxy::builder()
        .upstream(&url)
        .upstream_setting(&format!("ca_file = {ca_file:?}"))
        .start()
        .await;
    let response = Upgrade::to("/ws").bearer(&alice()).send(bare.addr()).await;
    assert_eq!(response.status, 502);
    assert_eq!(
        response.header("x-wsgate-reason"),
        Some("upstream_unavailable")
    );
}

#[tokio::test]
async fn explain_judges_a_client_certificate_as_the_listener_would() {
    use crate::support::process::run_to_exit;
    use crate::support::tokens::{SECRET, SECRET_ENV};
    let dir = TempDir::new();
    let ca = Ca::new("clients");
    let toml = mtls(TestProxy::builder(), &dir, &ca, "optional")
        .ws_route_setting("client_cert = \"required\"")
        .identity_setting("user_from = \"client_cert\"")
        .toml();
    let config = dir.write("wsgate.toml", &toml).display().to_string();
    let worker = ca.issue(&[], Some("svc-worker"), Usage::Client);
    let (worker_cert, _) = worker.write(&dir, "worker");
    let stranger = Ca::new("strangers").issue(&[], Some("mallory"), Usage::Client);
    let (stranger_cert, _) = stranger.write(&dir, "stranger");
    let env = [(SECRET_ENV, SECRET)];
    let explain = |extra: Vec<String>| {
        let mut args = vec![
            "explain".to_owned(),
            "--config".to_owned(),
            config.clone(),
            "--path".to_owned(),
            "/ws".to_owned(),
        ];
        args.extend(extra);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_to_exit(&args, &env).await
        }
    };
    let (status, stdout, stderr) = explain(vec![
        "--client-cert".into(),
        worker_cert.display().to_string(),
    ])
    .await;
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("svc-worker"), "{stdout}");

    let (status, stdout, _) = explain(Vec::new()).await;
    assert_eq!(status.code(), Some(1));
    assert!(stdout.contains("client_cert_missing"), "{stdout}");

    let (status, stdout, _) = explain(vec![
        "--client-cert".into(),
        stranger_cert.display().to_string(),
    ])
    .await;
    assert_eq!(status.code(), Some(1));
    assert!(stdout.contains("client_cert_invalid"), "{stdout}");
}
