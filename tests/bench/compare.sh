#!/usr/bin/env bash
# Two relay-policyd binaries against each other (a refactor's "no regression" check, issue 14): both on one
# private MariaDB with the same rules, driven by policy-bench in interleaved rounds (A B, B A, A B ...), so
# machine noise hits both alike. Prints one line per round and the medians with the ratio B / A.
#
#   tests/bench/compare.sh BUILD_DIR BINARY_A [BINARY_B]   (on demand; B defaults to BUILD_DIR's)
# Each figure: requests/s, p99 and the server's CPU time per request (on a busy machine, the one to trust).
# Keep a copy of the old binary before rebuilding: cp build/relay-policyd /tmp/relay-policyd.before
# Knobs: BENCH_ROUNDS=5, BENCH_SECONDS=5, BENCH_CONNECTIONS=50, BENCH_ACCOUNTS=1000, BENCH_MIX=rcpt-only;
# BENCH_NULL=1 adds policy-bench's null server to every round (A B N, then N B A, ...) and prints A and B
# as a share of it (the issue 16 target is a ratio to the null server measured in the same run).
# BENCH_CONFIG_A / BENCH_CONFIG_B: lines appended to A's / B's configuration (after its [policyd] section;
# a line "[general]" may start another), e.g. the same binary twice with BENCH_CONFIG_B='threads = 1'.
# BENCH_PIN=1: the servers on CPU 1, policy-bench on CPU 0 (taskset), so the scheduler's placement does not
# change from round to round (on 2 cores, unpinned rounds are bimodal). Needs at least 2 CPUs.
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
bench_policyd a "$A" 12460 "${BENCH_CONFIG_A:-}" && bench_policyd b "$B" 12461 "${BENCH_CONFIG_B:-}" || exit 1
if ((NULL)); then
    $SERVER_CPU "$BENCH" --null-server inet:127.0.0.1:12462 >"$WORK/null.log" 2>&1 &
    PIDS+=($!)
fi
sleep 2
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
# CPU time (user + system, all threads) of a process in clock ticks
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# run PORT PID: "requests/s p99_ms server_cpu_us_per_request". CPU per request hardly depends on what else
# the machine runs, unlike requests/s: the figure to trust on a busy machine. (The warm-up second is in
# the CPU time; its requests are counted at the measured rate.)
run() {
    local t0 rps p99
    t0=$(ticks "$2")
    read -r rps p99 < <(bench_rcpt "$1" "$MIX")
    echo "$rps $p99 $(python3 -c "print(f'{($(ticks "$2") - $t0) / $HZ * 1e6 / max(1, $rps * ($SECONDS_RUN + 1)):.1f}')")"
}
ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }
declare -a RA RB RN PA PB PN CA CB CN
for ((r = 1; r <= ROUNDS; r++)); do
    # ABBA: the binary that runs first alternates, so a drift in the machine's load favours neither
    rn=0 pn=0
    if ((r % 2)); then
        read -r ra pa ca < <(run 12460 "${PIDS[0]}")
        read -r rb pb cb < <(run 12461 "${PIDS[1]}")
        if ((NULL)); then read -r rn pn cn < <(run 12462 "${PIDS[2]}"); fi
    else
        if ((NULL)); then read -r rn pn cn < <(run 12462 "${PIDS[2]}"); fi
        read -r rb pb cb < <(run 12461 "${PIDS[1]}")
        read -r ra pa ca < <(run 12460 "${PIDS[0]}")
    fi
    RA+=("$ra") RB+=("$rb") PA+=("$pa") PB+=("$pb") RN+=("$rn") PN+=("$pn") CA+=("$ca") CB+=("$cb") CN+=("${cn:-0}")
    line="round $r: A $ra req/s (p99 $pa ms, $ca µs CPU/req), B $rb req/s (p99 $pb ms, $cb µs)"
    ((NULL)) && line+=", null $rn req/s (p99 $pn ms, $cn µs): A/null $(ratio "$ra" "$rn"), B/null $(ratio "$rb" "$rn")"
    echo "$line"
done
ma=$(median "${RA[@]}") mb=$(median "${RB[@]}")
echo "median ($MIX, $CONN connections, $ROUNDS rounds): A $ma req/s (p99 $(median "${PA[@]}") ms," \
     "$(median "${CA[@]}") µs CPU/req), B $mb req/s (p99 $(median "${PB[@]}") ms, $(median "${CB[@]}") µs CPU/req)," \
     "B/A $(ratio "$mb" "$ma")"
if ((NULL)); then
    mn=$(median "${RN[@]}")
    echo "null server: $mn req/s (p99 $(median "${PN[@]}") ms, $(median "${CN[@]}") µs CPU/req);" \
         "A/null $(ratio "$ma" "$mn"), B/null $(ratio "$mb" "$mn")"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
