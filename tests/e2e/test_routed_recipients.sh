#!/bin/bash
# End to end (issue 13 item 6): routed recipient addresses through a real Postfix whose local domain
# example.test is in mydestination, with Postfix's defaults for allow_percent_hack, swap_bangpath and
# resolve_dequoted_address (all "yes"). What it shows (Postfix 3.7):
#
#  * Postfix alone (port 12188: permit_sasl_authenticated, reject_unauth_destination, no policy) sends
#    "victim%evil.test@example.test", "evil.test!victim@example.test" and "\"victim@evil.test\"@example.test"
#    on to evil.test: the relayhost (smtp-sink) gets RCPT TO:<victim@evil.test>, though the domain after
#    the last '@' is local. A source route "@evil.test:victim@example.test" is dropped: victim@example.test.
#  * With relay-policyd (port 12187, contrib/postfix/main.cf), for localonly (may_relay_external = 0):
#    percent hack and bang path are refused at RCPT with 550 5.7.1 (external_relay_denied); before
#    issue 13 they were answered DUNNO and reached the relayhost as <victim@evil.test>. The quoted form
#    reaches the policy service unquoted (victim@evil.test@example.test) and is refused as malformed
#    (501 5.1.3), before and after. The source route never reaches it: Postfix strips it and delivers
#    locally. Plain local mail still goes through; may_relay_external = 1 may still use the percent hack.
#  * local_transport points at the sink as well, so the sink shows which address Postfix delivered to.
#
#   tests/e2e/test_routed_recipients.sh BUILD_DIR          (ctest: e2e_routed_recipients)
#
# Ports (127.0.0.1): Postfix submission 12187 (with relay-policyd) and 12188 (without; both STARTTLS,
# then AUTH); smtp-sink 12126; relay-policyd 12140.
# RELAY_E2E_POLICYD=PATH tests another relay-policyd binary (e.g. an older build, to see the old answers).
# Exit 0 when every check passed, 77 when a required program is not installed.

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e tls mariadb dovecot sink postfix policyd swaks; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

PORT_SINK=12126
PORT_SUBMISSION=12187
PORT_ALONE=12188
PORT_POLICY=12140
POLICYD_DB_PASSWORD=routed-e2e-pw
DOVECOT_DB_PASSWORD=dovecot-routed-pw

require postfix postconf postqueue smtp-sink dovecot doveadm mariadbd mariadb mariadb-install-db \
    swaks openssl
e2e_init routed_recipients "$BUILD_DIR"
POLICYD_BIN=${RELAY_E2E_POLICYD:-$E2E_BUILD_DIR/relay-policyd}
SWAKS_CASE_PREFIX=routed SWAKS_TIMEOUT=30 SWAKS_SINK_WAIT=15

db() { mariadb_sql "$DB_NAME" -e "$1"; }

case_diagnostics() { tail -n 3 "$E2E_DIR/policyd.log" 2>/dev/null | cut -c1-300 | sed 's/^/#   policyd: /'; }

# ---- start ---------------------------------------------------------------------------------------

setup_database() {
    local alice localonly
    mariadb_apply_schema "$DB_NAME" || return 1
    mariadb_create_app_user "$DB_NAME" "$POLICYD_DB_USER" "$POLICYD_DB_PASSWORD" || return 1
    db "CREATE USER 'dovecot'@'localhost' IDENTIFIED BY '$DOVECOT_DB_PASSWORD';
        GRANT SELECT ON $DB_NAME.users TO 'dovecot'@'localhost';
        GRANT SELECT ON $DB_NAME.domains TO 'dovecot'@'localhost';" || return 1
    alice=$(dovecot_hash SHA512-CRYPT alice-pw) && localonly=$(dovecot_hash SHA512-CRYPT localonly-pw) || return 1
    # example.test is hosted here (is_local = 1) and is Postfix's mydestination; evil.test is neither.
    db "INSERT INTO customers (id, name) VALUES (1, 'Example Corp');
        INSERT INTO domains (id, customer_id, name, is_local) VALUES (1, 1, 'example.test', 1);
        INSERT INTO users (id, domain_id, local_part, password_hash) VALUES
            (1, 1, 'alice', '$alice'), (2, 1, 'localonly', '$localonly');
        INSERT INTO smtp_authorities (user_id, customer_id, may_relay_external) VALUES (1, 1, 1), (2, 1, 0);"
}

