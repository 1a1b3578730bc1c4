//! The load generator: runs every scenario against every target, alternating targets, and
//! reports rates, latencies and the proxy's CPU time per operation (from /proc/PID/stat).
//!
//!   load --target direct=ws://127.0.0.1:9001/ws,server=ECHO_PID
//!        --target wsgate=ws://127.0.0.1:9002/ws,proxy=PID,server=ECHO_PID ...
//!        [--scenarios idle,hs256,rs256,rtt64,rtt512,rtt16k,tp1k,tp16k,tp64k]
//!        [--rounds 2] [--duration 3] [--warmup 1] [--idle 5000,9900]
//!        [--json results.jsonl] [--markdown results.md]
//!
//! Tokens: HS256 with the secret in BENCH_HS_SECRET, RS256 with the PKCS#8 key in
//! BENCH_RSA_KEY (a file); issuers https://hs.bench and https://rs.bench, audience "bench".
//! Every request carries `Authorization: Bearer <token>`; targets without auth ignore it.
//!
//! Single-threaded on purpose: `taskset -c 0 load ...` gives it exactly one core.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Clone, Debug)]
struct Target {
    name: String,
    url: String,
    /// The proxy under test (None for direct).
    proxy: Option<u32>,
    /// The echo upstream.
    server: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Handshake,
    RoundTrip,
    Throughput,
}

#[derive(Clone, Debug)]
struct Scenario {
    name: &'static str,
    title: &'static str,
    kind: Kind,
    conns: usize,
    size: usize,
    rs256: bool,
}

fn scenarios() -> Vec<Scenario> {
    let s = |name, title, kind, conns, size, rs256| Scenario {
        name,
        title,
        kind,
        conns,
        size,
        rs256,
    };
    vec![
        s(
            "hs256",
            "handshake, HS256, 16 concurrent",
            Kind::Handshake,
            16,
            0,
            false,
        ),
        s(
            "rs256",
            "handshake, RS256 2048, 16 concurrent",
            Kind::Handshake,
            16,
            0,
            true,
        ),
        s(
            "rtt64",
            "round trip, 1 conn, 64 B",
            Kind::RoundTrip,
            1,
            64,
            false,
        ),
        s(
            "rtt512",
            "round trip, 64 conns, 512 B",
            Kind::RoundTrip,
            64,
            512,
            false,
        ),
        s(
            "rtt16k",
            "round trip, 1 conn, 16 KiB",
            Kind::RoundTrip,
            1,
            16 * 1024,
            false,
        ),
        s(
            "tp1k",
            "throughput, 4 conns, 1 KiB",
            Kind::Throughput,
            4,
            1024,
            false,
        ),
        s(
            "tp16k",
            "throughput, 4 conns, 16 KiB",
            Kind::Throughput,
            4,
            16 * 1024,
            false,
        ),
        s(
            "tp64k",
            "throughput, 4 conns, 64 KiB",
            Kind::Throughput,
            4,
            64 * 1024,
            false,
        ),
    ]
}

