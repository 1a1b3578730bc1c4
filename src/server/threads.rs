//! The serving threads beyond the caller's: one current-thread runtime per CPU, each
//! accepting on a listening socket of its own, so a connection is accepted, checked,
//! dialled and relayed on one thread for its whole life (the shape of nginx's workers and
//! pingora's, which issue 17 names).
//!
//! With tokio's multi-thread runtime a connection's task could be woken on one worker and
//! stolen by another, and the one I/O driver's thread woke the others through futexes;
//! here each thread has its own event loop, timers and tasks, and nothing of a connection
//! crosses threads but what the process shares anyway (the policy, the metrics, the
//! connection limit, the session registry).
//!
//! Each thread's socket is a sibling of the proxy listener: another socket bound to the
//! same address with `SO_REUSEPORT` when the listener has it (`Listeners::bind` sets it),
//! and the kernel spreads new connections over the sockets; otherwise (a listener bound by
//! a caller without it) a duplicate of the listener's descriptor, accepted from by every
//! thread.
//!
//! Shutdown: every accept loop stops on the shared stop token and drops its socket; each
//! thread keeps running its connections through the drain, and [`ServingThreads::cut`]
//! ends them after it, dropping whatever a thread still holds, as the caller's runtime
//! does with its own.

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use socket2::{Domain, SockRef, Socket, Type};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::accept::{Accepting, accept_loop};
use super::listeners::BACKLOG;

/// The threads started by [`ServingThreads::start`].
pub(super) struct ServingThreads {
    threads: Vec<JoinHandle<()>>,
    /// Cancelled after the drain: each thread then drops its runtime and what it holds.
    cut: CancellationToken,
}

impl ServingThreads {
    /// Starts `count` threads, each accepting on its own sibling of `listener` until
    /// `accepting.stop`. Fails, with nothing left running, when a socket or a runtime
    /// cannot be made.
    pub(super) fn start(
        listener: &TcpListener,
        count: usize,
        accepting: &Accepting,
    ) -> io::Result<ServingThreads> {
        let mut prepared = Vec::with_capacity(count);
        for _ in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            prepared.push((sibling(listener)?, runtime));
        }
        let cut = CancellationToken::new();
        let mut threads = Vec::with_capacity(count);
        for (index, (socket, runtime)) in prepared.into_iter().enumerate() {
            let (thread_accepting, thread_cut) = (accepting.clone(), cut.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("wsgate-serve-{}", index + 1))
                .spawn(move || {
                    runtime.block_on(async move {
                        match TcpListener::from_std(socket) {
                            Ok(listener) => accept_loop(listener, thread_accepting).await,
                            Err(error) => tracing::error!(
                                %error,
                                "a serving thread cannot register its listening socket; \
                                 the other threads accept its share"
                            ),
                        }
                        // Not accepting any more: serve this thread's connections until
                        // the drain is over.
                        thread_cut.cancelled().await;
                    });
                    // Whatever is left was cut by the drain's end: drop it without waiting.
                    runtime.shutdown_background();
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    // Those already started stop with the rest of the process's accept
                    // loops: stop them now, as nothing will serve.
                    accepting.stop.cancel();
                    cut.cancel();
                    return Err(error);
                }
            }
        }
        Ok(ServingThreads { threads, cut })
    }

    /// How many threads were started.
    pub(super) fn len(&self) -> usize {
        self.threads.len()
    }

    /// Ends every thread after the drain: their remaining connections are dropped (closed),
    /// and this returns once each thread has finished.
    pub(super) async fn cut(self) {
        self.cut.cancel();
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                // A thread that panicked has nothing left to end.
                let _ = thread.join();
            }
        });
        let _ = joined.await;
    }
}

/// A listening socket for another serving thread on `listener`'s address: a new socket
/// with `SO_REUSEPORT` if `listener` has it, else a duplicate of its descriptor.
fn sibling(listener: &TcpListener) -> io::Result<std::net::TcpListener> {
    let shared = SockRef::from(listener);
    let socket = if shared.reuse_port()? {
        bound_reusing_port(listener.local_addr()?)?
    } else {
        shared.try_clone()?
    };
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A socket bound as `Listeners::bind` binds the first: `SO_REUSEADDR`, `SO_REUSEPORT`
/// (and close-on-exec, as `Socket::new` makes every socket).
fn bound_reusing_port(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG as i32)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listener_with_reuseport_gets_a_socket_of_its_own() {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseport(true).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(BACKLOG).unwrap();
        let other = sibling(&listener).unwrap();
        assert_eq!(other.local_addr().unwrap(), listener.local_addr().unwrap());
        assert_ne!(
            std::os::fd::AsRawFd::as_raw_fd(&other),
            std::os::fd::AsRawFd::as_raw_fd(&listener)
        );
        assert!(SockRef::from(&other).reuse_port().unwrap());
    }

    #[tokio::test]
    async fn a_listener_without_it_is_shared() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other = TcpListener::from_std(sibling(&listener).unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        // The duplicate accepts from the same queue.
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(address), other.accept());
        let client = client.unwrap();
        assert_eq!(accepted.unwrap().1, client.local_addr().unwrap());
    }
}
