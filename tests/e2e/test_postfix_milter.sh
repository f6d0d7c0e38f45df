#!/bin/bash
# End to end: a real Postfix with relay-milter in smtpd_milters (contrib/postfix/milter.cf as pasted),
# Dovecot SASL on our users table, the rules in a private MariaDB, smtp-sink as relayhost, swaks as client
# (the stack: tests/e2e/milter/postfix_stack.sh). The milter cases every MTA runs
# (tests/e2e/milter/cases.sh), then what is Postfix's own: AUTH LOGIN, AUTH without TLS, relay_domains
# for unauthenticated clients, the queue. Its throughput benchmark is tests/bench/postfix_milter.sh.
#
#   tests/e2e/test_postfix_milter.sh BUILD_DIR          (ctest: e2e_postfix_milter)

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e tls mariadb dovecot sink postfix swaks; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

require postfix postconf postqueue smtp-sink dovecot doveadm mariadbd mariadb mariadb-install-db swaks openssl
e2e_init postfix_milter "$BUILD_DIR"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/e2e/milter/postfix_stack.sh"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/e2e/milter/cases.sh"
SWAKS_CASE_PREFIX=pf   # smtp_case, expect_case: tests/lib/swaks.sh
# milter_default_action = tempfail: Postfix answers 4xx from the first command the milter would see
# (here STARTTLS: 454 4.3.0), so nothing gets through unchecked.
MTA_TEMPFAIL="4xx (milter_default_action = tempfail)"

case_diagnostics() { tail -n 2 "$MILTER_LOG" | cut -c1-300 | sed 's/^/#   milter: /'; }

mta_checks_first_delivery() {
    MECH=LOGIN submit alice@example.test alice@example.test rcpt@external.test sent "AUTH LOGIN, own sender: delivered"
    if milter_log_has 'stage=end_of_message login=alice@example.test .*verdict=continue'; then
        ok "relay-milter saw {auth_authen} from Postfix at MAIL"
    else
        not_ok "relay-milter saw {auth_authen} from Postfix at MAIL"
    fi
}

cases_postfix() {
    PORT=$PORT_NOTLS TLS=no submit tlsuser@example.test tlsuser@example.test rcpt@external.test "mail 530 5.7.0" \
        "require_tls, AUTH without TLS: 530 5.7.0 at MAIL"
}

cases_unauthenticated() {
    unauth 127.0.0.1 someone@foreign.test rcpt@external.test "rcpt 554 5.7.1" \
        "unauthenticated relay: refused by Postfix (relay access denied)"
    unauth 127.0.0.1 someone@foreign.test rcpt@example.test sent \
        "unauthenticated inbound to a relay domain: untouched by relay-milter, delivered"
    unauth 127.0.0.3 someone@foreign.test rcpt@example.test "mail 550 5.7.1" \
        "IP-authorised printer's address with a foreign sender: 550 5.7.1 from relay-milter"
}

final_checks() {
    postfix_wait_queue_empty 20 || e2e_log "Postfix queue not empty after 20 s"
    check_refused_never_delivered "queue drained"
    postfix_check_log_clean
    milter_check_log_clean
}

# ---- main ----------------------------------------------------------------------------------------

if [ ! -x "$MILTER_BIN" ]; then
    not_ok "relay-milter is built ($MILTER_BIN)" "build the target relay-milter first"
    finish
fi
e2e_ports_free "${POSTFIX_MILTER_PORTS[@]}" || { not_ok "test ports are free"; finish; }
if ! postfix_milter_start_all; then
    not_ok "start MariaDB, Dovecot, smtp-sink, relay-milter and Postfix"
    e2e_show_file "$E2E_DIR/relay-milter.log" 20
    e2e_show_file "${POSTFIX_LOG:-/dev/null}" 20
    finish
fi
ok "started MariaDB, Dovecot, smtp-sink, relay-milter and Postfix (smtpd_milters from contrib/postfix/milter.cf)"

milter_cases_authorised
cases_postfix
milter_cases_refused
cases_unauthenticated
milter_cases_live_and_down
final_checks

e2e_finish
