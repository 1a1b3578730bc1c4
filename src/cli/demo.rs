//! `wsgate demo`: the one-command try-out.
//!
//! Starts an embedded echo upstream (which answers `whoami` with the identity headers it
//! received, so the newcomer sees what wsgate injected), then the real proxy in front of
//! it with a freshly generated HS256 dev secret, and prints a ready token and client
//! command lines. The proxy starts as the integration tests start it: `server::run` on
//! listeners bound here, the same `server::serve` as `wsgate run` underneath.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use crate::config::Config;
use crate::server::{self, Listeners};

/// The env var `demo.toml` reads the generated secret from.
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
    let (executor, threads) = match super::serving_runtime() {
        Ok(serving) => serving,
        Err(code) => return code,
    };
    match executor.block_on(demo(args, threads)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wsgate demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(args: &DemoArgs, threads: usize) -> Result<(), String> {
    let shutdown = crate::cli::signals::shutdown_signal();
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

    let token = demo_token(&secret)?;
    print!("{}", banner(proxy_addr, admin_addr, echo_addr, &token));

    let listeners = Listeners {
        proxy,
        admin,
        threads,
    };
    server::run(Arc::new(config), listeners, shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// What `demo` prints: the addresses, the token, and client command lines that work as
/// printed.
///
/// websocat 1.x reads every word after `-H` as another header until the next option, so
/// `websocat -H 'K: V' ws://…` takes the URL for a header ("No URL specified"): the URL
/// goes first (vi/websocat#286).
fn banner(proxy: SocketAddr, admin: SocketAddr, echo: SocketAddr, token: &str) -> String {
    format!(
        "wsgate demo: an echo backend behind wsgate, with a generated dev key\n\
         proxy: ws://{proxy}/ws\n\
         admin: http://{admin}/metrics\n\
         upstream: ws://{echo} (embedded echo: greets each session with the identity \
         wsgate sent it, answers `whoami` with it again, echoes everything else)\n\
         token: {token}\n\
         \n\
         try it:\n\
         \x20 websocat ws://{proxy}/ws -H 'Authorization: Bearer {token}'\n\
         \x20 # then type: whoami\n\
         \x20 # browser console:\n\
         \x20 new WebSocket('ws://{proxy}/ws?access_token={token}').onmessage = e => console.log(e.data)\n\
         \x20 # refused, with the reason:\n\
         \x20 curl -si -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \\\n\
         \x20      -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://{proxy}/ws\n\
         \x20 curl -s http://{admin}/metrics | grep wsgate_auth\n\
         Ctrl-C to stop.\n"
    )
}

/// `demo.toml` with the bound addresses filled in.
fn demo_config(proxy: SocketAddr, admin: SocketAddr, echo: SocketAddr) -> String {
    include_str!("demo.toml")
        .replace("{proxy}", &proxy.to_string())
        .replace("{admin}", &admin.to_string())
        .replace("{echo}", &echo.to_string())
}

fn demo_token(secret: &str) -> Result<String, String> {
    let now = crate::domain::clock::unix_now();
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

/// The echo's greeting, sent first on every session: who wsgate said the caller is.
fn greeting(identity: &str) -> String {
    format!(
        "hello from the demo upstream; wsgate told me: {identity}. Send whoami to see it again; anything else is echoed."
    )
}

/// Whether a text message asks `whoami`: websocat sends each typed line with its newline,
/// so surrounding whitespace does not count.
fn is_whoami(text: &str) -> bool {
    text.trim() == "whoami"
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
            if ws.send(Message::text(greeting(&identity))).await.is_err() {
                return;
            }
            while let Some(Ok(message)) = ws.next().await {
                match message {
                    Message::Text(text) if is_whoami(text.as_str()) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn printed() -> String {
        banner(
            "127.0.0.1:8080".parse().unwrap(),
            "127.0.0.1:9090".parse().unwrap(),
            "127.0.0.1:41000".parse().unwrap(),
            "aaa.bbb.ccc",
        )
    }

    #[test]
    fn the_websocat_line_puts_the_url_before_the_header() {
        let text = printed();
        let line = text
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("websocat "))
            .expect("a websocat line");
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[1], "ws://127.0.0.1:8080/ws", "{line}");
        assert_eq!(words[2], "-H", "{line}");
        assert!(
            line.ends_with("-H 'Authorization: Bearer aaa.bbb.ccc'"),
            "{line}"
        );
    }

    #[test]
    fn the_demo_config_parses_with_the_bound_addresses() {
        let (proxy, admin, echo) = (
            "127.0.0.1:8080".parse().unwrap(),
            "127.0.0.1:9090".parse().unwrap(),
            "127.0.0.1:41000".parse().unwrap(),
        );
        let secret = "k3Jx9vQ2mW7pL5tR8nB4cF6hD1gS0aZeYuIoP-_.~Xq";
        let env = |name: &str| (name == SECRET_VAR).then(|| secret.to_owned());
        let config = Config::parse(
            &demo_config(proxy, admin, echo),
            "<demo>",
            &env,
            std::path::Path::new("."),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.server.listen, proxy);
        assert_eq!(config.server.admin_listen, admin);
        assert_eq!(config.upstream.url.as_str(), "ws://127.0.0.1:41000/");
    }

    #[test]
    fn whoami_is_recognised_with_the_newline_websocat_sends() {
        assert!(is_whoami("whoami"));
        assert!(is_whoami("whoami\n"));
        assert!(is_whoami("whoami\r\n"));
        assert!(!is_whoami("who am i"));
    }

    #[test]
    fn the_banner_promises_the_greeting_the_echo_sends() {
        assert!(printed().contains("greets each session with the identity"));
        assert!(greeting("X-Auth-User: demo-user").contains("X-Auth-User: demo-user"));
    }
}
