//! A small matcher over Prometheus text exposition.

/// The sum of every sample of `name` whose labels include all of `labels`; `None` when no
/// sample matches. With every label given this is the one series' value.
pub(crate) fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = split_sample(line) else {
            continue;
        };
        let (sample_name, sample_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, parse_labels(rest.trim_end_matches('}'))),
            None => (series, Vec::new()),
        };
        if sample_name != name {
            continue;
        }
        let all_present = labels
            .iter()
            .all(|(k, v)| sample_labels.iter().any(|(sk, sv)| sk == k && sv == v));
        if all_present {
            *total.get_or_insert(0.0) += value;
        }
    }
    total
}

/// Every label set seen for `name`, for failure messages.
pub(crate) fn series_of(text: &str, name: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .map(str::to_owned)
        .collect()
}

fn split_sample(line: &str) -> Option<(&str, f64)> {
    // The value follows the last space outside the label braces (timestamps are not used).
    let close = line.rfind('}').unwrap_or(0);
    let (series, value) = line[close..]
        .find(' ')
        .map(|i| (&line[..close + i], &line[close + i + 1..]))?;
    let value = value.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((series.trim(), value))
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        let after = &rest[eq + 1..];
        let Some(after) = after.strip_prefix('"') else {
            break;
        };
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(match escaped {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push((key, value));
        rest = &after[end..];
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# HELP wsgate_auth_denied_total Refusals.
# TYPE wsgate_auth_denied_total counter
wsgate_auth_denied_total{reason="token_missing",route="/ws"} 2
wsgate_auth_denied_total{reason="token_expired",route="/ws"} 1
wsgate_build_info{version="0.1.0"} 1
wsgate_handshake_duration_seconds_bucket{outcome="allowed",route="/ws",le="+Inf"} 3
wsgate_sessions_active 0
"#;

    #[test]
    fn matches_label_subsets_and_sums() {
        assert_eq!(
            metric_value(
                SAMPLE,
                "wsgate_auth_denied_total",
                &[("reason", "token_missing")]
            ),
            Some(2.0)
        );
        assert_eq!(
            metric_value(SAMPLE, "wsgate_auth_denied_total", &[]),
            Some(3.0)
        );
        assert_eq!(
            metric_value(SAMPLE, "wsgate_auth_denied_total", &[("reason", "nope")]),
            None
        );
        assert_eq!(
            metric_value(
                SAMPLE,
                "wsgate_handshake_duration_seconds_bucket",
                &[("le", "+Inf")]
            ),
            Some(3.0)
        );
        assert_eq!(
            metric_value(SAMPLE, "wsgate_sessions_active", &[]),
            Some(0.0)
        );
        assert_eq!(metric_value(SAMPLE, "wsgate_build", &[]), None);
    }
}
