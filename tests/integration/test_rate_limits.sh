#!/usr/bin/env bash
# Rate limits and abuse detection end to end: real relay-policyd daemons on one private MariaDB.
#   tests/integration/test_rate_limits.sh BUILD_DIR      (ctest: integration_rate_limits)
#
# The concurrency proof: two relay-policyd daemons (127.0.0.1:12230 and :12231) on one database, 50
# concurrent connections (tests/integration/ratelimit/rate_client.py: RCPT, then END-OF-MESSAGE with the
# same instance), 300 messages within seconds against an allowance of 100 → exactly 100 accepted, for the
# messages, recipients and bytes meters, a shared pool and a calendar day. Then shadow and hold limits,
# abuse detection with its notify command (a third daemon, :12232), and the database going away
# (tempfail on :12230, a local allowance on a fourth daemon, :12233).
# Prints "ok - ..." / "not ok - ..." and "N passed, N failed". Exit 0 all passed, 77 skipped, 1 failed.
set -u

BUILD=$(cd "${1:?usage: test_rate_limits.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=ratelimit/lib.sh
. "$SRC/tests/integration/ratelimit/lib.sh"
work_dir rate-limits-test

mariadb_available || skip "MariaDB is not installed"
require python3
[ -x "$RL_BIN" ] || skip "$RL_BIN not built"

A=inet:127.0.0.1:12230
B=inet:127.0.0.1:12231
C=inet:127.0.0.1:12232
D=inet:127.0.0.1:12233

# ---- database and daemons ----------------------------------------------------------------------------

if mariadb_start "$WORK/db" && mariadb_apply_schema relay_authority &&
    mariadb_create_app_user relay_authority "$RL_DB_USER" "$RL_DB_PASSWORD" &&
    mariadb_sql relay_authority <"$SRC/tests/integration/ratelimit/fixture.sql"; then
    ok "private MariaDB with the schema and the rate-limit fixture"
else
    not_ok "private MariaDB with the schema and the rate-limit fixture"
    finish
fi

cat >"$WORK/notify.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$WORK/notified.tmp" && mv "$WORK/notified.tmp" "$WORK/notified"
EOF
chmod 0755 "$WORK/notify.sh"

BERLIN=$'[rate_limits]\ntime_zone = Europe/Berlin\n[abuse]\nenabled = no'
rl_write_config "$WORK/a.conf" rl-a 12230 "$BERLIN"
rl_write_config "$WORK/b.conf" rl-b 12231 "$BERLIN"
rl_write_config "$WORK/c.conf" rl-c 12232 "[abuse]
enabled = yes
max_networks = 3
networks_window = 3600
max_rate_refusals = 5
refusals_window = 600
suspend_for = 3600
notify_command = $WORK/notify.sh"
rl_write_config "$WORK/d.conf" rl-d 12233 $'[rate_limits]\non_store_unavailable = allow\nunavailable_allowance = 2\n[abuse]\nenabled = no'
started=1
for x in a b c d; do
    if ! rl_start_policyd "$WORK/$x.conf" "$WORK/$x.log"; then
        started=0
        not_ok "relay-policyd $x starts" "$(tail -n 20 "$WORK/$x.log")"
    fi
done
[ "$started" -eq 1 ] || finish
ok "four relay-policyd daemons on one database (ports 12230-12233)"
# d.conf still says on_store_unavailable (the name before issue 14): read, with a warning naming the new one.
check "old key [rate_limits] on_store_unavailable: read, with a deprecation warning" \
    "$(grep -q "\[rate_limits\] on_store_unavailable (line [0-9]*) is deprecated .*rename it \[rate_limits\] on_rate_limits_unavailable" "$WORK/d.log" && echo warned)" "warned"

# ---- exactly the allowance, two daemons, 50 connections ---------------------------------------------

# exact NAME WANT CLIENT-ARGS...: 300 messages over A and B, 50 connections; WANT accepted, the rest
# refused with 4.7.1 (at RCPT once a daemon knows the allowance is spent, else at END-OF-MESSAGE).
exact() {
    local name=$1 want=$2 out accepted deferred rcpt_deferred other
    shift 2
    out=$(rl_client --target "$A" --target "$B" --connections 50 --attempts 300 "$@")
    accepted=$(rl_json "$out" eom_accepted)
    deferred=$(rl_json "$out" eom_deferred)
    rcpt_deferred=$(rl_json "$out" rcpt_deferred)
    other=$((300 - accepted - deferred - rcpt_deferred))
    EXACT_DEFERRED=$deferred
    if [ "$accepted" = "$want" ] && [ "$other" -eq 0 ]; then
        ok "$name: $accepted of 300 accepted, $rcpt_deferred refused at RCPT, $deferred at END-OF-MESSAGE ($(rl_json "$out" seconds) s)"
    else
        not_ok "$name: want exactly $want accepted and every other message deferred" "$out"
    fi
}

exact "messages meter, 100 per hour" 100 --login messages@rl.example
check "rate_counters.refusals counts the END-OF-MESSAGE refusals (RCPT refusals are made locally)" \
    "$(rl_sql "SELECT refusals FROM rate_counters c JOIN v_accounts a ON a.authority_id = c.subject_id
               WHERE a.login = 'messages@rl.example'")" "$EXACT_DEFERRED"
# Read at once: one message comes back every 36 s. regained_at is the allowance's exact end rounded up
# to the next whole second (never earlier than the truth), while NOW() is truncated to the second: when the
# charges and this check fall into the same second, regained_at is NOW() + 1 h + 1 s. So the bound is
# "within the hour, plus the rounding", whatever the fraction of the second the check runs at.
check "v_rate_usage: messages@ used 100 (or 99 a while later), remaining the rest, regained within the hour" \
    "$(rl_sql "SELECT used >= 99, used + remaining,
                      regained_at BETWEEN NOW() AND NOW() + INTERVAL 1 HOUR + INTERVAL 1 SECOND
               FROM v_rate_usage WHERE login = 'messages@rl.example'")" $'1\t100\t1'
exact "recipients meter, 200 per hour at 2 recipients a message" 100 --login recipients@rl.example --recipients 2
exact "bytes meter, 100000 per hour at 1000 bytes a message" 100 --login bytes@rl.example --size 1000
exact "shared pool of a domain, 100 per hour over 5 accounts" 100 \
    --login p1@pool.example --login p2@pool.example --login p3@pool.example --login p4@pool.example \
    --login p5@pool.example
exact "calendar day in Europe/Berlin, 100 per day" 100 --login calendar@rl.example

check "both daemons charged" \
    "$(grep -l 'end_of_message:.*verdict=continue' "$WORK/a.log" "$WORK/b.log" | wc -l)" "2"
# test_rate_leases.sh runs this script with leases on: the daemons must really have used them.
[ -n "${RL_EXPECT_LOG:-}" ] && check "both daemons started with: $RL_EXPECT_LOG" \
    "$(grep -lF "$RL_EXPECT_LOG" "$WORK/a.log" "$WORK/b.log" | wc -l)" "2"
# ... and sized their leases for the daemons really running (their heartbeats in nodes), whatever order they
# started in: the last count each logged is all four. Bounded: a heartbeat comes every 5 s.
if [ -n "${RL_EXPECT_DAEMONS:-}" ]; then
    counted=""
    for ((i = 0; i < 100; i++)); do
        counted=$(for x in a b c d; do grep -o 'rate-limit leases: [0-9]* daemons\? charge' "$WORK/$x.log" | tail -n 1; done)
        [ "$(grep -c "leases: $RL_EXPECT_DAEMONS daemons charge" <<<"$counted")" = 4 ] && break
        sleep 0.2
    done
    check "all four daemons size their leases for the $RL_EXPECT_DAEMONS daemons with a live heartbeat" \
        "$(grep -c "leases: $RL_EXPECT_DAEMONS daemons charge" <<<"$counted")" "4"
fi
check "v_rate_usage: one row for the pool, used 100" \
    "$(rl_sql "SELECT COUNT(*), MAX(used) FROM v_rate_usage WHERE subject = 'pool of domain pool.example'")" $'1\t100'
want_end=$(python3 -c 'import datetime, zoneinfo
z = zoneinfo.ZoneInfo("Europe/Berlin")
n = datetime.datetime.now(z)
print(int(datetime.datetime.combine(n.date() + datetime.timedelta(days=1), datetime.time(), z).timestamp()))' 2>/dev/null)
check "calendar day ends at the next midnight in Europe/Berlin" \
    "$(rl_sql "SELECT c.period_end FROM rate_counters c JOIN v_accounts a ON a.authority_id = c.subject_id
               WHERE a.login = 'calendar@rl.example'")" "$want_end"

# ---- shadow and hold -----------------------------------------------------------------------------------

out=$(rl_client --target "$A" --connections 5 --attempts 30 --login shadow@rl.example)
check "shadow limit of 10: all 30 accepted" "$(rl_json "$out" eom_accepted)" "30"
got=$(rl_sql_wait 20 50 0.2 "SELECT COUNT(*) FROM relay_events WHERE login = 'shadow@rl.example'
    AND reason = 'rate_limited' AND verdict = 'continue' AND detail LIKE 'shadow rate limit % would have deferred%'")
check "shadow limit: 20 'would have deferred' events in relay_events" "$got" "20"

out=$(rl_client --target "$A" --connections 1 --attempts 8 --login hold@rl.example)
check "hold action: 5 accepted, 3 held, none refused at RCPT" \
    "$(rl_json "$out" eom_accepted) $(rl_json "$out" eom_held) $(rl_json "$out" rcpt_deferred)" "5 3 0"

# ---- abuse detection -------------------------------------------------------------------------------------

out=$(rl_client --target "$C" --connections 1 --attempts 4 --login networks@rl.example \
    --client 192.0.2.10 --client 198.51.100.10 --client 203.0.113.10 --client 2001:db8:7::10)
check "abuse: 4 messages from 4 networks accepted" "$(rl_json "$out" eom_accepted)" "4"
reason=""
for ((i = 0; i < 50; i++)); do
    reason=$(rl_sql "SELECT s.suspend_reason FROM smtp_authorities s JOIN v_accounts a ON a.authority_id = s.id
                     WHERE a.login = 'networks@rl.example' AND s.suspended_until > NOW()")
    [ -n "$reason" ] && break
    sleep 0.2
done
check "abuse: suspended for too many client networks" "$reason" \
    "automatic: used from 4 client networks within 3600 s (max_networks 3)"
for ((i = 0; i < 50; i++)); do [ -f "$WORK/notified" ] && break; sleep 0.2; done
check "abuse: notify_command got the event as arguments" \
    "$(sed -n '1p;2p;5p;6p' "$WORK/notified" 2>/dev/null | tr '\n' '|')" \
    "suspended|networks@rl.example|automatic: used from 4 client networks within 3600 s (max_networks 3)|rl-c|"
got=$(rl_sql_wait 1 50 0.2 "SELECT COUNT(*) FROM relay_events WHERE login = 'networks@rl.example'
    AND reason = 'account_suspended' AND node = 'rl-c' AND detail LIKE 'automatic suspension until %'")
check "abuse: event in relay_events" "$got" "1"
answer=""
for ((i = 0; i < 25; i++)); do  # every daemon reloads the rules within [cache] poll_interval
    answer=$(rl_client --target "$A" --connections 1 --attempts 1 --mode rcpt --login networks@rl.example)
    [ "$(rl_json "$answer" rcpt_accepted)" = 0 ] && break
    sleep 0.2
done
check "abuse: the suspended account is refused at RCPT (on another daemon too)" "$(rl_json "$answer" rcpt_accepted)" "0"

out=$(rl_client --target "$C" --connections 1 --attempts 10 --login refusals@rl.example)
check "abuse: 1 of 10 accepted by a limit of 1 per hour" "$(rl_json "$out" eom_accepted)" "1"
reason=""
for ((i = 0; i < 50; i++)); do
    reason=$(rl_sql "SELECT s.suspend_reason FROM smtp_authorities s JOIN v_accounts a ON a.authority_id = s.id
                     WHERE a.login = 'refusals@rl.example' AND s.suspended_until > NOW()")
    [ -n "$reason" ] && break
    sleep 0.2
done
case $reason in
    "automatic: "[6-9]" rate-limit refusals within 600 s (max_rate_refusals 5)") ok "abuse: suspended for too many rate-limit refusals ($reason)" ;;
    *) not_ok "abuse: suspended for too many rate-limit refusals: got '$reason'" ;;
esac

# ---- the database goes away ---------------------------------------------------------------------------

mariadb_stop
out=$(rl_client --target "$A" --connections 1 --attempts 2 --login outage@rl.example)
check "database down, on_store_unavailable = tempfail: END-OF-MESSAGE tempfailed" \
    "$(rl_json "$out" eom_tempfail) $(rl_json "$out" eom_accepted)" "2 0"
out=$(rl_client --target "$D" --connections 1 --attempts 4 --login allow@rl.example)
check "database down, on_store_unavailable = allow, allowance 2: 2 accepted, 2 tempfailed" \
    "$(rl_json "$out" eom_accepted) $(rl_json "$out" eom_tempfail)" "2 2"
if grep -q "rate limits: cannot charge the counters" "$WORK/a.log" && grep -q "rate limits NOT charged" "$WORK/d.log"; then
    ok "the outage is logged loudly on both daemons"
else
    not_ok "the outage is logged loudly on both daemons"
fi
if mariadb_start "$WORK/db"; then ok "MariaDB back"; else not_ok "MariaDB back"; finish; fi
accepted=0
for ((i = 0; i < 50; i++)); do
    out=$(rl_client --target "$A" --connections 1 --attempts 1 --login outage@rl.example)
    accepted=$(rl_json "$out" eom_accepted)
    [ "$accepted" = 1 ] && break
    sleep 0.2
done
check "database back: charged again" "$accepted" "1"
# Queued events are retried with a backoff of up to 30 s.
got=$(rl_sql_wait 2 60 1 "SELECT COUNT(*) FROM relay_events WHERE login = 'allow@rl.example' AND node = 'rl-d'
    AND reason = 'rate_limits_unavailable' AND detail LIKE 'rate limits NOT charged%'")
check "the uncounted messages reach relay_events once the database is back" "$got" "2"

finish
