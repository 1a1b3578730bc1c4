//! The Prometheus metrics wsgate exports, as one owned struct.
//!
//! [`Metrics`] is built on a `prometheus::Registry` that the caller passes in (never a
//! global), so every test gets its own registry and can assert exact values. Methods are
//! named for what happened (`denied`, `session_closed`) and every label value comes from a
//! closed set: a [`Reason`], one of the enums below, a configured route path, a configured
//! issuer name or a configured bypass key name. Nothing here ever sees a token, a user id
//! or a raw close code. `docs/metrics.md` lists every series this file produces.

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::reason::Reason;

/// Handshake-duration buckets, in seconds: a local JWT check takes well under a
/// millisecond, a JWKS refetch or a slow upstream dial takes seconds.
const HANDSHAKE_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Every wsgate metric, registered on one registry.
#[derive(Clone)]
pub struct Metrics {
    auth_denied: IntCounterVec,
    auth_allowed: IntCounterVec,
    sessions_active: IntGaugeVec,
    sessions_closed: IntCounterVec,
    handshake_duration: HistogramVec,
    relayed_frames: IntCounterVec,
    relayed_bytes: IntCounterVec,
    upstream_errors: IntCounterVec,
    jwks_refresh: IntCounterVec,
    jwks_keys: IntGaugeVec,
    jwks_last_success: GaugeVec,
    e2e_bypass: IntCounterVec,
    config_reloads: IntCounterVec,
    connections_active: IntGauge,
    connections_rejected: IntCounterVec,
    draining: IntGauge,
}

/// The live counters a relay bumps per frame, for both directions.
///
/// Cloned handles: incrementing one is a single atomic add, no label lookup per frame.
#[derive(Clone, Debug)]
pub struct RelayCounterHandles {
    pub frames_to_upstream: IntCounter,
    pub bytes_to_upstream: IntCounter,
    pub frames_to_client: IntCounter,
    pub bytes_to_client: IntCounter,
}

/// How an allowed caller was let in (`method` label; also the `X-Auth-Method` idea).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethodLabel {
    Jwt,
    E2eBypass,
    Anonymous,
}

/// Which side ended a session (`initiator` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InitiatorLabel {
    /// The client sent the first close frame or dropped the connection.
    Client,
    /// The upstream sent the first close frame or dropped the connection.
    Upstream,
    /// wsgate ended it: token expiry, limits, idle timeout, shutdown, protocol error.
    Proxy,
}

/// How a handshake ended (`outcome` label of the duration histogram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeOutcome {
    /// The upstream accepted and the client got its 101 (or the plain request was proxied).
    Allowed,
    /// wsgate refused the caller (any [`Reason`] before the upstream was dialled).
    Denied,
    /// The upstream could not be reached: refused, timed out, TLS failed.
    UpstreamError,
    /// The upstream's 101 was invalid (bad accept key, unoffered extension or protocol).
    UpstreamRejected,
    /// The upstream answered with a status other than 101, which was relayed as is.
    UpstreamDeclined,
}

/// Why an upstream connection failed (`kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamErrorKind {
    Connect,
    Timeout,
    Tls,
    Rejected,
}

/// What happened to a request carrying the E2E bypass header (`result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BypassResult {
    Accepted,
    Invalid,
    Disabled,
}

/// How a JWKS fetch ended (`result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwksRefreshResult {
    Success,
    /// Network, timeout, TLS or a status other than 200 (redirects included).
    Error,
    /// The body was not a usable JWKS (or discovery document): not JSON, no `keys`
    /// array, no usable key, over the size cap, a mismatching discovery `issuer`.
    Invalid,
}

/// How a config reload ended (`result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReloadResult {
    Success,
    Error,
}

