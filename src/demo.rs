//! `wsgate demo`: the one-command try-out.
//!
//! Starts an embedded echo upstream (which answers `whoami` with the identity headers it
//! received, so the newcomer sees what wsgate injected), then the real proxy in front of
//! it with a freshly generated HS256 dev secret, and prints a ready token and client
//! command lines. Everything runs through the same `server::serve` as `wsgate run`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use crate::auth::Gate;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::server::{self, Listeners};

const SECRET_VAR: &str = "WSGATE_DEMO_SECRET";

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Proxy listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Admin listen address (/metrics, /healthz, /readyz).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,
}

pub fn main(args: &DemoArgs) -> ExitCode {
    let _logs = crate::telemetry::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wsgate demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(args: &DemoArgs) -> Result<(), String> {
    let shutdown = crate::commands::shutdown_signal();
    let echo = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind the echo upstream: {e}"))?;
    let echo_addr = echo.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(echo_upstream(echo));

    let proxy = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot bind {} (use --listen): {e}", args.listen))?;
    let admin = TcpListener::bind(args.admin_listen).await.map_err(|e| {
        format!(
            "cannot bind {} (use --admin-listen): {e}",
            args.admin_listen
        )
    })?;
    let proxy_addr = proxy.local_addr().map_err(|e| e.to_string())?;
    let admin_addr = admin.local_addr().map_err(|e| e.to_string())?;

    // 48 random bytes of key material, from tungstenite's CSPRNG-backed key generator.
    let secret = format!(
        "{}{}{}",
        tokio_tungstenite::tungstenite::handshake::client::generate_key(),
        tokio_tungstenite::tungstenite::handshake::client::generate_key(),
        tokio_tungstenite::tungstenite::handshake::client::generate_key()
    );
    let toml = demo_config(proxy_addr, admin_addr, echo_addr);
    let env = {
        let secret = secret.clone();
        move |name: &str| (name == SECRET_VAR).then(|| secret.clone())
    };
    let config = Config::parse(&toml, "<demo>", &env, std::path::Path::new("."))
        .map_err(|errors| errors.to_string())?;
    let gate = Gate::new(Arc::new(config)).map_err(|errors| errors.to_string())?;

    let token = demo_token(&secret)?;
    println!("wsgate demo: an echo backend behind wsgate, with a generated dev key");
    println!("proxy: ws://{proxy_addr}/ws");
    println!("admin: http://{admin_addr}/metrics");
    println!(
        "upstream: ws://{echo_addr} (embedded echo; greets you with the identity it received)"
    );
    println!("token: {token}");
    println!();
    println!("try it:");
    println!("  websocat -H 'Authorization: Bearer {token}' ws://{proxy_addr}/ws");
    println!("  # browser console:");
    println!(
        "  new WebSocket('ws://{proxy_addr}/ws?access_token={token}').onmessage = e => console.log(e.data)"
    );
    println!("  # refused, with the reason:");
    println!(
        "  curl -si -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \\"
    );
    println!("       -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://{proxy_addr}/ws");
    println!("  curl -s http://{admin_addr}/metrics | grep wsgate_auth");
    println!("Ctrl-C to stop.");

    let registry = prometheus::Registry::new();
    let metrics = Arc::new(Metrics::new(&registry));
    let (_reload_tx, reloads) = tokio::sync::mpsc::channel(1);
    server::serve(
        gate,
        Listeners { proxy, admin },
        registry,
        metrics,
        shutdown,
        reloads,
    )
    .await
    .map_err(|e| e.to_string())
}

fn demo_config(proxy: SocketAddr, admin: SocketAddr, echo: SocketAddr) -> String {
    format!(
        r#"
environment = "development"

[server]
listen = "{proxy}"
admin_listen = "{admin}"
drain_timeout = "5s"

[upstream]
url = "ws://{echo}"

[auth]
token_sources = ["header:authorization", "protocol:bearer", "query:access_token"]

[[auth.issuers]]
name = "demo"
issuer = "wsgate-demo"
audiences = ["demo"]
algorithms = ["HS256"]
secret = {{ env = "{SECRET_VAR}" }}

[identity.claim_headers]
"X-Auth-Email" = "email"

[[routes]]
path = "/ws"
auth = "required"
"#
    )
}

fn demo_token(secret: &str) -> Result<String, String> {
    let now = crate::proxy::unix_now();
    let claims = serde_json::json!({
        "iss": "wsgate-demo",
        "aud": "demo",
        "sub": "demo-user",
        "email": "demo@example.com",
        "iat": now,
        "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| format!("cannot sign the demo token: {e}"))
}

/// An echo WebSocket server that first says who wsgate told it the caller is.
async fn echo_upstream(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut identity = String::new();
            #[allow(clippy::result_large_err)] // the signature is tungstenite's Callback
            let callback = |request: &Request, response: Response| {
                let header = |name: &str| {
                    request
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned()
                };
                identity = format!(
                    "X-Auth-User: {}, X-Auth-Method: {}, X-Auth-Email: {}",
                    header("x-auth-user"),
                    header("x-auth-method"),
                    header("x-auth-email")
                );
                Ok(response)
            };
            let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                match message {
                    Message::Text(text) if text.as_str() == "whoami" => {
                        if ws.send(Message::text(identity.clone())).await.is_err() {
                            return;
                        }
                    }
                    Message::Text(_) | Message::Binary(_) => {
                        if ws.send(message).await.is_err() {
                            return;
                        }
                    }
                    Message::Close(_) => return,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
        });
    }
}
