# Sourced by the benchmarks that race relay-policyd against itself (metrics.sh, compare.sh): a private
# MariaDB with ACCOUNTS bench accounts, relay-policyd processes on it started by bench_policyd, everything
# stopped by PID at exit, and bench_rcpt to drive one with policy-bench.
# Needs before sourcing: BUILD (the build directory), WORK (a fresh work directory), ACCOUNTS, CONN,
# SECONDS_RUN.
# shellcheck shell=bash
# shellcheck source=/dev/null
. "$(dirname "${BASH_SOURCE[0]}")/../lib/mariadb.sh"
BENCH=$BUILD/policy-bench
PIDS=()
# BENCH_PIN=1: every server on CPU 1, policy-bench on CPU 0 (taskset), so a round does not depend on where
# the scheduler happens to put the server's thread and the load generator (on 2 cores: the same CPU in
# some rounds, not in others). Each server started after this line inherits it, the null server too.
SERVER_CPU='' CLIENT_CPU=''
if [ "${BENCH_PIN:-0}" = 1 ]; then SERVER_CPU='taskset -c 1' CLIENT_CPU='taskset -c 0'; fi
bench_cleanup() { local p; for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; mariadb_stop; }
trap bench_cleanup EXIT
rm -rf "$WORK" && mkdir -p "$WORK"
mariadb_start "$WORK/db" >/dev/null && mariadb_apply_schema relay_authority &&
    mariadb_create_app_user relay_authority relay_bench bench-pw || exit 1
"$BENCH" --gen-sql "$ACCOUNTS" | mariadb_sql relay_authority || exit 1

# bench_policyd NAME BINARY PORT [EXTRA_CONFIG_LINES]: starts BINARY on 127.0.0.1:PORT, waits until ready.
bench_policyd() {
    cat >"$WORK/$1.conf" <<CONF
[general]
node = bench-$1
[database]
socket = $MARIADB_SOCKET
user = relay_bench
password = bench-pw
name = relay_authority
[policyd]
listen = inet:127.0.0.1:$3
user = root
group = root
allow_root = yes
${4:-}
CONF
    $SERVER_CPU "$2" --config "$WORK/$1.conf" --foreground >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    local i
    for ((i = 0; i < 100; i++)); do grep -qs "ready on" "$WORK/$1.log" && return 0; sleep 0.1; done
    echo "$1 ($2) did not start:" >&2
    cat "$WORK/$1.log" >&2
    return 1
}

# bench_rcpt PORT [MIX]: one policy-bench run; prints "requests/s p99_ms".
bench_rcpt() {
    $CLIENT_CPU "$BENCH" --target "inet:127.0.0.1:$1" --mix "${2:-rcpt-only}" --accounts "$ACCOUNTS" --connections "$CONN" \
        --warmup 1 --duration "$SECONDS_RUN" --json |
        python3 -c 'import json,sys; j=json.load(sys.stdin); print(int(j["requests_per_s"]), round(j["latency_us"]["all"]["p99"] / 1000, 2))'
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
