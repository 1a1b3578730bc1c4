//! A connection's first request, read and answered without hyper when it is a WebSocket
//! upgrade.
//!
//! Nearly every client connection carries one request, an upgrade, and then the session.
//! For those wsgate reads the head itself (`httparse`, under hyper's limits on this
//! listener), runs the same syntax checks and the same decision as hyper's service
//! ([`Proxy::handle`]), writes the 101 or the refusal (the same `Answer` hyper's path
//! renders, encoded as bytes here), and queues the session on the socket itself: no hyper server connection, no upgrade hand-over, no boxed stream
//! between the relay and the socket (docs/performance.md).
//!
//! Everything else goes to hyper with the bytes already read, and hyper answers it
//! exactly as it did before: plain HTTP, requests the syntax checks refuse, heads
//! `httparse` rejects or that break a limit (400, 431), a connection that ends mid-head.
//! hyper then serves the rest of that connection, later upgrades included.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::answer::Answer;
use super::head::{Filled, RequestHead, fill_head};
use super::open::NotOpened;
use super::respond::{DenyAnswer, close_upgraded};
use super::{CLOSE_TIMEOUT, ClientConn, Proxy, handshake_refused};
use crate::domain::refusal::Refusal;
use crate::net::prefixed::Prefixed;
use crate::net::shutdown::{Shutdown, write_last};
use crate::ws::handshake::{self, HandshakeError};

impl Proxy {
    /// Serves the connection's first request if it is a WebSocket upgrade. Otherwise the
    /// connection is returned, the bytes read so far replayed first, for hyper to serve.
    /// `None`: nothing is left for hyper (answered, upgraded, closed or timed out).
    pub async fn first_request<S>(
        self: &Arc<Self>,
        mut stream: S,
        client: SocketAddr,
        conn: &ClientConn,
    ) -> Option<Prefixed<S>>
    where
        S: AsyncRead + AsyncWrite + Shutdown + Unpin + Send + 'static,
    {
        // As large as the head that arrives (`fill_head` reads through the stack).
        let mut buf = BytesMut::new();
        // The drain closes a connection still waiting for its head, as hyper's graceful
        // shutdown closes an idle one; a slow head ends at the handshake timeout, as with
        // hyper's header_read_timeout.
        // The read's outcome, with the head's places (inline, a few hundred bytes), is a
        // temporary of this one statement: never stored in this future across its awaits.
        let (started, bytes, head_len, head) = match tokio::select! {
            filled = self.timer.timeout(
                self.handshake_timeout(),
                fill_head(&mut stream, &mut buf),
            ) => filled,
            () = self.shutdown.cancelled() => return None,
        } {
            Ok(Ok(Filled::Head(spans))) => {
                let started = Instant::now();
                let bytes = buf.freeze();
                let head = RequestHead::new(&bytes, &spans);
                (started, bytes, spans.len, head)
            }
            Ok(Ok(Filled::NotReadable)) => return Some(Prefixed::new(stream, &buf)),
            Ok(Ok(Filled::Closed)) | Ok(Err(_)) | Err(_) => return None,
        };
        let Some(mut head) = head else {
            return Some(Prefixed::new(stream, &bytes));
        };
        let ws =
            match handshake::classify(&head.method, head.version, head.uri.path(), &head.headers) {
                Ok(Some(ws)) => ws,
                // hyper drops a Content-Length sent beside Transfer-Encoding before its service
                // sees the request (RFC 9112 §6.1 allows either); the head read here still has
                // both, so the refusal RFC 9112 prefers is given here.
                Err(error @ HandshakeError::BodyLength) => {
                    self.answer_and_close(stream, &handshake_refused(error))
                        .await;
                    return None;
                }
                Ok(None) | Err(_) => return Some(Prefixed::new(stream, &bytes)),
            };
        // The path judged and forwarded is the normalized one, as in hyper's service.
        match handshake::normalized_uri(&head.uri) {
            Ok(uri) => head.uri = uri,
            Err(_) => return Some(Prefixed::new(stream, &bytes)),
        }
        // What the client sent behind its head belongs to the session.
        let stream = Prefixed::new(stream, bytes.get(head_len..).unwrap_or_default());
        drop(bytes);

        let policy = self.policy();
        let opened = match self
            .decide(
                &policy,
                &head.uri,
                &head.headers,
                true,
                client,
                conn.certificate(),
                started,
            )
            .await
        {
            Ok((grant, Some(registration))) => self
                .open_upstream(
                    &policy,
                    &grant,
                    &ws,
                    registration.id(),
                    &head.uri,
                    &head.headers,
                    client,
                    started,
                )
                .await
                .map(|opened| (opened, grant, registration)),
            // A WebSocket grant always carries its registration (`Proxy::admit`).
            Ok((_, None)) => Err(NotOpened::Refuse(Refusal::Overloaded)),
            Err(reason) => Err(NotOpened::Refuse(reason)),
        };
        let mut stream = stream;
        match opened {
            Ok((opened, grant, registration)) => {
                if !self
                    .answer(&mut stream, &opened.switching, opened.spare)
                    .await
                {
                    return None;
                }
                let stream = std::future::ready(Some(stream));
                self.queue_session(conn, stream, opened.session, grant, client, registration);
            }
            Err(NotOpened::Relay(answer)) => self.answer_and_close(stream, &answer).await,
            Err(NotOpened::Refuse(reason)) => {
                match DenyAnswer::new(&policy.gate, Some(&ws), &head.headers, reason) {
                    DenyAnswer::Status(answer) => self.answer_and_close(stream, &answer).await,
                    DenyAnswer::Close(switching) => {
                        if self.answer(&mut stream, &switching, Vec::new()).await {
                            // Boxed: the close exchange's state (4.6 KB) would otherwise
                            // size this future, and the allocation of every connection's
                            // first request, for a path few connections take.
                            let closing = Box::pin(close_upgraded(stream, reason));
                            closing.await;
                        }
                    }
                }
            }
        }
        None
    }

    /// Writes `answer`, within the handshake timeout; false if the client is gone or does
    /// not read. Encoded into `bytes` (emptied first, grown as needed): a buffer at hand
    /// saves allocating one.
    async fn answer<S: AsyncWrite + Unpin>(
        &self,
        io: &mut S,
        answer: &Answer,
        mut bytes: Vec<u8>,
    ) -> bool {
        bytes.clear();
        answer.encode_into(&mut bytes);
        let write = async {
            io.write_all(&bytes).await?;
            io.flush().await
        };
        matches!(
            self.timer.timeout(self.handshake_timeout(), write).await,
            Ok(Ok(()))
        )
    }

    /// A refusal carries `Connection: close`: written as the connection's last bytes, with
    /// the FIN where the stream can (`Shutdown::poll_write_last`: plain TCP, one segment),
    /// else shut down after them; then the connection is closed.
    async fn answer_and_close<S: Shutdown>(&self, mut io: S, answer: &Answer) {
        let mut bytes = Vec::new();
        answer.encode_into(&mut bytes);
        let written = self
            .timer
            .timeout(self.handshake_timeout(), write_last(&mut io, &bytes));
        if matches!(written.await, Ok(Ok(()))) && io.needs_shutdown() {
            let _ = self.timer.timeout(CLOSE_TIMEOUT, io.shutdown()).await;
        }
    }
}
