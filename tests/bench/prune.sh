#!/bin/bash
# Does relayctl prune make relay-policyd wait? relay-policyd (defaults) with 1000 bench accounts and the
# 100/hour rule under a fixed policy-bench load (realistic mix: every accepted message charged and
# audited in MariaDB): WINDOW-second runs before, back to back while relayctl prune deletes ROWS old
# audit events, and after. Prints per run requests/s, p50/p99/p99.9/max, errors, and what the database
# did meanwhile: InnoDB row-lock waits (any wait of a daemon on prune's locks shows here), CPU seconds
# of mariadbd, buffer-pool reads from disk; then how long prune took. Figures: docs/performance.md.
#
#   tests/bench/prune.sh BUILD_DIR [ROWS=1000000] [RATE=2000] [WINDOW=30]
#   PRUNE_ARGS="--batch 500"     extra arguments for relayctl prune (default: none, the configured ones)
#   BENCH_BUFFER_POOL=512M       InnoDB buffer pool of the private MariaDB (default 64M, the test default)
#
# Private MariaDB under BUILD_DIR/prune-bench, relay-policyd on 127.0.0.1:12360; stopped by PID.
# Run it under the test lock: flock /tmp/relay-tests.lock tests/bench/prune.sh build 5000000
set -u
BUILD=$(cd "$1" && pwd); ROWS=${2:-1000000}; RATE=${3:-2000}; SECS=${4:-30}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/lib/mariadb.sh"
W=$BUILD/prune-bench; rm -rf "$W"; mkdir -p "$W"
PORT=12360; DB=relay_authority; POLICYD_PID=; PRUNE=
cleanup() {
    [ -n "$PRUNE" ] && kill "$PRUNE" 2>/dev/null
    [ -n "$POLICYD_PID" ] && kill "$POLICYD_PID" 2>/dev/null && wait "$POLICYD_PID" 2>/dev/null
    mariadb_stop
}
trap cleanup EXIT
mariadb_start "$W/db" --innodb-buffer-pool-size="${BENCH_BUFFER_POOL:-64M}" >/dev/null || exit 1
mariadb_apply_schema "$DB" >/dev/null || exit 1
mariadb_create_app_user "$DB" bench bench-db-pw || exit 1
"$BUILD/policy-bench" --gen-sql 1000 | mariadb_sql "$DB" || exit 1
mariadb_sql "$DB" -e "INSERT INTO rate_limits (scope, meter, amount, window_seconds, kind, action)
    VALUES ('global', 'messages', 100, 3600, 'each_account', 'defer')"
t0=$(date +%s)
# ROWS events 100 days and more old (one a second), in chunks of 100,000 (one INSERT ... SELECT each)
for ((done_rows = 0; done_rows < ROWS; done_rows += 100000)); do
    n=$(( ROWS - done_rows < 100000 ? ROWS - done_rows : 100000 ))
    mariadb_sql "$DB" -e "INSERT INTO relay_events (event_time, node, stage, login, client_address, verdict, reason, detail)
        SELECT NOW() - INTERVAL 100 DAY - INTERVAL ($done_rows + seq) SECOND, 'old', 'rcpt',
               CONCAT('user', seq % 1000, '@bench', seq % 100, '.example'),
               '192.0.2.1', 'reject', 'sender_not_owned', 'bench row' FROM seq_1_to_$n"
done
echo "loaded $ROWS old events in $(( $(date +%s) - t0 )) s (buffer pool ${BENCH_BUFFER_POOL:-64M})"
printf '[database]\nsocket = %s\nuser = bench\npassword = bench-db-pw\nname = %s\n[policyd]\nlisten = inet:127.0.0.1:%s\nuser = root\ngroup = root\nallow_root = true\n' \
    "$MARIADB_SOCKET" "$DB" "$PORT" >"$W/relay.conf"
"$BUILD/relay-policyd" --config "$W/relay.conf" --foreground >"$W/policyd.log" 2>&1 &
POLICYD_PID=$!
for ((i = 0; i < 60; i++)); do
    "$BUILD/policy-bench" --target inet:127.0.0.1:$PORT --mix rcpt-only --connections 1 --requests 1 --json 2>/dev/null |
        grep -q '"DUNNO":1' && break
    sleep 0.5
done
# db_state: "row_lock_waits row_lock_time_ms buffer_pool_disk_reads mariadbd_cpu_ticks"
db_state() {
    local s
    s=$(mariadb_sql -e "SELECT GROUP_CONCAT(VARIABLE_VALUE ORDER BY FIELD(VARIABLE_NAME, 'INNODB_ROW_LOCK_WAITS',
            'INNODB_ROW_LOCK_TIME', 'INNODB_BUFFER_POOL_READS') SEPARATOR ' ') FROM information_schema.GLOBAL_STATUS
            WHERE VARIABLE_NAME IN ('INNODB_ROW_LOCK_WAITS', 'INNODB_ROW_LOCK_TIME', 'INNODB_BUFFER_POOL_READS')")
    echo "$s $(awk '{print $14 + $15}' "/proc/$MARIADB_PID/stat")"
}
TICK=$(getconf CLK_TCK)
bench() { # LABEL
    local a b
    a=$(db_state)
    "$BUILD/policy-bench" --target inet:127.0.0.1:$PORT --mix realistic --connections 20 --rate "$RATE" \
        --duration "$SECS" --warmup 2 --json >"$W/$1.json" 2>"$W/$1.err"
    b=$(db_state)
    python3 - "$W/$1.json" "$1" "$a" "$b" "$TICK" <<'PY' || { echo "$1:"; cat "$W/$1.json"; }
import json, sys
r = json.load(open(sys.argv[1])); l = r['latency_us']['all']
a = [int(x) for x in sys.argv[3].split()]; b = [int(x) for x in sys.argv[4].split()]
print('%-10s req/s %6.0f  p50 %6.0f us  p99 %6.0f us  p99.9 %6.0f us  max %7.0f us  errors %-4s | '
      'lock waits %d (%d ms)  mariadbd CPU %.1f s  disk reads %d'
      % (sys.argv[2], r['requests_per_s'], l['p50'], l['p99'], l['p99_9'], l['max'], (r.get('errors') or {}).get('total', r.get('errors')),
         b[0] - a[0], b[1] - a[1], (b[3] - a[3]) / int(sys.argv[5]), b[2] - a[2]))
PY
}
mariadb_sql "$DB" -e "DELETE FROM rate_counters"
bench before-1
bench before-2
printf '[database]\nsocket = %s\nuser = bench\npassword = bench-db-pw\nname = %s\n' "$MARIADB_SOCKET" "$DB" >"$W/ctl.conf"
# shellcheck disable=SC2086
( t1=$(date +%s.%N); "$BUILD/relayctl" --config "$W/ctl.conf" prune --older-than 90d ${PRUNE_ARGS:-} >"$W/prune.out" 2>&1;
  echo "prune ${PRUNE_ARGS:-}: exit $?, $(echo "$(date +%s.%N) - $t1" | bc) s" >>"$W/prune.out" ) &
PRUNE=$!
for ((i = 1; ; i++)); do
    kill -0 "$PRUNE" 2>/dev/null || break
    bench "during-$i"
done
wait "$PRUNE"; PRUNE=
cat "$W/prune.out"
bench after-1
bench after-2
mariadb_sql "$DB" -e "SELECT COUNT(*) AS events_left FROM relay_events"