impl Metrics {
    /// Creates every collector and registers it on `registry`.
    ///
    /// # Panics
    /// When `registry` already holds wsgate metrics: registering twice is a programming
    /// error (one `Metrics` per registry), not a runtime condition.
    pub fn new(registry: &Registry) -> Metrics {
        let metrics = Metrics {
            auth_denied: counter_vec(
                registry,
                "wsgate_auth_denied_total",
                "Requests refused before the handshake, by route and reason code.",
                &["route", "reason"],
            ),
            auth_allowed: counter_vec(
                registry,
                "wsgate_auth_allowed_total",
                "Requests let through, by route and authentication method.",
                &["route", "method"],
            ),
            sessions_active: gauge_vec(
                registry,
                "wsgate_sessions_active",
                "WebSocket sessions currently relayed, by route.",
                &["route"],
            ),
            sessions_closed: counter_vec(
                registry,
                "wsgate_sessions_closed_total",
                "WebSocket sessions ended, by route, the side that ended them and close code.",
                &["route", "initiator", "code"],
            ),
            handshake_duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "wsgate_handshake_duration_seconds",
                        "Time from the request's arrival to the handshake's outcome.",
                    )
                    .buckets(HANDSHAKE_BUCKETS.to_vec()),
                    &["route", "outcome"],
                ),
            ),
            relayed_frames: counter_vec(
                registry,
                "wsgate_relayed_frames_total",
                "WebSocket frames relayed, by direction.",
                &["direction"],
            ),
            relayed_bytes: counter_vec(
                registry,
                "wsgate_relayed_bytes_total",
                "WebSocket payload bytes relayed, by direction.",
                &["direction"],
            ),
            upstream_errors: counter_vec(
                registry,
                "wsgate_upstream_errors_total",
                "Failed upstream connections, by kind.",
                &["kind"],
            ),
            jwks_refresh: counter_vec(
                registry,
                "wsgate_jwks_refresh_total",
                "JWKS fetches, by configured issuer name and result.",
                &["issuer", "result"],
            ),
            jwks_keys: gauge_vec(
                registry,
                "wsgate_jwks_keys",
                "Keys currently usable, by configured issuer name.",
                &["issuer"],
            ),
            jwks_last_success: register(
                registry,
                GaugeVec::new(
                    Opts::new(
                        "wsgate_jwks_last_success_timestamp_seconds",
                        "Unix time of the last successful JWKS fetch, by configured issuer name.",
                    ),
                    &["issuer"],
                ),
            ),
            e2e_bypass: counter_vec(
                registry,
                "wsgate_e2e_bypass_total",
                "Requests carrying the E2E bypass header, by configured key name and result.",
                &["key", "result"],
            ),
            config_reloads: counter_vec(
                registry,
                "wsgate_config_reloads_total",
                "Config reloads, by result.",
                &["result"],
            ),
            connections_active: register(
                registry,
                IntGauge::new(
                    "wsgate_connections_active",
                    "TCP connections currently open on the proxy listener.",
                ),
            ),
            connections_rejected: counter_vec(
                registry,
                "wsgate_connections_rejected_total",
                "TCP connections refused before any request was read, by reason code.",
                &["reason"],
            ),
            draining: register(
                registry,
                IntGauge::new(
                    "wsgate_draining",
                    "1 while a graceful shutdown drain is under way, else 0.",
                ),
            ),
        };

        let build_info = gauge_vec(
            registry,
            "wsgate_build_info",
            "Always 1; the version label says which wsgate is running.",
            &["version"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        // Series with small fixed label sets exist from the start, so `rate()` and
        // alerts see a 0 instead of an absent series.
        for kind in UpstreamErrorKind::ALL {
            metrics.upstream_errors.with_label_values(&[kind.as_str()]);
        }
        for result in ReloadResult::ALL {
            metrics.config_reloads.with_label_values(&[result.as_str()]);
        }
        metrics
            .connections_rejected
            .with_label_values(&[Reason::Overloaded.as_str()]);
        metrics.relay_counters();

        metrics
    }

    /// A request on `route` was refused for `reason`.
    pub fn denied(&self, route: &str, reason: Reason) {
        self.auth_denied
            .with_label_values(&[route, reason.as_str()])
            .inc();
    }

    /// A request on `route` was let through by `method`.
    pub fn allowed(&self, route: &str, method: AuthMethodLabel) {
        self.auth_allowed
            .with_label_values(&[route, method.as_str()])
            .inc();
    }

    /// A WebSocket session on `route` started relaying.
    pub fn session_opened(&self, route: &str) {
        self.sessions_active.with_label_values(&[route]).inc();
    }

    /// A WebSocket session on `route` ended. `code` is the close code of the first close
    /// frame, `None` when the connection ended without one.
    pub fn session_closed(&self, route: &str, initiator: InitiatorLabel, code: Option<u16>) {
        self.sessions_active.with_label_values(&[route]).dec();
        self.sessions_closed
            .with_label_values(&[route, initiator.as_str(), close_code_label(code)])
            .inc();
    }

    /// A handshake on `route` reached `outcome` after `seconds`.
    pub fn handshake(&self, route: &str, outcome: HandshakeOutcome, seconds: f64) {
        self.handshake_duration
            .with_label_values(&[route, outcome.as_str()])
            .observe(seconds);
    }

    /// An upstream connection attempt failed.
    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        self.upstream_errors
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// Handles for the relay's per-frame counters.
    pub fn relay_counters(&self) -> RelayCounterHandles {
        let to_upstream = [Direction::ToUpstream.as_str()];
        let to_client = [Direction::ToClient.as_str()];
        RelayCounterHandles {
            frames_to_upstream: self.relayed_frames.with_label_values(&to_upstream),
            bytes_to_upstream: self.relayed_bytes.with_label_values(&to_upstream),
            frames_to_client: self.relayed_frames.with_label_values(&to_client),
            bytes_to_client: self.relayed_bytes.with_label_values(&to_client),
        }
    }

    /// A request carried the E2E bypass header.
    ///
    /// `key` is the configured name of the key that matched. It is only used for
    /// [`BypassResult::Accepted`]; other results are labelled `key="none"`, because no
    /// configured key matched and the presented value must never become a label.
    pub fn e2e_bypass(&self, key: &str, result: BypassResult) {
        let key = match result {
            BypassResult::Accepted => key,
            BypassResult::Invalid | BypassResult::Disabled => "none",
        };
        self.e2e_bypass
            .with_label_values(&[key, result.as_str()])
            .inc();
    }

    /// A config reload finished.
    pub fn config_reload(&self, result: ReloadResult) {
        self.config_reloads
            .with_label_values(&[result.as_str()])
            .inc();
    }

    /// A JWKS fetch for the configured issuer `issuer` finished.
    pub fn jwks_refreshed(&self, issuer: &str, result: JwksRefreshResult) {
        self.jwks_refresh
            .with_label_values(&[issuer, result.as_str()])
            .inc();
        if result == JwksRefreshResult::Success {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64());
            self.jwks_last_success.with_label_values(&[issuer]).set(now);
        }
    }

    /// The configured issuer `issuer` now has `count` usable keys.
    pub fn jwks_keys(&self, issuer: &str, count: usize) {
        self.jwks_keys
            .with_label_values(&[issuer])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// A TCP connection was accepted on the proxy listener.
    pub fn connection_opened(&self) {
        self.connections_active.inc();
    }

    /// A TCP connection on the proxy listener ended.
    pub fn connection_closed(&self) {
        self.connections_active.dec();
    }

    /// A TCP connection was refused because `max_connections` was reached.
    pub fn connection_rejected_overloaded(&self) {
        self.connections_rejected
            .with_label_values(&[Reason::Overloaded.as_str()])
            .inc();
    }

    /// A graceful-shutdown drain started (`true`) or the process is serving (`false`).
    pub fn set_draining(&self, draining: bool) {
        self.draining.set(i64::from(draining));
    }
}

