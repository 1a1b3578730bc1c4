#!/usr/bin/env bash
# One command for the side-by-side benchmark (docs/performance.md):
#
#   bench/run.sh                         # every scenario, every installed target
#   bench/run.sh --scenarios rtt64,tp16k --rounds 3 --duration 5   # passed to `load`
#
# Builds release binaries (nice'd), starts the echo upstream, wsgate, and nginx / HAProxy
# when installed (`apt-get install nginx haproxy`), pins the load generator to core 0 and
# every server to core 1, runs each scenario alternating targets, and writes
# bench/out/<time>/{machine.txt,results.jsonl,results.md} plus each server's log.
# Environment: BENCH_OUT (output dir), BENCH_TARGETS (e.g. "direct,wsgate"),
# WSGATE_LOG (wsgate's log filter, default "info" as in production), BENCH_WSGATE_WRAP (a
# command prefix for wsgate, e.g. "valgrind --tool=callgrind" or "strace -c -f -o FILE":
# profiling runs, whose timings mean nothing), BENCH_WSGATE_BIN (the wsgate binary for
# target "wsgate", default target/release/wsgate), BENCH_WSGATE_B (another wsgate binary,
# e.g. a patched build, run with the same config as target "wsgate-b": an A/B in one run;
# BENCH_WSGATE_B_CONFIG, another config template for it, e.g.
# bench/peers/wsgate-defaults.toml.in: the product's default session limits).
# Target "wsgate-redis" (not in the default set): wsgate with [sessions] store = "redis"
# against a local redis-server (`apt-get install redis-server`), to price the shared
# session registry against the default in-memory one (target "wsgate"). BENCH_PORT_BASE
# (default 19000): the servers listen on 127.0.0.1 ports BASE+1 to BASE+20, so two runs
# (say, two profiles) can share a machine with different bases. BENCH_UPSTREAM_HOST
# (default 127.0.0.1): the host every proxy's upstream URL names, e.g. localhost.
# Target "floor" (not in the default set): bench/src/bin/floor.rs, a tokio pass-through
# with no work of its own (no check, no parsing, no log), the floor under any tokio proxy;
# "floor-timer": the same with every session under a tokio timer (`--deadline 3600`).
# Target "haproxy-sig" (not in the default set): HAProxy
# checking only the signature and exp (bench/peers/haproxy-sig.cfg.in), as issue 17's
# table describes its HAProxy; target "haproxy" checks wsgate's whole policy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LOAD_CPU=${BENCH_LOAD_CPU:-0}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
PORT_BASE=${BENCH_PORT_BASE:-19000}
ECHO_PORT=$((PORT_BASE + 1)) WSGATE_PORT=$((PORT_BASE + 2)) NGINX_PORT=$((PORT_BASE + 3))
HAPROXY_PORT=$((PORT_BASE + 4)) WSGATE_B_PORT=$((PORT_BASE + 5)) WSGATE_REDIS_PORT=$((PORT_BASE + 6))
ADMIN_PORT=$((PORT_BASE + 12)) ADMIN_B_PORT=$((PORT_BASE + 15)) ADMIN_REDIS_PORT=$((PORT_BASE + 16))
REDIS_PORT=$((PORT_BASE + 20)) FLOOR_PORT=$((PORT_BASE + 7)) FLOOR_TIMER_PORT=$((PORT_BASE + 8))
HAPROXY_SIG_PORT=$((PORT_BASE + 9))
TARGETS=${BENCH_TARGETS:-direct,wsgate,nginx,haproxy}
# How every proxy names the echo upstream (it listens on 127.0.0.1): BENCH_UPSTREAM_HOST=
# localhost measures a named upstream, as a sidecar's is usually written.
UPSTREAM_HOST=${BENCH_UPSTREAM_HOST:-127.0.0.1}
RUN=${BENCH_OUT:-$ROOT/bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RUN"

echo "building (release, nice'd)..." >&2
# A given binary (BENCH_WSGATE_BIN) is measured as it is: nothing is rebuilt for it.
# Only targets that run the default binary need it built.
if [[ -z ${BENCH_WSGATE_BIN:-} && ",$TARGETS," =~ ,wsgate(-redis)?, ]]; then
    nice cargo build --release --quiet --bin wsgate
fi
nice cargo build --release --quiet --manifest-path bench/Cargo.toml --bin echo --bin load
# The floor is built as wsgate is (fat LTO), and only when it is measured.
if [[ ",$TARGETS," =~ ,floor(-timer)?, ]]; then
    nice cargo build --profile floor --quiet --manifest-path bench/Cargo.toml --bin floor
fi

# Every server holds two descriptors per proxied session.
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
IDLE_MAX=$(( (NOFILE - 100) / 2 )); (( IDLE_MAX > 10000 )) && IDLE_MAX=10000
export BENCH_HS_SECRET="bench-only-HMAC-secret-at-least-32-bytes"
export BENCH_RSA_KEY=$ROOT/tests/fixtures/rsa2048.key.pem
RSA_PUB=$ROOT/tests/fixtures/rsa2048.pub.pem

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    # A wrapper (strace, valgrind) may not pass the signal on: stop wsgate itself too.
    pkill -f -- "--config $RUN/wsgate" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listening on port $1" >&2
    return 1
}

