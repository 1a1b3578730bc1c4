#!/usr/bin/env bash
# Issue 14's attack tools in CI, called from .ci/run (the JWT attack suite itself,
# tests/integration/jwt_attacks/, runs with `cargo test` before this):
#   1. a real browser: Debian's Chromium driven by Playwright (PyPI) against the release
#      binary and a permessage-deflate echo upstream (tests/browser/, pytest);
#   2. a short run of every cargo-fuzz target over its committed corpus (fuzz/, see
#      docs/fuzzing.md for the long run).
# Installs what it needs and fails if a tool is missing; never skips.
# Cost on 2 cores: browser step ~1 min with the packages (the release build is shared
# with the Autobahn step); fuzz step measured in docs/fuzzing.md.
set -euo pipefail

cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1

# ---- 1. browser ----
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null || { echo "chromium is not installed" >&2; exit 1; }
# Pinned. Playwright is driven with executable_path=/usr/bin/chromium: never
# `playwright install` (it downloads a browser build, which is not allowed here).
python3 -m pip install --quiet --disable-pip-version-check \
    playwright==1.65.2 pytest==9.2.0 websockets==17.4
cargo build --release --bin wsgate
timeout 600 python3 -m pytest -p no:cacheprovider tests/browser -v