/// The Prometheus text exposition of everything in `registry`.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    // Encoding our own well-formed families into a String cannot fail; if it ever did, a
    // partial scrape is better than none, so the error is dropped.
    let _ = TextEncoder::new().encode_utf8(&registry.gather(), &mut text);
    text
}

/// The `Content-Type` of [`render`]'s output.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `code` label for a session's close code.
///
/// Registered codes (RFC 6455 §7.4.1 and the IANA registry) keep their number; 1005 ("no
/// status received") is kept because it says the peer closed without a code. Everything
/// else, including private 4000–4999 codes, becomes `other`, so a peer cannot grow the
/// label set; `None` (no close frame at all) is `none`.
pub fn close_code_label(code: Option<u16>) -> &'static str {
    match code {
        None => "none",
        Some(1000) => "1000",
        Some(1001) => "1001",
        Some(1002) => "1002",
        Some(1003) => "1003",
        Some(1005) => "1005",
        Some(1007) => "1007",
        Some(1008) => "1008",
        Some(1009) => "1009",
        Some(1010) => "1010",
        Some(1011) => "1011",
        Some(1012) => "1012",
        Some(1013) => "1013",
        Some(1014) => "1014",
        Some(_) => "other",
    }
}

impl AuthMethodLabel {
    pub const ALL: [AuthMethodLabel; 3] = [
        AuthMethodLabel::Jwt,
        AuthMethodLabel::E2eBypass,
        AuthMethodLabel::Anonymous,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethodLabel::Jwt => "jwt",
            AuthMethodLabel::E2eBypass => "e2e_bypass",
            AuthMethodLabel::Anonymous => "anonymous",
        }
    }
}

