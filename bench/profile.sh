#!/usr/bin/env bash
# Profiles wsgate alone on one scenario (docs/performance.md, "Where the time goes"):
#
#   bench/profile.sh callgrind hs256     # valgrind --tool=callgrind: instructions per function
#   bench/profile.sh strace rtt64        # strace -c -f: system calls per operation
#   bench/profile.sh count hs256         # callgrind: instructions and allocations per operation
#
# callgrind's counters are zeroed once wsgate listens, so startup is not counted; `count`
# divides by the handshakes wsgate logged (handshake scenarios) or the round trips the
# load generator made (others, run without warm-up) and prints bench/cgsum.py's summary.
# Instruction counts do not depend on the machine's load: use them to A/B a change.
#
# Uses bench/run.sh with only the wsgate target and wsgate wrapped in the tool; the load
# is short and its timings mean nothing (the tool slows wsgate down many times). Output:
# bench/out/profile-<tool>-<scenario>/ (callgrind.out + annotate.txt, or strace.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${1:?usage: bench/profile.sh callgrind|count|strace SCENARIO [load args...]}
scenario=${2:?usage: bench/profile.sh callgrind|count|strace SCENARIO [load args...]}
shift 2
out=$PWD/bench/out/profile-$tool-$scenario${BENCH_PROFILE_TAG:+-$BENCH_PROFILE_TAG}
rm -rf "$out"; mkdir -p "$out"
case $tool in
    callgrind|count) wrap="valgrind --tool=callgrind --callgrind-out-file=$out/callgrind.out" ;;
    strace) wrap="strace -f -c -o $out/strace.txt" ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
esac
warmup=2; [[ $tool == count ]] && warmup=0
BENCH_OUT=$out BENCH_TARGETS=wsgate BENCH_WSGATE_WRAP=$wrap \
    bench/run.sh --scenarios "$scenario" --rounds 1 --warmup "$warmup" --duration 5 "$@"
# run.sh stops wsgate on exit; give the tool a moment to write its report. A tracer may
# leave its tracee running: stop the wsgate serving this run's own config, by PID.
sleep 2
for pid in $(pgrep -f -- "--config $out/wsgate.toml" || true); do kill "$pid" 2>/dev/null || true; done
if [[ $tool == count ]]; then
    case $scenario in
        hs256|rs256) ops=$(grep -c '"request allowed"' "$out/wsgate.log") ;;
        *) ops=$(sed -n 's/.*"ops":\([0-9]*\).*/\1/p' "$out/results.jsonl" | head -1) ;;
    esac
    bench/cgsum.py "$out/callgrind.out" "$ops" ${BENCH_COUNT_FUNCTIONS:-} | tee "$out/summary.txt"
fi
if [[ $tool == callgrind || $tool == count ]]; then
    callgrind_annotate --inclusive=yes "$out/callgrind.out" >"$out/inclusive.txt" 2>/dev/null || true
    callgrind_annotate "$out/callgrind.out" >"$out/exclusive.txt" 2>/dev/null || true
    echo "profile: $out/{inclusive,exclusive}.txt" >&2
else
    echo "system calls: $out/strace.txt" >&2
fi
