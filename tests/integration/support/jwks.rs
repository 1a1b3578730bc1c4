//! A fake JWKS server (raw HTTP/1.1 on 127.0.0.1, one request per connection, every
//! request counted; optionally over TLS with the committed self-signed certificate, as a
//! private identity provider would serve it), ES256 tokens signed with the committed test key under any `kid`, and
//! the TOML of a proxy whose one issuer takes its keys from a `jwks_url`/`discovery_url`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::tokens::now;

/// `iss` of the remote-key issuer (configured name `idp`).
pub(crate) const REMOTE_ISSUER: &str = "https://idp.wsgate.test";
/// The audience it accepts.
pub(crate) const REMOTE_AUDIENCE: &str = "chat";

/// What the fake server answers, to every path.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// 200 with a JWKS holding the test P-256 key once per kid.
    Keys(Vec<String>),
    /// `status` with a JSON body.
    Json(u16, String),
    /// 200 `text/html`.
    Html(String),
    /// 302 to `Location`.
    Redirect(String),
    /// 200 promising more body than is ever sent; the connection stays open.
    Stall,
}

impl Reply {
    pub(crate) fn keys(kids: &[&str]) -> Reply {
        Reply::Keys(kids.iter().map(|k| (*k).to_owned()).collect())
    }

    /// An OpenID Provider configuration naming `issuer` and `jwks_uri`.
    pub(crate) fn discovery(issuer: &str, jwks_uri: &str) -> Reply {
        Reply::Json(
            200,
            json!({ "issuer": issuer, "jwks_uri": jwks_uri }).to_string(),
        )
    }
}

/// A JWKS endpoint whose answer a scenario changes as it goes.
pub(crate) struct FakeJwks {
    addr: SocketAddr,
    /// Served over TLS (`https://`) rather than plain HTTP.
    tls: bool,
    state: Arc<State>,
    task: Option<JoinHandle<()>>,
}

struct State {
    reply: Mutex<Reply>,
    /// Complete request heads read (one per fetch).
    requests: AtomicUsize,
    /// TCP connections accepted.
    connections: AtomicUsize,
    /// While false, requests are read and counted but not answered.
    open: watch::Sender<bool>,
}

impl FakeJwks {
    pub(crate) async fn start(reply: Reply) -> FakeJwks {
        FakeJwks::serve(
            TcpListener::bind("127.0.0.1:0").await.expect("bind jwks"),
            reply,
        )
    }

    /// Serves on `addr` (a port a proxy was already pointed at while it was closed).
    pub(crate) async fn start_at(addr: SocketAddr, reply: Reply) -> FakeJwks {
        FakeJwks::serve(TcpListener::bind(addr).await.expect("bind jwks"), reply)
    }

    /// Serves over TLS with `tests/fixtures/tls/localhost.crt.pem` (self-signed for
    /// localhost and 127.0.0.1): a client must trust that file to fetch.
    pub(crate) async fn start_tls(reply: Reply) -> FakeJwks {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind jwks");
        FakeJwks::serve_with(listener, reply, Some(tls_acceptor()))
    }

    fn serve(listener: TcpListener, reply: Reply) -> FakeJwks {
        FakeJwks::serve_with(listener, reply, None)
    }

