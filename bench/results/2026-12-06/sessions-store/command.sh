#!/usr/bin/env bash
# The handshake row: wsgate with store = "memory" against store = "redis", as bench/run.sh
# runs them (same config template, same pinning), started and stopped here by PID.
set -euo pipefail
cd /work/wt/sessions
ROOT=$PWD
RUN=$ROOT/bench/out/sessions-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RUN"
export BENCH_HS_SECRET="bench-only-HMAC-secret-at-least-32-bytes"
export BENCH_RSA_KEY=$ROOT/tests/fixtures/rsa2048.key.pem
RSA_PUB=$ROOT/tests/fixtures/rsa2048.pub.pem
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
fill() { local t=$1 o=$2; shift 2; local text; text=$(<"$t"); for p in "$@"; do text=${text//@${p%%=*}@/${p#*=}}; done; printf '%s\n' "$text" >"$o"; }
taskset -c 1 bench/target/release/echo 127.0.0.1:19101 2>"$RUN/echo.log" & ECHO=$!; PIDS+=("$ECHO"); wait_port 19101
taskset -c 1 redis-server --port 19120 --bind 127.0.0.1 --save '' --appendonly no >"$RUN/redis.log" 2>&1 & REDIS=$!; PIDS+=("$REDIS"); wait_port 19120
fill bench/peers/wsgate.toml.in "$RUN/wsgate.toml" LISTEN=127.0.0.1:19102 ADMIN=127.0.0.1:19112 UPSTREAM=127.0.0.1:19101 RSA_PUB="$RSA_PUB"
fill bench/peers/wsgate.toml.in "$RUN/wsgate-redis.toml" LISTEN=127.0.0.1:19106 ADMIN=127.0.0.1:19116 UPSTREAM=127.0.0.1:19101 RSA_PUB="$RSA_PUB"
printf '\n[sessions]\nstore = "redis"\nredis_url = { env = "BENCH_REDIS_URL" }\n' >>"$RUN/wsgate-redis.toml"
WSGATE_LOG=info taskset -c 1 target/release/wsgate run --config "$RUN/wsgate.toml" >"$RUN/wsgate.log" 2>&1 & W=$!; PIDS+=("$W"); wait_port 19102
BENCH_REDIS_URL=redis://127.0.0.1:19120 WSGATE_LOG=info taskset -c 1 target/release/wsgate run --config "$RUN/wsgate-redis.toml" >"$RUN/wsgate-redis.log" 2>&1 & WR=$!; PIDS+=("$WR"); wait_port 19106
for _ in $(seq 100); do [[ $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:19116/readyz) == 200 ]] && break; sleep 0.1; done
{ echo "date: $(date -u +%FT%TZ)"; echo "wsgate: $(git rev-parse --short HEAD)"; echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"; echo "redis: $(redis-server --version)"; nproc; lscpu | grep -E '^(Model name|CPU\(s\))'; } >"$RUN/machine.txt"
taskset -c 0 bench/target/release/load \
  --target "wsgate=ws://127.0.0.1:19102/ws,proxy=$W,server=$ECHO" \
  --target "wsgate-redis=ws://127.0.0.1:19106/ws,proxy=$WR,server=$ECHO" \
  --scenarios hs256 --rounds 4 --duration 4 --json "$RUN/results.jsonl" --markdown "$RUN/results.md" "$@"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/machine.txt"
echo "redis-server CPU (utime+stime ticks): $(awk '{print $14+$15}' /proc/$REDIS/stat)" >>"$RUN/machine.txt"
echo "$RUN"
