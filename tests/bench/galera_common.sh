# shellcheck shell=bash
# Shared by the Galera benchmarks tests/bench/galera.sh and tests/bench/galera_writers.sh: a 3-node
# Galera cluster (tests/lib/galera.sh) with the schema, 1000 bench accounts (policy-bench --gen-sql) and
# the bench's rate limits, relay-policyd daemons on host lists of its nodes, policy-bench runs and the
# one-line report both print. Set BUILD and SRC, then source it:
#
#   gb_init NAME                 checks (exit 77 when root, galera-4, rsync or a binary is missing), WORK
#                                under BUILD, the EXIT trap stopping everything this file started
#   gb_load_fixture CLIENT...    the bench accounts and rate limits into the database CLIENT... opens
#                                (e.g. gb_load_fixture galera_sql 1 relay_authority)
#   gb_start_cluster             galera_start, schema, app user and fixture on node 1 (replicated)
#   gb_start_plain PORT          a plain MariaDB (tests/lib/mariadb.sh) also listening on 127.0.0.1:PORT,
#                                with the schema, app user and fixture
#   gb_write_config FILE NODE LISTEN_PORT DB_PORT...
#                                a relay-policyd config with one `host = 127.0.0.1:DB_PORT` per DB_PORT
#   gb_start_policyd CONF        start it (log CONF.log), exit on failure
#   gb_reset_counters CLIENT...  empty rate_counters and rate_charge_keys (every round starts alike)
#   gb_bench PORT CONNECTIONS SEED OUT
#                                policy-bench --mix realistic --json for GB_SECONDS (+1 s warm-up) into OUT
#   gb_report NAME CONFLICTS JSON...
#                                one line: requests/s summed, p99 of all requests and of END-OF-MESSAGE
#                                (each the worst of the runs), END-OF-MESSAGE answers, temporary failures (451 4.3.x: not the
#                                450 4.7.1 rate-limit deferrals), rate-limited messages, errors, conflicts
#   gb_cpu_begin PID...          remember the machine's CPU ticks and those of the PIDs (database servers)
#   gb_cpu_end                   print how busy both CPUs were since gb_cpu_begin (other jobs on the
#                                machine included) and how many cores the PIDs used on average
#
# The daemons run with [abuse] enabled = no (no abuse observations: only the charges, the audit trail and
# the last-use stamps write) and the default [rate_limits] retry_time (400 ms).

# shellcheck source=../integration/ratelimit/lib.sh
. "$SRC/tests/integration/ratelimit/lib.sh"
# shellcheck source=../lib/galera.sh
. "$SRC/tests/lib/galera.sh"

GB_BENCH=$BUILD/policy-bench
GB_SECONDS=${GB_SECONDS:-8}
GB_PLAIN_PID=
GB_FIXTURE="INSERT INTO rate_limits (scope, meter, amount, window_seconds, kind, action, note)
    VALUES ('global', 'messages', 100, 3600, 'each_account', 'defer', 'bench: each SASL user at most 100 messages per hour');
INSERT INTO rate_limits (scope, meter, amount, window_seconds, kind, action, note)
    VALUES ('global', 'messages', 1000000000, 3600, 'shared_pool', 'defer', 'bench: a platform-wide shared pool');"

_gb_cleanup() {
    stop_daemons
    galera_stop
    if [ -n "$GB_PLAIN_PID" ]; then MARIADB_PID=$GB_PLAIN_PID mariadb_stop; fi
    rm -rf "$WORK"
}

gb_init() {
    galera_available || { echo "needs root, mariadbd with galera-4, rsync"; exit 77; }
    [ -x "$RL_BIN" ] && [ -x "$GB_BENCH" ] || { echo "$RL_BIN or $GB_BENCH not built"; exit 77; }
    WORK=$(mktemp -d "$BUILD/$1.XXXXXX") || exit 1
    chmod 0755 "$WORK"
    trap _gb_cleanup EXIT
    trap 'exit 130' INT TERM
}

gb_load_fixture() {
    { "$GB_BENCH" --gen-sql 1000; echo "$GB_FIXTURE"; } | "$@"
}

gb_start_cluster() {
    galera_start "$WORK" && galera_use 1 && mariadb_apply_schema relay_authority &&
        galera_create_app_user relay_authority "$RL_DB_USER" "$RL_DB_PASSWORD" &&
        gb_load_fixture galera_sql 1 relay_authority || exit 1
}

