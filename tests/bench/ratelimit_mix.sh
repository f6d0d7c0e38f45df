#!/usr/bin/env bash
# The realistic mix (RCPT + END-OF-MESSAGE, every accepted message charged in MariaDB) against the null
# server, and two relay-policyd binaries side by side (e.g. before and after a change), interleaved in one
# run on one machine (docs/performance.md, "Rate limits"; the same set-up as tests/bench/run.sh's
# throughput part: policy-bench --gen-sql accounts, each SASL user at most 100 messages per hour).
#
#   tests/bench/ratelimit_mix.sh BUILD_DIR [OTHER_POLICYD] [ROUNDS] [SECONDS] [TUNINGS] [LOAD]
#
# BUILD_DIR holds relay-policyd ("new") and policy-bench; OTHER_POLICYD ("old", optional) another
# relay-policyd binary. TUNINGS: "WORKERS/POOL_SIZE[/LEASE_SIZE] ..." (default "4/4 16/16"; "-/-" = the
# binary's defaults; LEASE_SIZE sets [rate_limits] lease_size). LOAD: "realistic" (default: policy-bench --mix realistic, 1000 accounts, 50 connections) or
# "one" (every message from ONE account, which has its own limit of 10^9 an hour, over 20 connections:
# each END-OF-MESSAGE waits for the previous one's row lock, like the Postfix end-to-end run). Per run: requests/s and its ratio to the null server's, the CPU of relay-policyd and
# MariaDB, and per charged message MariaDB's prepared-statement round trips, commits and fsyncs.
# BENCH_PIN=1: the servers (null server, relay-policyd and MariaDB) on CPU 1 and policy-bench on CPU 0
# (taskset), as in compare.sh: unpinned, the null server's rounds are bimodal on 2 cores (78,855-125,545
# requests/s in one run), and so is every ratio to it. Pinned, relay-policyd shares its CPU with MariaDB
# while the null server has it alone.
# Ports 127.0.0.1:12330-12339 (null server 12330, relay-policyd from 12331). Everything started is
# stopped by PID on exit.
set -u

BUILD=$(cd "${1:?usage: ratelimit_mix.sh BUILD_DIR [OTHER_POLICYD] [ROUNDS] [SECONDS] [TUNINGS]}" && pwd)
OTHER=${2:-}
ROUNDS=${3:-3}
SECONDS_PER_RUN=${4:-6}
TUNINGS=${5:-4/4 16/16}
LOAD=${6:-realistic}
CLIENT_CPU=()
[ "${BENCH_PIN:-0}" = 1 ] && CLIENT_CPU=(taskset -c 0)
# pin PID: all of PID's threads to CPU 1 (BENCH_PIN=1)
pin() { [ "${BENCH_PIN:-0}" = 1 ] && taskset -a -p -c 1 "$1" >/dev/null; return 0; }
ACCOUNTS=1000
CONNECTIONS=50
LOAD_ARGS=(--mix realistic)
if [ "$LOAD" = one ]; then
    CONNECTIONS=20
    LOAD_ARGS=(--mix stream --account 999)
fi
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "$BUILD/mix-bench.XXXXXX") || exit 1
BENCH=$BUILD/policy-bench
# shellcheck source=../integration/ratelimit/lib.sh
. "$SRC/tests/integration/ratelimit/lib.sh"
NULL_PID=

cleanup() {
    stop_daemons
    [ -n "$NULL_PID" ] && stop_pid "$NULL_PID"
    mariadb_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mariadb_available || { echo "MariaDB is not installed"; exit 77; }
[ -x "$RL_BIN" ] && [ -x "$BENCH" ] || { echo "$RL_BIN or $BENCH not built"; exit 77; }
mariadb_start "$WORK/db" && mariadb_apply_schema relay_authority &&
    mariadb_create_app_user relay_authority "$RL_DB_USER" "$RL_DB_PASSWORD" || exit 1
"$BENCH" --gen-sql "$ACCOUNTS" | mariadb_sql relay_authority || exit 1
mariadb_sql relay_authority <<'EOF' || exit 1
INSERT INTO rate_limits (scope, meter, amount, window_seconds, kind, action, note)
    VALUES ('global', 'messages', 100, 3600, 'each_account', 'defer', 'bench: each SASL user at most 100 messages per hour');
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, kind, action, note)
    VALUES ('authority', 1000999, 'messages', 1000000000, 3600, 'each_account', 'defer', 'bench: the one-account load');
EOF

# Seconds of CPU (clock ticks) of one process and its threads.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
status() {
    mariadb_sql -N -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute',
        'Com_stmt_close', 'Com_commit', 'Innodb_data_fsyncs')" | awk '{ printf "%s=%s ", $1, $2 }'
}
value() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
reset_counters() {
    mariadb_sql relay_authority -e "DELETE FROM rate_counters; DELETE FROM abuse_rate_refusals;
        DELETE FROM abuse_client_networks; UPDATE smtp_authorities SET suspended_until = NULL, suspend_reason = NULL;"
}

"$BENCH" --null-server inet:127.0.0.1:12330 --threads 2 >"$WORK/null.log" 2>&1 &
NULL_PID=$!
pin "$NULL_PID"
pin "$MARIADB_PID"

