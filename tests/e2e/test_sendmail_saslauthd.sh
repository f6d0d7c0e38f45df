#!/bin/bash
# End to end: one password store for Sendmail. Sendmail AUTH -> Cyrus SASL (pwcheck_method: saslauthd)
# -> saslauthd -a rimap -> Dovecot IMAP LOGIN on loopback -> Dovecot passdb SQL
# (contrib/dovecot/dovecot-sql.conf.ext, as shipped) on relay-authority's own users table in MariaDB.
# relay-milter (INPUT_MAIL_FILTER from contrib/sendmail/relay-milter.m4) then decides on the login
# Sendmail reports. The route docs/sendmail.md describes ("One password store for Postfix and Sendmail").
#
#   tests/e2e/test_sendmail_saslauthd.sh BUILD_DIR       (ctest: e2e_sendmail_saslauthd)
#
# Ports (127.0.0.1): Dovecot IMAP 12190, smtp-sink 12191, Sendmail 12280, relay-milter 12281. saslauthd
# listens on a unix socket in the work dir (never /var/run/saslauthd). No sasldb is written: a login can
# only succeed through saslauthd. Needs root (unshare --mount), dovecot-imapd and sasl2-bin.
# Dovecot's per-IP auth penalty is off (tests/lib/dovecot.sh, IMAP mode): every login comes from 127.0.0.1,
# and each refused case would otherwise delay the next login by seconds.
# Passwords are Dovecot hashes made with doveadm pw: alice {SHA512-CRYPT}, bob {BLF-CRYPT}.

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e tls mariadb dovecot sink sendmail swaks; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

PORT_IMAP=12190
PORT_SINK=12191
PORT_SENDMAIL=12280
PORT_MILTER=12281
DOVECOT_DB_PASSWORD=dovecot-e2e-pw

require mariadbd mariadb mariadb-install-db smtp-sink swaks openssl m4 saslpasswd2 unshare nsenter dpkg \
    dovecot doveadm saslauthd testsaslauthd
[ -e /usr/lib/dovecot/imap ] && [ -e /usr/lib/dovecot/imap-login ] ||
    skip "Dovecot IMAP (package dovecot-imapd) is not installed"
sendmail_available || skip "needs root (unshare --mount), m4, saslpasswd2"
e2e_init sendmail_saslauthd "$BUILD_DIR"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/e2e/milter/common.sh"
mkdir -p "$E2E_DIR/swaks"

SWAKS_CASE_PREFIX=smsa
SWAKS_ARGS=(--server "127.0.0.1:$PORT_SENDMAIL")
SWAKS_SENT_REPLY='250 2\.0\.0 .*Message accepted for delivery'
case_diagnostics() {
    tail -n 3 "$SASLAUTHD_LOG" | cut -c1-300 | sed 's/^/#   saslauthd: /'
    tail -n 3 "$DOVECOT_LOG" | cut -c1-300 | sed 's/^/#   dovecot: /'
    tail -n 2 "$MILTER_LOG" | cut -c1-300 | sed 's/^/#   milter: /'
}

# submit LOGIN PASSWORD EXPECT DESC [SWAKS_ARGS...]: STARTTLS, AUTH PLAIN, own sender and From:
submit() {
    local login=$1 password=$2 expect=$3 desc=$4 from
    from=$(printf '%s' "$login" | tr '[:upper:]' '[:lower:]')
    shift 4
    expect_case "$desc" "$expect" --tls --auth PLAIN --auth-user "$login" --auth-password "$password" \
        --from "$from" --to rcpt@external.test --header "From: $from" "$@"
}

# set_password LOCAL_PART SCHEME PASSWORD: users.password_hash = the doveadm pw hash (with {SCHEME})
set_password() {
    local hash
    hash=$(dovecot_hash "$2" "$3") || return 1
    milter_db "UPDATE users u JOIN domains d ON d.id = u.domain_id SET u.password_hash = '$hash'
        WHERE u.local_part = '$1' AND d.name = 'example.test'"
}

