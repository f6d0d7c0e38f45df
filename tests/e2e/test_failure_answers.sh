#!/bin/bash
# The failure table of docs/architecture.md section 5, row by row, against the real daemons: one private
# MariaDB, relay-policyd asked through its socket (tests/integration/policyd/policy_client.py) and
# relay-milter driven by miltertest (tests/e2e/milter/transaction.lua), each answer checked exactly,
# with the reason in the daemon's log line and the key that changes it. Also (issue 14 item 2): every
# refusal of an IP-authorised device names the account covering its address, in both daemons' answers
# and logs and in relayctl explain, and relayctl gives an auth_mode ip account no password.
#
#   tests/e2e/test_failure_answers.sh BUILD_DIR          (ctest: e2e_failure_answers)
#
# Ports (127.0.0.1): relay-milter 12261 (defaults), 12262 ([milter] on_rules_unavailable = reject),
# 12263 (the old name on_store_unavailable = reject), relay-policyd 12264.
# The internal-error row has no request that makes a real daemon fail (libmilter itself drops a RCPT without
# MAIL): unit tests policy, policyd_handler, milter_reply cover it. Rows covered elsewhere against real daemons: the charge timeout (tests/integration/test_frozen_db.sh),
# [rate_limits] on_rate_limits_unavailable = allow (tests/integration/test_rate_limits.sh).

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e mariadb swaks; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

PORT_M1=12261
PORT_M2=12262
PORT_M3=12263
PORT_PD=12264
LUA=$SRC_DIR/tests/e2e/milter/transaction.lua
CLIENT=$SRC_DIR/tests/integration/policyd/policy_client.py

e2e_require miltertest mariadbd mariadb mariadb-install-db python3
e2e_init failure_answers "$BUILD_DIR"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/e2e/milter/common.sh"
PD_BIN=${RELAY_E2E_POLICYD:-$E2E_BUILD_DIR/relay-policyd}
CTL_BIN=${RELAY_E2E_RELAYCTL:-$E2E_BUILD_DIR/relayctl}
mkdir -p "$E2E_DIR/mt"
CASE_NO=0

# milter_instance PORT NAME EXTRA_INI: another relay-milter on the config of the first, its own log.
milter_instance() {
    local port=$1 name=$2 extra=$3 conf=$E2E_DIR/relay-milter-$2.conf
    sed -e "s/^listen = .*/listen = inet:$port@127.0.0.1/" "$E2E_DIR/relay-milter.conf" >"$conf"
    printf '%s\n' "$extra" >>"$conf"
    e2e_start_bg "$E2E_DIR/relay-milter-$name.log" "$MILTER_BIN" --config "$conf" --foreground
    e2e_defer e2e_stop_pid "$E2E_BG_PID" 15
    e2e_wait_port 127.0.0.1 "$port" 15 "$E2E_BG_PID"
}

# milter_answer PORT LOG LOGIN WANT_RESULT WANT_REPLY DESC: one transaction; WANT_RESULT is the Lua
# script's result line, WANT_REPLY the reply (and reason) relay-milter must log for it.
milter_answer() {
    local port=$1 log=$2 login=$3 want=$4 reply=$5 desc=$6 out got qid problems=
    CASE_NO=$((CASE_NO + 1))
    qid=FA$(printf '%03d' "$CASE_NO")
    out=$E2E_DIR/mt/$CASE_NO.txt
    miltertest -s "$LUA" -D "sock=inet:$port@127.0.0.1" -D "qid=$qid" -D "login=$login" -D "sender=$login" \
        -D "from=$login" -D tls=yes >"$out" 2>&1
    got=$(sed -n 's/^result //p' "$out")
    [ "$got" = "$want" ] || problems+="got '$got', want '$want'; "
    if ! e2e_wait_until 3 grep -Eq -- "queue_id=$qid .*$reply" "$log"; then
        problems+="no log line with '$reply' for $qid; "
    fi
    if [ -z "$problems" ]; then ok "$desc"; else
        not_ok "$desc" "$problems$(grep "queue_id=$qid" "$log" | tail -n 2 | cut -c1-300)"; fi
}

