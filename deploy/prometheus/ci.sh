#!/usr/bin/env bash
# Alerting rules and metrics checked with promtool (Debian's `prometheus` package), run by
# .ci/run after the release build:
#   1. `promtool check rules`  alerts.yaml is valid;
#   2. `promtool test rules`   every alert fires and stays quiet as alerts.test.yaml says;
#   3. `promtool check metrics` on a live scrape of the real binary's /metrics, after
#      allowed and denied handshakes (live_scrape.py also checks that each moved the
#      series docs/metrics.md names for it);
#   4. the Grafana dashboard is valid JSON, its queries parse, and they, the alert rules
#      and the rules' tests name only series the binary exports or docs/metrics.md lists.
# Usage: deploy/prometheus/ci.sh [WSGATE_BINARY]  (default: the release build in cargo's
# target directory, wherever CARGO_TARGET_DIR puts it). About 5 s.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if ! command -v promtool >/dev/null; then
    echo "promtool not found: apt-get install prometheus" >&2
    exit 1
fi

wsgate="${1:-}"
if [[ -z "$wsgate" ]]; then
    target_dir="$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    wsgate="$target_dir/release/wsgate"
fi
if [[ ! -x "$wsgate" ]]; then
    echo "no wsgate binary at $wsgate: run cargo build --release first" >&2
    exit 1
fi

wsgate="$(realpath "$wsgate")"
cd "$here"
promtool check rules alerts.yaml
promtool test rules alerts.test.yaml
# The Helm chart's PrometheusRule renders its own copy (Helm cannot read files outside the
# chart): it must be this tested file, byte for byte.
if ! cmp -s alerts.yaml "$repo/charts/wsgate/files/alerts.yaml"; then
    echo "charts/wsgate/files/alerts.yaml differs from deploy/prometheus/alerts.yaml:" >&2
    echo "  cp deploy/prometheus/alerts.yaml charts/wsgate/files/alerts.yaml" >&2
    exit 1
fi

scrape="$(mktemp)"
trap 'rm -f "$scrape"' EXIT
python3 live_scrape.py "$wsgate" >"$scrape"
echo "promtool check metrics: live scrape of $wsgate"
promtool check metrics <"$scrape"

python3 "$repo/deploy/grafana/check_dashboard.py" "$repo/deploy/grafana/wsgate.json" "$scrape" \
    alerts.yaml alerts.test.yaml
echo "deploy/prometheus/ci.sh: OK"
