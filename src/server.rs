//! Listeners, the accept loop, and [`run`].

/// Already-bound listeners handed to [`run`].
pub struct Listeners {
    pub proxy: tokio::net::TcpListener,
    pub admin: tokio::net::TcpListener,
}

/// Serves until `shutdown` completes, then drains.
pub async fn run(
    _config: std::sync::Arc<crate::config::Config>,
    _listeners: Listeners,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    shutdown.await;
    Ok(())
}
