//! The serving threads: with more than one CPU, one thread per CPU, each with its own
//! current-thread runtime, accepting on a listening socket of its own, so a connection is
//! accepted, checked, dialled and relayed on one thread for its whole life (the shape of
//! nginx's workers, Envoy's and pingora's, which issue 17 names). The main thread's
//! runtime serves no connection: it runs the admin listener, reloads (which parse files
//! and keys), key refreshes and the session store's link, so none of that stalls a
//! connection.
//!
//! With tokio's multi-thread runtime a connection's task could be woken on one worker and
//! stolen by another, and the one I/O driver's thread woke the others through futexes;
//! here each thread has its own event loop, timers and tasks, and nothing of a connection
//! crosses threads but what the process shares anyway (the policy, the metrics, the
//! connection limit, the session registry).
//!
//! The first thread accepts on the proxy listener itself, each other on a sibling of it:
//! another socket bound to the same address with `SO_REUSEPORT` when the listener has it
//! (`Listeners::bind` sets it), and the kernel spreads new connections over the sockets;
//! otherwise (a listener bound by a caller without it, a system that refuses the option)
//! a duplicate of the listener's descriptor, accepted from by every thread.
//!
//! Shutdown: every accept loop stops on the shared stop token and drops its socket
//! ([`ServingThreads::stopped_accepting`] waits for all of them); each thread keeps running
//! its connections through the drain, and [`ServingThreads::cut`] ends them after it,
//! dropping whatever a thread still holds.

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use socket2::{Domain, SockRef, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::accept::{Accepting, accept_loop};
use super::listeners::BACKLOG;

/// The threads started by [`ServingThreads::start`].
pub(super) struct ServingThreads {
    threads: Vec<JoinHandle<()>>,
    /// Each thread holds a token of this while its accept loop runs.
    accepting: TaskTracker,
    /// The accept loops' stop token (shared with `serve`).
    stop: CancellationToken,
    /// Cancelled after the drain: each thread then drops its runtime and what it holds.
    cut: CancellationToken,
}

impl ServingThreads {
    /// Starts `count` threads, the first accepting on `listener`, each other on a sibling
    /// of it, until `accepting.stop`. Each thread builds its own runtime (a runtime must
    /// not be dropped inside another's tasks) and says whether it could; if one could not,
    /// or a socket or a thread cannot be made, the others are stopped and the error is
    /// returned, naming `server.listen`.
    pub(super) async fn start(
        listener: TcpListener,
        count: usize,
        accepting: &Accepting,
    ) -> io::Result<ServingThreads> {
        let address = listener.local_addr()?;
        let named = |error: io::Error| {
            io::Error::new(
                error.kind(),
                format!("server.listen {address}: a serving thread's socket: {error}"),
            )
        };
        let mut sockets = Vec::with_capacity(count);
        for _ in 1..count {
            sockets.push(sibling(&listener).map_err(named)?);
        }
        sockets.insert(0, listener.into_std().map_err(named)?);

        let mut started = ServingThreads {
            threads: Vec::with_capacity(count),
            accepting: TaskTracker::new(),
            stop: accepting.stop.clone(),
            cut: CancellationToken::new(),
        };
        let mut ready = Vec::with_capacity(count);
        for (index, socket) in sockets.into_iter().enumerate() {
            let (report, readiness) = oneshot::channel();
            let serving = Serving {
                socket,
                accepting: accepting.clone(),
                loop_running: started.accepting.token(),
                cut: started.cut.clone(),
            };
            // Dropping `started` on an error below stops the threads already running.
            let thread = std::thread::Builder::new()
                .name(format!("wsgate-serve-{}", index + 1))
                .spawn(move || serving.run(report))?;
            started.threads.push(thread);
            ready.push(readiness);
        }
        started.accepting.close();
        for readiness in ready {
            match readiness.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(io::Error::other("a serving thread ended at its start")),
            }
        }
        Ok(started)
    }

    /// How many threads serve.
    pub(super) fn len(&self) -> usize {
        self.threads.len()
    }

    /// Returns once every thread's accept loop has ended (after `stop`): no connection
    /// is accepted, on any thread, after this.
    pub(super) async fn stopped_accepting(&self) {
        self.stop.cancel();
        self.accepting.wait().await;
    }

    /// Ends every thread after the drain: their remaining connections are dropped (closed),
    /// and this returns once each thread has finished.
    pub(super) async fn cut(mut self) {
        self.cut.cancel();
        let threads = std::mem::take(&mut self.threads);
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                // A thread that panicked has nothing left to end.
                let _ = thread.join();
            }
        });
        let _ = joined.await;
    }
}

impl Drop for ServingThreads {
    /// A server whose future is dropped before its drain (or whose start failed) leaves no
    /// thread serving: each stops accepting and drops what it holds.
    fn drop(&mut self) {
        self.stop.cancel();
        self.cut.cancel();
    }
}

/// What one serving thread is handed.
struct Serving {
    socket: std::net::TcpListener,
    accepting: Accepting,
    loop_running: tokio_util::task::task_tracker::TaskTrackerToken,
    cut: CancellationToken,
}

impl Serving {
    /// The thread's body: its runtime, its accept loop until `stop`, its connections until
    /// `cut`; the runtime is dropped here, on its own thread, without waiting.
    fn run(self, report: oneshot::Sender<io::Result<()>>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                let _ = report.send(Err(error));
                return;
            }
        };
        let Serving {
            socket,
            accepting,
            loop_running,
            cut,
        } = self;
        runtime.block_on(async move {
            match TcpListener::from_std(socket) {
                Ok(listener) => {
                    let _ = report.send(Ok(()));
                    accept_loop(listener, accepting).await;
                }
                Err(error) => {
                    let _ = report.send(Err(error));
                    return;
                }
            }
            drop(loop_running);
            // Not accepting any more: serve this thread's connections until the drain
            // is over.
            cut.cancelled().await;
        });
        runtime.shutdown_background();
    }
}

/// A listening socket for another serving thread on `listener`'s address: a new socket
/// with `SO_REUSEPORT` if `listener` has it, else a duplicate of its descriptor (also when
/// the system will not say, as where the option cannot be set).
fn sibling(listener: &TcpListener) -> io::Result<std::net::TcpListener> {
    let shared = SockRef::from(listener);
    let socket = if shared.reuse_port().unwrap_or(false) {
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
    use std::os::fd::AsRawFd;

    use super::*;

    /// The kernel's name for the socket behind `fd` (`socket:[INODE]`): equal for two
    /// descriptors of one socket, different for two sockets.
    fn socket_of(fd: &impl AsRawFd) -> std::path::PathBuf {
        std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
    }

    #[tokio::test]
    async fn a_listener_with_reuseport_gets_a_socket_of_its_own() {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseport(true).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(BACKLOG).unwrap();
        let other = sibling(&listener).unwrap();
        assert_eq!(other.local_addr().unwrap(), listener.local_addr().unwrap());
        assert_ne!(
            socket_of(&other),
            socket_of(&listener),
            "a socket of its own"
        );
        assert!(SockRef::from(&other).reuse_port().unwrap());
    }

    #[tokio::test]
    async fn a_listener_without_it_is_shared() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let other = TcpListener::from_std(sibling(&listener).unwrap()).unwrap();
        assert_eq!(socket_of(&other), socket_of(&listener), "the same socket");
        let address = listener.local_addr().unwrap();
        // The duplicate accepts from the same queue.
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(address), other.accept());
        let client = client.unwrap();
        assert_eq!(accepted.unwrap().1, client.local_addr().unwrap());
    }
}
