#!/usr/bin/env bash
# The audit trail survives an outage of every database server and a restart during one (docs/cluster.md
# "No server answers"): one relay-policyd, dropping to nobody, with its audit spool in a private state
# directory. The database stops; refusals decided from the cached rules go to the spool file; the database
# starts again; every one is in relay_events exactly once (by event_key and by content) and the spool is
# empty. Then the same with the daemon stopped while the events are spooled (and a damaged record appended,
# as a kill while writing leaves one): the next start replays them.
#
#   tests/integration/test_audit_spool.sh BUILD_DIR      (ctest: integration_audit_spool)
# Port (127.0.0.1): 12481.
set -u

BUILD=$(cd "${1:?usage: test_audit_spool.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/relay-policyd
CLIENT=$SRC/tests/integration/policyd/policy_client.py
PORT=12481
N=40  # refusals during the first outage
M=30  # refusals during the second one, spooled across a restart

. "$SRC/tests/lib/mariadb.sh"

mariadb_available || skip "MariaDB is not installed"
require python3
[ -x "$BIN" ] || skip "$BIN not built"
if [ "$(id -u)" -ne 0 ] || ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null; then
    skip "needs root and nobody/nogroup (the daemon drops to nobody and opens its spool as nobody)"
fi

work_dir audit-spool-test
LOG=$WORK/policyd.log
STATE=$WORK/state
SPOOL=$STATE/relay-policyd.audit-spool

# The daemon (nobody) must reach the socket; mariadb_start makes the datadir's directory 0700 each time.
# The daemon is configured with WORK/db/sock: the socket itself, or a link to it when the path is too long
# for a socket (tests/lib/mariadb.sh), which may move when the server restarts.
open_socket_dir() { chmod 0711 "$WORK/db" "$(dirname "$MARIADB_SOCKET")"; }
start_db() { mariadb_start "$WORK/db" && open_socket_dir; }
sql() { mariadb_sql relay_authority -e "$1" 2>&1; }

# Refusals (sender_not_owned) decided from the cached rules, one client address each so that none is
# folded into another's row: queue ids PREFIX1..PREFIXcount. Prints the answers that were not a 550.
refuse() {
    local prefix=$1 count=$2 i requests=()
    for ((i = 1; i <= count; i++)); do
        requests+=("sasl_method=PLAIN;sasl_username=alice@example.com;sender=mallory@example.org;client_address=198.51.100.$i;queue_id=$prefix$i")
    done
    timeout 60 python3 "$CLIENT" "inet:127.0.0.1:$PORT" --timeout 5 "${requests[@]}" 2>&1 | grep -v '^550 5\.7\.1 '
}
# Distinct queue ids PREFIX<n> in the spool file.
spooled() { grep -a -o "$1[0-9]*" "$SPOOL" 2>/dev/null | sort -u | grep -c .; }
in_db() { sql "SELECT COUNT(*) FROM relay_events WHERE queue_id LIKE '$1%'"; }
# wait_until SECONDS CMD...: until CMD succeeds (bounded)
wait_until() {
    local tenths=$(($1 * 10)) i
    shift
    for ((i = 0; i < tenths; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
all_spooled() { [ "$(spooled "$1")" = "$2" ]; }
all_in_db() { [ "$(in_db "$1")" = "$2" ]; }
spool_empty() { [ -f "$SPOOL" ] && [ ! -s "$SPOOL" ]; }

# exactly_once PREFIX COUNT: the rows of these events, each once, with its key and its own content.
exactly_once() {
    local prefix=$1 count=$2
    check "$prefix: $count rows, $count distinct event keys, $count distinct queue ids, none without a key" \
        "$(sql "SELECT CONCAT_WS(' ', COUNT(*), COUNT(DISTINCT event_key), COUNT(DISTINCT queue_id), SUM(event_key IS NULL))
                FROM relay_events WHERE queue_id LIKE '$prefix%'")" "$count $count $count 0"
    check "$prefix: each row is the refusal that was sent (account, client address, stage, verdict, reason)" \
        "$(sql "SELECT COUNT(*) FROM relay_events WHERE queue_id LIKE '$prefix%' AND login = 'alice@example.com'
                AND client_address = CONCAT('198.51.100.', SUBSTRING(queue_id, $((${#prefix} + 1))))
                AND stage = 'rcpt' AND verdict = 'reject' AND reason = 'sender_not_owned' AND repeat_count = 1")" "$count"
}

if start_db && mariadb_apply_schema relay_authority && mariadb_load_sample_data relay_authority &&
    mariadb_create_app_user relay_authority relay_it spool-pw; then
    ok "private MariaDB with the schema and the sample data"
else
    not_ok "private MariaDB with the schema and the sample data"
    finish
fi
chmod 0755 "$WORK"
mkdir -m 0700 "$STATE" && chown nobody:nogroup "$STATE"

relay_write_config "$WORK/policyd.conf" "[general]" "node = spool-it" "log_level = info" "state_directory = $STATE" \
    "$(mariadb_database_section relay_it spool-pw relay_authority 1)" "read_timeout = 2" "write_timeout = 2" \
    "[cache]" "poll_interval = 200ms" "max_stale = 600" \
    "[audit]" "spool_size = 1M" \
    "[policyd]" "listen = inet:127.0.0.1:$PORT" "user = nobody" "group = nogroup"

# start_policyd LOG: a log of its own per start (start_daemon looks for "ready on" in the whole file).
start_policyd() { start_daemon "$1" "ready on" "$BIN" --config "$WORK/policyd.conf" --foreground; }
check_or_finish "relay-policyd starts (drops to nobody)" start_policyd "$LOG"

# ---- the spool file: made by the unprivileged user, private
check "the spool file belongs to nobody, mode 0600" "$(stat -c '%U %a' "$SPOOL" 2>&1)" "nobody 600"
check "refusals while the database answers" "$(refuse SPOOLW 3)" ""
check_cmd "... are written at once, not spooled" wait_until 20 all_in_db SPOOLW 3
check "... the spool stays empty" "$(stat -c %s "$SPOOL")" "0"

# ---- first outage: every server gone while the daemon runs
mariadb_stop
check "database down: refusals from the cached rules" "$(refuse SPOOLA $N)" ""
if wait_until 60 all_spooled SPOOLA $N; then ok "all $N events are in the spool file"
else not_ok "all $N events are in the spool file" "spooled: $(spooled SPOOLA); log: $(tail -n 5 "$LOG")"; fi
# The writer logs the outage just after it has moved the events to the spool: wait for the line too.
wait_until 10 grep -q "audit trail: cannot write to relay_events .*events go to $SPOOL" "$LOG"
check "the log names the spool" "$(grep -c "audit trail: cannot write to relay_events .*events go to $SPOOL" "$LOG")" "1"

check_or_finish "database back" start_db
if wait_until 90 all_in_db SPOOLA $N; then ok "the spooled events are replayed into relay_events"
else not_ok "the spooled events are replayed into relay_events" "in the table: $(in_db SPOOLA); log: $(tail -n 5 "$LOG")"; fi
exactly_once SPOOLA $N
check_cmd "the spool file is emptied" wait_until 20 spool_empty

# ---- second outage, and the daemon restarted during it
mariadb_stop
check "database down again: refusals" "$(refuse SPOOLB $M)" ""
if wait_until 60 all_spooled SPOOLB $M; then ok "all $M events are in the spool file"
else not_ok "all $M events are in the spool file" "spooled: $(spooled SPOOLB)"; fi
stop_pid "$DAEMON_PID" 30
check "relay-policyd stopped while its events are spooled" "$(alive "$DAEMON_PID" && echo running || echo stopped)" "stopped"
check "the spool keeps them across the stop" "$(spooled SPOOLB)" "$M"
printf '\245RAE\377\377\000\000garbage' >>"$SPOOL"  # a damaged last record: a kill while writing

check_or_finish "database back" start_db
LOG2=$WORK/policyd-restarted.log
check_or_finish "relay-policyd starts again" start_policyd "$LOG2"
check "the start says what the spool holds" \
    "$(grep -c "audit trail: $SPOOL holds [0-9]* bytes of events not yet in relay_events" "$LOG2")" "1"
if wait_until 60 all_in_db SPOOLB $M; then ok "the events spooled before the restart are replayed"
else not_ok "the events spooled before the restart are replayed" "in the table: $(in_db SPOOLB); log: $(tail -n 5 "$LOG2")"; fi
exactly_once SPOOLB $M
check "the damaged record is skipped with a clear log line" \
    "$(grep -c "audit spool: $SPOOL: skipped [0-9]* bytes at offset [0-9]* .*the records after it are kept" "$LOG2")" "1"
check_cmd "the spool file is emptied" wait_until 20 spool_empty
check "the first outage's events are still there once each" "$(in_db SPOOLA)" "$N"
check "no event was dropped (log)" "$(cat "$LOG" "$LOG2" | grep -c "not written to relay_events")" "0"

finish