# policyd_answer REQUEST WANT DESC: the action relay-policyd answers, exactly.
policyd_answer() {
    local got
    got=$(timeout 20 python3 "$CLIENT" --timeout 10 "inet:127.0.0.1:$PORT_PD" "$1" 2>&1)
    if [ "$got" = "$2" ]; then ok "$3"; else not_ok "$3" "got '$got', want '$2'"; fi
}

# Logged lines are the evidence of the reason: the same word as in metrics and relay_events.
log_has() {
    if e2e_wait_until 3 grep -Eq -- "$2" "$1"; then ok "$3"; else not_ok "$3" "no line matching '$2' in $1"; fi
}

start_policyd() {
    local conf=$E2E_DIR/relay-policyd.conf
    relay_write_config "$conf" "$(milter_daemon_config e2e-policyd info)" "$(relay_policyd_section "$PORT_PD")"
    PD_LOG=$E2E_DIR/relay-policyd.log
    e2e_start_bg "$PD_LOG" "$PD_BIN" --config "$conf" --foreground
    e2e_defer e2e_stop_pid "$E2E_BG_PID" 15
    e2e_wait_port 127.0.0.1 "$PORT_PD" 15 "$E2E_BG_PID"
}

ALICE_RCPT="sasl_method=PLAIN;sasl_username=alice@example.test;sender=alice@example.test;client_address=127.0.0.1"
LIMITED_EOM="protocol_state=END-OF-MESSAGE;sasl_method=PLAIN;sasl_username=limited@example.test;sender=limited@example.test;client_address=127.0.0.1;recipient=;recipient_count=1;size=300;queue_id=FAEOM1"
INBOUND="sender=someone@foreign.test;recipient=alice@example.test"

# Row: the rate-limit counters cannot be reached while the rules are fine. The table is renamed away
# (the database still answers, so the rules keep loading): every charge fails, deterministically.
row_rate_limits_unavailable() {
    milter_db "RENAME TABLE rate_counters TO rate_counters_away"
    policyd_answer "$LIMITED_EOM" "451 4.3.0 Rate limits cannot be checked at the moment, try again later" \
        "rate limits unavailable: relay-policyd answers 451 4.3.0 at END-OF-MESSAGE"
    log_has "$PD_LOG" "end_of_message: queue_id=FAEOM1 login=limited@example.test .*verdict=defer reason=rate_limits_unavailable" \
        "rate limits unavailable: relay-policyd logs reason=rate_limits_unavailable"
    milter_answer "$PORT_M1" "$MILTER_LOG" limited@example.test \
        "mail=continue rcpt1=continue eoh=continue eom=replycode" 'reason=rate_limits_unavailable status=tempfail reply="451 4\.3\.0 ' \
        "rate limits unavailable: relay-milter tempfails at end of message (451 4.3.0)"
    # Before issue 14 on_rules_unavailable (then on_store_unavailable) = reject made this a 550 5.3.0.
    milter_answer "$PORT_M2" "$E2E_DIR/relay-milter-reject.log" limited@example.test \
        "mail=continue rcpt1=continue eoh=continue eom=replycode" 'reason=rate_limits_unavailable status=tempfail reply="451 4\.3\.0 ' \
        "rate limits unavailable, [milter] on_rules_unavailable = reject: still 451 4.3.0 (the key governs missing rules only)"
    milter_db "RENAME TABLE rate_counters_away TO rate_counters"
    if grep -qiE 'internal error' "$PD_LOG" "$E2E_DIR"/relay-milter*.log; then
        not_ok "a rate-counter outage is not logged as an internal error" "$(grep -hiE 'internal error' "$PD_LOG" "$E2E_DIR"/relay-milter*.log | head -n 2)"
    else
        ok "a rate-counter outage is not logged as an internal error"
    fi
}