    fn serve_with(
        listener: TcpListener,
        reply: Reply,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> FakeJwks {
        let addr = listener.local_addr().expect("jwks addr");
        let state = Arc::new(State {
            reply: Mutex::new(reply),
            requests: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            open: watch::Sender::new(true),
        });
        let shared = state.clone();
        let secure = tls.is_some();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = shared.clone();
                match tls.clone() {
                    None => drop(tokio::spawn(answer(stream, shared))),
                    Some(acceptor) => drop(tokio::spawn(async move {
                        // A client that does not trust the certificate aborts here.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            answer(stream, shared).await;
                        }
                    })),
                }
            }
        });
        FakeJwks {
            addr,
            tls: secure,
            state,
            task: Some(task),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}` (`https://` when served over TLS).
    pub(crate) fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub(crate) fn set(&self, reply: Reply) {
        *self.state.reply.lock().expect("reply lock") = reply;
    }

    /// Requests read so far (each fetch is one request on its own connection).
    pub(crate) fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub(crate) fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Requests are read and counted but answered only after [`FakeJwks::release`].
    pub(crate) fn hold(&self) {
        self.state.open.send_replace(false);
    }

    pub(crate) fn release(&self) {
        self.state.open.send_replace(true);
    }

    /// Closes the listener and waits until it is gone: later fetches are refused at
    /// connect.
    pub(crate) async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for FakeJwks {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The committed TLS fixture as a server identity.
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let path = |name: &str| format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"));
    let certs = CertificateDer::pem_file_iter(path("localhost.crt.pem"))
        .expect("fixture cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("fixture cert");
    let key = PrivateKeyDer::from_pem_file(path("localhost.key.pem")).expect("fixture key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn answer<S>(mut stream: S, state: Arc<State>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    state.requests.fetch_add(1, Ordering::SeqCst);
    let mut open = state.open.subscribe();
    if open.wait_for(|open| *open).await.is_err() {
        return;
    }
    let reply = state.reply.lock().expect("reply lock").clone();
    let response = |status: u16, kind: &str, body: &str| {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let bytes = match reply {
        Reply::Keys(kids) => {
            let kids: Vec<&str> = kids.iter().map(String::as_str).collect();
            response(200, "application/json", &jwks(&kids))
        }
        Reply::Json(status, body) => response(status, "application/json", &body),
        Reply::Html(body) => response(200, "text/html", &body),
        Reply::Redirect(location) => format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        Reply::Stall => {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"keys\":[".to_owned()
        }
    };
    let _ = stream.write_all(bytes.as_bytes()).await;
    // Keep the socket until the client hangs up (matters for the stall).
    let _ = stream.read(&mut byte).await;
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A JWKS with the committed P-256 public key once per kid.
pub(crate) fn jwks(kids: &[&str]) -> String {
    let document: Value = serde_json::from_slice(&fixture("jwks.json")).expect("fixture jwks");
    let key = document["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == "ec256-1"))
        .expect("ec256-1 in the fixture")
        .clone();
    let keys: Vec<Value> = kids
        .iter()
        .map(|kid| {
            let mut key = key.clone();
            key["kid"] = json!(kid);
            key
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// An ES256 token for `sub` from the remote issuer, valid ten minutes, signed with the
/// committed P-256 key under `kid`.
pub(crate) fn token(kid: &str) -> String {
    sign(Header {
        kid: Some(kid.to_owned()),
        ..Header::new(Algorithm::ES256)
    })
}

/// Like [`token`], with any JOSE header (`jku`, `x5u`, ...).
pub(crate) fn sign(header: Header) -> String {
    let now = now();
    let claims = json!({
        "iss": REMOTE_ISSUER,
        "aud": REMOTE_AUDIENCE,
        "sub": "rita",
        "iat": now,
        "exp": now + 600,
    });
    let key = EncodingKey::from_ec_pem(&fixture("ec256.key.pem")).expect("ec256 key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign ES256")
}

/// A proxy config with one ES256 issuer `idp` whose keys come from `key_source`
/// (`jwks_url = "..."` or `discovery_url = "..."` plus any timing keys), route `/ws`.
pub(crate) fn remote_config(upstream: &str, deny: &str, key_source: &str) -> String {
    format!(
        r#"environment = "test"

[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
handshake_timeout = "10s"
drain_timeout = "5s"

[upstream]
url = "{upstream}"
connect_timeout = "2s"

[auth]
deny = "{deny}"
token_sources = ["header:authorization"]
leeway = "5s"

[[auth.issuers]]
name = "idp"
issuer = "{REMOTE_ISSUER}"
audiences = ["{REMOTE_AUDIENCE}"]
algorithms = ["ES256"]
{key_source}

[[routes]]
path = "/ws"
auth = "required"
"#
    )
}
