//! The TLS listener (`server.tls`): a real rustls client trusting the fixture certificate
//! opens `wss://` sessions through wsgate to a plain `ws://` upstream; a client that speaks
//! plain HTTP to the TLS port gets no handshake.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::tokens::alice;
use crate::support::{EchoUpstream, TestProxy, Upgrade, within};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

async fn tls_proxy(upstream: &EchoUpstream) -> TestProxy {
    TestProxy::builder()
        .upstream(&upstream.url())
        .server_setting(&format!(
            "tls = {{ cert_file = {:?}, key_file = {:?} }}",
            fixture("localhost.crt.pem"),
            fixture("localhost.key.pem")
        ))
        .start()
        .await
}

/// A TLS connection to the proxy that trusts only the fixture certificate.
async fn tls_connect(proxy: &TestProxy) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    let cert = CertificateDer::from_pem_file(fixture("localhost.crt.pem")).expect("fixture cert");
    roots.add(cert).expect("trust the fixture cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = within("TCP connect", TcpStream::connect(proxy.addr()))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    within("the TLS handshake", connector.connect(name, tcp))
        .await
        .expect("TLS handshake with the fixture certificate")
}

#[tokio::test]
async fn wss_sessions_are_relayed_through_the_tls_listener() {
    let upstream = EchoUpstream::start().await;
    let proxy = tls_proxy(&upstream).await;
    let tls = tls_connect(&proxy).await;
    let mut request = format!("wss://localhost:{}/ws", proxy.addr().port())
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", alice()).parse().expect("header value"),
    );
    let (mut session, response) = within(
        "the WebSocket handshake over TLS",
        tokio_tungstenite::client_async(request, tls),
    )
    .await
    .expect("handshake");
    assert_eq!(response.status(), 101);
    let large = "x".repeat(200_000);
    for text in ["over TLS", large.as_str()] {
        session.send(Message::text(text)).await.expect("send");
        match within("the echo", session.next()).await {
            Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), text),
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    session.close(None).await.expect("close");
    // The upstream saw the X-Forwarded-Proto of a TLS client.
    let seen = upstream.request(0).await;
    assert_eq!(seen.values("x-forwarded-proto"), ["https"]);
}

#[tokio::test]
async fn the_tls_listener_refuses_what_is_not_authorized_with_403() {
    let upstream = EchoUpstream::start().await;
    let proxy = tls_proxy(&upstream).await;
    let tls = tls_connect(&proxy).await;
    let request = format!("wss://localhost:{}/ws", proxy.addr().port())
        .into_client_request()
        .expect("request");
    match within(
        "the refused handshake",
        tokio_tungstenite::client_async(request, tls),
    )
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            assert_eq!(
                response
                    .headers()
                    .get("x-wsgate-reason")
                    .map(|v| v.as_bytes()),
                Some(&b"token_missing"[..])
            );
        }
        other => panic!("expected 403 token_missing, got {other:?}"),
    }
}

#[tokio::test]
async fn plain_http_to_the_tls_listener_gets_no_handshake() {
    let upstream = EchoUpstream::start().await;
    let proxy = tls_proxy(&upstream).await;
    let attempt = Upgrade::to("/ws")
        .bearer(&alice())
        .connect(proxy.addr())
        .await;
    assert!(
        attempt.is_err(),
        "a plain-text upgrade must not succeed on the TLS port"
    );
    assert_eq!(upstream.connections(), 0, "nothing reached the upstream");
}