# Row: no valid rules (database down longer than [cache] max_stale).
row_rules_unavailable() {
    mariadb_stop
    e2e_log "database stopped; waiting $((MILTER_MAX_STALE + 1)) s (max_stale = $MILTER_MAX_STALE)"
    sleep $((MILTER_MAX_STALE + 1))
    policyd_answer "$ALICE_RCPT" "451 4.3.0 Relay rules temporarily unavailable, try again later" \
        "rules unavailable: relay-policyd answers 451 4.3.0 (not DEFER_IF_PERMIT)"
    log_has "$PD_LOG" "rcpt: .*login=alice@example.test .*verdict=defer reason=rules_unavailable" \
        "rules unavailable: relay-policyd logs reason=rules_unavailable"
    policyd_answer "$INBOUND" "DUNNO" "rules unavailable: unauthenticated mail is DUNNO (not ours)"
    milter_answer "$PORT_M1" "$MILTER_LOG" alice@example.test "mail=replycode" \
        'reason=rules_unavailable status=tempfail reply="451 4\.3\.0 Relay rules temporarily unavailable' \
        "rules unavailable: relay-milter tempfails at MAIL (451 4.3.0)"
    milter_answer "$PORT_M2" "$E2E_DIR/relay-milter-reject.log" alice@example.test "mail=replycode" \
        'reason=rules_unavailable status=reject reply="550 5\.3\.0 Relay rules temporarily unavailable' \
        "rules unavailable, [milter] on_rules_unavailable = reject: 550 5.3.0"
    milter_answer "$PORT_M3" "$E2E_DIR/relay-milter-oldname.log" alice@example.test "mail=replycode" \
        'reason=rules_unavailable status=reject reply="550 5\.3\.0 ' \
        "rules unavailable, old name [milter] on_store_unavailable = reject: still works, 550 5.3.0"
}

# IP-authorised devices (no SASL login): the account covering the client address is named in every case.
ip_device_refusals() {
    local out rc
    milter_db "$(cat <<'SQL'
INSERT INTO users (domain_id, local_part, password_hash) SELECT id, 'oldprinter', NULL FROM domains WHERE name = 'example.test';
INSERT INTO smtp_authorities (user_id, auth_mode, active) SELECT id, 'ip', 0 FROM users WHERE local_part = 'oldprinter';
INSERT INTO authority_networks (authority_id, cidr) SELECT a.id, '127.0.0.5/32' FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'oldprinter';
INSERT INTO users (domain_id, local_part, password_hash) SELECT id, 'pausedprinter', NULL FROM domains WHERE name = 'example.test';
INSERT INTO smtp_authorities (user_id, auth_mode, suspended_until, suspend_reason) SELECT id, 'ip', NOW() + INTERVAL 1 DAY, 'toner leak' FROM users WHERE local_part = 'pausedprinter';
INSERT INTO authority_networks (authority_id, cidr) SELECT a.id, '127.0.0.6/32' FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'pausedprinter';
SQL
)"
    local old="client_address=127.0.0.5;sender=oldprinter@example.test;queue_id=FAIP1"
    local paused="client_address=127.0.0.6;sender=pausedprinter@example.test;queue_id=FAIP2"
    # The daemons poll every 200 ms: wait for the new rows instead of sleeping a fixed time.
    local i
    for ((i = 0; i < 50; i++)); do
        [ "$(timeout 10 python3 "$CLIENT" "inet:127.0.0.1:$PORT_PD" "client_address=127.0.0.5;sender=oldprinter@example.test")" != DUNNO ] && break
        sleep 0.1
    done
    # Before issue 14 the disabled one was DUNNO (Postfix then said "554 5.7.1 Relay access denied").
    policyd_answer "$old" "550 5.7.1 Relay access for oldprinter@example.test is disabled" \
        "disabled IP device: relay-policyd names the account (550 5.7.1 ... oldprinter@example.test is disabled)"
    log_has "$PD_LOG" "rcpt: queue_id=FAIP1 login=oldprinter@example.test client=127.0.0.5 .*reason=account_disabled" \
        "disabled IP device: relay-policyd logs the account and reason=account_disabled"
    policyd_answer "$paused" "550 5.7.1 Relay access for pausedprinter@example.test is suspended: toner leak" \
        "suspended IP device: relay-policyd names the account and the reason"
    log_has "$PD_LOG" "rcpt: queue_id=FAIP2 login=pausedprinter@example.test client=127.0.0.6 .*reason=account_suspended" \
        "suspended IP device: relay-policyd logs the account and reason=account_suspended"
    CASE_NO=$((CASE_NO + 1))
    out=$E2E_DIR/mt/$CASE_NO.txt
    miltertest -s "$LUA" -D "sock=inet:$PORT_M1@127.0.0.1" -D qid=FAIP3 -D client=127.0.0.5 \
        -D sender=oldprinter@example.test -D from=oldprinter@example.test >"$out" 2>&1
    if grep -q '^result mail=replycode$' "$out" && e2e_wait_until 3 grep -Eq \
        'queue_id=FAIP3 .*login=- account=oldprinter@example.test .*reason=account_disabled status=reject reply="550 5\.7\.1 Relay access for oldprinter@example.test is disabled' \
        "$MILTER_LOG"; then
        ok "disabled IP device: relay-milter refuses at MAIL naming the account, and logs it"
    else
        not_ok "disabled IP device: relay-milter refuses at MAIL naming the account" "$(cat "$out"; grep FAIP3 "$MILTER_LOG")"
    fi
    out=$("$CTL_BIN" --config "$E2E_DIR/relay-policyd.conf" explain --client-ip 127.0.0.5 \
        --sender oldprinter@example.test --rcpt x@external.test 2>&1)
    if grep -q 'belongs to the IP-authorised account oldprinter@example.test (/32), whose SMTP authority is disabled' <<<"$out" &&
        grep -q 'Verdict: reject (reason account_disabled)' <<<"$out"; then
        ok "relayctl explain --client-ip names the disabled account covering the address"
    else
        not_ok "relayctl explain --client-ip names the disabled account covering the address" "$out"
    fi
    out=$("$CTL_BIN" --config "$E2E_DIR/relay-policyd.conf" account add scanner@example.test --auth-mode ip \
        --network 127.0.0.7 --generate-password 2>&1)
    rc=$?
    if [ "$rc" = 1 ] && grep -q 'has no login, so no password' <<<"$out" &&
        [ "$(mariadb_sql "$MILTER_DB" -N -e "SELECT COUNT(*) FROM users WHERE local_part = 'scanner'")" = 0 ]; then
        ok "relayctl account add --auth-mode ip --generate-password: refused (exit 1), nothing added"
    else
        not_ok "relayctl account add --auth-mode ip --generate-password: refused" "exit $rc: $out"
    fi
    out=$("$CTL_BIN" --config "$E2E_DIR/relay-policyd.conf" account passwd printer@example.test --generate-password 2>&1)
    rc=$?
    if [ "$rc" = 1 ] && grep -q 'is an auth_mode ip account' <<<"$out"; then
        ok "relayctl account passwd on an auth_mode ip account: refused (exit 1)"
    else
        not_ok "relayctl account passwd on an auth_mode ip account: refused" "exit $rc: $out"
    fi
}

