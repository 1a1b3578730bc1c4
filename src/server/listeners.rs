//! [`Listeners`]: the two sockets a server is handed, already bound, so a caller can bind
//! port 0 (tests, `demo`) or report a bind failure before anything starts, and how many
//! threads serve the proxy listener.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

use crate::config::Config;

/// Already-bound listeners handed to [`super::run`] and [`super::serve`].
pub struct Listeners {
    pub proxy: TcpListener,
    pub admin: TcpListener,
    /// Threads that accept and serve connections on `proxy`: 1 (or 0) serves every
    /// connection on the caller's runtime. With more, that many threads of wsgate's own
    /// each run a current-thread runtime with a listening socket of its own on the same
    /// address (`threads.rs`), a connection lives on the thread that accepted it, and the
    /// caller's runtime serves none (it keeps the admin listener, reloads, key refreshes).
    pub threads: usize,
}

impl Listeners {
    /// Binds `server.listen` and `server.admin_listen`, to be served by `threads` threads
    /// (see [`Listeners::threads`]); an error names the key.
    ///
    /// With more than one thread the proxy socket is bound with `SO_REUSEPORT`, so each
    /// serving thread can bind a socket of its own to the same address and the kernel
    /// spreads new connections over them, as nginx's `reuseport` and Envoy do.
    pub async fn bind(config: &Config, threads: usize) -> io::Result<Listeners> {
        let named = |key: &'static str, addr: SocketAddr| {
            move |e: io::Error| io::Error::new(e.kind(), format!("{key} {addr}: {e}"))
        };
        let listen = config.server.listen;
        let proxy = if threads > 1 {
            bind_reusing_port(listen).map_err(named("server.listen", listen))?
        } else {
            TcpListener::bind(listen)
                .await
                .map_err(named("server.listen", listen))?
        };
        let admin_listen = config.server.admin_listen;
        let admin = TcpListener::bind(admin_listen)
            .await
            .map_err(named("server.admin_listen", admin_listen))?;
        tracing::info!(
            listen = %proxy.local_addr()?,
            admin_listen = %admin.local_addr()?,
            "listening"
        );
        Ok(Listeners {
            proxy,
            admin,
            threads,
        })
    }
}

/// Pending connections per listening socket: what tokio's `TcpListener::bind` asks for.
pub(super) const BACKLOG: u32 = 1024;

/// A listening socket on `addr` with `SO_REUSEADDR` (as `TcpListener::bind` sets) and
/// `SO_REUSEPORT` where the system allows it.
///
/// The address is first bound without `SO_REUSEPORT` and let go: that bind fails if
/// anything listens there already, including another process that bound it with
/// `SO_REUSEPORT` (a second wsgate started on the same port by mistake), which would
/// otherwise join this one's group and take a share of its connections silently. It also
/// turns port 0 into the port the serving threads' sockets then all bind.
fn bind_reusing_port(addr: SocketAddr) -> io::Result<TcpListener> {
    let addr = std::net::TcpListener::bind(addr)?.local_addr()?;
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if let Err(error) = socket.set_reuseport(true) {
        // A sandbox without it (some seccomp profiles, user-space network stacks): the
        // serving threads then accept from this one socket (`threads.rs`).
        tracing::warn!(
            %error,
            "SO_REUSEPORT cannot be set on server.listen; the serving threads share one listening socket"
        );
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