gb_start_plain() {
    local u p
    mariadb_start "$WORK/plain" --skip-networking=0 "--port=$1" --bind-address=127.0.0.1 || exit 1
    GB_PLAIN_PID=$MARIADB_PID
    u=$(_mariadb_quote "$RL_DB_USER")
    p=$(_mariadb_quote "$RL_DB_PASSWORD")
    mariadb_apply_schema relay_authority &&
        mariadb_sql -e "CREATE OR REPLACE USER $u@'127.0.0.1' IDENTIFIED BY $p;
            GRANT SELECT, INSERT, UPDATE, DELETE ON relay_authority.* TO $u@'127.0.0.1'" &&
        gb_load_fixture mariadb_sql relay_authority || exit 1
}

gb_write_config() {
    local file=$1 node=$2 port=$3
    shift 3
    relay_write_config "$file" "[general]" "node = $node" \
        "$(relay_hosts_section "$RL_DB_USER" "$RL_DB_PASSWORD" "$@")" \
        "[cache]" "poll_interval = 200ms" \
        "$(relay_policyd_section "$port")" \
        "[abuse]" "enabled = no"
}

gb_start_policyd() {
    rl_start_policyd "$1" "$1.log" || { tail "$1.log"; exit 1; }
}

gb_reset_counters() {
    "$@" -e "DELETE FROM rate_counters; DELETE FROM rate_charge_keys"
}

gb_bench() {
    timeout $((GB_SECONDS + 60)) "$GB_BENCH" --target "inet:127.0.0.1:$1" --mix realistic --accounts 1000 \
        --connections "$2" --seed "$3" --duration $((GB_SECONDS + 1)) --warmup 1 --json >"$4" 2>/dev/null
}

gb_report() {
    python3 - "$@" <<'PY'
import json, re, sys
name, conflicts, files = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = [json.load(open(f)) for f in files]
eom = [r["latency_us"]["by_state"].get("END-OF-MESSAGE", {"count": 0, "p99": 0}) for r in runs]
rps = sum(r["requests_per_s"] for r in runs)
p99 = max(r["latency_us"]["all"]["p99"] for r in runs) / 1000
eom_p99 = max(e["p99"] for e in eom) / 1000
temp = sum(n for r in runs for k, n in r["actions"].items() if re.match(r"4\d\d 4\.3\.", k))
print(f"{name:<8} req/s={rps:6.0f} p99_ms={p99:5.1f} eom_p99_ms={eom_p99:6.1f} eom={sum(e['count'] for e in eom):6d} "
      f"tempfail_4.3.x={temp} limited={sum(r['messages']['limited'] for r in runs)} "
      f"errors={sum(r['errors']['total'] for r in runs)} galera_conflicts={conflicts}")
PY
}

_gb_ticks() {  # PID...: "BUSY ALL PIDS" (machine busy ticks, all ticks, the PIDs' user+system ticks)
    local pid stat fields pids=0
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        read -r -a fields <<<"${stat##*) }"
        pids=$((pids + fields[11] + fields[12]))  # utime, stime: fields 14, 15 of stat
    done
    awk -v pids="$pids" '/^cpu / { all = $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; print all - $5 - $6, all, pids; exit }' /proc/stat
}

gb_cpu_begin() {
    GB_CPU_PIDS=("$@")
    GB_CPU_T0=$(_gb_ticks "$@")
    GB_CPU_S0=$(date +%s.%N)
}

gb_cpu_end() {
    python3 - "$GB_CPU_T0" "$(_gb_ticks "${GB_CPU_PIDS[@]}")" "$GB_CPU_S0" "$(date +%s.%N)" "$(getconf CLK_TCK)" <<'PY'
import sys
b0, a0, p0 = map(int, sys.argv[1].split()); b1, a1, p1 = map(int, sys.argv[2].split())
seconds, hz = float(sys.argv[4]) - float(sys.argv[3]), int(sys.argv[5])
print(f"#   CPUs busy {100 * (b1 - b0) / max(a1 - a0, 1):.0f} % (every job on the machine), database servers "
      f"{(p1 - p0) / hz / seconds:.2f} cores")
PY
}
