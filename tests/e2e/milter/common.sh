# shellcheck shell=bash
# Shared by the relay-milter end-to-end tests (test_miltertest.sh, test_sendmail_milter.sh,
# test_postfix_milter.sh). Needs tests/lib/e2e.sh, mariadb.sh and swaks.sh (password_of) sourced first.
#
#   milter_setup_database DB          schema, the app user relay_milter, the fixtures below
#   milter_db SQL                     run SQL in the test database as the admin user
#   milter_start PORT [EXTRA_INI]     write E2E_DIR/relay-milter.conf, start relay-milter in the
#                                     foreground on inet:PORT@127.0.0.1; sets MILTER_PID, MILTER_LOG;
#                                     registers its stop with e2e_defer. EXTRA_INI is appended to [milter].
#   milter_daemon_config NODE LOG_LEVEL  [general], [database] and [cache] of its config (for
#                                     relay_write_config), shared with the relay-policyd some tests start
#   milter_log_has REGEX [SECS]       wait until relay-milter's log has a line matching REGEX (default 3 s)
#   milter_check_log_clean            one check: no internal error or crash in any relay-milter log
#
# Fixture accounts (password LOCALPART-pw, stored as {PLAIN} so Dovecot and sasldb can use the same):
#   alice      own_address, authority_senders @alias.test      bob       own_domain
#   carol      customer_domains                                dave      listed_only + news@example.org
#   noauth     user without authority                          disabled  authority active = 0
#   suspended  suspended until tomorrow                        expired   valid_until yesterday
#   erin       disabled by the test while the milter runs      frank     deleted by the test
#   netuser    authority_networks 127.0.0.1/32                  tlsuser   require_tls
#   localonly  may_relay_external = 0                           capped    max_recipients_per_message 2
#   small      max_message_bytes 2000                           nullok    allow_null_sender
#   printer    auth_mode ip, 127.0.0.3/32 (no SASL)
#   limited    rate limit: 2 messages per hour, defer          held      rate limit: 1 message/hour, hold
# Domains: example.test, example.org (customer 1), other.test (customer 2), alias.test (not local).

MILTER_DB=relay_authority
MILTER_DB_USER=relay_milter
MILTER_DB_PASSWORD=milter-e2e-pw
MILTER_MAX_STALE=2
MILTER_POLL_MS=200
MILTER_PID=
MILTER_BIN=${RELAY_E2E_MILTER:-$E2E_BUILD_DIR/relay-milter}

milter_db() { mariadb_sql "$MILTER_DB" -e "$1"; }

_milter_account() {
    local login=$1 cols=${2:-} vals=${3:-} local=${1%@*} domain=${1#*@}
    printf "INSERT INTO users (domain_id, local_part, password_hash) SELECT id, '%s', '{PLAIN}%s' FROM domains WHERE name = '%s';\n" \
        "$local" "$(password_of "$login")" "$domain"
    [ "$cols" = none ] && return 0
    printf "INSERT INTO smtp_authorities (user_id%s) SELECT u.id%s FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.local_part = '%s' AND d.name = '%s';\n" \
        "${cols:+, $cols}" "${vals:+, $vals}" "$local" "$domain"
}

_milter_rule() {
    printf "INSERT INTO %s (authority_id, %s) SELECT a.id, '%s' FROM smtp_authorities a JOIN users u ON u.id = a.user_id JOIN domains d ON d.id = u.domain_id WHERE CONCAT(u.local_part, '@', d.name) = '%s';\n" \
        "$1" "$2" "$3" "$4"
}

milter_fixtures_sql() {
    cat <<'SQL'
INSERT INTO customers (id, name) VALUES (1, 'Example Corp'), (2, 'Other Corp');
INSERT INTO domains (customer_id, name, is_local) VALUES
    (1, 'example.test', 1), (1, 'example.org', 1), (2, 'other.test', 1), (1, 'alias.test', 0);
SQL
    _milter_account alice@example.test
    _milter_rule authority_senders pattern @alias.test alice@example.test
    _milter_account bob@example.test "sender_policy" "'own_domain'"
    _milter_account carol@example.test "sender_policy" "'customer_domains'"
    _milter_account dave@example.test "sender_policy" "'listed_only'"
    _milter_rule authority_senders pattern news@example.org dave@example.test
    _milter_account noauth@example.test none
    _milter_account disabled@example.test "active" "0"
    _milter_account suspended@example.test "suspended_until, suspend_reason" "NOW() + INTERVAL 1 DAY, 'e2e test'"
    _milter_account expired@example.test "valid_until" "NOW() - INTERVAL 1 DAY"
    _milter_account erin@example.test
    _milter_account frank@example.test
    _milter_account netuser@example.test
    _milter_rule authority_networks cidr 127.0.0.1/32 netuser@example.test
    _milter_account tlsuser@example.test "require_tls" "1"
    _milter_account localonly@example.test "may_relay_external" "0"
    _milter_account capped@example.test "max_recipients_per_message" "2"
    _milter_account small@example.test "max_message_bytes" "2000"
    _milter_account nullok@example.test "allow_null_sender" "1"
    _milter_account printer@example.test "auth_mode" "'ip'"
    _milter_rule authority_networks cidr 127.0.0.3/32 printer@example.test
    _milter_account limited@example.test
    _milter_account held@example.test
    cat <<'SQL'
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, action)
    SELECT 'authority', a.id, 'messages', 2, 3600, 'defer' FROM smtp_authorities a
    JOIN users u ON u.id = a.user_id WHERE u.local_part = 'limited';
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, action)
    SELECT 'authority', a.id, 'messages', 1, 3600, 'hold' FROM smtp_authorities a
    JOIN users u ON u.id = a.user_id WHERE u.local_part = 'held';
