//! `Upgrade`: one WebSocket handshake request, built header by header, sent either raw
//! (to read a refusal exactly as it came) or through tungstenite (to get a live session).

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::{Response, generate_key};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use super::raw::{self, RawResponse};
use super::within;

pub(crate) type Session = WebSocketStream<TcpStream>;

/// A handshake request. Starts as a valid RFC 6455 upgrade for `path`; every method
/// adds or replaces one thing.
#[derive(Debug, Clone)]
pub(crate) struct Upgrade {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Upgrade {
    /// A valid upgrade request for `target` (path and optional query).
    pub(crate) fn to(target: &str) -> Upgrade {
        Upgrade {
            method: "GET".to_owned(),
            target: target.to_owned(),
            headers: vec![
                ("Upgrade".to_owned(), "websocket".to_owned()),
                ("Connection".to_owned(), "Upgrade".to_owned()),
                ("Sec-WebSocket-Version".to_owned(), "13".to_owned()),
                ("Sec-WebSocket-Key".to_owned(), generate_key()),
            ],
            body: Vec::new(),
        }
    }

    /// A plain HTTP GET (no upgrade headers), `Connection: close` so the exchange ends.
    pub(crate) fn plain_get(target: &str) -> Upgrade {
        Upgrade {
            method: "GET".to_owned(),
            target: target.to_owned(),
            headers: vec![("Connection".to_owned(), "close".to_owned())],
            body: Vec::new(),
        }
    }

    /// `Authorization: Bearer TOKEN`.
    pub(crate) fn bearer(self, token: &str) -> Upgrade {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// Appends a header (duplicates allowed, spelling preserved).
    pub(crate) fn header(mut self, name: &str, value: &str) -> Upgrade {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces every header named `name` (case-insensitive) with one value.
    pub(crate) fn replace(self, name: &str, value: &str) -> Upgrade {
        self.without(name).header(name, value)
    }

    pub(crate) fn without(mut self, name: &str) -> Upgrade {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub(crate) fn method(mut self, method: &str) -> Upgrade {
        method.clone_into(&mut self.method);
        self
    }

    /// Adds a body with its `Content-Length`.
    pub(crate) fn body(mut self, body: &[u8]) -> Upgrade {
        self.body = body.to_vec();
        self.header("Content-Length", &body.len().to_string())
    }

    /// The `Sec-WebSocket-Key` this request carries (empty if removed).
    pub(crate) fn key(&self) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-key"))
            .map_or("", |(_, v)| v.as_str())
    }

    /// The request bytes, with `Host` set to `host`.
    pub(crate) fn to_bytes(&self, host: SocketAddr) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\n",
            self.method, self.target
        );
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Sends the request raw and reads until the proxy closes the connection.
    pub(crate) async fn send(&self, proxy: SocketAddr) -> RawResponse {
        raw::exchange(proxy, &self.to_bytes(proxy)).await
    }

    /// Sends the request raw and reads only the response head; the stream stays open.
    pub(crate) async fn send_head(&self, proxy: SocketAddr) -> (RawResponse, TcpStream) {
        raw::exchange_head(proxy, &self.to_bytes(proxy)).await
    }

    /// Performs the handshake with tungstenite (which checks `Sec-WebSocket-Accept` and
    /// the selected subprotocol).
    pub(crate) async fn connect(
        &self,
        proxy: SocketAddr,
    ) -> Result<(Session, Response), tungstenite::Error> {
        let mut request = tungstenite::http::Request::builder()
            .method(self.method.as_str())
            .uri(format!("ws://{proxy}{}", self.target))
            .header("Host", proxy.to_string());
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(()).expect("valid test request");
        let stream = within("TCP connect", TcpStream::connect(proxy))
            .await
            .map_err(tungstenite::Error::Io)?;
        within(
            "the WebSocket handshake",
            tokio_tungstenite::client_async(request, stream),
        )
        .await
    }

    /// Like [`Upgrade::connect`], failing the test unless the handshake succeeds.
    pub(crate) async fn open(&self, proxy: SocketAddr) -> (Session, Response) {
        match self.connect(proxy).await {
            Ok(session) => session,
            Err(tungstenite::Error::Http(response)) => panic!(
                "handshake refused with {}: headers {:?}, body {:?}",
                response.status(),
                response.headers(),
                response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            ),
            Err(err) => panic!("handshake failed: {err}"),
        }
    }
}

/// Sends `text` and expects the same text back (an echo upstream behind the proxy).
pub(crate) async fn expect_echo(session: &mut Session, text: &str) {
    session
        .send(Message::text(text))
        .await
        .expect("send a message");
    let reply = within("the echoed message", next_data(session)).await;
    assert_eq!(reply, Message::text(text), "echo round-trip");
}

/// The next data message (pings and pongs skipped), as text; fails on binary or the end.
pub(crate) async fn next_text(session: &mut Session) -> String {
    match within("a text message", next_data(session)).await {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn next_data(session: &mut Session) -> Message {
    loop {
        match session.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return message,
            Some(Err(err)) => panic!("session failed while waiting for a message: {err}"),
            None => panic!("session ended while waiting for a message"),
        }
    }
}

/// Waits for the next close frame, skipping data, and returns `(code, reason)`.
/// Fails the test on a bodyless close or a connection dropped without a close frame.
pub(crate) async fn expect_close(session: &mut Session) -> (u16, String) {
    within("a close frame", async {
        loop {
            match session.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) => panic!("close frame without a code"),
                Some(Ok(_)) => continue,
                Some(Err(err)) => panic!("connection failed before a close frame: {err}"),
                None => panic!("connection ended without a close frame"),
            }
        }
    })
    .await
}

/// Initiates a close with `code` and `reason`, waits for the peer's close reply, then
/// drops the connection as a real client does once the close handshake is complete.
pub(crate) async fn close_with(mut session: Session, code: u16, reason: &str) -> (u16, String) {
    session
        .close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        }))
        .await
        .expect("send close");
    expect_close(&mut session).await
}

/// Sends `text` and waits until a message with the same text comes back, skipping any
/// other messages (a greeting, a banner).
pub(crate) async fn expect_echo_among_others(session: &mut Session, text: &str) {
    session
        .send(Message::text(text))
        .await
        .expect("send a message");
    within("the echoed message", async {
        loop {
            if next_data(session).await == Message::text(text) {
                return;
            }
        }
    })
    .await;
}
