//! [`Listeners`]: the two sockets a server is handed, already bound, so a caller can bind
//! port 0 (tests, `demo`) or report a bind failure before anything starts.

use std::io;

use tokio::net::TcpListener;

use crate::config::Config;

/// Already-bound listeners handed to [`super::run`] and [`super::serve`].
pub struct Listeners {
    pub proxy: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds `server.listen` and `server.admin_listen`; an error names the key.
    pub async fn bind(config: &Config) -> io::Result<Listeners> {
        let bind = |key: &'static str, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("{key} {addr}: {e}")))
        };
        let proxy = bind("server.listen", config.server.listen).await?;
        let admin = bind("server.admin_listen", config.server.admin_listen).await?;
        tracing::info!(
            listen = %proxy.local_addr()?,
            admin_listen = %admin.local_addr()?,
            "listening"
        );
        Ok(Listeners { proxy, admin })
    }
}
