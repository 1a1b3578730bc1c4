//! TEMPORARY STUB (replaced by the metrics branch).
use crate::reason::Reason;
#[derive(Debug, Clone, Copy)]
pub enum AuthMethodLabel {
    Jwt,
    E2eBypass,
    Anonymous,
}
#[derive(Debug, Clone, Copy)]
pub enum InitiatorLabel {
    Client,
    Upstream,
    Proxy,
}
#[derive(Debug, Clone, Copy)]
pub enum HandshakeOutcome {
    Allowed,
    Denied,
    UpstreamError,
    UpstreamRejected,
}
#[derive(Debug, Clone, Copy)]
pub enum UpstreamErrorKind {
    Connect,
    Timeout,
    Tls,
    Rejected,
}
#[derive(Debug, Clone, Copy)]
pub enum BypassResult {
    Accepted,
    Invalid,
    Disabled,
}
pub struct RelayCounterHandles {
    pub frames_to_upstream: prometheus::IntCounter,
    pub bytes_to_upstream: prometheus::IntCounter,
    pub frames_to_client: prometheus::IntCounter,
    pub bytes_to_client: prometheus::IntCounter,
}
pub struct Metrics;
impl Metrics {
    pub fn new(_registry: &prometheus::Registry) -> Metrics {
        Metrics
    }
    pub fn denied(&self, _route: &str, _reason: Reason) {}
    pub fn allowed(&self, _route: &str, _method: AuthMethodLabel) {}
    pub fn session_opened(&self, _route: &str) {}
    pub fn session_closed(&self, _route: &str, _i: InitiatorLabel, _code: Option<u16>) {}
    pub fn handshake(&self, _route: &str, _o: HandshakeOutcome, _s: f64) {}
    pub fn upstream_error(&self, _k: UpstreamErrorKind) {}
    pub fn relay_counters(&self) -> RelayCounterHandles {
        let c = || prometheus::IntCounter::new("x", "x").unwrap();
        RelayCounterHandles {
            frames_to_upstream: c(),
            bytes_to_upstream: c(),
            frames_to_client: c(),
            bytes_to_client: c(),
        }
    }
    pub fn e2e_bypass(&self, _key: &str, _r: BypassResult) {}
    pub fn set_draining(&self, _d: bool) {}
    pub fn connection_opened(&self) {}
    pub fn connection_closed(&self) {}
}
