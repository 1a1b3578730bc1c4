//! The hot lines written directly into the production writer (`format/direct.rs`) are
//! byte for byte what the formatter writes for the same `tracing` event, are written iff
//! the `WSGATE_LOG` filter enables that event, and are left to tracing under any other
//! subscriber or inside a span.

use std::net::SocketAddr;

use super::super::format::client_addr::ClientAddr;
use super::super::format::direct::{WRITTEN, write_millis};
use super::super::format::json::needs_escape;
use super::super::writer::{Limits, coalescing};
use super::format::without_timestamps;
use super::*;

/// The output of `action` under the production subscriber (the JSON layer writing to the
/// coalescing writer, as `init_logging` installs it) with `filter`, and how many lines
/// took the direct path.
fn production_text(filter: &str, action: impl FnOnce()) -> (String, usize) {
    let sink = Buffer::default();
    let (writer, guard) = coalescing(Box::new(sink.clone()), Limits::DEFAULT);
    let subscriber = json_subscriber(EnvFilter::new(filter), writer);
    let before = WRITTEN.with(std::cell::Cell::get);
    tracing::subscriber::with_default(subscriber, action);
    let direct = WRITTEN.with(std::cell::Cell::get) - before;
    drop(guard); // writes what is queued
    (sink.text(), direct)
}

/// The output of `action` under the same layer writing to a plain buffer: every line
/// goes through `tracing::event!` and the formatter.
fn formatter_text(filter: &str, action: impl FnOnce()) -> String {
    let buffer = Buffer::default();
    let subscriber = json_subscriber(EnvFilter::new(filter), buffer.clone());
    let before = WRITTEN.with(std::cell::Cell::get);
    tracing::subscriber::with_default(subscriber, action);
    assert_eq!(WRITTEN.with(std::cell::Cell::get), before, "not direct");
    buffer.text()
}

fn clients() -> Vec<SocketAddr> {
    [
        "203.0.113.7:51234",
        "0.0.0.0:0",
        "[::1]:8080",
        "[fe80::1%4294967295]:443",
    ]
    .iter()
    .map(|text| text.parse().expect("literal address"))
    .collect()
}

const METHODS: [AuthMethod; 4] = [
    AuthMethod::Jwt,
    AuthMethod::E2eBypass,
    AuthMethod::Anonymous,
    AuthMethod::ClientCert,
];

/// Every kind of hot line, with values that need escaping and values that do not.
fn every_hot_line(metrics: &Metrics) {
    let users = [Some("alice\n\u{1}é\"\\"), None, Some("")];
    let issuers = [Some("primary \"quoted\""), None, Some("x")];
    for client in clients() {
        for (index, method) in METHODS.into_iter().enumerate() {
            let caller = Caller {
                method,
                user: users[index % 3],
            };
            let route = RouteSeries::from(if index % 2 == 0 {
                "/ws"
            } else {
                "/r\u{7f}\"é"
            });
            let d = Decision {
                route: &route,
                client,
                websocket: index % 2 == 0,
                issuer: issuers[index % 3],
                duration: Duration::from_micros([0, 1_500, 1_234_567, u64::from(u32::MAX)][index]),
                verdict: Verdict::Allowed(caller),
            };
            record_decision(metrics, &d);
            for reason in Refusal::ALL {
                record_decision(
                    metrics,
                    &Decision {
                        verdict: Verdict::Denied(reason),
                        ..d.clone()
                    },
                );
            }
            for kind in UpstreamErrorKind::ALL {
                record_decision(
                    metrics,
                    &Decision {
                        verdict: Verdict::UpstreamFailed {
                            caller,
                            kind,
                            detail: "refused \"x\"",
                        },
                        ..d.clone()
                    },
                );
            }
        }
        let session = SessionId::parse("0123456789ABCDEF0123456789abcdef").expect("valid id");
        let reasons = CloseReason::ALL.map(Some).into_iter().chain([None]);
        for (index, reason) in reasons.enumerate() {
            let route = RouteSeries::from(if index % 2 == 0 { "/ws" } else { "/a\tb" });
            let s = SessionSummary {
                route: &route,
                client,
                session,
                user: users[index % 3],
                initiator: [Initiator::Client, Initiator::Upstream, Initiator::Proxy][index % 3],
                code: [Some(1000), None, Some(0), Some(u16::MAX)][index % 4],
                reason,
                duration: Duration::from_micros(2_001_000 + u64::try_from(index).expect("small")),
                frames_to_upstream: 3,
                frames_to_client: u64::MAX,
                bytes_to_upstream: 0,
                bytes_to_client: 40,
            };
            metrics.session_opened(s.route);
            record_session_closed(metrics, &s);
        }
    }
}

