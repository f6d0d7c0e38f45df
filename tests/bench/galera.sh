#!/usr/bin/env bash
# Three relay-policyd on a 3-node Galera cluster (daemon N on node N: writers on every node, so charges of
# one account really conflict between nodes) against one relay-policyd on one plain MariaDB, in one run on
# one machine (docs/performance.md, "Galera: three daemons on three nodes"). policy-bench --mix
# realistic, 1000 accounts (policy-bench --gen-sql), each at most 100 messages per hour.
#
#   tests/bench/galera.sh BUILD_DIR [SECONDS] [CONNECTIONS]      (root; defaults 10 s, 30 per daemon)
#
# Prints per set-up: requests/s (the three summed), END-OF-MESSAGE p99, temporary failures (DEFER_IF_PERMIT
# answers that are not a rate-limit refusal), and the certification conflicts the cluster counted.
# Ports 127.0.0.1:12460 (plain), 12461-12463 (cluster). Everything is stopped by PID at the end.
set -u
BUILD=$(cd "${1:?usage: galera.sh BUILD_DIR [SECONDS] [CONNECTIONS]}" && pwd)
SECONDS_RUN=${2:-10}
CONN=${3:-30}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "$BUILD/bench-galera.XXXXXX") || exit 1
BENCH=$BUILD/policy-bench
# shellcheck source=../integration/ratelimit/lib.sh
. "$SRC/tests/integration/ratelimit/lib.sh"
# shellcheck source=../lib/galera.sh
. "$SRC/tests/lib/galera.sh"
galera_available || { echo "needs root, galera-4, rsync"; exit 77; }
PLAIN_PID=
cleanup() {
    rl_stop_all
    galera_stop
    [ -n "$PLAIN_PID" ] && MARIADB_PID=$PLAIN_PID mariadb_stop
    rm -rf "$WORK"
}
trap cleanup EXIT

FIXTURE="INSERT INTO rate_limits (scope, meter, amount, window_seconds, kind, action)
    VALUES ('global', 'messages', 100, 3600, 'each_account', 'defer');"
mariadb_start "$WORK/plain" && mariadb_apply_schema relay_authority &&
    mariadb_create_app_user relay_authority "$RL_DB_USER" "$RL_DB_PASSWORD" || exit 1
PLAIN_PID=$MARIADB_PID PLAIN_SOCKET=$MARIADB_SOCKET
{ "$BENCH" --gen-sql 1000; echo "$FIXTURE"; } | mariadb_sql relay_authority || exit 1
galera_start "$WORK" && galera_use 1 && mariadb_apply_schema relay_authority &&
    galera_create_app_user relay_authority "$RL_DB_USER" "$RL_DB_PASSWORD" || exit 1
{ "$BENCH" --gen-sql 1000; echo "$FIXTURE"; } | galera_sql 1 relay_authority || exit 1

MARIADB_SOCKET=$PLAIN_SOCKET rl_write_config "$WORK/p.conf" bench-plain 12460 $'[abuse]\nenabled = no'
rl_start_policyd "$WORK/p.conf" "$WORK/p.log" || exit 1
for n in 1 2 3; do
    MARIADB_SOCKET=$(galera_socket "$n") rl_write_config "$WORK/g$n.conf" "bench-g$n" $((12460 + n)) \
        $'[abuse]\nenabled = no'
    rl_start_policyd "$WORK/g$n.conf" "$WORK/g$n.log" || exit 1
done

conflicts() {
    local n t=0
    for n in 1 2 3; do
        t=$((t + $(galera_status "$n" wsrep_local_cert_failures) + $(galera_status "$n" wsrep_local_bf_aborts)))
    done
    echo "$t"
}
bench() {  # PORT OUT
    timeout $((SECONDS_RUN + 60)) "$BENCH" --target "inet:127.0.0.1:$1" --mix realistic --accounts 1000 \
        --connections "$CONN" --duration "$SECONDS_RUN" --warmup 1 --json >"$2"
}
summary() {  # NAME FILES...: summed req/s, the worst END-OF-MESSAGE p99, tempfails
    python3 - "$@" <<'PY'
import json, sys
name, files = sys.argv[1], sys.argv[2:]
rs = [json.load(open(f)) for f in files]
rps = sum(r["requests_per_s"] for r in rs)
p99 = max(r["latency_us"]["by_state"].get("END-OF-MESSAGE", {"p99": 0})["p99"] for r in rs) / 1000
acts = {}
for r in rs:
    for k, v in r["actions"].items(): acts[k] = acts.get(k, 0) + v
temp = sum(v for k, v in acts.items() if "4.3.0" in k or ("DEFER" in k and "4.7.1" not in k))
limited = sum(r["messages"]["limited"] for r in rs)
print(f"{name:<22} req/s={rps:8.0f} eom_p99_ms={p99:6.1f} tempfail={temp} limited={limited} "
      f"errors={sum(r['errors']['total'] for r in rs)}")
PY
}

echo "# $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ${SECONDS_RUN} s per run, $CONN connections per daemon"
bench 12460 "$WORK/p.json"
summary "one daemon, plain" "$WORK/p.json"
before=$(conflicts)
clients=()
for n in 1 2 3; do
    bench $((12460 + n)) "$WORK/g$n.json" &
    clients+=($!)
done
wait "${clients[@]}"
summary "three daemons, Galera" "$WORK"/g[123].json
echo "certification conflicts in the cluster during the run: $(($(conflicts) - before))"
grep -h "still conflicting" "$WORK"/g[123].log | head -3
