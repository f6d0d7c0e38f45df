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
ROUNDS=${BENCH_ROUNDS:-5} SECONDS_RUN=${BENCH_SECONDS:-5} CONN=${BENCH_CONNECTIONS:-50}
ACCOUNTS=${BENCH_ACCOUNTS:-1000} MIX=${BENCH_MIX:-rcpt-only}
WORK=$BUILD/bench-compare
# shellcheck source=tests/bench/two_daemons.sh
. "$(dirname "$0")/two_daemons.sh"
bench_policyd a "$A" 12460 && bench_policyd b "$B" 12461 || exit 1
sleep 2
run() { bench_rcpt "$1" "$MIX"; }
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
ma=$(median "${RA[@]}") mb=$(median "${RB[@]}")
echo "median ($MIX, $CONN connections, $ROUNDS rounds): A $ma req/s (p99 $(median "${PA[@]}") ms)," \
     "B $mb req/s (p99 $(median "${PB[@]}") ms), B/A $(python3 -c "print(f'{$mb / $ma:.3f}')")"
