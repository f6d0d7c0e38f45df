#!/usr/bin/env bash
# One writer or three: three relay-policyd on a 3-node Galera cluster (tests/lib/galera.sh), either each on
# its own node ("spread": daemon N lists node N first, then the others) or all on one shared host list
# ("shared": nodes 1, 2, 3 in this order, so all write to node 1), interleaved in one run.
# docs/cluster.md ("One writer") and docs/performance.md ("One writer against three") quote its output.
#
#   tests/bench/galera_writers.sh BUILD_DIR [ROUNDS] [SECONDS]     (root; defaults 2, 8 s)
#
# Load: three policy-bench --mix realistic at once, one per daemon, 20 connections each, 1000 accounts,
# each at most 100 messages an hour, plus a platform-wide shared pool (one hot counter row every charge
# updates); rate counters emptied before every run. Per run one line (galera_common.sh gb_report):
# requests/s in total, p99, temporary failures (451 4.3.x, not the 450 4.7.1 rate-limit deferrals), and
# the certification failures Galera counted (wsrep_local_cert_failures + wsrep_local_bf_aborts).
# Ports 163NN (cluster), 12455-12460 (daemons). Stops what it started, by PID.
set -u
BUILD=$(cd "${1:?usage: galera_writers.sh BUILD_DIR [ROUNDS] [SECONDS]}" && pwd)
ROUNDS=${2:-2}
GB_SECONDS=${3:-8}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=galera_common.sh
. "$SRC/tests/bench/galera_common.sh"
gb_init galera-writers
gb_start_cluster

for d in 0 1 2; do
    gb_write_config "$WORK/spread$d.conf" "spread$d" $((12455 + d)) \
        $((16301 + d)) $((16301 + (d + 1) % 3)) $((16301 + (d + 2) % 3))
    gb_start_policyd "$WORK/spread$d.conf"
    gb_write_config "$WORK/shared$d.conf" "shared$d" $((12458 + d)) 16301 16302 16303
    gb_start_policyd "$WORK/shared$d.conf"
done

run() {  # NAME FIRST_PORT ROUND
    local c0 i pids=()
    gb_reset_counters galera_sql 1 relay_authority
    c0=$(galera_conflicts)
    gb_cpu_begin "$(galera_pid 1)" "$(galera_pid 2)" "$(galera_pid 3)"
    for i in 0 1 2; do
        gb_bench $(($2 + i)) 20 $(($3 * 10 + i)) "$WORK/run$i.json" &
        pids+=($!)
    done
    wait "${pids[@]}"  # not the daemons, which are children too
    gb_report "$1" "$(($(galera_conflicts) - c0))" "$WORK"/run[012].json
    gb_cpu_end
}

echo "# $(date -u '+%F %T UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg);" \
     "3 x policy-bench --mix realistic, 20 connections each, $ROUNDS rounds of ${GB_SECONDS} s"
for ((round = 1; round <= ROUNDS; round++)); do
    run spread 12455 "$round"
    run shared 12458 "$round"
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for d in 0 1 2; do
    echo "# spread$d: $(grep -o 'database server in use: [^ ]*' "$WORK/spread$d.conf.log" | tail -n 1)," \
         "$(grep -c 'still conflicting' "$WORK/spread$d.conf.log") charges failed after retries;" \
         "shared$d: $(grep -o 'database server in use: [^ ]*' "$WORK/shared$d.conf.log" | tail -n 1)," \
         "$(grep -c 'still conflicting' "$WORK/shared$d.conf.log") charges failed after retries"
done
