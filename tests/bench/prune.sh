#!/bin/bash
# Does relayctl prune make relay-policyd wait? relay-policyd (defaults) with 1000 bench accounts and the
# 100/hour rule under a fixed policy-bench load (realistic mix: every accepted message charged and
# audited in MariaDB), first alone, then while relayctl prune deletes ROWS old audit events, then alone
# again. Prints requests/s, p50/p99/max per run and how long prune took.
#
#   tests/bench/prune.sh BUILD_DIR [ROWS=1000000] [RATE=2000] [SECONDS=30]
#
# Private MariaDB under BUILD_DIR/prune-bench, relay-policyd on 127.0.0.1:12360; stopped by PID.
set -u
BUILD=$(cd "$1" && pwd); ROWS=${2:-1000000}; RATE=${3:-2000}; SECS=${4:-30}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/lib/mariadb.sh"
W=$BUILD/prune-bench; rm -rf "$W"; mkdir -p "$W"
PORT=12360; DB=relay_authority; POLICYD_PID=
cleanup() { [ -n "$POLICYD_PID" ] && kill "$POLICYD_PID" 2>/dev/null && wait "$POLICYD_PID" 2>/dev/null; mariadb_stop; }
trap cleanup EXIT
mariadb_start "$W/db" >/dev/null || exit 1
mariadb_apply_schema "$DB" >/dev/null || exit 1
mariadb_create_app_user "$DB" bench bench-db-pw || exit 1
"$BUILD/policy-bench" --gen-sql 1000 | mariadb_sql "$DB" || exit 1
mariadb_sql "$DB" -e "INSERT INTO rate_limits (scope, meter, amount, window_seconds, kind, action)
    VALUES ('global', 'messages', 100, 3600, 'each_account', 'defer')"
t0=$(date +%s)
# ROWS events 100 to 200 days old, in chunks of 100,000 (one INSERT ... SELECT each)
for ((done_rows = 0; done_rows < ROWS; done_rows += 100000)); do
    n=$(( ROWS - done_rows < 100000 ? ROWS - done_rows : 100000 ))
    mariadb_sql "$DB" -e "INSERT INTO relay_events (event_time, node, stage, login, client_address, verdict, reason, detail)
        SELECT NOW() - INTERVAL 100 DAY - INTERVAL seq MINUTE, 'old', 'rcpt', CONCAT('user', seq % 1000, '@bench0.example'),
               '192.0.2.1', 'reject', 'sender_not_owned', 'bench row' FROM seq_1_to_$n"
done
echo "loaded $ROWS old events in $(( $(date +%s) - t0 )) s"
printf '[database]\nsocket = %s\nuser = bench\npassword = bench-db-pw\nname = %s\n[policyd]\nlisten = inet:127.0.0.1:%s\nuser = root\ngroup = root\nallow_root = true\n' \
    "$MARIADB_SOCKET" "$DB" "$PORT" >"$W/relay.conf"
"$BUILD/relay-policyd" --config "$W/relay.conf" --foreground >"$W/policyd.log" 2>&1 &
POLICYD_PID=$!
for ((i = 0; i < 60; i++)); do
    "$BUILD/policy-bench" --target inet:127.0.0.1:$PORT --mix rcpt-only --connections 1 --requests 1 --json 2>/dev/null |
        grep -q '"DUNNO":1' && break
    sleep 0.5
done
bench() { # LABEL
    mariadb_sql "$DB" -e "DELETE FROM rate_counters"
    "$BUILD/policy-bench" --target inet:127.0.0.1:$PORT --mix realistic --connections 20 --rate "$RATE" \
        --duration "$SECS" --warmup 2 --json >"$W/$1.json" 2>"$W/$1.err"
    python3 -c "import json; r=json.load(open('$W/$1.json')); l=r['latency_us']['all']
print('%-13s requests/s %7.0f  p50 %7.0f us  p99 %7.0f us  p99.9 %7.0f us  max %8.0f us  errors %s' % ('$1', r['requests_per_s'], l['p50'], l['p99'], l['p99_9'], l['max'], r.get('errors')))" ||
        { echo "$1:"; cat "$W/$1.json"; }
}
bench before
printf '[database]\nsocket = %s\nuser = bench\npassword = bench-db-pw\nname = %s\n' "$MARIADB_SOCKET" "$DB" >"$W/ctl.conf"
( t1=$(date +%s.%N); "$BUILD/relayctl" --config "$W/ctl.conf" prune --older-than 90d >"$W/prune.out" 2>&1;
  echo "prune: exit $?, $(echo "$(date +%s.%N) - $t1" | bc) s" >>"$W/prune.out" ) &
PRUNE=$!
bench during-prune
wait "$PRUNE"
cat "$W/prune.out"
bench after
mariadb_sql "$DB" -e "SELECT COUNT(*) AS events_left FROM relay_events"
