//! TEMPORARY STUB (replaced by the relay branch).
use crate::reason::Reason;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
pub struct RelaySettings {
    pub max_frame_bytes: u64,
    pub max_message_bytes: u64,
    pub idle_timeout: Option<Duration>,
    pub max_session_duration: Option<Duration>,
    pub expires_at: Option<tokio::time::Instant>,
    pub extensions_negotiated: bool,
    pub close_timeout: Duration,
}
pub struct RelayCounters {
    pub frames_to_upstream: prometheus::IntCounter,
    pub bytes_to_upstream: prometheus::IntCounter,
    pub frames_to_client: prometheus::IntCounter,
    pub bytes_to_client: prometheus::IntCounter,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    Client,
    Upstream,
    Proxy,
}
pub struct SessionEnd {
    pub initiator: Initiator,
    pub code: Option<u16>,
    pub reason: Option<Reason>,
    pub frames_to_upstream: u64,
    pub frames_to_client: u64,
    pub bytes_to_upstream: u64,
    pub bytes_to_client: u64,
}
pub async fn relay<C, U>(
    mut client: C,
    mut upstream: U,
    _settings: RelaySettings,
    _counters: &RelayCounters,
    _shutdown: tokio_util::sync::CancellationToken,
) -> SessionEnd
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    SessionEnd {
        initiator: Initiator::Client,
        code: None,
        reason: None,
        frames_to_upstream: 0,
        frames_to_client: 0,
        bytes_to_upstream: 0,
        bytes_to_client: 0,
    }
}