SQL
}

milter_setup_database() {
    local db=${1:-$MILTER_DB}
    MILTER_DB=$db
    mariadb_apply_schema "$db" || return 1
    mariadb_create_app_user "$db" "$MILTER_DB_USER" "$MILTER_DB_PASSWORD" || return 1
    milter_fixtures_sql >"$E2E_DIR/fixtures.sql" || return 1
    mariadb_sql "$db" <"$E2E_DIR/fixtures.sql"
}

# milter_daemon_config NODE LOG_LEVEL: [general], [database] (the private MariaDB as MILTER_DB_USER,
# timeouts 2 s) and [cache] of the daemons these tests start; their own section follows.
milter_daemon_config() {
    printf '%s\n' "[general]" "node = $1" "log_level = $2" \
        "$(mariadb_database_section "$MILTER_DB_USER" "$MILTER_DB_PASSWORD" "$MILTER_DB")" \
        "read_timeout = 2" "write_timeout = 2" \
        "[cache]" "poll_interval = ${MILTER_POLL_MS}ms" "max_stale = $MILTER_MAX_STALE"
}

milter_start() {
    local port=$1 extra=${2:-}
    MILTER_LOG=$E2E_DIR/relay-milter.log
    # The private MariaDB socket is in a 0700 directory of root: stay root (test_miltertest.sh checks the
    # drop to nobody with a second instance).
    relay_write_config "$E2E_DIR/relay-milter.conf" \
        "# relay-milter for the end-to-end tests (tests/e2e/milter/common.sh)" \
        "$(milter_daemon_config e2e-milter debug)" "$(relay_milter_section "$port")" "$extra"
    e2e_start_bg "$MILTER_LOG" "$MILTER_BIN" --config "$E2E_DIR/relay-milter.conf" --foreground
    MILTER_PID=$E2E_BG_PID
    e2e_defer stop_pid "$MILTER_PID" 15
    e2e_wait_port 127.0.0.1 "$port" 15 "$MILTER_PID" || { e2e_show_file "$MILTER_LOG" 20; return 1; }
}

milter_log_has() {
    e2e_wait_until "${2:-3}" grep -Eq -- "$1" "$MILTER_LOG"
}

# milter_check_log_clean: one check: no internal error, uncaught exception or crash in any relay-milter
# log of this test (every instance it started logs to $E2E_DIR/relay-milter*.log).
milter_check_log_clean() {
    local pattern='internal error|terminate called|Segmentation'
    if grep -qiE "$pattern" "$E2E_DIR"/relay-milter*.log; then
        not_ok "no internal errors in relay-milter's log" "$(grep -hiE "$pattern" "$E2E_DIR"/relay-milter*.log | head -n 3)"
    else
        ok "no internal errors in relay-milter's log"
    fi
}