#[test]
fn direct_lines_are_the_formatters_lines_byte_for_byte() {
    let metrics = Metrics::new(&prometheus::Registry::new());
    let (direct, written) = production_text("trace", || every_hot_line(&metrics));
    let formatted = formatter_text("trace", || every_hot_line(&metrics));
    assert!(written > 100, "{written} lines written directly");
    // Every hot line went directly; only the "upstream error" lines went through tracing.
    let upstream_errors = direct.matches("\"upstream error\"").count();
    assert_eq!(written + upstream_errors, direct.lines().count());
    assert_eq!(without_timestamps(&direct), without_timestamps(&formatted));
}

#[test]
fn direct_lines_follow_the_log_filter() {
    let metrics = Metrics::new(&prometheus::Registry::new());
    for filter in [
        "info",
        "warn",
        "error",
        "off",
        "debug",
        "wsgate=warn",
        "wsgate::telemetry=info",
        "wsgate::telemetry=warn",
        "wsgate::telemetry=off",
        "wsgate::proxy=trace,wsgate::telemetry=error",
        "warn,wsgate::telemetry=info",
        "[conn]=info",
        "wsgate::telemetry[{route}]=info",
    ] {
        let (direct, _) = production_text(filter, || every_hot_line(&metrics));
        let formatted = formatter_text(filter, || every_hot_line(&metrics));
        assert_eq!(
            without_timestamps(&direct),
            without_timestamps(&formatted),
            "filter {filter:?}"
        );
    }
}

#[test]
fn inside_a_span_the_lines_go_through_tracing() {
    let metrics = Metrics::new(&prometheus::Registry::new());
    let in_span = || {
        let span = tracing::info_span!("conn", peer = "p1");
        let _entered = span.enter();
        every_hot_line(&metrics);
    };
    let (direct, written) = production_text("trace", in_span);
    let formatted = formatter_text("trace", in_span);
    assert_eq!(written, 0);
    assert!(direct.contains("\"peer\":\"p1\""), "{direct}");
    assert_eq!(without_timestamps(&direct), without_timestamps(&formatted));
}

#[test]
fn values_written_without_an_escape_scan_never_need_one() {
    for method in METHODS {
        assert!(!needs_escape(method.label()));
    }
    for reason in Refusal::ALL {
        assert!(!needs_escape(reason.as_str()));
    }
    for reason in CloseReason::ALL {
        assert!(!needs_escape(reason.as_str()));
    }
    for initiator in [Initiator::Client, Initiator::Upstream, Initiator::Proxy] {
        assert!(!needs_escape(initiator.as_str()));
    }
    let mut buffer = [0; 32];
    let session = SessionId::parse("0123456789ABCDEF0123456789abcdef").expect("valid id");
    assert!(!needs_escape(session.hex(&mut buffer)));
    for client in clients() {
        let mut buffer = ClientAddr::buffer();
        assert!(!needs_escape(&ClientAddr(client).text(&mut buffer)));
    }
}

#[test]
fn duration_ms_is_written_as_serde_json_writes_the_f64() {
    let check = |duration: Duration| {
        let mut text = String::new();
        write_millis(&mut text, duration).expect("writes into a String");
        #[allow(clippy::cast_precision_loss)]
        let value = duration.as_micros() as f64 / 1000.0;
        assert_eq!(
            text,
            serde_json::to_string(&value).expect("finite"),
            "{duration:?}"
        );
    };
    for micros in 0..=250_000 {
        check(Duration::from_micros(micros));
    }
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Every magnitude, up to and past where the exact path ends.
        let micros = state >> (state % 64);
        check(Duration::from_micros(micros));
        check(Duration::from_micros(micros % 1_000_000_000_000_000));
    }
    for micros in [
        999_999_999_999_999,
        1_000_000_000_000_000,
        1_000_000_000_000_001,
        u64::MAX,
    ] {
        check(Duration::from_micros(micros));
    }
    check(Duration::MAX);
}