start_all() {
    tls_make_cert "$E2E_DIR/tls" smtp.example.test || return 1
    sendmail_fetch_debs "$E2E_BUILD_DIR/sendmail-debs" || return 1
    e2e_defer mariadb_stop
    mariadb_start "$E2E_DIR/db" || return 1
    milter_setup_database relay_authority || return 1
    # The fixtures store {PLAIN}; here every password this test uses is a real hash made by doveadm pw.
    set_password alice SHA512-CRYPT alice-pw || return 1
    set_password bob BLF-CRYPT bob-pw || return 1
    set_password noauth SHA512-CRYPT noauth-pw || return 1
    set_password erin SHA512-CRYPT erin-pw || return 1
    set_password carol SHA512-CRYPT carol-pw || return 1
    set_password frank BLF-CRYPT frank-pw || return 1
    milter_db "CREATE USER 'dovecot'@'localhost' IDENTIFIED BY '$DOVECOT_DB_PASSWORD';
        GRANT SELECT ON relay_authority.users TO 'dovecot'@'localhost';
        GRANT SELECT ON relay_authority.domains TO 'dovecot'@'localhost';" || return 1
    # No auth cache (dovecot.sh sets none): a password changed in SQL counts at the next login.
    DOVECOT_IMAP_PORT=$PORT_IMAP
    dovecot_start "$E2E_DIR/dovecot" \
        "host=$MARIADB_SOCKET dbname=relay_authority user=dovecot password=$DOVECOT_DB_PASSWORD" || return 1
    # -r: Cyrus splits "alice@example.test" into user "alice" and realm "example.test"; without -r
    # saslauthd would send only "alice" to IMAP, and the passdb query needs the whole address.
    sendmail_saslauthd_start "$E2E_DIR/saslauthd" rimap "127.0.0.1/$PORT_IMAP" -r || return 1
    sink_start "$E2E_DIR/sink" "$PORT_SINK" || return 1
    milter_start "$PORT_MILTER" || return 1
    sendmail_configure "$E2E_DIR/sendmail" "$E2E_BUILD_DIR/sendmail-debs" "$PORT_SENDMAIL" "$PORT_SINK" \
        "inet:$PORT_MILTER@127.0.0.1" || return 1
    sendmail_use_saslauthd "$SASLAUTHD_MUX"
    sendmail_start
}

cases_chain() {
    if dovecot_imap_login alice@example.test alice-pw && ! dovecot_imap_login alice@example.test wrong-pw; then
        ok "Dovecot IMAP LOGIN on 127.0.0.1:$PORT_IMAP checks the users table (right/wrong password)"
    else
        not_ok "Dovecot IMAP LOGIN on 127.0.0.1:$PORT_IMAP checks the users table" "$(tail -n 5 "$DOVECOT_LOG")"
    fi
    if sendmail_saslauthd_test alice@example.test alice-pw && ! sendmail_saslauthd_test alice@example.test wrong-pw; then
        ok "saslauthd -a rimap answers OK / NO through Dovecot (testsaslauthd)"
    else
        not_ok "saslauthd -a rimap answers OK / NO through Dovecot" "$(tail -n 5 "$SASLAUTHD_LOG")"
    fi
    if [ ! -e "$SENDMAIL_DIR/sasl/sasldb2" ] && grep -q '^pwcheck_method: saslauthd' "$SENDMAIL_DIR/sasl/Sendmail.conf"; then
        ok "Sendmail's Cyrus SASL uses saslauthd (Sendmail.conf), no sasldb exists"
    else
        not_ok "Sendmail's Cyrus SASL uses saslauthd, no sasldb exists"
    fi
}

# imap_logins_of USER: how many successful IMAP logins Dovecot logged for USER
imap_logins_of() {
    grep -c "imap-login: Info: Login: user=<$1>," "$DOVECOT_LOG" 2>/dev/null
}

cases_authorised() {
    local before
    before=$(imap_logins_of alice@example.test)
    submit alice@example.test alice-pw sent "alice ({SHA512-CRYPT} in users): AUTH PLAIN over STARTTLS, delivered"
    if grep -q 'with ESMTPSA' "$(sink_file_for "$CASE_TOKEN" | head -n 1)" 2>/dev/null; then
        ok "the delivered copy was received with ESMTPSA (authenticated)"
    else
        not_ok "the delivered copy was received with ESMTPSA (authenticated)"
    fi
    if [ "$(imap_logins_of alice@example.test)" -gt "$before" ]; then
        ok "the SMTP AUTH reached Dovecot as an IMAP LOGIN of alice@example.test (full address, saslauthd -r)"
    else
        not_ok "the SMTP AUTH reached Dovecot as an IMAP LOGIN of alice@example.test" "$(tail -n 5 "$DOVECOT_LOG")"
    fi
    if milter_log_has 'stage=end_of_message login=alice@example.test .*verdict=continue'; then
        ok "relay-milter saw {auth_authen}=alice@example.test and permitted the message"
    else
        not_ok "relay-milter saw {auth_authen}=alice@example.test and permitted the message"
    fi
    submit bob@example.test bob-pw sent "bob ({BLF-CRYPT} in users): delivered"
    submit Alice@Example.TEST alice-pw sent \
        "login in mixed case: Dovecot lower-cases it, relay-milter matches it, delivered"
}

