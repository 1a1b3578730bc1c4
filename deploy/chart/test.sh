#!/usr/bin/env bash
# The chart's tests: render checks for every mode (check_chart.py), then the wrap pod
# run for real with podman kube play (kube_play.py).
# Usage: test.sh WSGATE_IMAGE BUILD_BASE_IMAGE (from deploy/image/test.sh and bases.sh);
# helm, kubectl, kubernetes-validate on PATH (deploy/tools.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for tool in helm kubectl kubernetes-validate podman nsenter python3; do
  command -v "$tool" >/dev/null || { echo "chart-test: $tool not found" >&2; exit 1; }
done
python3 "$here/check_chart.py"
python3 "$here/kube_play.py" "$1" "$2"