start_policyd() {
    policyd_e2e_start e2e-routed "$PORT_POLICY" "$DB_NAME" "$POLICYD_DB_USER" "$POLICYD_DB_PASSWORD"
}

setup_postfix() {
    postfix_configure "$E2E_DIR/postfix" "[127.0.0.1]:$PORT_SINK" "$DOVECOT_AUTH_SOCKET" || return 1
    # The main.cf lines we ship (only the policy service address differs).
    postfix_contrib_policyd "$PORT_POLICY" || return 1
    # example.test is delivered "locally"; the local transport is the sink too, so that the sink shows
    # which address Postfix delivered each message to. The routing settings stay at their defaults.
    postfix_main "mydestination = example.test" "local_transport = smtp:[127.0.0.1]:$PORT_SINK" || return 1
    postfix_postconf -X allow_percent_hack swap_bangpath resolve_dequoted_address || return 1
    postfix_listener_submission "$PORT_SUBMISSION"
    # Postfix alone: the usual SASL relay restrictions, no policy service.
    postfix_listener_submission "$PORT_ALONE" \
        smtpd_relay_restrictions=permit_sasl_authenticated,reject_unauth_destination \
        smtpd_end_of_data_restrictions=
    postfix_start
}

# ---- cases ---------------------------------------------------------------------------------------

# submit LOGIN TO EXPECT DESC: STARTTLS + AUTH PLAIN as LOGIN (password LOCALPART-pw), sender = LOGIN,
# on port PORT (default: the submission port with relay-policyd)
submit() {
    expect_case "$4" "$3" --server "127.0.0.1:${PORT:-$PORT_SUBMISSION}" --tls --auth PLAIN --auth-user "$1" \
        --auth-password "${1%@*}-pw" --from "$1" --to "$2"
}