struct Args {
    targets: Vec<Target>,
    scenarios: Vec<String>,
    rounds: usize,
    duration: Duration,
    warmup: Duration,
    idle: Vec<usize>,
    json: Option<String>,
    markdown: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        targets: Vec::new(),
        scenarios: "idle,hs256,rs256,rtt64,rtt512,rtt16k,tp1k,tp16k,tp64k"
            .split(',')
            .map(str::to_owned)
            .collect(),
        rounds: 2,
        duration: Duration::from_secs(3),
        warmup: Duration::from_secs(1),
        idle: vec![5000, 9900],
        json: None,
        markdown: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| die(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--target" => {
                let spec = value();
                let (name, rest) = spec
                    .split_once('=')
                    .unwrap_or_else(|| die("--target NAME=URL[,proxy=PID][,server=PID]"));
                let mut parts = rest.split(',');
                let mut target = Target {
                    name: name.to_owned(),
                    url: parts.next().unwrap().to_owned(),
                    proxy: None,
                    server: None,
                };
                for part in parts {
                    match part.split_once('=') {
                        Some(("proxy", pid)) => target.proxy = pid.parse().ok(),
                        Some(("server", pid)) => target.server = pid.parse().ok(),
                        _ => die(&format!("bad target option {part:?}")),
                    }
                }
                args.targets.push(target);
            }
            "--scenarios" => args.scenarios = value().split(',').map(str::to_owned).collect(),
            "--rounds" => args.rounds = value().parse().unwrap_or_else(|_| die("--rounds N")),
            "--duration" => {
                args.duration = Duration::from_secs_f64(
                    value().parse().unwrap_or_else(|_| die("--duration SECS")),
                )
            }
            "--warmup" => {
                args.warmup = Duration::from_secs_f64(
                    value().parse().unwrap_or_else(|_| die("--warmup SECS")),
                )
            }
            "--idle" => {
                args.idle = value()
                    .split(',')
                    .map(|n| n.parse().unwrap_or_else(|_| die("--idle N[,N]")))
                    .collect()
            }
            "--json" => args.json = Some(value()),
            "--markdown" => args.markdown = Some(value()),
            other => die(&format!("unknown argument {other:?}")),
        }
    }
    if args.targets.is_empty() {
        die("no --target");
    }
    args
}

fn die(message: &str) -> ! {
    eprintln!("load: {message}");
    std::process::exit(2);
}

// ---------------------------------------------------------------------------------------
// /proc

/// utime and stime of a whole process (live and exited threads), in microseconds.
fn cpu_us(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // Field 14 (utime) and 15 (stime) of proc(5) are at 11 and 12 after the state field (3).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let hz = 100.0; // sysconf(_SC_CLK_TCK) on Linux x86_64
    Some((utime * 1e6 / hz, stime * 1e6 / hz))
}

/// Resident set size in KiB (VmRSS).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---------------------------------------------------------------------------------------
// tokens and connections

/// Every handshake presents a token no handshake before it in this run presented (so no
/// proxy can answer from a verified-token cache): HS256 tokens are signed per handshake
/// with a fresh `jti`; RS256 signing costs ~1-2 ms here, so RS256 handshakes cycle through
/// a pool of `BENCH_RS_POOL` (default 4,096) distinct tokens signed at start, and a cache
/// smaller than the pool never hits on a cyclic scan. `hs`/`rs` are one fixed token each,
/// for the sessions that are opened once (round trips, throughput, idle).
struct Tokens {
    hs: String,
    rs: String,
    hs_key: EncodingKey,
    now: u64,
    rs_pool: Vec<String>,
    issued: Cell<u64>,
}

impl Tokens {
    /// A token for one handshake (see [`Tokens`]).
    fn next(&self, rs256: bool) -> String {
        let n = self.issued.get();
        self.issued.set(n + 1);
        if rs256 {
            return self.rs_pool[(n % self.rs_pool.len() as u64) as usize].clone();
        }
        let mut claims = bench_claims("https://hs.bench", self.now);
        claims["jti"] = json!(format!("hs-{n}"));
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.hs_key)
            .unwrap_or_else(|e| die(&format!("HS256: {e}")))
    }
}

fn bench_claims(iss: &str, now: u64) -> Value {
    json!({"iss": iss, "aud": "bench", "sub": "bench-user", "iat": now, "exp": now + 6 * 3600})
}

