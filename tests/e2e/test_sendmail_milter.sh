#!/bin/bash
# End to end with a real Sendmail: Debian's sendmail 8.17 packages, unpacked (never installed) into the
# build dir and run in a private mount/UTS namespace with Cyrus SASL (sasldb), STARTTLS, the access
# database and relay-milter (INPUT_MAIL_FILTER from contrib/sendmail/relay-milter.m4). The rules live in a
# private MariaDB; smtp-sink is the smart host. swaks is the client.
#
#   tests/e2e/test_sendmail_milter.sh BUILD_DIR          (ctest: e2e_sendmail_milter)
#
# The milter cases every MTA runs (tests/e2e/milter/cases.sh), then Sendmail's own: the access database's
# Connect: RELAY for the IP-authorised printer, Sendmail's relay checks for unauthenticated clients.
# Ports (127.0.0.1): Sendmail 12260, smtp-sink 12261, relay-milter 12262. The .debs are fetched with
# apt-get download into BUILD_DIR/sendmail-debs when missing. Needs root (unshare --mount).
# Every case asserts the SMTP reply code and enhanced status, swaks' exit status (0 sent, 23 MAIL refused,
# 24 no RCPT accepted, 26 refused after DATA) and whether the message reached the sink.

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e tls mariadb sink sendmail swaks; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

PORT_SENDMAIL=12260
PORT_SINK=12261
PORT_MILTER=12262

require mariadbd mariadb mariadb-install-db smtp-sink swaks openssl m4 saslpasswd2 unshare nsenter dpkg
sendmail_available || skip "needs root (unshare --mount), m4, saslpasswd2"
e2e_init sendmail_milter "$BUILD_DIR"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/e2e/milter/common.sh"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/e2e/milter/cases.sh"
mkdir -p "$E2E_DIR/swaks"

SASL_USERS=(alice bob noauth disabled localonly capped small tlsuser erin)

# smtp_case, expect_case: tests/lib/swaks.sh
SWAKS_CASE_PREFIX=sm
SWAKS_ARGS=(--server "127.0.0.1:$PORT_SENDMAIL")
SWAKS_SENT_REPLY='250 2\.0\.0 .*Message accepted for delivery'
MTA_SUBMISSION_PORT=$PORT_SENDMAIL
# F=T: Sendmail tempfails the session from its first command on (here STARTTLS: 454 4.7.0).
MTA_TEMPFAIL="Sendmail answers 4xx (F=T), nothing accepted unchecked"
case_diagnostics() { tail -n 2 "$MILTER_LOG" | cut -c1-300 | sed 's/^/#   milter: /'; }

# submit (tests/lib/swaks.sh): STARTTLS, AUTH PLAIN, the From: header = FROM
PORT_SUBMISSION=$PORT_SENDMAIL
SUBMIT_FROM_HEADER=yes

# unauth CLIENT_IP FROM TO EXPECT DESC [SWAKS_ARGS...]: no AUTH, from a chosen loopback address
unauth() {
    local ip=$1 from=$2 to=$3 expect=$4 desc=$5
    shift 5
    expect_case "$desc" "$expect" --local-interface "$ip" --from "$from" --to "$to" --header "From: $from" "$@"
}

start_all() {
    local u
    tls_make_cert "$E2E_DIR/tls" smtp.example.test || return 1
    sendmail_fetch_debs "$E2E_BUILD_DIR/sendmail-debs" || return 1
    e2e_defer mariadb_stop
    mariadb_start "$E2E_DIR/db" || return 1
    milter_setup_database relay_authority || return 1
    sink_start "$E2E_DIR/sink" "$PORT_SINK" || return 1
    milter_start "$PORT_MILTER" || return 1
    sendmail_configure "$E2E_DIR/sendmail" "$E2E_BUILD_DIR/sendmail-debs" "$PORT_SENDMAIL" "$PORT_SINK" \
        "inet:$PORT_MILTER@127.0.0.1" || return 1
    for u in "${SASL_USERS[@]}"; do
        sendmail_add_user "$u@example.test" "$(password_of "$u@example.test")" || return 1
    done
    # The IP-authorised printer (authority_networks 127.0.0.3/32): Sendmail relays for it because of this
    # access entry (the line relayctl export sendmail-access prints); relay-milter still checks it.
    sendmail_access "Connect:127.0.0.3 RELAY" || return 1
    sendmail_relay_domains example.test example.org other.test
    sendmail_start
}

mta_checks_first_delivery() {
    if grep -q 'with ESMTPSA' "$(sink_file_for "$CASE_TOKEN" | head -n 1)" 2>/dev/null; then
        ok "the delivered copy was received with ESMTPSA (authenticated)"
    else
        not_ok "the delivered copy was received with ESMTPSA (authenticated)"
    fi
    if milter_log_has 'stage=end_of_message login=alice@example.test .*verdict=continue' &&
        ! grep -E 'stage=end_of_message login=alice@example.test' "$MILTER_LOG" | grep -q 'queue_id=- '; then
        ok "relay-milter saw {auth_authen} and Sendmail's queue id (i) for the message"
    else
        not_ok "relay-milter saw {auth_authen} and Sendmail's queue id (i) for the message"
    fi
}

cases_unauthenticated() {
    unauth 127.0.0.2 someone@foreign.test rcpt@external.test "rcpt 550 5.7.1" \
        "unauthenticated relay from 127.0.0.2: refused by Sendmail (Relaying denied)"
    unauth 127.0.0.2 someone@foreign.test rcpt@example.test sent \
        "unauthenticated inbound to a relay domain: relay-milter accepts it untouched, delivered"
    unauth 127.0.0.3 printer@example.test rcpt@external.test sent \
        "IP-authorised printer (access db Connect:127.0.0.3 RELAY): delivered"
    unauth 127.0.0.3 someone@foreign.test rcpt@external.test "mail 550 5.7.1" \
        "IP-authorised printer with a foreign sender: 550 5.7.1 from relay-milter"
    unauth 127.0.0.3 printer@example.test rcpt@external.test "data 550 5.7.1" \
        "IP-authorised printer with a foreign From:: 550 5.7.1" --header "From: ceo@evil.test"
    unauth 127.0.0.4 printer@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "printer's sender from 127.0.0.4 (no access entry): relaying denied by Sendmail"
}

final_checks() {
    e2e_wait_until 20 bash -c "[ -z \"\$(ls -A '$SENDMAIL_DIR/mqueue')\" ]" || e2e_log "Sendmail queue not empty"
    check_refused_never_delivered
    milter_check_log_clean
}

# ---- main ----------------------------------------------------------------------------------------

if [ ! -x "$MILTER_BIN" ]; then
    not_ok "relay-milter is built ($MILTER_BIN)" "build the target relay-milter first"
    finish
fi
e2e_ports_free "$PORT_SENDMAIL" "$PORT_SINK" "$PORT_MILTER" || { not_ok "test ports are free"; finish; }
if ! start_all; then
    not_ok "start MariaDB, smtp-sink, relay-milter and Sendmail"
    e2e_show_file "$E2E_DIR/relay-milter.log" 20
    e2e_show_file "$E2E_DIR/sendmail/run/start.log" 20
    finish
fi
ok "started MariaDB, smtp-sink, relay-milter and Sendmail $(strings "$SENDMAIL_DIR/sbin/sendmail" | grep -m1 -o '^8\.[0-9.]*' || true) (namespace, sasldb, STARTTLS)"

milter_cases_authorised
milter_cases_refused
cases_unauthenticated
milter_cases_live_and_down
final_checks

e2e_finish
