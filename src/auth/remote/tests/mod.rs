//! The cache's timing rules with a scripted fetcher on paused time, and the network
//! fetcher against a raw HTTP/1.1 server on 127.0.0.1.
//!
//! Shared here: the issuer and JWKS fixtures, the scripted fetcher, the test config and the
//! raw HTTP server; each child file checks one part.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::sets::RemoteSets;
use super::*;
use crate::auth::keys;
use crate::config::RemoteLocation;
use crate::config::{Config, KeySource};

mod network;
mod refetch;
mod refresh;

// ---- fixtures -------------------------------------------------------------------------------

const ISS: &str = "https://idp.example.com";

fn source(location: RemoteLocation) -> RemoteSource {
    RemoteSource {
        location,
        refresh: Duration::from_secs(600),
        cooldown: Duration::from_secs(30),
        max_stale: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
        ca_file: None,
    }
}

fn issuer(source: RemoteSource) -> IssuerConfig {
    IssuerConfig {
        name: "idp".to_owned(),
        issuer: ISS.to_owned(),
        audiences: vec!["chat".to_owned()],
        algorithms: vec![Algorithm::ES256],
        keys: KeySource::Remote(source),
        typ: None,
        environments: Vec::new(),
        enabled: true,
    }
}

/// The committed P-256 test key as a JWK under `kid`.
fn jwk(kid: &str) -> Value {
    let path = format!("{}/tests/fixtures/jwks.json", env!("CARGO_MANIFEST_DIR"));
    let document: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut key = document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "ec256-1")
        .unwrap()
        .clone();
    key["kid"] = json!(kid);
    key
}

fn jwks(kids: &[&str]) -> String {
    json!({ "keys": kids.iter().map(|kid| jwk(kid)).collect::<Vec<_>>() }).to_string()
}

fn key_set(kids: &[&str]) -> IssuerKeys {
    let issuer = issuer(source(RemoteLocation::Jwks("https://x/".parse().unwrap())));
    keys::from_jwks(&issuer, jwks(kids).as_bytes(), "test").unwrap()
}

fn kids(keys: &IssuerKeys) -> Vec<String> {
    keys.keys.iter().filter_map(|k| k.kid.clone()).collect()
}

// ---- a scripted fetcher -----------------------------------------------------------------------

/// Answers fetches from a script (the last answer repeats), each after `delay`.
struct Script {
    answers: Mutex<VecDeque<Result<IssuerKeys, Failure>>>,
    calls: AtomicUsize,
    /// When each fetch started.
    started: Mutex<Vec<Instant>>,
    delay: Duration,
}

impl Script {
    fn new(answers: Vec<Result<IssuerKeys, Failure>>, delay: Duration) -> Arc<Script> {
        Arc::new(Script {
            answers: Mutex::new(answers.into()),
            calls: AtomicUsize::new(0),
            started: Mutex::new(Vec::new()),
            delay,
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Fetch for Script {
    fn fetch<'a>(
        &'a self,
        _issuer: &'a IssuerConfig,
        _source: &'a RemoteSource,
    ) -> BoxFuture<'a, Result<IssuerKeys, Failure>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.started.lock().unwrap().push(Instant::now());
        let answer = {
            let mut answers = self.answers.lock().unwrap();
            if answers.len() > 1 {
                answers.pop_front().unwrap()
            } else {
                answers.front().cloned().unwrap()
            }
        };
        let delay = self.delay;
        async move {
            tokio::time::sleep(delay).await;
            answer
        }
        .boxed()
    }
}

fn down() -> Result<IssuerKeys, Failure> {
    Err(Failure::Error("connection refused".into()))
}

fn cache(script: &Arc<Script>, source: RemoteSource) -> Arc<RemoteKeys> {
    Arc::new(RemoteKeys::new(
        issuer(source.clone()),
        source,
        script.clone(),
        Arc::new(watch::Sender::new(())),
    ))
}

fn jwks_source() -> RemoteSource {
    source(RemoteLocation::Jwks(
        "https://idp.example.com/jwks".parse().unwrap(),
    ))
}

/// Lets spawned tasks run to their next wait without moving the paused clock.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// A validated config with one remote issuer.
fn config_with(source: &RemoteSource) -> Config {
    let text = format!(
        "environment = \"test\"\n[upstream]\nurl = \"ws://127.0.0.1:1\"\n[[auth.issuers]]\nname = \"idp\"\nissuer = \"{ISS}\"\naudiences = [\"chat\"]\nalgorithms = [\"ES256\"]\njwks_url = \"{}\"",
        source.location.url()
    );
    Config::parse(&text, "test", &|_| None, std::path::Path::new("/")).unwrap()
}

// ---- the network fetcher against a raw HTTP server ---------------------------------------------

/// What the fake server answers on a path.
#[derive(Clone)]
enum Reply {
    Json(u16, String),
    Redirect(String),
    /// A 200 head promising more body than is ever sent.
    Stall,
}

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(routes: Vec<(&str, Reply)>) -> Server {
        let routes: HashMap<String, Reply> = routes
            .into_iter()
            .map(|(path, reply)| (path.to_owned(), reply))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (routes, seen) = (routes.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    seen.lock().unwrap().push(head);
                    let reply = routes
                        .get(&path)
                        .cloned()
                        .unwrap_or(Reply::Json(404, "{}".into()));
                    let bytes = match reply {
                        Reply::Json(status, body) => format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        ),
                        Reply::Redirect(location) => format!(
                            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                        ),
                        Reply::Stall => {
                            "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"keys\":[".to_owned()
                        }
                    };
                    let _ = stream.write_all(bytes.as_bytes()).await;
                    // Hold the connection open (the stall) until the client goes away.
                    let _ = stream.read(&mut byte).await;
                });
            }
        });
        Server { addr, requests }
    }

    fn url(&self, path: &str) -> url::Url {
        format!("http://{}{path}", self.addr).parse().unwrap()
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn fetch(location: RemoteLocation) -> Result<IssuerKeys, Failure> {
    let mut source = source(location);
    source.timeout = Duration::from_millis(500);
    Fetcher::new()
        .unwrap()
        .fetch(&issuer(source.clone()), &source)
        .await
}