fn mint(rs_pool: usize) -> Tokens {
    let secret = std::env::var("BENCH_HS_SECRET").unwrap_or_else(|_| die("BENCH_HS_SECRET unset"));
    let key_file = std::env::var("BENCH_RSA_KEY").unwrap_or_else(|_| die("BENCH_RSA_KEY unset"));
    let pem = std::fs::read(&key_file).unwrap_or_else(|e| die(&format!("{key_file}: {e}")));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |iss: &str| bench_claims(iss, now);
    let hs_key = EncodingKey::from_secret(secret.as_bytes());
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("https://hs.bench"),
        &hs_key,
    )
    .unwrap_or_else(|e| die(&format!("HS256: {e}")));
    let rs_key = EncodingKey::from_rsa_pem(&pem).unwrap_or_else(|e| die(&format!("RSA key: {e}")));
    let sign_rs = |claims: &Value| {
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &rs_key)
            .unwrap_or_else(|e| die(&format!("RS256: {e}")))
    };
    let rs = sign_rs(&claims("https://rs.bench"));
    if rs_pool > 0 {
        eprintln!("signing {rs_pool} distinct RS256 tokens...");
    }
    let rs_pool: Vec<String> = (0..rs_pool)
        .map(|n| {
            let mut claims = claims("https://rs.bench");
            claims["jti"] = json!(format!("rs-{n}"));
            sign_rs(&claims)
        })
        .collect();
    Tokens {
        hs,
        rs,
        hs_key,
        now,
        rs_pool,
        issued: Cell::new(0),
    }
}

async fn connect(url: &str, token: &str) -> Result<Ws, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?,
    );
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or("no host")?;
    let stream = TcpStream::connect(&host)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// Sends a close and waits for the peer's close and EOF.
async fn close(mut ws: Ws) -> Result<(), String> {
    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
    while let Some(message) = ws.next().await {
        match message {
            Ok(_) => {}
            Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed) => break,
            Err(e) => return Err(format!("closing: {e}")),
        }
    }
    Ok(())
}

