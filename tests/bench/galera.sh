#!/usr/bin/env bash
# Three relay-policyd on a 3-node Galera cluster, all on one shared host list (nodes 1, 2, 3: one writer),
# against one relay-policyd on one plain MariaDB, interleaved in one run on one machine (docs/performance.md,
# "Three daemons on the cluster against one on plain MariaDB"). Load: policy-bench --mix realistic, 1000
# accounts (policy-bench --gen-sql), each at most 100 messages per hour, plus a platform-wide shared pool;
# the same number of connections in total for both set-ups (CONNECTIONS for the one daemon, a third of it
# for each of the three), rate counters emptied before every run.
#
#   tests/bench/galera.sh BUILD_DIR [ROUNDS] [SECONDS] [CONNECTIONS]   (root; defaults 2, 8 s, 60)
#
# Prints per run one line (tests/bench/galera_common.sh gb_report): requests/s (the three summed), p99,
# temporary failures (451 4.3.x) and the certification conflicts the cluster counted; then how busy the
# machine's CPUs were and how many cores the database server(s) used. Both databases
# listen over TCP on 127.0.0.1 (plain 16300, cluster 16301-16303); daemons on 12460 (plain), 12461-12463.
# Everything is stopped by PID at the end.
set -u
BUILD=$(cd "${1:?usage: galera.sh BUILD_DIR [ROUNDS] [SECONDS] [CONNECTIONS]}" && pwd)
ROUNDS=${2:-2}
GB_SECONDS=${3:-8}
CONN=${4:-60}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=galera_common.sh
. "$SRC/tests/bench/galera_common.sh"
gb_init bench-galera

gb_start_plain 16300
PLAIN_SOCKET=$MARIADB_SOCKET
gb_start_cluster
plain_sql() { MARIADB_SOCKET=$PLAIN_SOCKET mariadb_sql relay_authority "$@"; }

gb_write_config "$WORK/plain.conf" bench-plain 12460 16300
gb_start_policyd "$WORK/plain.conf"
for n in 1 2 3; do
    gb_write_config "$WORK/g$n.conf" "bench-g$n" $((12460 + n)) 16301 16302 16303
    gb_start_policyd "$WORK/g$n.conf"
done

echo "# $(date -u '+%F %T UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
     "$ROUNDS rounds of ${GB_SECONDS} s, $CONN connections in total per set-up"
for ((round = 1; round <= ROUNDS; round++)); do
    gb_reset_counters plain_sql
    gb_cpu_begin "$GB_PLAIN_PID"
    gb_bench 12460 "$CONN" "$round" "$WORK/p.json"
    gb_report plain 0 "$WORK/p.json"
    gb_cpu_end
    gb_reset_counters galera_sql 1 relay_authority
    before=$(galera_conflicts)
    gb_cpu_begin "$(galera_pid 1)" "$(galera_pid 2)" "$(galera_pid 3)"
    pids=()
    for n in 1 2 3; do
        gb_bench $((12460 + n)) $((CONN / 3)) $((round * 10 + n)) "$WORK/g$n.json" &
        pids+=($!)
    done
    wait "${pids[@]}"
    gb_report galera "$(($(galera_conflicts) - before))" "$WORK"/g[123].json
    gb_cpu_end
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in 1 2 3; do
    echo "# g$n: $(grep -o 'database server in use: [^ ]*' "$WORK/g$n.conf.log" | tail -n 1)," \
         "$(grep -c 'still conflicting' "$WORK/g$n.conf.log") charges failed after retries"
done
