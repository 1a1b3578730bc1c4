//! The accept loop and one client connection's task: the connection limit, the TLS
//! handshake, HTTP/1.1 with upgrades, and the small pool that answers over-limit clients.
//!
//! The accept loop only accepts: TLS, request reading, auth and the upstream dial all run
//! in the connection's task under the handshake timeout. A connection over
//! `max_connections` is still answered (503 `overloaded`, or 101 + 1013 in close mode) by a
//! small, separately bounded pool, and beyond that pool it is closed at once.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::net::shutdown::Shutdown;
use crate::net::tls::{ClientCertificate, ListenerTls};
use crate::proxy::{AfterUpgrade, ClientConn, MAX_HEAD_BYTES, Proxy, Slot};

/// What every accept loop shares, whichever thread it runs on (`threads.rs`): the proxy,
/// the connection limit and the over-limit pool (one count for the process), the tracker
/// the drain waits on, and the token that stops accepting.
#[derive(Clone)]
pub(super) struct Accepting {
    pub proxy: Arc<Proxy>,
    pub limit: Arc<Semaphore>,
    pub overflow: Arc<Semaphore>,
    pub connections: TaskTracker,
    pub stop: CancellationToken,
}

/// Accepts on `listener` until `accepting.stop` is cancelled, then drops the listener (new
/// clients are refused at once). Each connection is a task on the runtime this loop runs
/// on.
pub(super) async fn accept_loop(listener: TcpListener, accepting: Accepting) {
    let Accepting {
        proxy,
        limit,
        overflow,
        connections,
        stop,
    } = accepting;
    let mut nodelay = Nodelay::on_listener(&listener);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // EMFILE/ENFILE and friends: back off instead of spinning (hyper 0.14's
                // sleep_on_errors behaviour).
                tracing::warn!(%error, "accept failed; backing off");
                proxy.timer.sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        nodelay.apply(&stream);
        // The TLS material in force now: a reload swaps it for new handshakes only.
        let tls = if proxy.secure {
            proxy.policy().tls.clone()
        } else {
            None
        };
        match limit.clone().try_acquire_owned() {
            Ok(permit) => {
                let proxy = proxy.clone();
                let slot = Slot::new(permit, Some(proxy.metrics.clone()));
                connections.spawn(serve_client(stream, peer, proxy, tls, slot));
            }
            Err(_) => match overflow.clone().try_acquire_owned() {
                Ok(permit) => {
                    let proxy = proxy.clone();
                    connections.spawn(async move {
                        let slot = Slot::new(permit, None);
                        match tls {
                            None => {
                                let conn = ClientConn::new(slot, ClientCertificate::NotRequested);
                                serve_overloaded(stream, peer, proxy, conn).await;
                            }
                            Some(tls) => {
                                if let Some(stream) =
                                    tls_handshake(&tls.acceptor, stream, peer, &proxy).await
                                {
                                    let certificate = tls.client_certificate(stream.get_ref().1);
                                    let conn = ClientConn::new(slot, certificate);
                                    serve_overloaded(stream, peer, proxy, conn).await;
                                }
                            }
                        }
                    });
                }
                Err(_) => {
                    crate::telemetry::record_connection_rejected_overloaded(&proxy.metrics, peer);
                    drop(stream);
                }
            },
        }
    }
}

/// `TCP_NODELAY` for accepted connections: every one relays frames, which must not wait
/// behind Nagle's algorithm. Set once on the listener, Linux copies it to each connection
/// accepted from it (the connection's socket starts as a copy of the listener's): one
/// `setsockopt` fewer per connection. The first connection is asked whether it has it;
/// if not (a kernel that does not copy it, a listener it could not be set on), it is set
/// on each connection, as before.
enum Nodelay {
    Unchecked,
    Inherited,
    PerConnection,
}

impl Nodelay {
    fn on_listener(listener: &TcpListener) -> Nodelay {
        match socket2::SockRef::from(listener).set_tcp_nodelay(true) {
            Ok(()) => Nodelay::Unchecked,
            Err(_) => Nodelay::PerConnection,
        }
    }

    fn apply(&mut self, stream: &TcpStream) {
        match self {
            Nodelay::Inherited => {}
            Nodelay::Unchecked if stream.nodelay().unwrap_or(false) => {
                *self = Nodelay::Inherited;
            }
            Nodelay::Unchecked | Nodelay::PerConnection => {
                *self = Nodelay::PerConnection;
                let _ = stream.set_nodelay(true);
            }
        }
    }
}

fn http1_builder(proxy: &Proxy) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(proxy.timer.clone())
        .header_read_timeout(proxy.handshake_timeout())
        // Largest request head; beyond it hyper answers 431.
        .max_buf_size(MAX_HEAD_BYTES)
        .half_close(false);
    builder
}

