#!/usr/bin/env bash
# The TCP segments of each proxied connection, as the wire sees them (docs/performance.md,
# "Fourteenth pass"): which segments a proxy sends, and which it could have sent together.
#
#   bench/segments.sh wsgate hs256        # bench/out/segments-wsgate-hs256/{lo.pcap,summary.txt}
#   bench/segments.sh nginx hs256
#
# Captures the loopback traffic of the proxy's port and of the echo upstream's with tcpdump
# while `bench/run.sh` drives the scenario with only that target for three seconds, then
# prints the sequences of segments of whole connections (SYN to last ACK) and how many
# connections had each: `>` from the connecting side, `<` from the accepting side, the
# flags as tcpdump prints them, then the payload length. The sender of a segment pays for
# its trip through the loopback, both ends' TCP and netfilter, on its own CPU. Needs
# tcpdump and root.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: bench/segments.sh wsgate|nginx|haproxy|floor hs256|rs256}
scenario=${2:?usage: bench/segments.sh wsgate|nginx|haproxy|floor hs256|rs256}
command -v tcpdump >/dev/null || { echo "tcpdump not installed (apt-get install tcpdump)" >&2; exit 1; }
out=$PWD/bench/out/segments-$target-$scenario${BENCH_PROFILE_TAG:+-$BENCH_PROFILE_TAG}
rm -rf "$out"; mkdir -p "$out"
base=${BENCH_PORT_BASE:-19000}
case $target in
    wsgate) port=$((base + 2)) ;;
    nginx) port=$((base + 3)) ;;
    haproxy) port=$((base + 4)) ;;
    floor) port=$((base + 7)) ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
tcpdump -i lo -s 128 -c 60000 -U -w "$out/lo.pcap" "tcp port $port or tcp port $((base + 1))" \
    2>"$out/tcpdump.log" &
capture=$!
until grep -q "listening on" "$out/tcpdump.log" 2>/dev/null; do
    kill -0 "$capture" 2>/dev/null || { echo "tcpdump failed; see $out/tcpdump.log" >&2; exit 1; }
    sleep 0.1
done
BENCH_OUT=$out BENCH_TARGETS=$target bench/run.sh --scenarios "$scenario" --rounds 1 \
    --warmup 0 --duration 3 >"$out/run.log" 2>&1 || { kill "$capture" 2>/dev/null; echo "bench/run.sh failed; see $out/run.log" >&2; exit 1; }
kill "$capture" 2>/dev/null || true
wait "$capture" 2>/dev/null || true
bench/segments.py "$out/lo.pcap" "$port" "$((base + 1))" | tee "$out/summary.txt"
