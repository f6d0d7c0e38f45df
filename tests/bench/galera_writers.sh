#!/usr/bin/env bash
# One writer or three: three relay-policyd on a 3-node Galera cluster (tests/lib/galera.sh), either each on
# its own node ("spread": daemon N lists node N first) or all on one shared host list ("shared": nodes 1, 2,
# 3 in this order, so all write to node 1). docs/cluster.md and docs/performance.md quote its output.
#
#   tests/bench/galera_writers.sh BUILD_DIR [ROUNDS] [SECONDS]
#
# Load: three policy-bench --mix realistic at once, one per daemon (20 connections each, 1000 accounts
# from policy-bench --gen-sql, each at most 100 messages an hour, plus a platform-wide shared pool of 10^9
# messages an hour: one hot counter row every charge updates). Per run: requests/s in total, the p99 of
# END-OF-MESSAGE, the temporary failures the senders got (4.3.x answers: not the 4.7.1 rate-limit
# deferrals), and the certification failures Galera counted on the nodes (wsrep_local_cert_failures +
# wsrep_local_bf_aborts). Needs root; ports 163NN (cluster), 12455-12460 (daemons). Stops what it started.
set -u

BUILD=$(cd "${1:?usage: galera_writers.sh BUILD_DIR [ROUNDS] [SECONDS]}" && pwd)
ROUNDS=${2:-2}
SECONDS_PER_RUN=${3:-8}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "$BUILD/galera-writers.XXXXXX") || exit 1
BENCH=$BUILD/policy-bench
# shellcheck source=../integration/ratelimit/lib.sh
. "$SRC/tests/integration/ratelimit/lib.sh"
# shellcheck source=../lib/galera.sh
. "$SRC/tests/lib/galera.sh"

cleanup() {
    rl_stop_all
    galera_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

galera_available || { echo "needs root, galera-4 and rsync"; exit 77; }
[ -x "$RL_BIN" ] && [ -x "$BENCH" ] || { echo "$RL_BIN or $BENCH not built"; exit 77; }
galera_start "$WORK" && galera_use 1 && mariadb_apply_schema relay_authority &&
    galera_create_app_user relay_authority "$RL_DB_USER" "$RL_DB_PASSWORD" || exit 1
"$BENCH" --gen-sql 1000 | galera_sql 1 relay_authority || exit 1
galera_sql 1 relay_authority <<'EOF' || exit 1
INSERT INTO rate_limits (scope, meter, amount, window_seconds, kind, action, note)
    VALUES ('global', 'messages', 100, 3600, 'each_account', 'defer', 'bench: each SASL user at most 100 messages per hour');
INSERT INTO rate_limits (scope, meter, amount, window_seconds, kind, action, note)
    VALUES ('global', 'messages', 1000000000, 3600, 'shared_pool', 'defer', 'bench: a platform-wide shared pool');
EOF

# write_config FILE NODE PORT HOST_NODES...
write_config() {
    local file=$1 node=$2 port=$3 n hosts=""
    shift 3
    for n in "$@"; do hosts+="host = 127.0.0.1:$(galera_port "$n")"$'\n'; done
    cat >"$file" <<EOF
[general]
node = $node
[database]
${hosts}user = $RL_DB_USER
password = $RL_DB_PASSWORD
name = relay_authority
[cache]
poll_interval = 200ms
[policyd]
listen = inet:127.0.0.1:$port
user = root
group = root
allow_root = yes
[abuse]
enabled = no
EOF
}

conflicts() {  # certification failures and brute-force aborts, summed over the nodes
    local n total=0 v
    for n in 1 2 3; do
        for v in wsrep_local_cert_failures wsrep_local_bf_aborts; do
            total=$((total + $(galera_status "$n" "$v")))
        done
    done
    echo "$total"
}

reset_counters() { galera_sql 1 relay_authority -e "DELETE FROM rate_counters"; }

run() {  # NAME FIRST_PORT
    local name=$1 c0 c1 i pids=()
    shift
    reset_counters
    c0=$(conflicts)
    for i in 0 1 2; do
        timeout $((SECONDS_PER_RUN + 60)) "$BENCH" --target "inet:127.0.0.1:$(($1 + i))" --mix realistic \
            --connections 20 --accounts 1000 --seed $((i + 1)) --duration $((SECONDS_PER_RUN + 1)) --warmup 1 \
            --json >"$WORK/run$i.json" 2>/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}"  # not the daemons, which are children too
    c1=$(conflicts)
    python3 - "$name" "$((c1 - c0))" "$WORK"/run0.json "$WORK"/run1.json "$WORK"/run2.json <<'PY'
import json, sys
name, conflicts, files = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = [json.load(open(f)) for f in files]
rps = sum(r["requests_per_s"] for r in runs)
p99 = max(r["latency_us"]["by_state"].get("END-OF-MESSAGE", {"p99": 0})["p99"] for r in runs) / 1000
eoms = sum(r["latency_us"]["by_state"].get("END-OF-MESSAGE", {"count": 0})["count"] for r in runs)
temp = sum(n for r in runs for k, n in r["actions"].items() if " 4.3." in " " + k or k.startswith("DEFER_IF_PERMIT 4.3"))
errors = sum(r["errors"]["total"] for r in runs)
print(f"{name:<7} req/s={rps:7.0f} eom={eoms:6d} eom_p99_ms(max of 3)={p99:6.1f} tempfail_4.3.x={temp:5d} "
      f"errors={errors} galera_conflicts={conflicts}")
PY
}

for d in 0 1 2; do
    write_config "$WORK/spread$d.conf" "spread$d" $((12455 + d)) $((d + 1)) $(((d + 1) % 3 + 1)) $(((d + 2) % 3 + 1))
    rl_start_policyd "$WORK/spread$d.conf" "$WORK/spread$d.log" || { tail "$WORK/spread$d.log"; exit 1; }
    write_config "$WORK/shared$d.conf" "shared$d" $((12458 + d)) 1 2 3
    rl_start_policyd "$WORK/shared$d.conf" "$WORK/shared$d.log" || { tail "$WORK/shared$d.log"; exit 1; }
done
echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); 3 x policy-bench --mix realistic, 20 connections each, ${SECONDS_PER_RUN} s"
for ((round = 1; round <= ROUNDS; round++)); do
    run spread 12455
    run shared 12458
done
for d in 0 1 2; do
    echo "# spread$d uses $(grep -o 'database server in use: [^ ]*' "$WORK/spread$d.log" | tail -n 1 | cut -d' ' -f5)," \
         "shared$d uses $(grep -o 'database server in use: [^ ]*' "$WORK/shared$d.log" | tail -n 1 | cut -d' ' -f5)"
done