/// One client connection's task: the TLS handshake (on a TLS listener), HTTP/1.1 with
/// upgrades until the connection closes or the drain ends it, then, in the same task,
/// whatever its upgrade started (the session's relay).
///
/// The TLS and HTTP stages are boxed and freed when they end: this task lives as long as
/// the session, and inline they would size its allocation for the whole session (measured:
/// idle sessions grew from 3.2 to 7.6 KiB each). Each stage's future is built in a plain
/// function or in its own `let`, never in the statement that awaits it: an unboxed future
/// or stream that is still in scope at an `await` is stored in this task's state even once
/// moved out (measured: that made this future 9,480 bytes instead of 272, copied into the
/// task at every accept).
async fn serve_client(
    stream: TcpStream,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
    tls: Option<ListenerTls>,
    slot: Slot,
) {
    let (after_upgrade, serving) = match tls {
        None => serving(
            stream,
            peer,
            proxy,
            ClientConn::new(slot, ClientCertificate::NotRequested),
        ),
        Some(tls) => {
            let handshake = Box::pin(tls_handshake(&tls.acceptor, stream, peer, &proxy));
            match handshake.await {
                Some(stream) => {
                    let certificate = tls.client_certificate(stream.get_ref().1);
                    serving(stream, peer, proxy, ClientConn::new(slot, certificate))
                }
                None => return,
            }
        }
    };
    serving.await;
    if let Some(session) = after_upgrade.take() {
        session.await;
    }
}

/// The HTTP stage of a connection, boxed, and the handle its upgrade's work is taken from.
fn serving<S>(
    stream: S,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
    conn: ClientConn,
) -> (AfterUpgrade, Pin<Box<dyn Future<Output = ()> + Send>>)
where
    S: AsyncRead + AsyncWrite + Shutdown + Unpin + Send + 'static,
{
    let after_upgrade = conn.after_upgrade();
    let serving = boxed_in_place(|| serve_connection(stream, peer, proxy, conn));
    (after_upgrade, serving)
}

/// `make()`'s future, built in its box. `Box::pin(future)` builds the future on the stack
/// and then copies all of it into the box (5,440 bytes for the HTTP stage, whatever state
/// it starts in); with the box allocated first, the optimizer writes the future there
/// (measured in the release build, `bench/memmove.sh`; an unoptimized build still copies).
fn boxed_in_place<F: Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    Box::into_pin(Box::write(Box::new_uninit(), make()))
}

/// One client connection: its first request if it is a WebSocket upgrade, read and
/// answered by hand (`proxy::first`); otherwise HTTP/1.1 with upgrades through hyper,
/// until the connection closes or the drain ends it.
async fn serve_connection<S>(stream: S, peer: SocketAddr, proxy: Arc<Proxy>, conn: ClientConn)
where
    S: AsyncRead + AsyncWrite + Shutdown + Unpin + Send + 'static,
{
    let Some(stream) = proxy.first_request(stream, peer, &conn).await else {
        return;
    };
    let service = {
        let proxy = proxy.clone();
        service_fn(move |request| proxy.clone().handle(request, peer, conn.clone()))
    };
    let connection = http1_builder(&proxy)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = &mut connection => {
            if let Err(error) = result {
                tracing::debug!(%error, client = %peer, "client connection ended with an error");
            }
        }
        () = proxy.shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// A connection over the limit: answer its first request with `overloaded`, then close.
async fn serve_overloaded<S>(stream: S, peer: SocketAddr, proxy: Arc<Proxy>, conn: ClientConn)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let after_upgrade = conn.after_upgrade();
    let service = {
        let proxy = proxy.clone();
        service_fn(move |request| {
            let response = proxy.overloaded(request, peer, conn.clone());
            async move { Ok::<_, Infallible>(response) }
        })
    };
    let connection = http1_builder(&proxy)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let _ = proxy
        .timer
        .timeout(
            proxy.handshake_timeout() + crate::proxy::CLOSE_TIMEOUT,
            connection,
        )
        .await;
    if let Some(refusal) = after_upgrade.take() {
        refusal.await;
    }
}

/// The TLS handshake, inside the connection task and under the handshake timeout.
async fn tls_handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    proxy: &Proxy,
) -> Option<TlsStream<TcpStream>> {
    let timeout = proxy.handshake_timeout();
    match proxy.timer.timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%error, client = %peer, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(client = %peer, "TLS handshake timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn accepted(listener: &TcpListener) -> TcpStream {
        let address = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        drop(client);
        accepted.unwrap().0
    }

    #[tokio::test]
    async fn accepted_connections_have_nodelay_from_the_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut nodelay = Nodelay::on_listener(&listener);
        for _ in 0..3 {
            let stream = accepted(&listener).await;
            nodelay.apply(&stream);
            assert!(stream.nodelay().unwrap());
        }
        // Linux copies the option: no connection needed its own setsockopt.
        assert!(matches!(nodelay, Nodelay::Inherited));
    }

    #[tokio::test]
    async fn without_it_on_the_listener_each_connection_gets_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut nodelay = Nodelay::Unchecked;
        for _ in 0..2 {
            let stream = accepted(&listener).await;
            nodelay.apply(&stream);
            assert!(stream.nodelay().unwrap());
        }
        assert!(matches!(nodelay, Nodelay::PerConnection));
    }
}