# ---- main ----------------------------------------------------------------------------------------

for bin in "$MILTER_BIN" "$PD_BIN" "$CTL_BIN"; do
    if [ ! -x "$bin" ]; then
        not_ok "$bin is built"
        e2e_summary
        exit 1
    fi
done
e2e_ports_free "$PORT_M1" "$PORT_M2" "$PORT_M3" "$PORT_PD" || { not_ok "test ports are free"; e2e_summary; exit 1; }
e2e_defer mariadb_stop
if ! mariadb_start "$E2E_DIR/db" || ! milter_setup_database relay_authority || ! milter_start "$PORT_M1" ||
    ! milter_instance "$PORT_M2" reject "on_rules_unavailable = reject" ||
    ! milter_instance "$PORT_M3" oldname "on_store_unavailable = reject" || ! start_policyd; then
    not_ok "start MariaDB, three relay-milters and relay-policyd"
    e2e_show_file "$E2E_DIR/relay-milter.log" 20
    e2e_show_file "$E2E_DIR/relay-policyd.log" 20
    e2e_summary
    exit 1
fi
ok "started MariaDB (schema + fixtures), relay-milter on $PORT_M1, $PORT_M2, $PORT_M3 and relay-policyd on $PORT_PD"
log_has "$E2E_DIR/relay-milter-oldname.log" \
    '\[milter\] on_store_unavailable \(line [0-9]+\) is deprecated .*rename it \[milter\] on_rules_unavailable' \
    "the old key name is read with a deprecation warning naming the new one"

policyd_answer "$ALICE_RCPT" "DUNNO" "database up: alice's RCPT is DUNNO"
ip_device_refusals
row_rate_limits_unavailable
row_rules_unavailable
e2e_finish
