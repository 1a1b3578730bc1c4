//! A TLS client from another ecosystem: Python's `ssl` module and `websockets`
//! (`tests/python/tls_client.py`) against wsgate's TLS listener with client certificates,
//! so the listener is proven with OpenSSL on the other end, not only rustls.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::certs::{Ca, Usage};
use crate::support::tokens::alice;
use crate::support::{EchoUpstream, TempDir, TestProxy};

/// Runs the Python client; its one JSON line.
fn python_client(
    url: &str,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
    token: Option<&str>,
) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/tls_client.py");
    let mut command = std::process::Command::new("python3");
    command.arg(script).arg(url).arg(ca);
    if let Some((cert, key)) = identity {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    let output = command
        .output()
        .expect("python3 runs (install websockets: see .ci/run)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON line")
}

#[tokio::test]
async fn python_ssl_and_websockets_clients_get_through_mtls_and_are_refused_without_a_certificate()
{
    let dir = TempDir::new();
    let ca = Ca::new("python-test");
    let ca_file = ca.write(&dir, "ca.pem");
    let server = ca.issue(&["localhost", "127.0.0.1"], Some("wsgate"), Usage::Server);
    let (cert, key) = server.write(&dir, "listener");
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .server_setting(&format!(
            "tls = {{ cert_file = {cert:?}, key_file = {key:?}, client_ca_file = {ca_file:?}, client_auth = \"optional\" }}"
        ))
        .ws_route_setting("client_cert = \"required\"")
        .identity_setting("user_from = \"client_cert\"")
        .start()
        .await;
    let client = ca.issue(&[], Some("python-worker"), Usage::Client);
    let (client_cert, client_key) = client.write(&dir, "python-client");
    let port = proxy.addr().port();
    let ws = format!("wss://localhost:{port}/ws");
    let api = format!("wss://localhost:{port}/api");

    // The blocking Python client runs off the runtime's workers.
    let run = |url: String, identity: bool, token: Option<String>| {
        let (ca_file, client_cert, client_key) =
            (ca_file.clone(), client_cert.clone(), client_key.clone());
        tokio::task::spawn_blocking(move || {
            let identity = identity.then_some((client_cert.as_path(), client_key.as_path()));
            python_client(&url, &ca_file, identity, token.as_deref())
        })
    };
    let accepted = run(ws.clone(), true, None).await.expect("client task");
    assert_eq!(accepted, json!({"echo": "hello from python"}));
    assert_eq!(
        upstream.request(0).await.one("x-auth-user"),
        "python-worker"
    );

    let refused = run(ws, false, None).await.expect("client task");
    assert_eq!(
        refused,
        json!({"status": 403, "reason": "client_cert_missing"})
    );

    let with_token = run(api, false, Some(alice())).await.expect("client task");
    assert_eq!(with_token, json!({"echo": "hello from python"}));
}