fill() { # template output KEY=VALUE...
    local template=$1 output=$2; shift 2
    local text; text=$(<"$template")
    for pair in "$@"; do text=${text//@${pair%%=*}@/${pair#*=}}; done
    printf '%s\n' "$text" >"$output"
}

has() { [[ ",$TARGETS," == *",$1,"* ]]; }

taskset -c "$SERVER_CPU" bench/target/release/echo "127.0.0.1:$ECHO_PORT" 2>"$RUN/echo.log" &
ECHO_PID=$!; PIDS+=("$ECHO_PID")
wait_port "$ECHO_PORT"
ARGS=()
has direct && ARGS+=(--target "direct=ws://127.0.0.1:$ECHO_PORT/ws,server=$ECHO_PID")

if has wsgate; then
    fill bench/peers/wsgate.toml.in "$RUN/wsgate.toml" LISTEN="127.0.0.1:$WSGATE_PORT" \
        ADMIN="127.0.0.1:$ADMIN_PORT" UPSTREAM="$UPSTREAM_HOST:$ECHO_PORT" RSA_PUB="$RSA_PUB"
    # shellcheck disable=SC2086 # the wrapper is a command line
    WSGATE_LOG=${WSGATE_LOG:-info} taskset -c "$SERVER_CPU" ${BENCH_WSGATE_WRAP:-} "${BENCH_WSGATE_BIN:-target/release/wsgate}" run \
        --config "$RUN/wsgate.toml" >"$RUN/wsgate.log" 2>&1 &
    WSGATE_PID=$!; PIDS+=("$WSGATE_PID")
    wait_port "$WSGATE_PORT"
    # Under callgrind, count only what the load costs, not startup (config, keys, runtime).
    if [[ ${BENCH_WSGATE_WRAP:-} == *callgrind* ]]; then callgrind_control -z "$WSGATE_PID" >/dev/null; fi
    ARGS+=(--target "wsgate=ws://127.0.0.1:$WSGATE_PORT/ws,proxy=$WSGATE_PID,server=$ECHO_PID")
fi

if [[ -n ${BENCH_WSGATE_B:-} ]]; then
    fill "${BENCH_WSGATE_B_CONFIG:-bench/peers/wsgate.toml.in}" "$RUN/wsgate-b.toml" LISTEN="127.0.0.1:$WSGATE_B_PORT" \
        ADMIN="127.0.0.1:$ADMIN_B_PORT" UPSTREAM="$UPSTREAM_HOST:$ECHO_PORT" RSA_PUB="$RSA_PUB"
    WSGATE_LOG=${WSGATE_LOG:-info} taskset -c "$SERVER_CPU" "$BENCH_WSGATE_B" run \
        --config "$RUN/wsgate-b.toml" >"$RUN/wsgate-b.log" 2>&1 &
    WSGATE_B_PID=$!; PIDS+=("$WSGATE_B_PID")
    wait_port "$WSGATE_B_PORT"
    ARGS+=(--target "wsgate-b=ws://127.0.0.1:$WSGATE_B_PORT/ws,proxy=$WSGATE_B_PID,server=$ECHO_PID")
fi

if has wsgate-redis && command -v redis-server >/dev/null; then
    taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no >"$RUN/redis.log" 2>&1 &
    REDIS_PID=$!; PIDS+=("$REDIS_PID")
    wait_port "$REDIS_PORT"
    fill bench/peers/wsgate.toml.in "$RUN/wsgate-redis.toml" LISTEN="127.0.0.1:$WSGATE_REDIS_PORT" \
        ADMIN="127.0.0.1:$ADMIN_REDIS_PORT" UPSTREAM="$UPSTREAM_HOST:$ECHO_PORT" RSA_PUB="$RSA_PUB"
    printf '\n[sessions]\nstore = "redis"\nredis_url = { env = "BENCH_REDIS_URL" }\n' \
        >>"$RUN/wsgate-redis.toml"
    BENCH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" WSGATE_LOG=${WSGATE_LOG:-info} \
        taskset -c "$SERVER_CPU" "${BENCH_WSGATE_BIN:-target/release/wsgate}" run \
        --config "$RUN/wsgate-redis.toml" >"$RUN/wsgate-redis.log" 2>&1 &
    WSGATE_REDIS_PID=$!; PIDS+=("$WSGATE_REDIS_PID")
    wait_port "$WSGATE_REDIS_PORT"
    ARGS+=(--target "wsgate-redis=ws://127.0.0.1:$WSGATE_REDIS_PORT/ws,proxy=$WSGATE_REDIS_PID,server=$ECHO_PID")
elif has wsgate-redis; then
    echo "redis-server not installed: wsgate-redis skipped (apt-get install redis-server)" >&2
fi
if has floor; then
    taskset -c "$SERVER_CPU" bench/target/floor/floor "127.0.0.1:$FLOOR_PORT" \
        "127.0.0.1:$ECHO_PORT" 2>"$RUN/floor.log" &
    FLOOR_PID=$!; PIDS+=("$FLOOR_PID")
    wait_port "$FLOOR_PORT"
    ARGS+=(--target "floor=ws://127.0.0.1:$FLOOR_PORT/ws,proxy=$FLOOR_PID,server=$ECHO_PID")
fi
if has floor-timer; then
    taskset -c "$SERVER_CPU" bench/target/floor/floor "127.0.0.1:$FLOOR_TIMER_PORT" \
        "127.0.0.1:$ECHO_PORT" --deadline 3600 2>"$RUN/floor-timer.log" &
    FLOOR_TIMER_PID=$!; PIDS+=("$FLOOR_TIMER_PID")
    wait_port "$FLOOR_TIMER_PORT"
    ARGS+=(--target "floor-timer=ws://127.0.0.1:$FLOOR_TIMER_PORT/ws,proxy=$FLOOR_TIMER_PID,server=$ECHO_PID")
fi

if has nginx && command -v nginx >/dev/null; then
    mkdir -p "$RUN/nginx"
    fill bench/peers/nginx.conf.in "$RUN/nginx.conf" RUN="$RUN/nginx" \
        LISTEN="127.0.0.1:$NGINX_PORT" UPSTREAM="$UPSTREAM_HOST:$ECHO_PORT"
    taskset -c "$SERVER_CPU" nginx -c "$RUN/nginx.conf" -p "$RUN/nginx" -e "$RUN/nginx/error.log" 2>"$RUN/nginx.log" &
    NGINX_PID=$!; PIDS+=("$NGINX_PID")
    wait_port "$NGINX_PORT"
    ARGS+=(--target "nginx=ws://127.0.0.1:$NGINX_PORT/ws,proxy=$NGINX_PID,server=$ECHO_PID")
elif has nginx; then
    echo "nginx not installed: skipped (apt-get install nginx)" >&2
fi

# HAProxy with wsgate's whole policy (target "haproxy"), and with only the signature and
# exp checked (target "haproxy-sig").
start_haproxy() { # NAME TEMPLATE PORT
    fill "$2" "$RUN/$1.cfg" LISTEN="127.0.0.1:$3" \
        UPSTREAM="$UPSTREAM_HOST:$ECHO_PORT" HS_SECRET="$BENCH_HS_SECRET" RSA_PUB="$RSA_PUB" \
        MAXCONN="$(( (NOFILE - 100) / 2 ))"
    taskset -c "$SERVER_CPU" haproxy -db -f "$RUN/$1.cfg" 2>"$RUN/$1.log" &
    local pid=$!; PIDS+=("$pid")
    wait_port "$3"
    ARGS+=(--target "$1=ws://127.0.0.1:$3/ws,proxy=$pid,server=$ECHO_PID")
}
if { has haproxy || has haproxy-sig; } && command -v haproxy >/dev/null; then
    version=$(haproxy -v | sed -n 's/^HAProxy version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    read -r major minor <<<"$version"
    if (( major > 2 || (major == 2 && minor >= 5) )); then
        has haproxy && start_haproxy haproxy bench/peers/haproxy.cfg.in "$HAPROXY_PORT"
        has haproxy-sig && start_haproxy haproxy-sig bench/peers/haproxy-sig.cfg.in "$HAPROXY_SIG_PORT"
    else
        echo "HAProxy $major.$minor has no jwt_verify (needs >= 2.5): skipped" >&2
    fi
elif has haproxy || has haproxy-sig; then
    echo "haproxy not installed: skipped (apt-get install haproxy)" >&2
fi

{
    echo "date: $(date -u +%FT%TZ)"
    echo "command: bench/run.sh $*"
    echo "kernel: $(uname -srvm)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "nofile: $NOFILE (idle steps up to $IDLE_MAX sessions)"
    echo "upstream named: $UPSTREAM_HOST"
    echo "wsgate: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet -- src 2>/dev/null || echo ' + uncommitted src changes')"
    command -v nginx >/dev/null && echo "nginx: $(nginx -v 2>&1)"
    command -v haproxy >/dev/null && echo "haproxy: $(haproxy -v | head -1)"
    command -v redis-server >/dev/null && echo "redis: $(redis-server --version)"
    echo "rustc: $(rustc --version)"
    lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L[123]|Hypervisor)'
} >"$RUN/machine.txt"
cat "$RUN/machine.txt" >&2

taskset -c "$LOAD_CPU" bench/target/release/load "${ARGS[@]}" --idle "5000,$IDLE_MAX" \
    --json "$RUN/results.jsonl" --markdown "$RUN/results.md" "$@"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RUN/machine.txt" >&2
echo "results: $RUN/results.md" >&2
