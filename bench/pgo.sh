#!/usr/bin/env bash
# Writes pgo/wsgate.profdata, the profile wsgate's release builds are optimized with
# (pgo/rustc-wrapper; docs/performance.md, "Seventeenth pass"):
#
#   bench/pgo.sh            # instrumented build, the benchmark's workload, merged profile
#
# 1. builds wsgate instrumented (-C profile-generate on every crate the profile is used
#    for: wsgate and its dependencies, optimized) into target/pgo-generate;
# 2. runs it under bench/run.sh's handshake and relay scenarios (HS256 and RS256
#    handshakes with distinct tokens, 64 B and 512 B round trips, 16 KiB throughput), one
#    short round each; wsgate writes its counts when it exits;
# 3. merges them with the toolchain's llvm-profdata (`rustup component add llvm-tools`)
#    into pgo/wsgate.profdata, and records this rustc's LLVM version in pgo/llvm-version;
# 4. touches src/lib.rs, so the next release build is compiled with the new profile.
#
# Run it after changes to the handshake or relay paths, and commit both files. A profile
# older than the code still applies to the functions that did not change.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
host=$(rustc -vV | sed -n 's/^host: //p')
profdata=$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata
[[ -x $profdata ]] || { echo "llvm-profdata not found: rustup component add llvm-tools" >&2; exit 1; }
# From scratch: cargo does not track WSGATE_PGO, so a kept target directory could hold
# crates compiled without the instrumentation.
rm -rf target/pgo-generate
raw=$ROOT/target/pgo-generate/profraw
mkdir -p "$raw"
echo "building wsgate instrumented (release, target/pgo-generate)..." >&2
WSGATE_PGO=generate:$raw cargo build --release --locked --bin wsgate --target-dir target/pgo-generate
# The build writes no counts; only the runs below do.
rm -f "$raw"/*.profraw
LLVM_PROFILE_FILE=$raw/wsgate-%p.profraw BENCH_OUT=$ROOT/target/pgo-generate/run \
    BENCH_TARGETS=wsgate BENCH_WSGATE_BIN=$ROOT/target/pgo-generate/release/wsgate \
    BENCH_RS_POOL=${BENCH_RS_POOL:-256} \
    bench/run.sh --scenarios hs256,rs256,rtt64,rtt512,tp16k --rounds 1 --warmup 0 --duration 4 >&2
shopt -s nullglob
counts=("$raw"/*.profraw)
(( ${#counts[@]} > 0 )) || { echo "wsgate wrote no profile (did it exit cleanly?)" >&2; exit 1; }
"$profdata" merge --sparse -o pgo/wsgate.profdata "${counts[@]}"
rustc -vV | sed -n 's/^LLVM version: //p' >pgo/llvm-version
touch src/lib.rs
echo "pgo/wsgate.profdata: $(du -h pgo/wsgate.profdata | cut -f1), from ${#counts[@]} run(s); LLVM $(cat pgo/llvm-version)" >&2