impl InitiatorLabel {
    pub const ALL: [InitiatorLabel; 3] = [
        InitiatorLabel::Client,
        InitiatorLabel::Upstream,
        InitiatorLabel::Proxy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InitiatorLabel::Client => "client",
            InitiatorLabel::Upstream => "upstream",
            InitiatorLabel::Proxy => "proxy",
        }
    }
}

impl HandshakeOutcome {
    pub const ALL: [HandshakeOutcome; 5] = [
        HandshakeOutcome::Allowed,
        HandshakeOutcome::Denied,
        HandshakeOutcome::UpstreamError,
        HandshakeOutcome::UpstreamRejected,
        HandshakeOutcome::UpstreamDeclined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeOutcome::Allowed => "allowed",
            HandshakeOutcome::Denied => "denied",
            HandshakeOutcome::UpstreamError => "upstream_error",
            HandshakeOutcome::UpstreamRejected => "upstream_rejected",
            HandshakeOutcome::UpstreamDeclined => "upstream_declined",
        }
    }
}

impl UpstreamErrorKind {
    pub const ALL: [UpstreamErrorKind; 4] = [
        UpstreamErrorKind::Connect,
        UpstreamErrorKind::Timeout,
        UpstreamErrorKind::Tls,
        UpstreamErrorKind::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamErrorKind::Connect => "connect",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Tls => "tls",
            UpstreamErrorKind::Rejected => "rejected",
        }
    }

    /// The reason code the caller is refused with when the upstream fails this way.
    pub fn reason(self) -> Reason {
        match self {
            UpstreamErrorKind::Connect | UpstreamErrorKind::Timeout | UpstreamErrorKind::Tls => {
                Reason::UpstreamUnavailable
            }
            UpstreamErrorKind::Rejected => Reason::UpstreamRejected,
        }
    }
}

impl BypassResult {
    pub const ALL: [BypassResult; 3] = [
        BypassResult::Accepted,
        BypassResult::Invalid,
        BypassResult::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BypassResult::Accepted => "accepted",
            BypassResult::Invalid => "invalid",
            BypassResult::Disabled => "disabled",
        }
    }
}

impl JwksRefreshResult {
    pub fn as_str(self) -> &'static str {
        match self {
            JwksRefreshResult::Success => "success",
            JwksRefreshResult::Error => "error",
            JwksRefreshResult::Invalid => "invalid",
        }
    }
}

impl ReloadResult {
    pub const ALL: [ReloadResult; 2] = [ReloadResult::Success, ReloadResult::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Success => "success",
            ReloadResult::Error => "error",
        }
    }
}

/// The `direction` label of the relay counters.
#[derive(Debug, Clone, Copy)]
enum Direction {
    ToUpstream,
    ToClient,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::ToUpstream => "to_upstream",
            Direction::ToClient => "to_client",
        }
    }
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels))
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels))
}

