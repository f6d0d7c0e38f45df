#!/usr/bin/env bash
# The metrics of the database side (docs/monitoring.md) move by exactly what happened: one relay-policyd
# with [metrics] on (127.0.0.1:12471) and abuse detection, on a private MariaDB whose lock waits end after
# 1 s; the endpoint read with curl before and after known traffic.
#   - rate-limit charges by outcome (charged, refused), their latency histogram, the batch sizes
#   - a charge that meets a row lock held by another session: conflicts, each one retried, then charged
#   - an automatic suspension
#   - the audit trail: decisions written equal SUM(repeat_count) of the daemon's relay_events rows; a
#     refusal the database will not take (INSERT revoked) is dropped as not_writable and counted as a
#     permanent database error; events queued while MariaDB is down show in the queue depth, then are
#     written once it is back; transient errors during the outage and reconnects after it
#
#   tests/integration/test_store_metrics.sh BUILD_DIR      (ctest: integration_store_metrics)
set -u

BUILD=$(cd "${1:?usage: test_store_metrics.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=ratelimit/lib.sh
. "$SRC/tests/integration/ratelimit/lib.sh"

if ! mariadb_available; then echo "# skipped: MariaDB is not installed"; exit 77; fi
for tool in python3 curl; do
    command -v "$tool" >/dev/null || { echo "# skipped: $tool is not installed"; exit 77; }
done
if [ ! -x "$RL_BIN" ]; then echo "# skipped: $RL_BIN not built"; exit 77; fi

HOLDER_PID=
stop_holder() { [ -z "$HOLDER_PID" ] || rl_stop_pid "$HOLDER_PID"; }
work_dir store-metrics-test  # the harness removes it (kept on failure), stops MariaDB
at_exit stop_holder
at_exit rl_stop_all

PORT=12470
TARGET=inet:127.0.0.1:$PORT
METRICS=http://127.0.0.1:12471/metrics
NODE=sm-a

# metric SERIES: its value in /metrics now ("absent" when the series is not there). SERIES is written as
# the endpoint writes it, the daemon label first: name{daemon="relay-policyd",outcome="charged"}.
metric() {
    curl -s --max-time 5 "$METRICS" | python3 -c '
import sys
want = sys.argv[1]
for line in sys.stdin:
    name, _, value = line.rstrip("\n").rpartition(" ")
    if name == want:
        print(int(float(value)) if float(value).is_integer() else value)
        break
else:
    print("absent")' "$1"
}
D='daemon="relay-policyd"'
CHARGED="relay_authority_rate_limit_charges_total{$D,outcome=\"charged\"}"
REFUSED="relay_authority_rate_limit_charges_total{$D,outcome=\"refused\"}"
UNAVAILABLE="relay_authority_rate_limit_charges_total{$D,outcome=\"unavailable\"}"
CHARGE_SECONDS="relay_authority_rate_limit_charge_duration_seconds_count{$D}"
BATCHES="relay_authority_rate_limit_batch_size_count{$D}"
BATCHED="relay_authority_rate_limit_batch_size_sum{$D}"
CONFLICTS="relay_authority_rate_limit_conflicts_total{$D}"
RETRIES="relay_authority_rate_limit_retries_total{$D}"
SUSPENSIONS="relay_authority_abuse_suspensions_total{$D}"
WRITTEN="relay_authority_audit_events_written_total{$D}"
DEPTH="relay_authority_audit_queue_depth{$D}"
DROPPED_FULL="relay_authority_audit_events_dropped_total{$D,cause=\"queue_full\"}"
DROPPED_UNWRITABLE="relay_authority_audit_events_dropped_total{$D,cause=\"not_writable\"}"
TRANSIENT="relay_authority_database_errors_total{$D,kind=\"transient\"}"
PERMANENT="relay_authority_database_errors_total{$D,kind=\"permanent\"}"
RECONNECTS="relay_authority_database_reconnects_total{$D}"

# wait_metric SERIES WANT: until SERIES shows WANT (at most 20 s); prints the last value.
wait_metric() {
    local got i
    for ((i = 0; i < 100; i++)); do
        got=$(metric "$1")
        [ "$got" = "$2" ] && break
        sleep 0.2
    done
    printf '%s\n' "$got"
}

# ---- database and daemon ----------------------------------------------------------------------------

if mariadb_start "$WORK/db" --innodb-lock-wait-timeout=1 && mariadb_apply_schema relay_authority &&
    mariadb_create_app_user relay_authority "$RL_DB_USER" "$RL_DB_PASSWORD" &&
    mariadb_sql relay_authority <"$SRC/tests/integration/ratelimit/fixture.sql" &&
    mariadb_sql relay_authority <<'SQL'; then
CREATE TABLE test_switch (refuse_events TINYINT NOT NULL);
INSERT INTO test_switch VALUES (0);
DELIMITER //
CREATE TRIGGER refuse_events BEFORE INSERT ON relay_events FOR EACH ROW
    IF (SELECT refuse_events FROM test_switch) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'test: relay_events refuses rows';
    END IF//
DELIMITER ;
SQL
    ok "private MariaDB (innodb_lock_wait_timeout 1 s) with the schema and the rate-limit fixture"
else
    not_ok "private MariaDB with the schema and the rate-limit fixture"
    finish
fi
rl_write_config "$WORK/a.conf" "$NODE" "$PORT" "[rate_limits]
charge_timeout = 30
retry_time = 10s
[abuse]
enabled = yes
max_networks = 3
networks_window = 3600
max_rate_refusals = 1000
[metrics]
policyd_listen = 127.0.0.1:12471"
if ! rl_start_policyd "$WORK/a.conf" "$WORK/a.log"; then
    not_ok "relay-policyd starts with [metrics] policyd_listen" "$(tail -n 20 "$WORK/a.log")"
    finish
fi
ok "relay-policyd with [metrics] policyd_listen = 127.0.0.1:12471"
check "the audit-trail families are exposed before any traffic" "$(metric "$DROPPED_FULL") $(metric "$DEPTH")" "0 0"

# ---- charges by outcome ------------------------------------------------------------------------------

charged0=$(metric "$CHARGED") refused0=$(metric "$REFUSED") seconds0=$(metric "$CHARGE_SECONDS")
batches0=$(metric "$BATCHES") batched0=$(metric "$BATCHED")
# One connection, one message after the other: every charge is a batch of one. The limit is 1 per hour:
# the first is charged, a later one is refused at END-OF-MESSAGE (charge refused) or, once the daemon
# remembers the allowance is spent, already at RCPT (no charge at all).
out=$(rl_client --target "$TARGET" --connections 1 --attempts 10 --login refusals@rl.example)
accepted=$(rl_json "$out" eom_accepted) deferred=$(rl_json "$out" eom_deferred)
check "10 messages of refusals@ (1 per hour): 1 accepted" "$accepted" "1"
check "charges{outcome=charged} +1" "$(($(metric "$CHARGED") - charged0))" "1"
check "charges{outcome=refused} + the END-OF-MESSAGE refusals ($deferred)" "$(($(metric "$REFUSED") - refused0))" "$deferred"
out=$(rl_client --target "$TARGET" --connections 1 --attempts 20 --login messages@rl.example)
check "20 messages of messages@ (100 per hour) accepted" "$(rl_json "$out" eom_accepted)" "20"
charges=$((21 + deferred))
check "charges{outcome=charged} +21 in all" "$(($(metric "$CHARGED") - charged0))" "21"
check "charge latency histogram: one observation per charge ($charges)" \
    "$(($(metric "$CHARGE_SECONDS") - seconds0))" "$charges"
check "batch size: $charges batches of one charge each" \
    "$(($(metric "$BATCHES") - batches0)) $(($(metric "$BATCHED") - batched0))" "$charges $charges"
check "charges{outcome=unavailable} still 0" "$(metric "$UNAVAILABLE")" "0"

# ---- a conflict, retried ------------------------------------------------------------------------------

# Another session locks messages@'s counter row for 3 s. The daemon's charge meets the lock (lock wait
# timeout 1 s), retries, and goes through once the lock is released, within its 6 attempts. How many
# conflicts depends on timing; that there is one, that each one was retried and the charge made does not.
conflicts0=$(metric "$CONFLICTS") retries0=$(metric "$RETRIES") charged0=$(metric "$CHARGED")
: >"$WORK/holder.out"
timeout 60 "$(_mariadb_bin mariadb)" --no-defaults "--socket=$MARIADB_SOCKET" "--user=$MARIADB_ADMIN_USER" \
    --batch --unbuffered --skip-column-names relay_authority >"$WORK/holder.out" 2>&1 <<'SQL' &
START TRANSACTION;
SELECT COUNT(*) FROM rate_counters c JOIN v_accounts a ON a.authority_id = c.subject_id
    WHERE a.login = 'messages@rl.example' FOR UPDATE;
SELECT 'locked';
DO SLEEP(3);
COMMIT;
SQL
HOLDER_PID=$!
for ((i = 0; i < 100; i++)); do grep -q locked "$WORK/holder.out" && break; sleep 0.1; done
out=$(rl_client --target "$TARGET" --connections 1 --attempts 1 --login messages@rl.example)
wait "$HOLDER_PID" 2>/dev/null
HOLDER_PID=
conflicts=$(($(metric "$CONFLICTS") - conflicts0)) retries=$(($(metric "$RETRIES") - retries0))
check "a charge waiting on a locked row: the message is accepted" "$(rl_json "$out" eom_accepted)" "1"
if [ "$conflicts" -ge 1 ] && [ "$retries" -eq "$conflicts" ]; then
    ok "conflicts +$conflicts, each retried (retries +$retries)"
else
    not_ok "conflicts and retries" "conflicts +$conflicts, retries +$retries"
fi
check "charges{outcome=charged} +1 after the retries" "$(($(metric "$CHARGED") - charged0))" "1"

# ---- an automatic suspension -------------------------------------------------------------------------

suspensions0=$(metric "$SUSPENSIONS")
rl_client --target "$TARGET" --connections 1 --attempts 4 --login networks@rl.example \
    --client 192.0.2.10 --client 198.51.100.10 --client 203.0.113.10 --client 2001:db8:7::10 >/dev/null
check "abuse: networks@ from 4 networks (max 3) → suspensions +1" \
    "$(($(wait_metric "$SUSPENSIONS" "$((suspensions0 + 1))") - suspensions0))" "1"

# ---- the audit trail ---------------------------------------------------------------------------------

# A charge first, so the daemon remembers (for [rate_limits] peek memory, 120 s) that refusals@ is spent.
rl_client --target "$TARGET" --connections 1 --attempts 1 --mode eom --login refusals@rl.example >/dev/null
check "audit queue empties" "$(wait_metric "$DEPTH" 0)" "0"
for ((i = 0; i < 100; i++)); do  # the last rows may still be on their way
    rows=$(rl_sql "SELECT COALESCE(SUM(repeat_count), 0) FROM relay_events WHERE node = '$NODE'")
    written=$(metric "$WRITTEN")
    [ "$written" = "$rows" ] && break
    sleep 0.2
done
check "audit events written = SUM(repeat_count) of the node's relay_events rows ($rows)" "$written" "$rows"

# The database refuses the rows: one refusal (refusals@ is spent: deferred at RCPT), one flush, dropped.
# (A trigger set up at the start, switched on here: a database-level REVOKE does not reach open
# connections.)
dropped0=$(metric "$DROPPED_UNWRITABLE") permanent0=$(metric "$PERMANENT") written0=$(metric "$WRITTEN")
rl_sql "UPDATE test_switch SET refuse_events = 1" >/dev/null
out=$(rl_client --target "$TARGET" --connections 1 --attempts 1 --mode rcpt --login refusals@rl.example)
check "refusals@ refused at RCPT" "$(rl_json "$out" rcpt_deferred)" "1"
check "audit events dropped{cause=not_writable} +1" \
    "$(($(wait_metric "$DROPPED_UNWRITABLE" "$((dropped0 + 1))") - dropped0))" "1"
check "database errors{kind=permanent} +1 (the trigger's error)" "$(($(metric "$PERMANENT") - permanent0))" "1"
check "nothing more written" "$(($(metric "$WRITTEN") - written0))" "0"
check "dropped{cause=queue_full} still 0" "$(metric "$DROPPED_FULL")" "0"
rl_sql "UPDATE test_switch SET refuse_events = 0" >/dev/null

# MariaDB stops: three refusals from three clients (three rows) wait in the queue, and are written once
# it is back (the writer retries with a backoff of at most 30 s).
transient0=$(metric "$TRANSIENT") reconnects0=$(metric "$RECONNECTS") written0=$(metric "$WRITTEN")
mariadb_stop
out=$(rl_client --target "$TARGET" --connections 1 --attempts 3 --mode rcpt --login refusals@rl.example \
    --client 192.0.2.1 --client 192.0.2.2 --client 192.0.2.3)
check "database down: refusals@ still refused at RCPT (3)" "$(rl_json "$out" rcpt_deferred)" "3"
check "audit queue depth 3 while the database is down" "$(wait_metric "$DEPTH" 3)" "3"
got=$(metric "$TRANSIENT")
if [ "$got" != absent ] && [ "$((got - transient0))" -ge 1 ]; then
    ok "database errors{kind=transient} move during the outage (+$((got - transient0)))"
else
    not_ok "database errors{kind=transient} move during the outage" "got $got, before $transient0"
fi
if mariadb_start "$WORK/db" --innodb-lock-wait-timeout=1; then ok "MariaDB back"; else not_ok "MariaDB back"; finish; fi
for ((i = 0; i < 200; i++)); do [ "$(metric "$DEPTH")" = 0 ] && break; sleep 0.2; done
check "audit queue empties once the database is back" "$(metric "$DEPTH")" "0"
check "the 3 queued decisions are written" "$(($(metric "$WRITTEN") - written0))" "3"
got=$(metric "$RECONNECTS")
if [ "$got" != absent ] && [ "$((got - reconnects0))" -ge 1 ]; then
    ok "database reconnects move after the outage (+$((got - reconnects0)))"
else
    not_ok "database reconnects move after the outage" "got $got, before $reconnects0"
fi

finish
