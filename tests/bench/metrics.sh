#!/usr/bin/env bash
# The cost of [metrics] (issue 11: at most 5 % of RCPT throughput): two relay-policyd on one private
# MariaDB, one without and one with [metrics] policyd_listen (scraped by nothing, and by curl every second
# in the "scraped" variant), driven by policy-bench rcpt-only in interleaved rounds (off, on, off, on ...).
#
#   tests/bench/metrics.sh BUILD_DIR      (on demand; prints one line per run and the medians)
# Knobs: BENCH_ROUNDS=5, BENCH_SECONDS=5, BENCH_CONNECTIONS=50, BENCH_ACCOUNTS=1000.
# Ports (127.0.0.1): 12450 (off), 12451 (on), 12452 (its metrics).
set -u
BUILD=$(cd "${1:?usage: metrics.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/lib/mariadb.sh"
ROUNDS=${BENCH_ROUNDS:-5} SECONDS_RUN=${BENCH_SECONDS:-5} CONN=${BENCH_CONNECTIONS:-50} ACCOUNTS=${BENCH_ACCOUNTS:-1000}
WORK=$BUILD/bench-metrics
BENCH=$BUILD/policy-bench
PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; mariadb_stop; }
trap cleanup EXIT
rm -rf "$WORK" && mkdir -p "$WORK"
mariadb_start "$WORK/db" >/dev/null && mariadb_apply_schema relay_authority && \
    mariadb_create_app_user relay_authority relay_bench bench-pw || exit 1
"$BENCH" --gen-sql "$ACCOUNTS" | mariadb_sql relay_authority || exit 1
start() {  # start NAME PORT METRICS
    cat >"$WORK/$1.conf" <<CONF
[general]
node = bench-$1
[database]
socket = $MARIADB_SOCKET
user = relay_bench
password = bench-pw
name = relay_authority
[policyd]
listen = inet:127.0.0.1:$2
user = root
group = root
allow_root = yes
[metrics]
policyd_listen = $3
CONF
    "$BUILD/relay-policyd" --config "$WORK/$1.conf" --foreground >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    local i
    for ((i = 0; i < 100; i++)); do grep -q "ready on" "$WORK/$1.log" && return 0; sleep 0.1; done
    return 1
}
start off 12450 "" && start on 12451 127.0.0.1:12452 || exit 1
sleep 2
run() {  # run PORT: requests per second
    "$BENCH" --target "inet:127.0.0.1:$1" --mix rcpt-only --accounts "$ACCOUNTS" --connections "$CONN" \
        --warmup 1 --duration "$SECONDS_RUN" --json | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["requests_per_s"]))'
}
declare -a OFF ON
for ((r = 1; r <= ROUNDS; r++)); do
    OFF+=("$(run 12450)")
    # the "on" daemon is scraped every second during its run, as Prometheus would
    ( for ((i = 0; i < SECONDS_RUN + 2; i++)); do curl -s -o /dev/null http://127.0.0.1:12452/metrics; sleep 1; done ) &
    scraper=$!
    ON+=("$(run 12451)")
    wait "$scraper"
    echo "round $r: off ${OFF[-1]} req/s, on ${ON[-1]} req/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_off=$(median "${OFF[@]}") m_on=$(median "${ON[@]}")
echo "median: off $m_off req/s, on $m_on req/s, cost $(python3 -c "print(f'{(1 - $m_on / $m_off) * 100:.1f} %')")"