async fn echo_once(ws: &mut Ws, payload: &Bytes) -> Result<(), String> {
    ws.send(Message::Binary(payload.clone()))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) if b.len() == payload.len() => return Ok(()),
            Some(Ok(Message::Binary(_))) => return Err("echo of the wrong size".into()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("recv: {e}")),
            None => return Err("connection ended".into()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// runs

/// Counters shared by the tasks of one run (one thread, so Cell is enough).
#[derive(Default)]
struct Shared {
    measuring: Cell<bool>,
    stop: Cell<bool>,
    ops: Cell<u64>,
    bytes: Cell<u64>,
    errors: Cell<u64>,
    first_error: RefCell<Option<String>>,
    latencies: RefCell<Vec<u32>>,
}

impl Shared {
    fn error(&self, e: String) {
        self.errors.set(self.errors.get() + 1);
        let mut first = self.first_error.borrow_mut();
        if first.is_none() {
            *first = Some(e);
        }
    }
    fn done(&self, bytes: usize, latency: Option<Duration>) {
        if self.measuring.get() {
            self.ops.set(self.ops.get() + 1);
            self.bytes.set(self.bytes.get() + bytes as u64);
            if let Some(l) = latency {
                self.latencies
                    .borrow_mut()
                    .push(l.as_nanos().min(u32::MAX as u128) as u32);
            }
        }
    }
}

async fn handshake_worker(shared: Rc<Shared>, url: String, tokens: Rc<Tokens>, rs256: bool) {
    while !shared.stop.get() {
        let token = tokens.next(rs256);
        let started = Instant::now();
        match connect(&url, &token).await {
            Ok(ws) => match close(ws).await {
                Ok(()) => shared.done(0, Some(started.elapsed())),
                Err(e) => shared.error(e),
            },
            Err(e) => {
                shared.error(e);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn round_trip_worker(shared: Rc<Shared>, mut ws: Ws, size: usize) {
    let payload = Bytes::from(vec![0x5a; size]);
    while !shared.stop.get() {
        let started = Instant::now();
        match echo_once(&mut ws, &payload).await {
            Ok(()) => shared.done(size, Some(started.elapsed())),
            Err(e) => {
                shared.error(e);
                return;
            }
        }
    }
    if let Err(e) = close(ws).await {
        shared.error(e);
    }
}

async fn throughput_worker(shared: Rc<Shared>, ws: Ws, size: usize) {
    // Keep about 256 KiB in flight per connection.
    let window = (256 * 1024 / size).max(2);
    let (mut sink, mut stream) = ws.split();
    let permits = Rc::new(Semaphore::new(window));
    let payload = Bytes::from(vec![0x5a; size]);
    let writer = {
        let shared = shared.clone();
        let permits = permits.clone();
        async move {
            let mut sent = 0u64;
            while !shared.stop.get() {
                let Ok(permit) = permits.acquire().await else {
                    break;
                };
                permit.forget();
                if let Err(e) = sink.feed(Message::Binary(payload.clone())).await {
                    shared.error(format!("send: {e}"));
                    return (sink, sent, true);
                }
                sent += 1;
                // Flush when the window is full or every 16 messages.
                if permits.available_permits() == 0 || sent % 16 == 0 {
                    if let Err(e) = sink.flush().await {
                        shared.error(format!("flush: {e}"));
                        return (sink, sent, true);
                    }
                }
            }
            let failed = sink.flush().await.is_err();
            (sink, sent, failed)
        }
    };
    let received = Rc::new(Cell::new(0u64));
    let reader = {
        let shared = shared.clone();
        let received = received.clone();
        let permits = permits.clone();
        async move {
            while let Some(message) = stream.next().await {
                match message {
                    Ok(Message::Binary(b)) => {
                        received.set(received.get() + 1);
                        shared.done(b.len(), None);
                        permits.add_permits(1);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if !shared.stop.get() {
                            shared.error(format!("recv: {e}"));
                        }
                        return stream;
                    }
                }
                if shared.stop.get() && permits.available_permits() == window {
                    // Everything sent has come back.
                    return stream;
                }
            }
            stream
        }
    };
    let ((sink, _sent, failed), stream) = tokio::join!(writer, reader);
    if failed {
        return;
    }
    match sink.reunite(stream) {
        Ok(ws) => {
            if let Err(e) = close(ws).await {
                shared.error(e);
            }
        }
        Err(_) => shared.error("reunite".into()),
    }
}

#[derive(Debug, Clone)]
struct RunResult {
    scenario: String,
    target: String,
    round: usize,
    ops: u64,
    secs: f64,
    rate: f64,
    mbps: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    proxy_cpu_us_per_op: Option<f64>,
    /// The kernel's share (stime) of `proxy_cpu_us_per_op`.
    proxy_sys_us_per_op: Option<f64>,
    server_cpu_us_per_op: Option<f64>,
    errors: u64,
    first_error: Option<String>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

async fn run_one(
    scenario: &Scenario,
    target: &Target,
    tokens: &Rc<Tokens>,
    round: usize,
    warmup: Duration,
    duration: Duration,
) -> RunResult {
    let shared = Rc::new(Shared::default());
    let token = if scenario.rs256 {
        &tokens.rs
    } else {
        &tokens.hs
    };
    let mut tasks = Vec::new();
    match scenario.kind {
        Kind::Handshake => {
            for _ in 0..scenario.conns {
                tasks.push(tokio::task::spawn_local(handshake_worker(
                    shared.clone(),
                    target.url.clone(),
                    tokens.clone(),
                    scenario.rs256,
                )));
            }
        }
        Kind::RoundTrip | Kind::Throughput => {
            for _ in 0..scenario.conns {
                let ws = match connect(&target.url, token).await {
                    Ok(ws) => ws,
                    Err(e) => {
                        shared.error(e);
                        continue;
                    }
                };
                let task = match scenario.kind {
                    Kind::RoundTrip => tokio::task::spawn_local(round_trip_worker(
                        shared.clone(),
                        ws,
                        scenario.size,
                    )),
                    _ => tokio::task::spawn_local(throughput_worker(
                        shared.clone(),
                        ws,
                        scenario.size,
                    )),
                };
                tasks.push(task);
            }
        }
    }
    tokio::time::sleep(warmup).await;
    let proxy0 = target.proxy.and_then(cpu_us);
    let server0 = target.server.and_then(cpu_us);
    let started = Instant::now();
    shared.measuring.set(true);
    tokio::time::sleep(duration).await;
    shared.measuring.set(false);
    let secs = started.elapsed().as_secs_f64();
    let proxy1 = target.proxy.and_then(cpu_us);
    let server1 = target.server.and_then(cpu_us);
    shared.stop.set(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let ops = shared.ops.get();
    let mut latencies = std::mem::take(&mut *shared.latencies.borrow_mut());
    latencies.sort_unstable();
    let per_op = |a: Option<(f64, f64)>, b: Option<(f64, f64)>| match (a, b) {
        (Some(a), Some(b)) if ops > 0 => Some((b.0 + b.1 - a.0 - a.1) / ops as f64),
        _ => None,
    };
    let sys_per_op = |a: Option<(f64, f64)>, b: Option<(f64, f64)>| match (a, b) {
        (Some(a), Some(b)) if ops > 0 => Some((b.1 - a.1) / ops as f64),
        _ => None,
    };
    let result = RunResult {
        scenario: scenario.name.to_owned(),
        target: target.name.clone(),
        round,
        ops,
        secs,
        rate: ops as f64 / secs,
        mbps: shared.bytes.get() as f64 / secs / 1e6,
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
        p999_us: percentile(&latencies, 0.999),
        proxy_cpu_us_per_op: per_op(proxy0, proxy1),
        proxy_sys_us_per_op: sys_per_op(proxy0, proxy1),
        server_cpu_us_per_op: per_op(server0, server1),
        errors: shared.errors.get(),
        first_error: shared.first_error.borrow().clone(),
    };
    // Let the targets settle (closing sockets, TIME_WAIT) before the next run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    result
}

#[derive(Debug, Clone)]
struct IdleResult {
    target: String,
    sessions: usize,
    held: usize,
    rss_kib_before: u64,
    rss_kib_after: u64,
    per_session_kib: f64,
    errors: u64,
    first_error: Option<String>,
}

/// Opens sessions up to each step of `steps` (64 handshakes at a time), measures the
/// memory of the process holding them (the proxy, or the echo for direct) against the
/// baseline, checks every session still echoes, then closes them all.
async fn run_idle(target: &Target, tokens: &Tokens, steps: &[usize]) -> Vec<IdleResult> {
    let pid = target.proxy.or(target.server);
    // Warm the runtime and allocator with a few sessions, then take the baseline.
    for _ in 0..64 {
        if let Ok(ws) = connect(&target.url, &tokens.hs).await {
            let _ = close(ws).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = pid.and_then(rss_kib).unwrap_or(0);
    let mut sessions: Vec<Ws> = Vec::new();
    let mut results = Vec::new();
    let shared = Rc::new(Shared::default());
    for &step in steps {
        while sessions.len() < step {
            let batch = (step - sessions.len()).min(64);
            let opened = futures_util::future::join_all(
                (0..batch).map(|_| connect(&target.url, &tokens.hs)),
            )
            .await;
            let mut failed = 0;
            for ws in opened {
                match ws {
                    Ok(ws) => sessions.push(ws),
                    Err(e) => {
                        failed += 1;
                        shared.error(e);
                    }
                }
            }
            if failed == batch {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = pid.and_then(rss_kib).unwrap_or(0);
        let held = sessions.len();
        results.push(IdleResult {
            target: target.name.clone(),
            sessions: step,
            held,
            rss_kib_before: before,
            rss_kib_after: after,
            per_session_kib: (after as f64 - before as f64) / held.max(1) as f64,
            errors: shared.errors.get(),
            first_error: shared.first_error.borrow().clone(),
        });
        eprintln!(
            "  idle {:>7} {:>6} sessions held: RSS {} -> {} KiB, {:.2} KiB/session, errors {}",
            target.name,
            held,
            before,
            after,
            (after as f64 - before as f64) / held.max(1) as f64,
            shared.errors.get()
        );
    }
    // Every session must still carry a message, 64 at a time.
    let payload = Bytes::from_static(b"still there?");
    let mut alive = 0usize;
    let mut dead = 0usize;
    for chunk in sessions.chunks_mut(64) {
        let outcomes =
            futures_util::future::join_all(chunk.iter_mut().map(|ws| echo_once(ws, &payload)))
                .await;
        for outcome in outcomes {
            match outcome {
                Ok(()) => alive += 1,
                Err(e) => {
                    dead += 1;
                    shared.error(e);
                }
            }
        }
    }
    eprintln!(
        "  idle {:>7}: {alive} sessions echoed after the hold, {dead} failed",
        target.name
    );
    if let Some(last) = results.last_mut() {
        last.errors = shared.errors.get();
        last.first_error = shared.first_error.borrow().clone();
        last.held = alive;
    }
    // Close them all, 256 at a time.
    while !sessions.is_empty() {
        let batch: Vec<Ws> = sessions.drain(..sessions.len().min(256)).collect();
        futures_util::future::join_all(batch.into_iter().map(close)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    results
}

// ---------------------------------------------------------------------------------------
// report

/// Row `row` of a Williams Latin square of order `n`: the first row is 0, n-1, 1, n-2, 2,
/// …, and each later row adds 1 (mod n). For even `n`, `n` rows balance both the position
/// of each target and which target precedes it; for odd `n` only the position.
fn williams_row(n: usize, row: usize) -> Vec<usize> {
    let mut first = Vec::with_capacity(n);
    let (mut low, mut high) = (0, n);
    for i in 0..n {
        if i % 2 == 0 {
            first.push(low);
            low += 1;
        } else {
            high -= 1;
            first.push(high);
        }
    }
    first.into_iter().map(|t| (t + row) % n.max(1)).collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn fmt(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "–".into()
    }
}

fn ratio(v: f64, base: f64) -> String {
    if v.is_finite() && base.is_finite() && base > 0.0 {
        format!("{:.2}×", v / base)
    } else {
        "–".into()
    }
}

fn report(results: &[RunResult], idle: &[IdleResult], targets: &[Target]) -> String {
    let mut out = String::new();
    let order: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    for scenario in scenarios() {
        let rows: Vec<&RunResult> = results
            .iter()
            .filter(|r| r.scenario == scenario.name)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let mut by_target: BTreeMap<&str, Vec<&RunResult>> = BTreeMap::new();
        for r in &rows {
            by_target.entry(r.target.as_str()).or_default().push(r);
        }
        let med = |t: &str, f: &dyn Fn(&RunResult) -> f64| {
            by_target
                .get(t)
                .map(|rs| median(rs.iter().map(|r| f(r)).collect()))
                .unwrap_or(f64::NAN)
        };
        let rounds = by_target.values().map(Vec::len).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "\n### {} (`{}`, median of {rounds})\n",
            scenario.title, scenario.name
        );
        match scenario.kind {
            Kind::Handshake => {
                let _ = writeln!(
                    out,
                    "| target | handshakes/s | vs direct | p50 ms | p99 ms | proxy CPU µs/op (of it sys) | CPU vs nginx | CPU vs HAProxy | echo CPU µs/op | errors |"
                );
                let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            }
            Kind::RoundTrip => {
                let _ = writeln!(
                    out,
                    "| target | round trips/s | p50 µs | p99 µs | p99 vs direct | p999 µs | proxy CPU µs/op (of it sys) | CPU vs nginx | CPU vs HAProxy | echo CPU µs/op | errors |"
                );
                let _ = writeln!(
                    out,
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
                );
            }
            Kind::Throughput => {
                let _ = writeln!(
                    out,
                    "| target | messages/s | MB/s (echoed) | vs direct | MB/s vs nginx | MB/s vs HAProxy | proxy CPU µs/op (of it sys) | CPU vs nginx | CPU vs HAProxy | echo CPU µs/op | errors |"
                );
                let _ = writeln!(
                    out,
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
                );
            }
        }
        let base_rate = med("direct", &|r| r.rate);
        let base_p99 = med("direct", &|r| r.p99_us);
        let base_mbps = med("direct", &|r| r.mbps);
        // Every row as a ratio to the two peers measured in this same run.
        let cpu_of = |t: &str| med(t, &|r| r.proxy_cpu_us_per_op.unwrap_or(f64::NAN));
        let (nginx_cpu, haproxy_cpu) = (cpu_of("nginx"), cpu_of("haproxy"));
        let (nginx_mbps, haproxy_mbps) = (med("nginx", &|r| r.mbps), med("haproxy", &|r| r.mbps));
        for t in &order {
            if !by_target.contains_key(t) {
                continue;
            }
            let errors: u64 = by_target[t].iter().map(|r| r.errors).sum();
            let proxy = med(t, &|r| r.proxy_cpu_us_per_op.unwrap_or(f64::NAN));
            let sys = med(t, &|r| r.proxy_sys_us_per_op.unwrap_or(f64::NAN));
            let proxy_cell = |digits: usize| {
                if proxy.is_finite() {
                    format!("{} ({} sys)", fmt(proxy, digits), fmt(sys, digits))
                } else {
                    "–".to_owned()
                }
            };
            let server = med(t, &|r| r.server_cpu_us_per_op.unwrap_or(f64::NAN));
            match scenario.kind {
                Kind::Handshake => {
                    let _ = writeln!(
                        out,
                        "| {t} | {} | {} | {} | {} | {} | {} | {} | {} | {errors} |",
                        fmt(med(t, &|r| r.rate), 0),
                        ratio(med(t, &|r| r.rate), base_rate),
                        fmt(med(t, &|r| r.p50_us) / 1000.0, 2),
                        fmt(med(t, &|r| r.p99_us) / 1000.0, 2),
                        proxy_cell(1),
                        ratio(proxy, nginx_cpu),
                        ratio(proxy, haproxy_cpu),
                        fmt(server, 1)
                    );
                }
                Kind::RoundTrip => {
                    let _ = writeln!(
                        out,
                        "| {t} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {errors} |",
                        fmt(med(t, &|r| r.rate), 0),
                        fmt(med(t, &|r| r.p50_us), 1),
                        fmt(med(t, &|r| r.p99_us), 1),
                        ratio(med(t, &|r| r.p99_us), base_p99),
                        fmt(med(t, &|r| r.p999_us), 1),
                        proxy_cell(1),
                        ratio(proxy, nginx_cpu),
                        ratio(proxy, haproxy_cpu),
                        fmt(server, 2)
                    );
                }
                Kind::Throughput => {
                    let _ = writeln!(
                        out,
                        "| {t} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {errors} |",
                        fmt(med(t, &|r| r.rate), 0),
                        fmt(med(t, &|r| r.mbps), 0),
                        ratio(med(t, &|r| r.mbps), base_mbps),
                        ratio(med(t, &|r| r.mbps), nginx_mbps),
                        ratio(med(t, &|r| r.mbps), haproxy_mbps),
                        proxy_cell(1),
                        ratio(proxy, nginx_cpu),
                        ratio(proxy, haproxy_cpu),
                        fmt(server, 2)
                    );
                }
            }
        }
    }
    if !idle.is_empty() {
        let _ = writeln!(
            out,
            "\n### idle sessions (`idle`): RSS delta / sessions held\n"
        );
        let _ = writeln!(
            out,
            "| target | sessions | held and echoing | RSS before KiB | RSS after KiB | KiB / session | vs nginx | vs HAProxy | errors |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let peer = |name: &str, sessions: usize| {
            idle.iter()
                .find(|p| p.target == name && p.sessions == sessions)
                .map_or(f64::NAN, |p| p.per_session_kib)
        };
        for r in idle {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} |",
                r.target,
                r.sessions,
                r.held,
                r.rss_kib_before,
                r.rss_kib_after,
                r.per_session_kib,
                ratio(r.per_session_kib, peer("nginx", r.sessions)),
                ratio(r.per_session_kib, peer("haproxy", r.sessions)),
                r.errors
            );
        }
        let _ = writeln!(
            out,
            "\n(direct: the echo upstream's own RSS; others: the proxy's.)"
        );
    }
    out
}

fn main() {
    let args = parse_args();
    let rs_pool = if args.scenarios.iter().any(|s| s == "rs256") {
        std::env::var("BENCH_RS_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4096)
    } else {
        0
    };
    let tokens = Rc::new(mint(rs_pool));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let mut json_out = args
        .json
        .as_ref()
        .map(|p| std::fs::File::create(p).expect("json file"));
    let (results, idle) = local.block_on(&runtime, async {
        let mut results = Vec::new();
        let mut idle = Vec::new();
        for name in &args.scenarios {
            if name == "idle" {
                eprintln!("== idle sessions, steps {:?}", args.idle);
                for target in &args.targets {
                    for r in run_idle(target, &tokens, &args.idle).await {
                        if let Some(f) = json_out.as_mut() {
                            let v: Value = json!({"scenario": "idle", "target": r.target, "sessions": r.sessions, "held": r.held,
                                "rss_kib_before": r.rss_kib_before, "rss_kib_after": r.rss_kib_after,
                                "per_session_kib": r.per_session_kib, "errors": r.errors, "first_error": r.first_error});
                            let _ = writeln!(f, "{v}");
                        }
                        idle.push(r);
                    }
                }
                continue;
            }
            let Some(scenario) = scenarios().into_iter().find(|s| s.name == name) else {
                die(&format!("unknown scenario {name:?}"));
            };
            eprintln!("== {} ({})", scenario.title, scenario.name);
            for round in 1..=args.rounds {
                // A run pays for what the run before it left behind: an A/A run (one
                // binary as two targets) and a full run measured the target that followed
                // `direct` (45k connections in 4 s: TIME_WAIT on the echo's port, the
                // echo's cleanup) 10-30 % higher in CPU per handshake. So the order is a
                // Williams design: over as many rounds as targets (even count), every
                // target runs once in every position and follows every other target once.
                let order = williams_row(args.targets.len(), round - 1);
                for &index in &order {
                    let target = &args.targets[index];
                    let r = run_one(&scenario, target, &tokens, round, args.warmup, args.duration).await;
                    eprintln!(
                        "  r{round} {:>7}: {:>9.0} ops/s {:>8.1} MB/s p50 {:>8.1} µs p99 {:>8.1} µs p999 {:>8.1} µs proxy {:>7} µs/op echo {:>6} µs/op errors {}{}",
                        r.target, r.rate, r.mbps, r.p50_us, r.p99_us, r.p999_us,
                        r.proxy_cpu_us_per_op
                            .map(|v| format!("{v:.2} ({:.2} sys)", r.proxy_sys_us_per_op.unwrap_or(f64::NAN)))
                            .unwrap_or("–".into()),
                        r.server_cpu_us_per_op.map(|v| format!("{v:.2}")).unwrap_or("–".into()),
                        r.errors,
                        r.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
                    );
                    if let Some(f) = json_out.as_mut() {
                        let v = json!({"scenario": r.scenario, "target": r.target, "round": r.round, "ops": r.ops, "secs": r.secs,
                            "rate": r.rate, "mbps": r.mbps, "p50_us": r.p50_us, "p99_us": r.p99_us, "p999_us": r.p999_us,
                            "proxy_cpu_us_per_op": r.proxy_cpu_us_per_op, "proxy_sys_us_per_op": r.proxy_sys_us_per_op, "server_cpu_us_per_op": r.server_cpu_us_per_op,
                            "errors": r.errors, "first_error": r.first_error});
                        let _ = writeln!(f, "{v}");
                    }
                    results.push(r);
                }
            }
        }
        (results, idle)
    });
    let markdown = report(&results, &idle, &args.targets);
    println!("{markdown}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).expect("markdown file");
    }
}
