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

/// A `wss://` echo upstream on 127.0.0.1 serving the fixture certificate.
async fn tls_echo_upstream() -> String {
    use rustls_pki_types::PrivateKeyDer;
    let certs = CertificateDer::pem_file_iter(fixture("localhost.crt.pem"))
        .expect("fixture cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("fixture cert");
    let key = PrivateKeyDer::from_pem_file(fixture("localhost.key.pem")).expect("fixture key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("wss://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn a_wss_upstream_is_trusted_through_ca_file() {
    let url = tls_echo_upstream().await;
    let proxy = TestProxy::builder()
        .upstream(&url)
        .upstream_setting(&format!("ca_file = {:?}", fixture("localhost.crt.pem")))
        .start()
        .await;
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    crate::support::expect_echo(&mut session, "to a wss upstream").await;
    let large = "y".repeat(300_000);
    session
        .send(Message::text(large.as_str()))
        .await
        .expect("send");
    match within("the large echo", session.next()).await {
        Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), large),
        other => panic!("expected the echo, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wss_upstream_with_an_untrusted_certificate_is_502_upstream_unavailable() {
    let url = tls_echo_upstream().await;
    let proxy = TestProxy::builder().upstream(&url).start().await;
    let response = Upgrade::to("/ws").bearer(&alice()).send(proxy.addr()).await;
    assert_eq!(response.status, 502);
    assert_eq!(
        response.header("x-wsgate-reason"),
        Some("upstream_unavailable")
    );
}