cases_refused() {
    submit alice@example.test wrong-pw "auth 535 5.7.0" "wrong password: AUTH refused (535 5.7.0), not delivered"
    submit nobody@example.test nobody-pw "auth 535 5.7.0" "unknown user: AUTH refused (535 5.7.0)"
    submit noauth@example.test noauth-pw "mail 550 5.7.1" \
        "authenticated (password in users) but no SMTP authority: 550 5.7.1 from relay-milter, not delivered"
    if milter_log_has 'login=noauth@example.test .*verdict=reject'; then
        ok "relay-milter logged the refusal of noauth@example.test"
    else
        not_ok "relay-milter logged the refusal of noauth@example.test"
    fi
}

cases_live_sql() {
    submit erin@example.test erin-pw sent "erin before the password change: delivered"
    set_password erin BLF-CRYPT erin-new-pw || not_ok "password of erin changed in SQL"
    submit erin@example.test erin-pw "auth 535 5.7.0" \
        "password changed in SQL while everything runs: the old password is refused (535)"
    submit erin@example.test erin-new-pw sent "password changed in SQL: the new one works at once, delivered"

    submit carol@example.test carol-pw sent "carol before deactivation: delivered"
    milter_db "UPDATE users u JOIN domains d ON d.id = u.domain_id SET u.active = 0
        WHERE u.local_part = 'carol' AND d.name = 'example.test'"
    submit carol@example.test carol-pw "auth 535 5.7.0" "users.active = 0 in SQL: AUTH refused (535)"

    submit frank@example.test frank-pw sent "frank before deletion: delivered"
    milter_db "DELETE u FROM users u JOIN domains d ON d.id = u.domain_id
        WHERE u.local_part = 'frank' AND d.name = 'example.test'"
    submit frank@example.test frank-pw "auth 535 5.7.0" "user deleted from SQL: AUTH refused (535)"
}

final_checks() {
    e2e_wait_until 20 bash -c "[ -z \"\$(ls -A '$SENDMAIL_DIR/mqueue')\" ]" || e2e_log "Sendmail queue not empty"
    check_refused_never_delivered
    milter_check_log_clean
    # (The auth master process, user dovecot, cannot reach the private MariaDB socket and says so; the
    # auth-worker, root, does the passdb queries. Same in every Dovecot e2e test; not counted here.)
    if grep -E 'Panic|Fatal|Error' "$DOVECOT_LOG" | grep -qv 'auth: Error: mysql('; then
        not_ok "no IMAP/login errors in Dovecot's log" "$(grep -E 'Panic|Fatal|Error' "$DOVECOT_LOG" | tail -n 3)"
    else
        ok "no IMAP/login errors in Dovecot's log"
    fi
}

# ---- main ----------------------------------------------------------------------------------------

if [ ! -x "$MILTER_BIN" ]; then
    not_ok "relay-milter is built ($MILTER_BIN)" "build the target relay-milter first"
    finish
fi
e2e_ports_free "$PORT_IMAP" "$PORT_SINK" "$PORT_SENDMAIL" "$PORT_MILTER" ||
    { not_ok "test ports are free"; finish; }
if ! start_all; then
    not_ok "start MariaDB, Dovecot IMAP, saslauthd, smtp-sink, relay-milter and Sendmail"
    e2e_show_file "$E2E_DIR/dovecot/dovecot.log" 20
    e2e_show_file "$E2E_DIR/saslauthd/saslauthd.log" 20
    e2e_show_file "$E2E_DIR/relay-milter.log" 20
    e2e_show_file "$E2E_DIR/sendmail/run/start.log" 20
    finish
fi
ok "started MariaDB, Dovecot IMAP, saslauthd (rimap), smtp-sink, relay-milter and Sendmail (namespace, STARTTLS)"
e2e_log "start took $(( ($(e2e_now_ms) - E2E_START_MS) / 1000 )) s"

cases_chain
cases_authorised
cases_refused
cases_live_sql
final_checks

e2e_finish
