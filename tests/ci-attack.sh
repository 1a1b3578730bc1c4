#!/usr/bin/env bash
# Issue 14's attack tools in CI, called from .ci/run (the JWT attack suite itself,
# tests/integration/jwt_attacks/, runs with `cargo test` before this):
#   1. a real browser: Debian's Chromium driven by Playwright (PyPI) against the release
#      binary and a permessage-deflate echo upstream (tests/browser/, pytest);
#   2. a short run of every cargo-fuzz target over its committed corpus (fuzz/, see
#      docs/fuzzing.md for the long run).
# Installs what it needs and fails if a tool is missing; never skips.
# Cost on 2 cores: browser step about 1 min with the packages (the release build is the
# Autobahn step's); fuzz step about 7 min, most of it the one AddressSanitizer build
# (measured in docs/fuzzing.md).
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
# The binary under test, wherever CARGO_TARGET_DIR (or .cargo/config.toml) puts it.
WSGATE_BIN="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/wsgate"
export WSGATE_BIN
timeout 600 python3 -m pytest -p no:cacheprovider tests/browser -v

# ---- 2. fuzz: every cargo-fuzz target, 20 s each from the committed corpus ----
command -v rustup >/dev/null || { echo "rustup is needed for the nightly toolchain" >&2; exit 1; }
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly --version
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
(
    cd fuzz
    # One build for all targets: they share the AddressSanitizer build of the dependencies.
    cargo +nightly fuzz build
    for target in jwt request_head frames upstream_answer config decide; do
        mkdir -p "$scratch/$target"
        # New inputs go to the scratch directory; the committed corpus is read only.
        log="$scratch/$target.log"
        if ! cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
            -max_total_time=20 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            >"$log" 2>&1; then
            tail -n 80 "$log"
            echo "fuzz target $target failed: the input is under fuzz/artifacts/$target/" >&2
            exit 1
        fi
        echo "fuzz $target: $(grep -E '^Done' "$log")"
    done
)
