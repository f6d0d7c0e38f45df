#!/usr/bin/env bash
# Two relay-policyd binaries against each other (a refactor's "no regression" check, issue 14): both on one
# private MariaDB with the same rules, driven by policy-bench in interleaved rounds (A B, B A, A B ...), so
# machine noise hits both alike. Prints one line per round and the medians with the ratio B / A.
#
#   tests/bench/compare.sh BUILD_DIR BINARY_A [BINARY_B]   (on demand; B defaults to BUILD_DIR's)
# Keep a copy of the old binary before rebuilding: cp build/relay-policyd /tmp/relay-policyd.before
# Knobs: BENCH_ROUNDS=5, BENCH_SECONDS=5, BENCH_CONNECTIONS=50, BENCH_ACCOUNTS=1000, BENCH_MIX=rcpt-only.
# Ports (127.0.0.1): 12460 (A), 12461 (B).
set -u
BUILD=$(cd "${1:?usage: compare.sh BUILD_DIR BINARY_A [BINARY_B]}" && pwd)
A=${2:?usage: compare.sh BUILD_DIR BINARY_A [BINARY_B]}
B=${3:-$BUILD/relay-policyd}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=/dev/null
. "$SRC/tests/lib/mariadb.sh"
ROUNDS=${BENCH_ROUNDS:-5} SECONDS_RUN=${BENCH_SECONDS:-5} CONN=${BENCH_CONNECTIONS:-50}
ACCOUNTS=${BENCH_ACCOUNTS:-1000} MIX=${BENCH_MIX:-rcpt-only}
WORK=$BUILD/bench-compare
BENCH=$BUILD/policy-bench
PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; mariadb_stop; }
trap cleanup EXIT
rm -rf "$WORK" && mkdir -p "$WORK"
mariadb_start "$WORK/db" >/dev/null && mariadb_apply_schema relay_authority && \
    mariadb_create_app_user relay_authority relay_bench bench-pw || exit 1
"$BENCH" --gen-sql "$ACCOUNTS" | mariadb_sql relay_authority || exit 1
start() {  # start NAME BINARY PORT
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
CONF
    "$2" --config "$WORK/$1.conf" --foreground >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    local i
    for ((i = 0; i < 100; i++)); do grep -q "ready on" "$WORK/$1.log" && return 0; sleep 0.1; done
    echo "$1 ($2) did not start:" >&2; cat "$WORK/$1.log" >&2
    return 1
}
start a "$A" 12460 && start b "$B" 12461 || exit 1
sleep 2
run() {  # run PORT: "requests/s p99_ms"
    "$BENCH" --target "inet:127.0.0.1:$1" --mix "$MIX" --accounts "$ACCOUNTS" --connections "$CONN" \
        --warmup 1 --duration "$SECONDS_RUN" --json |
        python3 -c 'import json,sys; j=json.load(sys.stdin); print(int(j["requests_per_s"]), round(j["latency_us"]["all"]["p99"] / 1000, 2))'
}
declare -a RA RB PA PB
for ((r = 1; r <= ROUNDS; r++)); do
    # ABBA: the binary that runs first alternates, so a drift in the machine's load favours neither
    if ((r % 2)); then
        read -r ra pa < <(run 12460)
        read -r rb pb < <(run 12461)
    else
        read -r rb pb < <(run 12461)
        read -r ra pa < <(run 12460)
    fi
    RA+=("$ra") RB+=("$rb") PA+=("$pa") PB+=("$pb")
    echo "round $r: A $ra req/s (p99 $pa ms), B $rb req/s (p99 $pb ms)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${RA[@]}") mb=$(median "${RB[@]}")
echo "median ($MIX, $CONN connections, $ROUNDS rounds): A $ma req/s (p99 $(median "${PA[@]}") ms)," \
     "B $mb req/s (p99 $(median "${PB[@]}") ms), B/A $(python3 -c "print(f'{$mb / $ma:.3f}')")"
