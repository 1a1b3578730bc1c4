#!/usr/bin/env bash
# A native CPU profile of one proxy under one scenario, per operation, for wsgate, nginx or
# HAProxy alike (docs/performance.md, "Ninth pass"):
#
#   bench/perf.sh wsgate hs256            # bench/out/perf-wsgate-hs256/{perf.data,summary.txt}
#   bench/perf.sh nginx hs256
#   bench/perfsum.py bench/out/perf-wsgate-hs256 bench/out/perf-nginx-hs256   # per-symbol diff
#
# Unlike bench/profile.sh (valgrind: instructions, load-independent, wsgate only) this
# samples the running proxy with `perf record -e cpu-clock` at ~3 kHz, kernel and user
# alike, while `bench/run.sh` drives the scenario with only that target; it counts the
# proxy's `close` calls over the same window with `perf stat` (two per proxied handshake)
# to turn samples into µs per handshake, and its context switches and system calls per
# handshake (every system call, as the raw_syscalls tracepoint counts them). For the
# handshake scenarios only. The proxy is
# slowed by a few per cent; compare profiles taken the same way. Needs `perf`
# (linux-perf) and kernel.perf_event_paranoid <= 2 or root.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: bench/perf.sh wsgate|nginx|haproxy|floor hs256|rs256}
scenario=${2:?usage: bench/perf.sh wsgate|nginx|haproxy|floor hs256|rs256}
out=$PWD/bench/out/perf-$target-$scenario${BENCH_PROFILE_TAG:+-$BENCH_PROFILE_TAG}
rm -rf "$out"; mkdir -p "$out"
BENCH_OUT=$out BENCH_TARGETS=$target bench/run.sh --scenarios "$scenario" --rounds 1 \
    --warmup 0 --duration 8 >"$out/run.log" 2>&1 &
run=$!
pid=
# bench/run.sh may build first (release, fat LTO: minutes): wait for as long as it runs.
while kill -0 "$run" 2>/dev/null; do
    case $target in
        wsgate) pid=$(pgrep -f -- "--config $out/wsgate.toml" | head -1 || true) ;;
        nginx) pid=$(pgrep -f -- "nginx -c $out/" | head -1 || true) ;;
        haproxy) pid=$(pgrep -f -- "haproxy -db -f $out/" | head -1 || true) ;;
        floor) pid=$(pgrep -f -- "target/floor/floor 127.0.0.1:$(( ${BENCH_PORT_BASE:-19000} + 7 ))" | head -1 || true) ;;
        *) echo "unknown target $target" >&2; exit 2 ;;
    esac
    [[ -n $pid ]] && break
    sleep 0.1
done
[[ -n $pid ]] || { echo "the $target process did not start; see $out/run.log" >&2; exit 1; }
# Sample once the load generator runs (it starts when every server listens).
until pgrep -f -- "release/load .*$out/results.jsonl" >/dev/null; do
    kill -0 "$run" 2>/dev/null || { echo "bench/run.sh ended early; see $out/run.log" >&2; exit 1; }
    sleep 0.1
done
perf stat -x, -e syscalls:sys_enter_close,context-switches,raw_syscalls:sys_enter -p "$pid" -o "$out/closes.txt" -- sleep 5 &
perf record -q -F 2999 -e cpu-clock -p "$pid" -o "$out/perf.data" -- sleep 5 >/dev/null 2>&1
wait "$run" || { echo "bench/run.sh failed; see $out/run.log" >&2; exit 1; }
wait
bench/perfsum.py "$out" | tee "$out/summary.txt"
