//! Upstream doubles on 127.0.0.1 ephemeral ports.
//!
//! - [`EchoUpstream`]: a real WebSocket server (tungstenite after a hand-parsed head, so
//!   header names are recorded exactly as they arrived) that echoes messages, answers plain
//!   HTTP requests, records every request head and every close frame it receives, and
//!   counts TCP connections. Sending it the text `close:CODE:REASON` makes it close the
//!   session with that code and reason. A plain request whose path ends in `/hold` is
//!   answered only after [`EchoUpstream::release_held`], to keep a request in flight.
//! - [`ScriptedUpstream`]: raw TCP that answers the first request head with canned bytes
//!   and then records every further byte until the proxy closes the connection, to prove
//!   no second (smuggled) request ever arrives.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::raw::find_head_end;
use super::within;

/// A request head as the upstream received it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    /// The request target (path and query) exactly as sent.
    pub target: String,
    /// Headers in wire order, names as spelled on the wire.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// Every value of `name`, matched case-insensitively.
    pub(crate) fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of `name`; fails the test if it is absent or repeated.
    pub(crate) fn one(&self, name: &str) -> &str {
        match self.values(name).as_slice() {
            [value] => value,
            other => panic!(
                "expected exactly one {name} at the upstream, found {other:?}; headers: {:#?}",
                self.headers
            ),
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        !self.values(name).is_empty()
    }

    /// Every header whose name folds to the same CGI/WSGI variable as `name`
    /// (case-insensitive, `_` and `.` treated as `-`): the aliases a backend would merge.
    pub(crate) fn aliases_of(&self, name: &str) -> Vec<(&str, &str)> {
        let wanted = fold(name);
        self.headers
            .iter()
            .filter(|(n, _)| fold(n) == wanted)
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    /// The subprotocols offered in `Sec-WebSocket-Protocol`, in order.
    pub(crate) fn offered_protocols(&self) -> Vec<String> {
        list(&self.values("sec-websocket-protocol"))
    }
}

fn fold(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            '_' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn list(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// An append-only log that tests can wait on.
#[derive(Debug)]
pub(crate) struct Recorder<T: Clone> {
    tx: watch::Sender<Vec<T>>,
}

impl<T: Clone> Default for Recorder<T> {
    fn default() -> Self {
        Recorder {
            tx: watch::Sender::new(Vec::new()),
        }
    }
}

impl<T: Clone> Recorder<T> {
    pub(crate) fn push(&self, item: T) {
        self.tx.send_modify(|items| items.push(item));
    }

    pub(crate) fn len(&self) -> usize {
        self.tx.borrow().len()
    }

    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.tx.borrow().clone()
    }

    /// Waits until item `index` (0-based) exists and returns it.
    pub(crate) async fn nth(&self, index: usize, what: &str) -> T {
        let mut rx = self.tx.subscribe();
        within(what, async move {
            let items = rx
                .wait_for(|items| items.len() > index)
                .await
                .expect("recorder alive");
            items[index].clone()
        })
        .await
    }
}

/// A received close frame: `None` for a bodyless close.
pub(crate) type SeenClose = Option<(u16, String)>;

#[derive(Debug, Default)]
struct EchoState {
    connections: Recorder<SocketAddr>,
    requests: Recorder<Seen>,
    closes: Recorder<SeenClose>,
    /// Subprotocol to select when the client offers it.
    protocol: Option<String>,
    /// Permits for held (`…/hold`) plain requests to be answered.
    held: Gate,
}

/// A semaphore that starts closed (no permits).
#[derive(Debug)]
struct Gate(tokio::sync::Semaphore);

impl Default for Gate {
    fn default() -> Gate {
        Gate(tokio::sync::Semaphore::new(0))
    }
}

/// A recording WebSocket echo server (see the module docs).
pub(crate) struct EchoUpstream {
    addr: SocketAddr,
    state: Arc<EchoState>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoUpstream {
    pub(crate) async fn start() -> EchoUpstream {
        EchoUpstream::spawn(EchoState::default()).await
    }

    /// Selects `protocol` in its 101 whenever the proxy offers it.
    pub(crate) async fn selecting_protocol(protocol: &str) -> EchoUpstream {
        EchoUpstream::spawn(EchoState {
            protocol: Some(protocol.to_owned()),
            ..EchoState::default()
        })
        .await
    }

    /// Listens on `ip` (an ephemeral port) instead of 127.0.0.1.
    pub(crate) async fn start_on(ip: std::net::IpAddr) -> EchoUpstream {
        EchoUpstream::spawn_on(SocketAddr::new(ip, 0), EchoState::default()).await
    }

    async fn spawn(state: EchoState) -> EchoUpstream {
        EchoUpstream::spawn_on(SocketAddr::from(([127, 0, 0, 1], 0)), state).await
    }

    async fn spawn_on(bind: SocketAddr, state: EchoState) -> EchoUpstream {
        let listener = TcpListener::bind(bind)
            .await
            .unwrap_or_else(|error| panic!("bind echo upstream on {bind}: {error}"));
        let addr = listener.local_addr().expect("echo upstream addr");
        let state = Arc::new(state);
        let accept_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                accept_state.connections.push(peer);
                tokio::spawn(serve_echo(stream, Arc::clone(&accept_state)));
            }
        });
        EchoUpstream { addr, state, task }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT` (`ws://[::1]:PORT` on IPv6), the value for `[upstream] url`.
    pub(crate) fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// TCP connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.state.connections.len()
    }

    /// Waits for the `index`-th request head (0-based).
    pub(crate) async fn request(&self, index: usize) -> Seen {
        self.state
            .requests
            .nth(index, "a request at the upstream")
            .await
    }

    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.state.requests.snapshot()
    }

    /// Lets every plain request held so far (path ending in `/hold`), and every later one,
    /// be answered.
    pub(crate) fn release_held(&self) {
        self.state
            .held
            .0
            .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }

    /// Waits for the `index`-th close frame the upstream received (0-based).
    pub(crate) async fn close_received(&self, index: usize) -> SeenClose {
        self.state
            .closes
            .nth(index, "a close frame at the upstream")
            .await
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_echo(mut stream: TcpStream, state: Arc<EchoState>) {
    let Some((seen, leftover)) = read_head(&mut stream).await else {
        return;
    };
    state.requests.push(seen.clone());
    let upgrade = seen
        .values("upgrade")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        if seen
            .target
            .split('?')
            .next()
            .unwrap_or("")
            .ends_with("/hold")
        {
            let _ = state.held.0.acquire().await;
        }
        let body = format!("upstream saw {} {}", seen.method, seen.target);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Upstream: echo\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }
    let key = seen
        .values("sec-websocket-key")
        .first()
        .map(|k| k.to_string())
        .unwrap_or_default();
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if let Some(protocol) = &state.protocol
        && seen.offered_protocols().iter().any(|p| p == protocol)
    {
        response.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    response.push_str("\r\n");
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let mut ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, None).await;
    while let Some(message) = ws.next().await {
        let reply = match message {
            Ok(Message::Text(text)) => match text.strip_prefix("close:") {
                Some(command) => {
                    let (code, reason) = command.split_once(':').unwrap_or((command, ""));
                    let code: u16 = code.parse().unwrap_or(1000);
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason: reason.to_owned().into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                    continue;
                }
                None => Message::Text(text),
            },
            Ok(Message::Binary(data)) => Message::Binary(data),
            Ok(Message::Close(frame)) => {
                state
                    .closes
                    .push(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                // tungstenite queues the close reply; keep polling so it is flushed.
                continue;
            }
            Ok(_) => continue,
            Err(_) => break,
        };
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

/// Reads one request head; returns it and any bytes read past it.
async fn read_head(stream: &mut TcpStream) -> Option<(Seen, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(end) = find_head_end(&raw) {
            break end;
        }
        if raw.len() > 256 * 1024 {
            return None;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let seen = parse_request_head(&raw[..end])?;
    Some((seen, raw[end..].to_vec()))
}

fn parse_request_head(head: &[u8]) -> Option<Seen> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            Some((name.to_owned(), value.trim().to_owned()))
        })
        .collect();
    Some(Seen {
        method,
        target,
        headers,
    })
}

type Responder = dyn Fn(&Seen) -> Vec<u8> + Send + Sync;

/// One connection the scripted upstream served: the head it answered and every byte it
/// received on that connection, complete once the proxy closed it.
#[derive(Debug, Clone)]
pub(crate) struct ScriptedConnection {
    pub request: Seen,
    pub received: Vec<u8>,
}

impl ScriptedConnection {
    pub(crate) fn received_text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }
}