declare -a NAMES PORTS PIDS
port=12331
for binary in new old; do
    [ "$binary" = old ] && [ -z "$OTHER" ] && continue
    for tuning in $TUNINGS; do
        workers=${tuning%%/*} pool=${tuning#*/} lease=
        case $pool in */*) lease=${pool#*/} pool=${pool%%/*} ;; esac
        name="$binary-$workers/$pool${lease:+/$lease}"
        extra="" dbextra=""
        [ "$workers" != - ] && extra="workers = $workers"
        [ -n "$lease" ] && extra="$extra"$'\n[rate_limits]\nlease_size = '"$lease"
        [ "$pool" != - ] && dbextra="pool_size = $pool"
        RL_DB_EXTRA=$dbextra rl_write_config "$WORK/$port.conf" "bench$port" "$port" "$extra"
        if [ "$binary" = old ]; then RL_BIN=$OTHER; else RL_BIN=$BUILD/relay-policyd; fi
        rl_start_policyd "$WORK/$port.conf" "$WORK/$port.log" || { tail "$WORK/$port.log"; exit 1; }
        NAMES+=("$name") PORTS+=("$port") PIDS+=("$RL_PID")
        pin "$RL_PID"
        port=$((port + 1))
    done
done

run() {  # NAME PORT PID: one measured run, one line
    local name=$1 port=$2 pid=$3 out s0 s1 c0 c1 d0 d1
    reset_counters
    s0=$(status) c0=$(cpu_ticks "$pid") d0=$(cpu_ticks "$MARIADB_PID")
    out=$(timeout $((SECONDS_PER_RUN + 60)) "${CLIENT_CPU[@]}" "$BENCH" --target "inet:127.0.0.1:$port" "${LOAD_ARGS[@]}" \
        --connections "$CONNECTIONS" --accounts "$ACCOUNTS" --duration $((SECONDS_PER_RUN + 1)) --warmup 1 --json)
    s1=$(status) c1=$(cpu_ticks "$pid") d1=$(cpu_ticks "$MARIADB_PID")
    python3 - "$name" "$out" "$s0" "$s1" "$((c1 - c0))" "$((d1 - d0))" "${NULL_RPS:-0}" "$(getconf CLK_TCK)" <<'PY'
import json, sys
name, out, s0, s1, cpu, dbcpu, null_rps, tck = sys.argv[1:]
r = json.loads(out)
def parse(s): return dict(kv.split("=") for kv in s.split())
a, b = parse(s0), parse(s1)
d = {k: int(b[k]) - int(a[k]) for k in a}
rps, null_rps = r["requests_per_s"], float(null_rps or 0)
eom = r["latency_us"]["by_state"].get("END-OF-MESSAGE", {"count": 0, "p99": 0})
# the statement and CPU counts cover the warm-up second too: per END-OF-MESSAGE over the whole run
whole = max(1.0, eom["count"] * (r["measured_s"] + r["warmup_s"]) / max(r["measured_s"], 0.001))
ratio = f"{rps / null_rps:.3f}" if null_rps else "-"
print(f"{name:<14} req/s={rps:8.0f} x_null={ratio:<6} msg/s={r['messages_per_s']:6.0f} eom_p99_ms={eom['p99'] / 1000:6.1f} "
      f"limited={r['messages']['limited']} errors={r['errors']['total']} | per eom: "
      f"cpu_ms policyd={int(cpu) * 1000 / int(tck) / whole:.3f} mariadb={int(dbcpu) * 1000 / int(tck) / whole:.3f} "
      f"prepare={d['Com_stmt_prepare'] / whole:.2f} execute={d['Com_stmt_execute'] / whole:.2f} "
      f"close={d['Com_stmt_close'] / whole:.2f} commit={d['Com_commit'] / whole:.2f} fsync={d['Innodb_data_fsyncs'] / whole:.2f}")
PY
}

echo "# load $LOAD, $(nproc) CPUs, pinned ${BENCH_PIN:-0}, load average $(cut -d' ' -f1-3 /proc/loadavg), $ACCOUNTS accounts, $CONNECTIONS connections, ${SECONDS_PER_RUN}s per run, $ROUNDS rounds"
echo "# eom = END-OF-MESSAGE requests answered (the statement counts are per eom, over the whole run incl. warm-up)"
# warm-up: connections, counter rows, prepared statements, the buffer pool
for i in "${!PORTS[@]}"; do
    timeout 60 "$BENCH" --target "inet:127.0.0.1:${PORTS[$i]}" "${LOAD_ARGS[@]}" --connections "$CONNECTIONS" \
        --accounts "$ACCOUNTS" --duration 2 --json >/dev/null 2>&1
done
for ((round = 1; round <= ROUNDS; round++)); do
    out=$(timeout $((SECONDS_PER_RUN + 60)) "${CLIENT_CPU[@]}" "$BENCH" --target inet:127.0.0.1:12330 "${LOAD_ARGS[@]}" \
        --connections "$CONNECTIONS" --accounts "$ACCOUNTS" --duration $((SECONDS_PER_RUN + 1)) --warmup 1 --json)
    NULL_RPS=$(rl_json "$out" requests_per_s)
    echo "round $round: null req/s=$NULL_RPS"
    for i in "${!PORTS[@]}"; do run "${NAMES[$i]}" "${PORTS[$i]}" "${PIDS[$i]}"; done
done
for i in "${!PORTS[@]}"; do
    echo "# ${NAMES[$i]}: resident memory $(awk '/VmRSS/ { print $2, $3 }' "/proc/${PIDS[$i]}/status"), $(ls "/proc/${PIDS[$i]}/task" | wc -l) threads"
done
for i in "${!PORTS[@]}"; do
    grep -E "error|dropped|not written|cannot" "$WORK/${PORTS[$i]}.log" | head -3 | sed "s/^/# ${NAMES[$i]//\//\\/}: /"
done
