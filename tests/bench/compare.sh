#!/usr/bin/env bash
# Two relay-policyd binaries against each other (a refactor's "no regression" check, issue 14): both on one
# private MariaDB with the same rules, driven by policy-bench in interleaved rounds (A B, B A, A B ...), so
# machine noise hits both alike. Prints one line per round and the medians with the ratio B / A.
#
#   tests/bench/compare.sh BUILD_DIR BINARY_A [BINARY_B]   (on demand; B defaults to BUILD_DIR's)
# Keep a copy of the old binary before rebuilding: cp build/relay-policyd /tmp/relay-policyd.before
# Knobs: BENCH_ROUNDS=5, BENCH_SECONDS=5, BENCH_CONNECTIONS=50, BENCH_ACCOUNTS=1000, BENCH_MIX=rcpt-only;
# BENCH_NULL=1 adds policy-bench's null server to every round (A B N, then N B A, ...) and prints A and B
# as a share of it (the issue 16 target is a ratio to the null server measured in the same run).
# Ports (127.0.0.1): 12460 (A), 12461 (B), 12462 (null server).
set -u
BUILD=$(cd "${1:?usage: compare.sh BUILD_DIR BINARY_A [BINARY_B]}" && pwd)
A=${2:?usage: compare.sh BUILD_DIR BINARY_A [BINARY_B]}
B=${3:-$BUILD/relay-policyd}
ROUNDS=${BENCH_ROUNDS:-5} SECONDS_RUN=${BENCH_SECONDS:-5} CONN=${BENCH_CONNECTIONS:-50}
ACCOUNTS=${BENCH_ACCOUNTS:-1000} MIX=${BENCH_MIX:-rcpt-only} NULL=${BENCH_NULL:-0}
WORK=$BUILD/bench-compare
# shellcheck source=tests/bench/two_daemons.sh
. "$(dirname "$0")/two_daemons.sh"
bench_policyd a "$A" 12460 && bench_policyd b "$B" 12461 || exit 1
if ((NULL)); then
    "$BENCH" --null-server inet:127.0.0.1:12462 >"$WORK/null.log" 2>&1 &
    PIDS+=($!)
fi
sleep 2
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
run() { bench_rcpt "$1" "$MIX"; }
ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }
declare -a RA RB RN PA PB PN
for ((r = 1; r <= ROUNDS; r++)); do
    # ABBA: the binary that runs first alternates, so a drift in the machine's load favours neither
    rn=0 pn=0
    if ((r % 2)); then
        read -r ra pa < <(run 12460)
        read -r rb pb < <(run 12461)
        if ((NULL)); then read -r rn pn < <(run 12462); fi
    else
        if ((NULL)); then read -r rn pn < <(run 12462); fi
        read -r rb pb < <(run 12461)
        read -r ra pa < <(run 12460)
    fi
    RA+=("$ra") RB+=("$rb") PA+=("$pa") PB+=("$pb") RN+=("$rn") PN+=("$pn")
    line="round $r: A $ra req/s (p99 $pa ms), B $rb req/s (p99 $pb ms)"
    ((NULL)) && line+=", null $rn req/s (p99 $pn ms): A/null $(ratio "$ra" "$rn"), B/null $(ratio "$rb" "$rn")"
    echo "$line"
done
ma=$(median "${RA[@]}") mb=$(median "${RB[@]}")
echo "median ($MIX, $CONN connections, $ROUNDS rounds): A $ma req/s (p99 $(median "${PA[@]}") ms)," \
     "B $mb req/s (p99 $(median "${PB[@]}") ms), B/A $(ratio "$mb" "$ma")"
if ((NULL)); then
    mn=$(median "${RN[@]}")
    echo "null server: $mn req/s (p99 $(median "${PN[@]}") ms); A/null $(ratio "$ma" "$mn"), B/null $(ratio "$mb" "$mn")"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
