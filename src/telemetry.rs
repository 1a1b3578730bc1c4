//! TEMPORARY STUB (replaced by the metrics branch).
use crate::metrics::{AuthMethodLabel, InitiatorLabel, Metrics, UpstreamErrorKind};
use crate::reason::Reason;
use std::net::SocketAddr;
use std::time::Duration;
pub fn init_logging() {}
pub struct Decision<'a> {
    pub route: &'a str,
    pub client: SocketAddr,
    pub websocket: bool,
    pub method: Option<AuthMethodLabel>,
    pub user: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub reason: Option<Reason>,
    pub duration: Duration,
}
pub fn record_denied(_m: &Metrics, _d: &Decision) {}
pub fn record_allowed(_m: &Metrics, _d: &Decision) {}
pub struct SessionSummary<'a> {
    pub route: &'a str,
    pub client: SocketAddr,
    pub user: Option<&'a str>,
    pub initiator: InitiatorLabel,
    pub code: Option<u16>,
    pub reason: Option<Reason>,
    pub duration: Duration,
    pub frames_to_upstream: u64,
    pub frames_to_client: u64,
    pub bytes_to_upstream: u64,
    pub bytes_to_client: u64,
}
pub fn record_session_closed(_m: &Metrics, _s: &SessionSummary) {}
pub fn record_upstream_error(
    _m: &Metrics,
    _k: UpstreamErrorKind,
    _route: &str,
    _client: SocketAddr,
    _detail: &str,
) {
}
