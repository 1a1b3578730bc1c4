//! The lines of the hot record functions (`record_decision`, `record_session_closed`) are
//! byte for byte what they wrote before they recorded their client, session and message
//! as plain strings: each is compared with the same event logged as it used to be
//! (`Display` values, a format-string message) through the legacy formatter.

use std::net::SocketAddr;

use super::super::format::client_addr::ClientAddr;
use super::format::without_timestamps;
use super::*;

/// The raw output of `action` under the production subscriber.
fn new_text(action: impl FnOnce()) -> String {
    let buffer = Buffer::default();
    let subscriber = json_subscriber(EnvFilter::new("trace"), buffer.clone());
    tracing::subscriber::with_default(subscriber, action);
    buffer.text()
}

#[track_caller]
fn assert_same(new: &str, old: &str) {
    assert_eq!(new.lines().count(), 1, "{new}");
    assert_eq!(without_timestamps(new), without_timestamps(old));
}

fn clients() -> Vec<SocketAddr> {
    [
        "203.0.113.7:51234",
        "0.0.0.0:0",
        "255.255.255.255:65535",
        "[::1]:8080",
        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
        "[::ffff:192.0.2.1]:1",
        "[fe80::1%4294967295]:443",
    ]
    .iter()
    .map(|text| text.parse().expect("literal address"))
    .collect()
}

fn decision(client: SocketAddr, verdict: Verdict<'static>) -> Decision<'static> {
    Decision {
        // Leaked: a `'static` decision; each test has its own, as each has its own
        // registry (a route's handles belong to the metrics that first used them).
        route: Box::leak(Box::new(RouteSeries::from("/ws"))),
        client,
        websocket: true,
        issuer: Some("primary \"quoted\""),
        duration: Duration::from_micros(1_234_567),
        verdict,
    }
}

#[test]
fn request_allowed_lines_are_what_they_were() {
    let metrics = Metrics::new(&Registry::new());
    for client in clients() {
        for (user, issuer, micros) in [
            (Some("alice\n\u{1}é"), Some("primary"), 1_500),
            (None, None, 0),
            (Some(""), Some("x"), u64::from(u32::MAX)),
        ] {
            let d = Decision {
                issuer,
                duration: Duration::from_micros(micros),
                ..decision(
                    client,
                    Verdict::Allowed(Caller {
                        method: AuthMethod::Jwt,
                        user,
                    }),
                )
            };
            let new = new_text(|| record_decision(&metrics, &d));
            let old = legacy_text(|| {
                tracing::info!(
                    target: "wsgate::telemetry",
                    route = d.route.path(),
                    client = %d.client,
                    websocket = d.websocket,
                    method = AuthMethod::Jwt.label(),
                    user,
                    issuer = d.issuer,
                    duration_ms = millis(d.duration),
                    "request allowed"
                );
            });
            assert_same(&new, &old);
        }
    }
}

#[test]
fn request_denied_lines_are_what_they_were() {
    let metrics = Metrics::new(&Registry::new());
    for client in clients() {
        for reason in [Refusal::TokenExpired, Refusal::KeysUnavailable] {
            let d = decision(client, Verdict::Denied(reason));
            let new = new_text(|| record_decision(&metrics, &d));
            let old = legacy_text(|| {
                macro_rules! denied {
                    ($level:expr) => {
                        tracing::event!(
                            target: "wsgate::telemetry",
                            $level,
                            reason = reason.as_str(),
                            route = d.route.path(),
                            client = %d.client,
                            websocket = d.websocket,
                            method = None::<&str>,
                            user = None::<&str>,
                            issuer = d.issuer,
                            status = reason.status().as_u16(),
                            duration_ms = millis(d.duration),
                            "request denied"
                        )
                    };
                }
                if reason.status().is_server_error() {
                    denied!(Level::WARN);
                } else {
                    denied!(Level::INFO);
                }
            });
            assert_same(&new, &old);
        }
    }
}

#[test]
fn session_closed_lines_are_what_they_were() {
    let metrics = Metrics::new(&Registry::new());
    let session = SessionId::parse("0123456789ABCDEF0123456789abcdef").expect("valid id");
    for client in clients() {
        for (code, reason, user) in [
            (Some(1000), None, Some("alice")),
            (None, Some(CloseReason::TokenExpired), None),
        ] {
            let s = SessionSummary {
                route: &RouteSeries::from("/ws"),
                client,
                session,
                user,
                initiator: Initiator::Client,
                code,
                reason,
                duration: Duration::from_millis(2_001),
                frames_to_upstream: 3,
                frames_to_client: u64::MAX,
                bytes_to_upstream: 0,
                bytes_to_client: 40,
            };
            metrics.session_opened(s.route);
            let new = new_text(|| record_session_closed(&metrics, &s));
            let old = legacy_text(|| {
                tracing::info!(
                    target: "wsgate::telemetry",
                    route = s.route.path(),
                    client = %s.client,
                    session = %s.session,
                    user = s.user,
                    initiator = s.initiator.as_str(),
                    code = s.code,
                    reason = s.reason.map(CloseReason::as_str),
                    duration_ms = millis(s.duration),
                    frames_to_upstream = s.frames_to_upstream,
                    frames_to_client = s.frames_to_client,
                    bytes_to_upstream = s.bytes_to_upstream,
                    bytes_to_client = s.bytes_to_client,
                    "session closed"
                );
            });
            assert_same(&new, &old);
        }
    }
}

#[test]
fn client_address_text_is_socket_addr_display() {
    let mut addresses = clients();
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    for _ in 0..2_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let ip = std::net::Ipv4Addr::from(u32::try_from(state >> 32).expect("32 bits"));
        let port = u16::try_from(state & 0xffff).expect("16 bits");
        addresses.push(SocketAddr::from((ip, port)));
    }
    for address in addresses {
        let mut buffer = ClientAddr::buffer();
        assert_eq!(ClientAddr(address).text(&mut buffer), address.to_string());
    }
}
