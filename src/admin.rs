//! TEMPORARY STUB (replaced by the metrics branch).
use std::sync::Arc;
pub struct Health;
impl Health {
    pub fn new() -> Arc<Health> {
        Arc::new(Health)
    }
    pub fn set_listening(&self, _b: bool) {}
    pub fn set_keys_loaded(&self, _b: bool) {}
    pub fn set_draining(&self, _b: bool) {}
    pub fn is_ready(&self) -> bool {
        true
    }
}
pub async fn serve(
    _listener: tokio::net::TcpListener,
    _registry: prometheus::Registry,
    _health: Arc<Health>,
    stop: tokio_util::sync::CancellationToken,
) {
    stop.cancelled().await
}
