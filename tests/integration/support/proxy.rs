//! `TestProxy`: the library's `wsgate::run` on 127.0.0.1 ephemeral ports, configured from
//! TOML text exactly as a user would write it, with secrets resolved from a test map.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::raw::{self, RawResponse};
use super::tokens::{AUDIENCE, ISSUER, SECRET, SECRET_ENV};
use super::within;

/// A running proxy; shut down explicitly with [`TestProxy::shutdown`] or implicitly on drop.
pub(crate) struct TestProxy {
    proxy: SocketAddr,
    admin: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The TOML the proxy runs on (printed when a scenario fails).
    pub toml: String,
}

impl TestProxy {
    pub(crate) fn builder() -> TestProxyBuilder {
        TestProxyBuilder::default()
    }

    /// Parses `toml` (secrets from `env`), binds both listeners on 127.0.0.1:0 and spawns
    /// `wsgate::run`, every connection served on the test's runtime.
    pub(crate) async fn start(toml: &str, env: &[(&str, &str)]) -> TestProxy {
        TestProxy::start_on_threads(toml, env, 1).await
    }

    /// As [`TestProxy::start`], with connections served by `threads` serving threads of
    /// wsgate's own (with more than one; the test's runtime then serves none).
    pub(crate) async fn start_on_threads(
        toml: &str,
        env: &[(&str, &str)],
        threads: usize,
    ) -> TestProxy {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| env.get(name).cloned();
        let config = wsgate::config::Config::parse(toml, "<test>", &lookup, Path::new("."))
            .unwrap_or_else(|errors| {
                panic!("test config rejected:\n{errors}\n--- config ---\n{toml}")
            });
        let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let (proxy_addr, admin_addr) = (
            proxy.local_addr().expect("proxy addr"),
            admin.local_addr().expect("admin addr"),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(wsgate::run(
            Arc::new(config),
            wsgate::Listeners {
                proxy,
                admin,
                threads,
            },
            async move {
                let _ = rx.await;
            },
        ));
        TestProxy {
            proxy: proxy_addr,
            admin: admin_addr,
            shutdown: Some(tx),
            task: Some(task),
            toml: toml.to_owned(),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.proxy
    }

    pub(crate) fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// `ws://127.0.0.1:PORT{path}`.
    pub(crate) fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.proxy)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub(crate) fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy)
    }

    /// `http://127.0.0.1:ADMIN_PORT`.
    pub(crate) fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// GET `path` on the admin listener.
    pub(crate) async fn admin_get(&self, path: &str) -> RawResponse {
        admin_get(self.admin, path).await
    }

    /// The `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        let response = self.admin_get("/metrics").await;
        assert_eq!(
            response.status,
            200,
            "GET /metrics: {}",
            response.body_text()
        );
        response.body_text()
    }

    /// Signals shutdown and waits until `run` has drained and returned.
    pub(crate) async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            within("wsgate::run to return after shutdown", task)
                .await
                .expect("run task panicked")
                .expect("run returned an error");
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // If `run` already failed (a scenario then sees resets or refused connections),
        // say why in the failing test's output.
        if let Some(task) = self.task.take()
            && task.is_finished()
        {
            match task.now_or_never() {
                Some(Ok(Err(err))) => eprintln!("wsgate::run returned an error: {err}"),
                Some(Err(err)) => eprintln!("wsgate::run panicked: {err}"),
                _ => {}
            }
        }
    }
}

/// GET `path` from `addr` with `Connection: close`.
pub(crate) async fn admin_get(addr: SocketAddr, path: &str) -> RawResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw::exchange(addr, request.as_bytes()).await
}

