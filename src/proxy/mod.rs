//! The proxy: one client request, from its head to the relay.
//!
//! Life of a request (docs/architecture.md). `server` accepts a connection, runs its TLS
//! handshake, and hands the stream here:
//!
//! 1. **Read the head.** A connection's first request, when it is a WebSocket upgrade, is
//!    read and answered by hand ([`Proxy::first_request`], `first.rs`, the head parsed by
//!    `head.rs`); anything else, and every later request on the connection, goes through
//!    hyper to [`Proxy::handle`] (below). Both paths run the same steps.
//! 2. **Check the syntax.** `handshake::classify` refuses a bad request (400/405/426)
//!    before any authentication; the path is normalized, then judged and forwarded.
//! 3. **Decide** (`decide.rs`): `Gate::decide` under the handshake budget, the drain,
//!    then session control (`admit.rs`: revocations, caps, a registered session id);
//!    every decision is logged and counted once (`record.rs`).
//! 4. **Refuse** (`respond.rs`): 403/503 with a reason code, or wsgate's own 101 and a
//!    close frame in `deny = "close"` mode.
//! 5. **Open the upstream** (`open.rs`): the upstream opening handshake (502 when it is
//!    unreachable or its 101 invalid; its own answer relayed when it refuses), then the
//!    client's 101. A plain HTTP request is forwarded instead (`plain.rs`, its body's pace
//!    bounded by `body.rs`).
//! 6. **Relay** (`session.rs`). The session is queued on the client connection
//!    (`conn.rs`), whose own task runs `relay::relay_controlled` once the 101 is out,
//!    then records how it ended.
//!
//! Every answer wsgate gives itself is one `answer::Answer`, rendered for hyper or as
//! bytes. `shared.rs` holds what every connection shares, `policy.rs` what a reload
//! replaces (`names.rs`: its route paths and issuer names, shared by the records that keep
//! them), and `refresh.rs` the token refresh endpoint.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::auth::Denial;
use crate::domain::refusal::Refusal;
use crate::ws::handshake::{self, HandshakeError, WebSocketRequest};

mod admit;
mod answer;
mod body;
mod conn;
mod decide;
mod first;
mod head;
mod names;
mod open;
mod plain;
mod policy;
mod record;
mod refresh;
mod respond;
mod session;
mod shared;

pub use conn::{AfterUpgrade, ClientConn, Slot};
pub use head::MAX_HEAD_BYTES;
#[doc(hidden)]
pub(crate) use head::read_head_for_fuzzing;
pub use names::SharedNames;
pub use policy::Policy;
pub use shared::Proxy;

use answer::Answer;

/// Response body type for every answer wsgate gives.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// How long wsgate waits for the peer's reply after sending its own close frame.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

impl Proxy {
    /// Serves one request hyper read. Never fails: every problem becomes a response.
    pub async fn handle(
        self: Arc<Self>,
        mut request: Request<Incoming>,
        client: SocketAddr,
        conn: ClientConn,
    ) -> Result<Response<Body>, Infallible> {
        let started = Instant::now();
        if request.uri().path() == self.registry.refresh_path() {
            return Ok(self.refresh(request, client, conn.certificate()).await);
        }
        let on_upgrade = hyper::upgrade::on(&mut request);
        let websocket = match check_syntax(&mut request) {
            Ok(websocket) => websocket,
            Err(error) => return Ok(handshake_refused(error).into_response()),
        };
        let policy = self.policy();
        let decision = self
            .decide(
                &policy,
                request.uri(),
                request.headers(),
                websocket.is_some(),
                client,
                conn.certificate(),
                started,
            )
            .await;
        Ok(match (decision, websocket) {
            (Err(reason), websocket) => self.refuse(
                &policy.gate,
                websocket.as_ref(),
                request.headers(),
                on_upgrade,
                reason,
                &conn,
            ),
            (Ok((grant, Some(registration))), Some(ws)) => {
                self.open_session(
                    policy.clone(),
                    grant,
                    registration,
                    ws,
                    request,
                    on_upgrade,
                    client,
                    started,
                    conn,
                )
                .await
            }
            // A WebSocket grant always carries its registration (`admit`).
            (Ok((_, None)), Some(_)) => Answer::denial(Refusal::Overloaded).into_response(),
            (Ok((grant, _)), None) => self.forward(&policy, grant, request, client, started).await,
        })
    }

    /// Answers a request on a connection over `max_connections`: `overloaded`, in the
    /// configured deny mode, after the same syntax checks.
    pub fn overloaded(
        &self,
        mut request: Request<Incoming>,
        client: SocketAddr,
        conn: ClientConn,
    ) -> Response<Body> {
        let started = Instant::now();
        let on_upgrade = hyper::upgrade::on(&mut request);
        let websocket = match check_syntax(&mut request) {
            Ok(websocket) => websocket,
            Err(error) => return handshake_refused(error).into_response(),
        };
        let policy = self.policy();
        let gate = &policy.gate;
        let denial = Denial {
            route: gate.route_id(request.uri().path()),
            reason: Refusal::Overloaded,
            issuer: None,
        };
        self.record_denial(&policy, &denial, client, websocket.is_some(), started);
        self.refuse(
            gate,
            websocket.as_ref(),
            request.headers(),
            on_upgrade,
            Refusal::Overloaded,
            &conn,
        )
    }
}

/// The handshake's syntax checks on a request hyper read: whether it is a WebSocket
/// upgrade, or why it is refused. On success the request's path is the normalized one,
/// judged and forwarded from here on.
fn check_syntax(
    request: &mut Request<Incoming>,
) -> Result<Option<WebSocketRequest>, HandshakeError> {
    let websocket = handshake::classify(
        request.method(),
        request.version(),
        request.uri().path(),
        request.headers(),
    )?;
    *request.uri_mut() = handshake::normalized_uri(request.uri())?;
    Ok(websocket)
}

/// A request the syntax checks refuse, logged; the same answer on either path.
fn handshake_refused(error: HandshakeError) -> Answer {
    tracing::info!(
        error = error.as_str(),
        status = error.status().as_u16(),
        "request refused before authentication"
    );
    Answer::handshake_refusal(error)
}
