//! Each method moves exactly the series it names.

use std::collections::BTreeMap;

use prometheus::proto::MetricType;

use super::*;

/// Every series in `registry` as `name{k="v",…}` → value (histograms: sample count).
pub(crate) fn snapshot(registry: &Registry) -> BTreeMap<String, f64> {
    let mut series = BTreeMap::new();
    // `process_*` (CPU, memory, descriptors) moves on its own between two reads.
    for family in registry
        .gather()
        .into_iter()
        .filter(|family| !family.name().starts_with("process_"))
    {
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
    let moved = changes(&registry, || metrics.denied("/ws", Refusal::TokenExpired));
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
        metrics.allowed(&"/ws".into(), AuthMethod::E2eBypass)
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
    let moved = changes(&registry, || metrics.session_opened(&"/ws".into()));
    assert_eq!(moved, one("wsgate_sessions_active{route=\"/ws\"}", 1.0));

    let moved = changes(&registry, || {
        metrics.session_closed(&"/ws".into(), Initiator::Upstream, Some(1000), None)
    });
    assert_eq!(
        moved,
        BTreeMap::from([
            ("wsgate_sessions_active{route=\"/ws\"}".to_owned(), -1.0),
            (
                "wsgate_sessions_closed_total{code=\"1000\",initiator=\"upstream\",reason=\"none\",route=\"/ws\"}"
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
    metrics.session_opened(&"/ws".into());
    let moved = changes(&registry, || {
        metrics.session_closed(&"/ws".into(), Initiator::Client, Some(4001), None)
    });
    assert!(moved.contains_key(
        "wsgate_sessions_closed_total{code=\"other\",initiator=\"client\",reason=\"none\",route=\"/ws\"}"
    ));
}

#[test]
fn handshake_observes_one_sample_in_the_right_series() {
    let (registry, metrics) = fresh();
    let moved = changes(&registry, || {
        metrics.handshake(&"/ws".into(), HandshakeOutcome::UpstreamError, 0.003)
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
        BTreeMap::from([
            ("wsgate_config_last_reload_successful{}".to_owned(), -1.0),
            (
                "wsgate_config_reloads_total{result=\"error\"}".to_owned(),
                1.0
            ),
        ])
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
fn a_session_wsgate_ended_carries_its_reason() {
    let (registry, metrics) = fresh();
    metrics.session_opened(&"/ws".into());
    let moved = changes(&registry, || {
        metrics.session_closed(
            &"/ws".into(),
            Initiator::Proxy,
            Some(1001),
            Some(CloseReason::ServerShutdown),
        )
    });
    assert_eq!(
        moved.get(
            "wsgate_sessions_closed_total{code=\"1001\",initiator=\"proxy\",reason=\"server_shutdown\",route=\"/ws\"}"
        ),
        Some(&1.0),
        "{moved:?}"
    );
}

#[test]
fn the_last_reload_result_is_a_gauge() {
    let (registry, metrics) = fresh();
    assert_eq!(
        snapshot(&registry)["wsgate_config_last_reload_successful{}"],
        1.0,
        "no reload tried yet: the policy in force is the file's"
    );
    metrics.config_reload(ReloadResult::Error);
    assert_eq!(
        snapshot(&registry)["wsgate_config_last_reload_successful{}"],
        0.0
    );
    metrics.config_reload(ReloadResult::Success);
    assert_eq!(
        snapshot(&registry)["wsgate_config_last_reload_successful{}"],
        1.0
    );
    metrics.config_reload(ReloadResult::Error);
    metrics.config_reload(ReloadResult::RestartRequired);
    assert_eq!(
        snapshot(&registry)["wsgate_config_last_reload_successful{}"],
        1.0,
        "applied, with some keys waiting for a restart"
    );
}

#[test]
fn max_connections_is_exported_as_configured() {
    let (registry, metrics) = fresh();
    let moved = changes(&registry, || metrics.set_max_connections(10_000));
    assert_eq!(moved, one("wsgate_max_connections{}", 10_000.0));
}

#[cfg(target_os = "linux")]
#[test]
fn process_metrics_are_registered_on_the_given_registry() {
    let (registry, _metrics) = fresh();
    let names: Vec<String> = registry
        .gather()
        .iter()
        .map(|family| family.name().to_owned())
        .collect();
    for expected in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing: {names:?}"
        );
    }
    // Another registry gets its own collector: nothing is global.
    let (other, _metrics) = fresh();
    assert!(
        other
            .gather()
            .iter()
            .any(|family| family.name() == "process_open_fds")
    );
}

#[test]
fn label_values_are_unique_per_enum() {
    let methods: Vec<_> = [
        AuthMethod::Jwt,
        AuthMethod::E2eBypass,
        AuthMethod::Anonymous,
        AuthMethod::ClientCert,
    ]
    .map(AuthMethod::label)
    .to_vec();
    assert_eq!(methods, ["jwt", "e2e_bypass", "anonymous", "client_cert"]);
    let certificates: Vec<_> = CertificateLabel::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(certificates, ["listener", "upstream_client", "assertion"]);
    let initiators: Vec<_> = [Initiator::Client, Initiator::Upstream, Initiator::Proxy]
        .map(Initiator::as_str)
        .to_vec();
    assert_eq!(initiators, ["client", "upstream", "proxy"]);
    let outcomes: std::collections::HashSet<_> =
        HandshakeOutcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(outcomes.len(), HandshakeOutcome::ALL.len());
    let results: Vec<_> = BypassResult::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(results, ["accepted", "invalid", "disabled"]);
}

#[test]
fn docs_metrics_says_where_every_reason_code_is_counted() {
    let docs = include_str!("../../../docs/metrics.md");
    let start = docs
        .find("## Every reason code, by one query")
        .expect("docs/metrics.md has the per-code section");
    let end = docs[start..]
        .find("\n## ")
        .map_or(docs.len(), |offset| start + offset);
    let section = &docs[start..end];
    let codes = Refusal::ALL
        .map(Refusal::as_str)
        .into_iter()
        .chain(CloseReason::ALL.map(CloseReason::as_str));
    for code in codes {
        let row = section
            .lines()
            .filter(|line| line.starts_with("| `"))
            .find(|line| {
                let codes = line.split('|').nth(1).unwrap_or_default();
                codes.contains(&format!("`{code}`"))
            });
        assert!(
            row.is_some(),
            "docs/metrics.md does not say where {code} is counted"
        );
    }
}

#[test]
fn a_routes_handles_move_the_series_a_label_lookup_moves_and_appear_only_once_used() {
    let (registry, metrics) = fresh();
    let route = RouteSeries::from("/ws");
    let before = snapshot(&registry);
    assert!(
        !before.keys().any(|key| key.contains("route=")),
        "no route series before anything happened on one: {before:?}"
    );

    let moved = changes(&registry, || {
        for method in AuthMethod::ALL {
            metrics.allowed(&route, method);
            metrics.allowed(&route, method);
        }
        metrics.handshake(&route, HandshakeOutcome::Allowed, 0.001);
        metrics.handshake(&route, HandshakeOutcome::Allowed, 0.002);
        metrics.handshake(&route, HandshakeOutcome::UpstreamDeclined, 0.003);
        metrics.session_opened(&route);
        metrics.session_opened(&route);
        metrics.session_closed(&route, Initiator::Client, Some(1000), None);
    });
    let mut expected: BTreeMap<String, f64> = AuthMethod::ALL
        .iter()
        .map(|method| {
            (
                format!(
                    "wsgate_auth_allowed_total{{method=\"{}\",route=\"/ws\"}}",
                    method.label()
                ),
                2.0,
            )
        })
        .collect();
    expected.extend([
        (
            "wsgate_handshake_duration_seconds{outcome=\"allowed\",route=\"/ws\"}".to_owned(),
            2.0,
        ),
        (
            "wsgate_handshake_duration_seconds{outcome=\"upstream_declined\",route=\"/ws\"}"
                .to_owned(),
            1.0,
        ),
        ("wsgate_sessions_active{route=\"/ws\"}".to_owned(), 1.0),
        (
            "wsgate_sessions_closed_total{code=\"1000\",initiator=\"client\",reason=\"none\",route=\"/ws\"}"
                .to_owned(),
            1.0,
        ),
    ]);
    assert_eq!(moved, expected);

    // A second handle on the same route (a reload's) moves the same series.
    let moved = changes(&registry, || {
        metrics.session_closed(&"/ws".into(), Initiator::Upstream, Some(1001), None);
    });
    assert_eq!(
        moved.get("wsgate_sessions_active{route=\"/ws\"}"),
        Some(&-1.0)
    );
}

#[test]
fn every_auth_method_has_its_own_place() {
    for (index, method) in AuthMethod::ALL.into_iter().enumerate() {
        assert_eq!(method.index(), index, "{method:?}");
    }
}