/// A raw-TCP upstream with a canned answer (see the module docs).
pub(crate) struct ScriptedUpstream {
    addr: SocketAddr,
    accepted: Arc<Recorder<SocketAddr>>,
    finished: Arc<Recorder<ScriptedConnection>>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedUpstream {
    /// Answers every request head with exactly `response`.
    pub(crate) async fn answering(response: &str) -> ScriptedUpstream {
        let response = response.as_bytes().to_vec();
        ScriptedUpstream::start(move |_| response.clone()).await
    }

    /// Answers with a correct `101` (right `Sec-WebSocket-Accept`) plus `extra_headers`
    /// (each `Name: value`), e.g. a subprotocol or extension that was never offered.
    pub(crate) async fn accepting_with(extra_headers: &[&str]) -> ScriptedUpstream {
        let extra: String = extra_headers.iter().map(|h| format!("{h}\r\n")).collect();
        ScriptedUpstream::start(move |seen| {
            let key = seen
                .values("sec-websocket-key")
                .first()
                .map(|k| k.to_string())
                .unwrap_or_default();
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
                derive_accept_key(key.as_bytes())
            )
            .into_bytes()
        })
        .await
    }

    pub(crate) async fn start(
        respond: impl Fn(&Seen) -> Vec<u8> + Send + Sync + 'static,
    ) -> ScriptedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind scripted upstream");
        let addr = listener.local_addr().expect("scripted upstream addr");
        let accepted = Arc::new(Recorder::default());
        let finished = Arc::new(Recorder::default());
        let respond: Arc<Responder> = Arc::new(respond);
        let (task_accepted, task_finished) = (Arc::clone(&accepted), Arc::clone(&finished));
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                task_accepted.push(peer);
                tokio::spawn(serve_scripted(
                    stream,
                    Arc::clone(&respond),
                    Arc::clone(&task_finished),
                ));
            }
        });
        ScriptedUpstream {
            addr,
            accepted,
            finished,
            task,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub(crate) fn connections(&self) -> usize {
        self.accepted.len()
    }

    /// Waits until the `index`-th connection has been closed by the proxy and returns
    /// everything received on it. Fails the test if the proxy keeps it open.
    pub(crate) async fn finished_connection(&self, index: usize) -> ScriptedConnection {
        self.finished
            .nth(index, "the proxy to close its upstream connection")
            .await
    }
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_scripted(
    mut stream: TcpStream,
    respond: Arc<Responder>,
    finished: Arc<Recorder<ScriptedConnection>>,
) {
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(end) = find_head_end(&received) {
            break end;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    };
    let Some(request) = parse_request_head(&received[..end]) else {
        return;
    };
    if stream.write_all(&respond(&request)).await.is_err() {
        return;
    }
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    finished.push(ScriptedConnection { request, received });
}
