# shellcheck shell=bash
# relay-policyd behind a test Postfix (tests/e2e/test_postfix_policyd.sh, test_routed_recipients.sh,
# test_relayctl_send.sh). Source after e2e.sh, mariadb.sh and postfix.sh.
#
#   policyd_e2e_start NODE PORT DB USER PASSWORD [INI_LINES]
#       writes E2E_DIR/relay-policyd.conf (log_level debug; the private MariaDB, INI_LINES right after its
#       [database] lines: more of them, then other sections such as [cache]; inet:127.0.0.1:PORT; user
#       root with allow_root: the tests have no "relay" account to drop to) and starts POLICYD_BIN
#       (default BUILD/relay-policyd) in the foreground, its log in E2E_DIR/policyd.log. Sets
#       POLICYD_PID; registers its stop with e2e_defer; true once PORT accepts connections.
#   policyd_e2e_start_all   the whole stack in order: TLS certificate, MariaDB (DB_NAME) and the test's
#                           setup_database, Dovecot on it (user dovecot, DOVECOT_DB_PASSWORD), smtp-sink on
#                           PORT_SINK, the test's start_policyd, the test's setup_postfix
#   postfix_contrib_policyd PORT_POLICY [PORT_SUBMISSION]
#       after postfix_configure: main.cf from contrib/postfix as an admin pastes it, and (with
#       PORT_SUBMISSION) its submission service from contrib/postfix/master.cf on that port, without
#       chroot (the Dovecot socket is outside the queue directory); only the policy address differs.

# The names every such test uses; the passwords are the test's own.
DB_NAME=relay_authority
POLICYD_DB_USER=relay_policyd
POLICYD_PID=

policyd_e2e_start() {
    local node=$1 port=$2 db=$3 user=$4 password=$5 extra=${6:-}
    relay_write_config "$E2E_DIR/relay-policyd.conf" "[general]" "node = $node" "log_level = debug" \
        "$(mariadb_database_section "$user" "$password" "$db")" "$extra" "$(relay_policyd_section "$port")"
    e2e_start_bg "$E2E_DIR/policyd.log" "${POLICYD_BIN:-$E2E_BUILD_DIR/relay-policyd}" \
        --config "$E2E_DIR/relay-policyd.conf" --foreground
    POLICYD_PID=$E2E_BG_PID
    e2e_defer stop_pid "$POLICYD_PID" 10
    e2e_wait_port 127.0.0.1 "$port" 15 "$POLICYD_PID"
}

postfix_contrib_policyd() {
    local policy=$1 submission=${2:-}
    postfix_main_file "$E2E_SRC_DIR/contrib/postfix/main.cf" "s/127\.0\.0\.1:10040/127.0.0.1:$policy/g" || return 1
    [ -n "$submission" ] || return 0
    postfix_master_file "$E2E_SRC_DIR/contrib/postfix/master.cf" \
        "s/^submission .*smtpd\$/127.0.0.1:$submission inet n - n - - smtpd/; s/127\.0\.0\.1:10040/127.0.0.1:$policy/g"
}

policyd_e2e_start_all() {
    tls_make_cert "$E2E_DIR/tls" || return 1
    e2e_defer mariadb_stop
    mariadb_start "$E2E_DIR/db" || return 1
    setup_database || return 1
    dovecot_start "$E2E_DIR/dovecot" \
        "host=$MARIADB_SOCKET dbname=$DB_NAME user=dovecot password=$DOVECOT_DB_PASSWORD" || return 1
    sink_start "$E2E_DIR/sink" "$PORT_SINK" || return 1
    start_policyd || { e2e_show_file "$E2E_DIR/policyd.log"; return 1; }
    setup_postfix
}