/// Builds the standard test policy (one HS256 issuer, a few routes) with knobs.
///
/// Routes, first match wins:
/// - `/ws` required
/// - `/scoped` required, `scope` must contain `chat:admin`
/// - `/public` none
/// - `/api` required (plain HTTP)
#[derive(Debug, Clone)]
pub(crate) struct TestProxyBuilder {
    upstream: String,
    deny: &'static str,
    token_sources: Vec<String>,
    allowed_origins: Vec<String>,
    max_connections: usize,
    max_token_bytes: Option<usize>,
    drain_timeout: &'static str,
    forward_token: bool,
    /// Extra `key = value` lines for `[server]`.
    server_lines: Vec<String>,
    /// Extra `key = value` lines for `[upstream]`.
    upstream_lines: Vec<String>,
    /// Tables appended at the end of the file (e.g. `[identity.assertion]`).
    tables: Vec<String>,
    /// Extra `key = value` lines for the `/ws` route.
    ws_route_lines: Vec<String>,
    /// Extra `key = value` lines for `[identity]`.
    identity_lines: Vec<String>,
    /// Extra env vars for `{ env = ... }` secrets.
    env: Vec<(&'static str, String)>,
}

impl Default for TestProxyBuilder {
    fn default() -> Self {
        TestProxyBuilder {
            upstream: "ws://127.0.0.1:9".to_owned(),
            deny: "http",
            token_sources: vec![
                "header:authorization".to_owned(),
                "protocol:bearer".to_owned(),
                "query:access_token".to_owned(),
            ],
            allowed_origins: Vec::new(),
            max_connections: 100,
            max_token_bytes: None,
            drain_timeout: "5s",
            forward_token: false,
            server_lines: Vec::new(),
            upstream_lines: Vec::new(),
            tables: Vec::new(),
            ws_route_lines: Vec::new(),
            identity_lines: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl TestProxyBuilder {
    pub(crate) fn upstream(mut self, url: &str) -> Self {
        url.clone_into(&mut self.upstream);
        self
    }

    /// `"http"` (the default) or `"close"`.
    pub(crate) fn deny(mut self, mode: &'static str) -> Self {
        self.deny = mode;
        self
    }

    pub(crate) fn token_sources(mut self, sources: &[&str]) -> Self {
        self.token_sources = sources.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Adds `cookie:access_token` to the token sources and sets the origin allow-list.
    pub(crate) fn cookie_tokens(mut self, allowed_origins: &[&str]) -> Self {
        self.token_sources.push("cookie:access_token".to_owned());
        self.allowed_origins(allowed_origins)
    }

    pub(crate) fn allowed_origins(mut self, origins: &[&str]) -> Self {
        self.allowed_origins = origins.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub(crate) fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    pub(crate) fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = Some(max);
        self
    }

    pub(crate) fn forward_token(mut self) -> Self {
        self.forward_token = true;
        self
    }

    /// Adds a `key = value` line to `[server]`, in place of the builder's own line for
    /// that key if it has one.
    pub(crate) fn server_setting(mut self, line: &str) -> Self {
        self.server_lines.push(line.to_owned());
        self
    }

    /// Sets an env var for the config's `{ env = ... }` secrets.
    pub(crate) fn env(mut self, name: &'static str, value: &str) -> Self {
        self.env.push((name, value.to_owned()));
        self
    }

    /// Adds a `key = value` line to `[upstream]`.
    pub(crate) fn upstream_setting(mut self, line: &str) -> Self {
        self.upstream_lines.push(line.to_owned());
        self
    }

    /// Appends a table (header and lines) at the end of the file.
    pub(crate) fn table(mut self, text: &str) -> Self {
        self.tables.push(text.to_owned());
        self
    }

    /// Adds a `key = value` line to `[identity]`.
    pub(crate) fn identity_setting(mut self, line: &str) -> Self {
        self.identity_lines.push(line.to_owned());
        self
    }

    /// Adds a `key = value` line to the `/ws` route.
    pub(crate) fn ws_route_setting(mut self, line: &str) -> Self {
        self.ws_route_lines.push(line.to_owned());
        self
    }

    /// The TOML this builder describes.
    pub(crate) fn toml(&self) -> String {
        let quoted = |items: &[String]| {
            items
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let max_token_bytes = self
            .max_token_bytes
            .map(|n| format!("max_token_bytes = {n}\n"))
            .unwrap_or_default();
        let overridden = |key: &str| {
            self.server_lines
                .iter()
                .any(|line| line.split('=').next().map(str::trim) == Some(key))
        };
        let defaults: String = [
            ("handshake_timeout", "\"10s\"".to_owned()),
            ("drain_timeout", format!("{:?}", self.drain_timeout)),
        ]
        .iter()
        .filter(|(key, _)| !overridden(key))
        .map(|(key, value)| format!("{key} = {value}\n"))
        .collect();
        format!(
            r#"environment = "test"

[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
max_connections = {max_connections}
{defaults}{server_lines}
[upstream]
url = "{upstream}"
connect_timeout = "2s"
{upstream_lines}
[auth]
deny = "{deny}"
token_sources = [{sources}]
leeway = "5s"
session_expiry = "close"
{max_token_bytes}allowed_origins = [{origins}]
forward_token = {forward_token}

[[auth.issuers]]
name = "primary"
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
algorithms = ["HS256"]
secret = {{ env = "{SECRET_ENV}" }}

[identity]
user_header = "X-Auth-User"
user_claim = "sub"
method_header = "X-Auth-Method"
{identity_lines}
[identity.claim_headers]
"X-Auth-Email" = "email"

[[routes]]
path = "/ws"
auth = "required"
{ws_route_lines}
[[routes]]
path = "/scoped"
auth = "required"
claims = {{ scope = "chat:admin" }}

[[routes]]
path = "/public"
auth = "none"

[[routes]]
path = "/api"
auth = "required"
{tables}"#,
            max_connections = self.max_connections,
            server_lines = self
                .server_lines
                .iter()
                .map(|line| format!("{line}\n"))
                .collect::<String>(),
            upstream = self.upstream,
            upstream_lines = self
                .upstream_lines
                .iter()
                .map(|line| format!("{line}\n"))
                .collect::<String>(),
            deny = self.deny,
            sources = quoted(&self.token_sources),
            origins = quoted(&self.allowed_origins),
            forward_token = self.forward_token,
            identity_lines = self
                .identity_lines
                .iter()
                .map(|line| format!("{line}\n"))
                .collect::<String>(),
            ws_route_lines = self
                .ws_route_lines
                .iter()
                .map(|line| format!("{line}\n"))
                .collect::<String>(),
            tables = self
                .tables
                .iter()
                .map(|table| format!("\n{table}\n"))
                .collect::<String>(),
        )
    }

    pub(crate) async fn start(self) -> TestProxy {
        self.start_on_threads(1).await
    }

    /// As [`TestProxyBuilder::start`], served by `threads` threads
    /// ([`TestProxy::start_on_threads`]).
    pub(crate) async fn start_on_threads(self, threads: usize) -> TestProxy {
        let mut env = vec![(SECRET_ENV, SECRET)];
        env.extend(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        TestProxy::start_on_threads(&self.toml(), &env, threads).await
    }
}
