#!/usr/bin/env bash
# Bytes and calls of memmove per HS256 handshake in wsgate (docs/performance.md, "Eleventh
# pass"): moves of large futures and results are invisible in an instruction count (one
# `rep movsb`) and cost per call and per cache line.
#
#   bench/memmove.sh                      # target/release/wsgate
#   BENCH_WSGATE_BIN=/tmp/wsgate-b bench/memmove.sh
#
# Puts a uprobe on glibc's memmove (its length argument), runs `bench/run.sh --scenarios
# hs256` with only wsgate, records the probe and the proxy's `close` calls (two per
# handshake) for one second, and prints bytes and calls per handshake and the largest
# sizes. Needs `perf` and root. BENCH_MEMMOVE_SYMBOL names the variant glibc picked for
# this CPU (default: __memmove_avx512_unaligned_erms; `perf probe -x LIBC --funcs |
# grep memmove` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
libc=$(ldconfig -p | awk '/libc\.so\.6 .*x86-64/ {print $NF; exit}')
symbol=${BENCH_MEMMOVE_SYMBOL:-__memmove_avx512_unaligned_erms}
perf probe -q -x "$libc" --add "$symbol len=%dx:u64" 2>/dev/null || true
out=$PWD/bench/out/memmove${BENCH_PROFILE_TAG:+-$BENCH_PROFILE_TAG}
rm -rf "$out"; mkdir -p "$out"
BENCH_OUT=$out BENCH_TARGETS=wsgate bench/run.sh --scenarios hs256 --rounds 1 --warmup 0 \
    --duration 5 >"$out/run.log" 2>&1 &
run=$!
until pgrep -f -- "release/load .*$out/results.jsonl" >/dev/null; do
    kill -0 "$run" 2>/dev/null || { echo "bench/run.sh ended early; see $out/run.log" >&2; exit 1; }
    sleep 0.1
done
pid=$(pgrep -f -- "--config $out/wsgate.toml" | head -1)
perf record -q -e "probe_libc:$symbol" -e syscalls:sys_enter_close -p "$pid" \
    -o "$out/perf.data" -- sleep 1 >/dev/null 2>&1
wait "$run" || { echo "bench/run.sh failed; see $out/run.log" >&2; exit 1; }
perf script -i "$out/perf.data" -F event,trace 2>/dev/null | python3 -c '
import collections, sys
sizes = collections.Counter(); closes = 0
for line in sys.stdin:
    if "sys_enter_close" in line:
        closes += 1
    elif "len=" in line:
        sizes[int(line.split("len=")[1].split()[0], 0)] += 1
handshakes = closes / 2
if not handshakes:
    sys.exit("no handshakes recorded")
total = sum(n * k for n, k in sizes.items())
print(f"{handshakes:.0f} handshakes: {total / handshakes:,.0f} bytes in "
      f"{sum(sizes.values()) / handshakes:.1f} calls of memmove per handshake")
print("largest:", ", ".join(f"{n} B x{k / handshakes:.2f}" for n, k in
                            sorted(sizes.items(), reverse=True)[:8]))
' | tee "$out/summary.txt"