/// Registers one collector. The names, help texts and label names are constants of this
/// file, so creation only fails on a programming error (a bad name, a double
/// registration); that is a panic at startup, never mid-traffic.
fn register<C>(registry: &Registry, collector: prometheus::Result<C>) -> C
where
    C: prometheus::core::Collector + Clone + 'static,
{
    let collector = collector.expect("metric definitions in metrics.rs are valid");
    registry
        .register(Box::new(collector.clone()))
        .expect("wsgate metrics are registered once per registry");
    collector
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use prometheus::proto::MetricType;

    use super::*;

    /// Every series in `registry` as `name{k="v",…}` → value (histograms: sample count).
    pub(crate) fn snapshot(registry: &Registry) -> BTreeMap<String, f64> {
        let mut series = BTreeMap::new();
        for family in registry.gather() {
            for metric in family.get_metric() {
                let mut labels: Vec<String> = metric
                    .get_label()
                    .iter()
                    .map(|pair| format!("{}=\"{}\"", pair.name(), pair.value()))
                    .collect();
                labels.sort();
                let value = match family.get_field_type() {
                    MetricType::COUNTER => metric.get_counter().get_value(),
                    MetricType::GAUGE => metric.get_gauge().get_value(),
                    _ => metric.get_histogram().get_sample_count() as f64,
                };
                series.insert(format!("{}{{{}}}", family.name(), labels.join(",")), value);
            }
        }
        series
    }

    /// Runs `action` and returns the series whose value changed, with the change.
    pub(crate) fn changes(registry: &Registry, action: impl FnOnce()) -> BTreeMap<String, f64> {
        let before = snapshot(registry);
        action();
        let after = snapshot(registry);
        after
            .into_iter()
            .filter_map(|(key, value)| {
                let delta = value - before.get(&key).copied().unwrap_or(0.0);
                (delta != 0.0).then_some((key, delta))
            })
            .collect()
    }

    fn one(key: &str, delta: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([(key.to_owned(), delta)])
    }

    fn fresh() -> (Registry, Metrics) {
        let registry = Registry::new();
        let metrics = Metrics::new(&registry);
        (registry, metrics)
    }

    #[test]
    fn build_info_carries_the_crate_version() {
        let (registry, _metrics) = fresh();
        let key = format!(
            "wsgate_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(snapshot(&registry).get(&key), Some(&1.0));
        assert!(render(&registry).contains("wsgate_build_info{version="));
    }

    #[test]
    fn denied_counts_route_and_reason() {
        let (registry, metrics) = fresh();
        let moved = changes(&registry, || metrics.denied("/ws", Reason::TokenExpired));
        assert_eq!(
            moved,
            one(
                "wsgate_auth_denied_total{reason=\"token_expired\",route=\"/ws\"}",
                1.0
            )
        );
    }

    #[test]
    fn allowed_counts_route_and_method() {
        let (registry, metrics) = fresh();
        let moved = changes(&registry, || {
            metrics.allowed("/ws", AuthMethodLabel::E2eBypass)
        });
        assert_eq!(
            moved,
            one(
                "wsgate_auth_allowed_total{method=\"e2e_bypass\",route=\"/ws\"}",
                1.0
            )
        );
    }

    #[test]
    fn sessions_open_and_close() {
        let (registry, metrics) = fresh();
        let moved = changes(&registry, || metrics.session_opened("/ws"));
        assert_eq!(moved, one("wsgate_sessions_active{route=\"/ws\"}", 1.0));

        let moved = changes(&registry, || {
            metrics.session_closed("/ws", InitiatorLabel::Upstream, Some(1000))
        });
        assert_eq!(
            moved,
            BTreeMap::from([
                ("wsgate_sessions_active{route=\"/ws\"}".to_owned(), -1.0),
                (
                    "wsgate_sessions_closed_total{code=\"1000\",initiator=\"upstream\",route=\"/ws\"}"
                        .to_owned(),
                    1.0
                ),
            ])
        );
    }

    #[test]
    fn private_and_unregistered_close_codes_are_other() {
        assert_eq!(close_code_label(Some(4001)), "other");
        assert_eq!(close_code_label(Some(1006)), "other");
        assert_eq!(close_code_label(Some(1004)), "other");
        assert_eq!(close_code_label(Some(1015)), "other");
        assert_eq!(close_code_label(Some(1005)), "1005");
        assert_eq!(close_code_label(Some(1014)), "1014");
        assert_eq!(close_code_label(None), "none");

        let (registry, metrics) = fresh();
        metrics.session_opened("/ws");
        let moved = changes(&registry, || {
            metrics.session_closed("/ws", InitiatorLabel::Client, Some(4001))
        });
        assert!(moved.contains_key(
            "wsgate_sessions_closed_total{code=\"other\",initiator=\"client\",route=\"/ws\"}"
        ));
    }

    #[test]
    fn handshake_observes_one_sample_in_the_right_series() {
        let (registry, metrics) = fresh();
        let moved = changes(&registry, || {
            metrics.handshake("/ws", HandshakeOutcome::UpstreamError, 0.003)
        });
        assert_eq!(
            moved,
            one(
                "wsgate_handshake_duration_seconds{outcome=\"upstream_error\",route=\"/ws\"}",
                1.0
            )
        );
        let text = render(&registry);
        assert!(text.contains("le=\"0.0005\""), "{text}");
        assert!(text.contains("le=\"10\""), "{text}");
    }

    #[test]
    fn upstream_errors_count_by_kind_and_start_at_zero() {
        let (registry, metrics) = fresh();
        for kind in UpstreamErrorKind::ALL {
            let key = format!("wsgate_upstream_errors_total{{kind=\"{}\"}}", kind.as_str());
            assert_eq!(snapshot(&registry).get(&key), Some(&0.0));
        }
        let moved = changes(&registry, || metrics.upstream_error(UpstreamErrorKind::Tls));
        assert_eq!(
            moved,
            one("wsgate_upstream_errors_total{kind=\"tls\"}", 1.0)
        );
    }

    #[test]
    fn relay_handles_feed_the_direction_series() {
        let (registry, metrics) = fresh();
        let handles = metrics.relay_counters();
        let moved = changes(&registry, || {
            handles.frames_to_upstream.inc();
            handles.bytes_to_upstream.inc_by(10);
            handles.frames_to_client.inc_by(2);
            handles.bytes_to_client.inc_by(30);
        });
        assert_eq!(
            moved,
            BTreeMap::from([
                (
                    "wsgate_relayed_bytes_total{direction=\"to_client\"}".to_owned(),
                    30.0
                ),
                (
                    "wsgate_relayed_bytes_total{direction=\"to_upstream\"}".to_owned(),
                    10.0
                ),
                (
                    "wsgate_relayed_frames_total{direction=\"to_client\"}".to_owned(),
                    2.0
                ),
                (
                    "wsgate_relayed_frames_total{direction=\"to_upstream\"}".to_owned(),
                    1.0
                ),
            ])
        );
    }

    #[test]
    fn e2e_bypass_names_only_matched_keys() {
        let (registry, metrics) = fresh();
        let moved = changes(&registry, || {
            metrics.e2e_bypass("ci", BypassResult::Accepted)
        });
        assert_eq!(
            moved,
            one(
                "wsgate_e2e_bypass_total{key=\"ci\",result=\"accepted\"}",
                1.0
            )
        );
        let moved = changes(&registry, || {
            metrics.e2e_bypass("presented-garbage", BypassResult::Invalid)
        });
        assert_eq!(
            moved,
            one(
                "wsgate_e2e_bypass_total{key=\"none\",result=\"invalid\"}",
                1.0
            )
        );
    }

    #[test]
    fn config_reload_and_jwks_series() {
        let (registry, metrics) = fresh();
        let moved = changes(&registry, || metrics.config_reload(ReloadResult::Error));
        assert_eq!(
            moved,
            one("wsgate_config_reloads_total{result=\"error\"}", 1.0)
        );

        let moved = changes(&registry, || {
            metrics.jwks_refreshed("primary", JwksRefreshResult::Error)
        });
        assert_eq!(
            moved,
            one(
                "wsgate_jwks_refresh_total{issuer=\"primary\",result=\"error\"}",
                1.0
            )
        );
        metrics.jwks_refreshed("primary", JwksRefreshResult::Success);
        metrics.jwks_keys("primary", 3);
        let now = snapshot(&registry);
        assert_eq!(now["wsgate_jwks_keys{issuer=\"primary\"}"], 3.0);
        assert!(now["wsgate_jwks_last_success_timestamp_seconds{issuer=\"primary\"}"] > 1.7e9);
    }

    #[test]
    fn connection_and_drain_gauges() {
        let (registry, metrics) = fresh();
        let moved = changes(&registry, || metrics.connection_opened());
        assert_eq!(moved, one("wsgate_connections_active{}", 1.0));
        let moved = changes(&registry, || metrics.connection_closed());
        assert_eq!(moved, one("wsgate_connections_active{}", -1.0));
        let moved = changes(&registry, || metrics.connection_rejected_overloaded());
        assert_eq!(
            moved,
            one(
                "wsgate_connections_rejected_total{reason=\"overloaded\"}",
                1.0
            )
        );
        let moved = changes(&registry, || metrics.set_draining(true));
        assert_eq!(moved, one("wsgate_draining{}", 1.0));
    }

    #[test]
    fn label_values_are_unique_per_enum() {
        let methods: Vec<_> = AuthMethodLabel::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(methods, ["jwt", "e2e_bypass", "anonymous"]);
        let initiators: Vec<_> = InitiatorLabel::ALL.iter().map(|i| i.as_str()).collect();
        assert_eq!(initiators, ["client", "upstream", "proxy"]);
        let outcomes: std::collections::HashSet<_> =
            HandshakeOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(outcomes.len(), HandshakeOutcome::ALL.len());
        let results: Vec<_> = BypassResult::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(results, ["accepted", "invalid", "disabled"]);
    }
}