# delivered_to DESC ADDRESS: the last case's message reached the sink with RCPT TO:<ADDRESS> and no
# other recipient.
delivered_to() {
    local file rcpts
    file=$(sink_file_for "$CASE_TOKEN" | head -n 1)
    rcpts=$(sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$file" 2>/dev/null | tr '\n' ' ')
    if [ "$rcpts" = "$2 " ]; then
        ok "$1"
    else
        not_ok "$1" "the sink got RCPT TO: '${rcpts% }', want '$2' (file ${file:-none})"
    fi
}

# What Postfix by itself does with these addresses (port PORT_ALONE: permit_sasl_authenticated first,
# no policy service), with the defaults of the routing settings.
cases_postfix_alone() {
    local setting
    for setting in allow_percent_hack swap_bangpath resolve_dequoted_address; do
        if [ "$(postfix_postconf -h "$setting")" = yes ]; then
            ok "Postfix default $setting = yes"
        else
            not_ok "Postfix default $setting = yes" "got '$(postfix_postconf -h "$setting")'"
        fi
    done
    PORT=$PORT_ALONE submit localonly@example.test 'victim%evil.test@example.test' sent \
        "Postfix alone: victim%evil.test@example.test accepted (permit_sasl_authenticated)" &&
        delivered_to "Postfix alone: percent hack, the relayhost gets RCPT TO:<victim@evil.test>" victim@evil.test
    PORT=$PORT_ALONE submit localonly@example.test 'evil.test!victim@example.test' sent \
        "Postfix alone: evil.test!victim@example.test accepted (permit_sasl_authenticated)" &&
        delivered_to "Postfix alone: bang path, the relayhost gets RCPT TO:<victim@evil.test>" victim@evil.test
    PORT=$PORT_ALONE submit localonly@example.test '"victim@evil.test"@example.test' sent \
        "Postfix alone: \"victim@evil.test\"@example.test accepted (permit_sasl_authenticated)" &&
        delivered_to "Postfix alone: quoted @, the relayhost gets RCPT TO:<victim@evil.test>" victim@evil.test
    PORT=$PORT_ALONE submit localonly@example.test '@evil.test:victim@example.test' sent \
        "Postfix alone: source route @evil.test:victim@example.test accepted" &&
        delivered_to "Postfix alone: source route dropped, delivered to <victim@example.test>" victim@example.test
}

# With relay-policyd (contrib/postfix/main.cf): for may_relay_external = 0 these are external relaying,
# refused at RCPT before Postfix reroutes them.
cases_with_policy() {
    submit localonly@example.test colleague@example.test sent \
        "may_relay_external = 0, plain local recipient: accepted" &&
        delivered_to "may_relay_external = 0, plain local recipient: delivered to <colleague@example.test>" \
            colleague@example.test
    submit localonly@example.test victim@evil.test "rcpt 550 5.7.1" \
        "may_relay_external = 0, victim@evil.test: 550 5.7.1"
    submit localonly@example.test 'victim%evil.test@example.test' "rcpt 550 5.7.1" \
        "may_relay_external = 0, victim%evil.test@example.test (percent hack): 550 5.7.1"
    submit localonly@example.test 'evil.test!victim@example.test' "rcpt 550 5.7.1" \
        "may_relay_external = 0, evil.test!victim@example.test (bang path): 550 5.7.1"
    # Postfix hands the policy service the unquoted form, victim@evil.test@example.test, which is not a
    # valid address: refused as malformed (for every account).
    submit localonly@example.test '"victim@evil.test"@example.test' "rcpt 501 5.1.3" \
        "may_relay_external = 0, \"victim@evil.test\"@example.test (quoted @, seen unquoted): 501 5.1.3"
    # Postfix drops the route before it asks (and delivers locally): nothing leaves.
    submit localonly@example.test '@evil.test:victim@example.test' sent \
        "may_relay_external = 0, @evil.test:victim@example.test: Postfix drops the route, accepted" &&
        delivered_to "may_relay_external = 0, source route: delivered to <victim@example.test>, not evil.test" \
            victim@example.test
    if grep -q 'recipient=<victim%evil.test@example.test> .*reason=external_relay_denied' "$E2E_DIR/policyd.log" &&
        grep -q 'a percent sign in the local part can route it to another domain' "$E2E_DIR/swaks/"*.txt; then
        ok "the refusal is external_relay_denied in the log and names the percent sign in the reply"
    else
        not_ok "the refusal is external_relay_denied in the log and names the percent sign in the reply"
    fi
    submit alice@example.test 'victim%evil.test@example.test' sent \
        "may_relay_external = 1, victim%evil.test@example.test: accepted" &&
        delivered_to "may_relay_external = 1, percent hack: delivered to <victim@evil.test>" victim@evil.test
}

# ---- main ----------------------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
    not_ok "the test runs as root" "a private Postfix instance and smtp-sink -u nobody need root"
    finish
fi
if [ ! -x "$POLICYD_BIN" ]; then
    not_ok "relay-policyd is built ($POLICYD_BIN)" "build the target relay-policyd first"
    finish
fi
e2e_ports_free "$PORT_SINK" "$PORT_SUBMISSION" "$PORT_ALONE" "$PORT_POLICY" || {
    not_ok "test ports are free"
    finish
}
if ! policyd_e2e_start_all; then
    not_ok "start MariaDB, Dovecot, smtp-sink, relay-policyd and Postfix"
    e2e_show_file "$E2E_DIR/policyd.log" 20
    e2e_show_file "${POSTFIX_LOG:-/dev/null}" 20
    finish
fi
ok "started MariaDB, Dovecot, smtp-sink, relay-policyd and Postfix (mydestination = example.test)"

cases_postfix_alone
cases_with_policy
postfix_wait_queue_empty 20 || e2e_log "Postfix queue not empty after 20 s"
check_refused_never_delivered "queue drained"
postfix_check_log_clean

e2e_finish
