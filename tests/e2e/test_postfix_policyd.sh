#!/bin/bash
# End to end: a real Postfix asks relay-policyd, Dovecot authenticates against our users table, the
# rules live in a private MariaDB, and smtp-sink plays the next hop. swaks is the mail client.
#
#   tests/e2e/test_postfix_policyd.sh BUILD_DIR          (ctest: e2e_postfix_policyd)
#
# Ports (127.0.0.1): Postfix 12125 (no AUTH, like an MX), 12186 (AUTH without TLS), 12187 (submission:
# STARTTLS, then AUTH); smtp-sink 12126; relay-policyd 12140. Work dir: BUILD_DIR/e2e-postfix_policyd
# (logs are kept; the database files are removed when every check passed).
# Every case asserts the SMTP reply code and enhanced status (and swaks' exit status: 0 sent,
# 24 no recipient accepted, 26 refused after DATA, 28 AUTH failed) and whether the message reached the
# sink. Exit 0 when every check passed, 77 when a required program is not installed.

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e tls mariadb dovecot sink postfix policyd swaks; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

PORT_MX=12125
PORT_SINK=12126
PORT_NOTLS=12186
PORT_SUBMISSION=12187
PORT_POLICY=12140
POLICYD_DB_PASSWORD=policyd-e2e-pw
DOVECOT_DB_PASSWORD=dovecot-e2e-pw
MAX_STALE_SECONDS=2      # [cache] max_stale: how long rules outlive the database
POLL_MS=200              # [cache] poll_interval (ms)

require postfix postconf postqueue smtp-sink dovecot doveadm mariadbd mariadb mariadb-install-db \
    swaks openssl
e2e_init postfix_policyd "$BUILD_DIR"
POLICYD_BIN=${RELAY_E2E_POLICYD:-$E2E_BUILD_DIR/relay-policyd}   # override: test another binary
mkdir -p "$E2E_DIR/swaks"

SWAKS_TIMEOUT=30 SWAKS_SINK_WAIT=15   # smtp_case, expect_case: tests/lib/swaks.sh

db() { mariadb_sql "$DB_NAME" -e "$1"; }

show_diagnostics() {
    [ -n "${1:-}" ] && sed -n 's/^\(<[-~*]*\|\*\*\*\) *//p' "$1" | tail -n 4 | sed 's/^/#   swaks: /'
    tail -n 3 "$E2E_DIR/policyd.log" 2>/dev/null | cut -c1-300 | sed 's/^/#   policyd: /'
}

case_diagnostics() { show_diagnostics ""; }

# submit and password_of: tests/lib/swaks.sh (STARTTLS + AUTH on PORT_SUBMISSION; MECH, PORT, TLS=no).

# unauth CLIENT_IP FROM TO EXPECT DESC: no AUTH, on the MX port, from a chosen loopback address.
unauth() {
    expect_case "$5" "$4" --server "127.0.0.1:$PORT_MX" --local-interface "$1" --from "$2" --to "$3"
}

# ---- fixtures ------------------------------------------------------------------------------------

# add_account LOGIN SCHEME [none | AUTHORITY_COLUMNS VALUES]: a user (password LOCALPART-pw hashed by
# doveadm) and, unless "none", its SMTP authority with the given extra columns, e.g.
#   add_account bob@example.test BLF-CRYPT "sender_policy" "'own_domain'"
# Hashes come from hash_passwords (doveadm takes ~0.2 s per call: run them in parallel first).
add_account() {
    local login=$1 scheme=$2 cols=${3:-} vals=${4:-} hash lpart=${1%@*} domain=${1#*@}
    hash=$(cat "$E2E_DIR/hashes/$login.$scheme") || return 1
    [ -n "$hash" ] || return 1
    printf "INSERT INTO users (domain_id, local_part, password_hash) SELECT id, '%s', '%s' FROM domains WHERE name = '%s';\n" \
        "$lpart" "$hash" "$domain"
    [ "$cols" = none ] && return 0
    printf "INSERT INTO smtp_authorities (user_id, customer_id%s) SELECT u.id, d.customer_id%s FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.local_part = '%s' AND d.name = '%s';\n" \
        "${cols:+, $cols}" "${vals:+, $vals}" "$lpart" "$domain"
}

# add_rule TABLE COLUMN VALUE LOGIN: an authority_senders / authority_networks row for LOGIN
add_rule() {
    printf "INSERT INTO %s (authority_id, %s) SELECT a.id, '%s' FROM smtp_authorities a JOIN users u ON u.id = a.user_id JOIN domains d ON d.id = u.domain_id WHERE CONCAT(u.local_part, '@', d.name) = '%s';\n" \
        "$1" "$2" "$3" "$4"
}

# hash_passwords: doveadm pw for every "add_account LOGIN SCHEME" line of fixtures_sql, two at a time
hash_passwords() {
    local login scheme pids=()
    mkdir -p "$E2E_DIR/hashes"
    # Wait for these PIDs only: a bare "wait" would also wait for the daemons started from this shell.
    while read -r login scheme; do
        dovecot_hash "$scheme" "$(password_of "$login")" >"$E2E_DIR/hashes/$login.$scheme" &
        pids+=($!)
        if [ ${#pids[@]} -ge 2 ]; then
            wait "${pids[@]}"
            pids=()
        fi
    done < <(sed -n 's/^ *add_account \([^ ]*\) \([A-Z0-9-]*\).*/\1 \2/p' "${BASH_SOURCE[0]}")
    [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
}

fixtures_sql() {
    cat <<'SQL'
INSERT INTO customers (id, name) VALUES (1, 'Example Corp'), (2, 'Other Corp');
INSERT INTO domains (customer_id, name, is_local) VALUES
    (1, 'example.test', 1), (1, 'example.org', 1), (2, 'other.test', 1);
SQL
    add_account alice@example.test SHA512-CRYPT                   # own_address (the default)
    add_rule authority_senders pattern @alias.test alice@example.test
    add_account bob@example.test BLF-CRYPT "sender_policy" "'own_domain'"
    add_account carol@example.test SHA512-CRYPT "sender_policy" "'customer_domains'"
    add_account dave@example.test BLF-CRYPT "sender_policy" "'listed_only'"
    add_rule authority_senders pattern news@example.org dave@example.test
    add_account noauth@example.test SHA512-CRYPT none
    add_account disabled@example.test SHA512-CRYPT "active" "0"
    add_account suspended@example.test BLF-CRYPT "suspended_until, suspend_reason" \
        "NOW() + INTERVAL 1 DAY, 'e2e test'"
    add_account expired@example.test SHA512-CRYPT "valid_until" "NOW() - INTERVAL 1 DAY"
    add_account erin@example.test SHA512-CRYPT          # disabled while the daemon runs
    add_account frank@example.test BLF-CRYPT            # deleted while the daemon runs
    add_account netuser@example.test SHA512-CRYPT
    add_rule authority_networks cidr 127.0.0.1/32 netuser@example.test
    add_account tlsuser@example.test SHA512-CRYPT "require_tls" "1"
    add_account localonly@example.test SHA512-CRYPT "may_relay_external" "0"
    add_account capped@example.test SHA512-CRYPT "max_recipients_per_message" "2"
    add_account small@example.test SHA512-CRYPT "max_message_bytes" "2000"
    add_account printer@example.test SHA512-CRYPT "auth_mode" "'ip'"
    add_rule authority_networks cidr 127.0.0.3/32 printer@example.test
    cat <<'SQL'
INSERT INTO users (domain_id, local_part, password_hash, active)
    SELECT id, 'inactive', '{PLAIN}inactive-pw', 0 FROM domains WHERE name = 'example.test';
SQL
}

# ---- start ---------------------------------------------------------------------------------------

start_policyd() {
    policyd_e2e_start e2e "$PORT_POLICY" "$DB_NAME" "$POLICYD_DB_USER" "$POLICYD_DB_PASSWORD" "read_timeout = 2
write_timeout = 2
[cache]
poll_interval = ${POLL_MS}ms
max_stale = $MAX_STALE_SECONDS"
}

# step DESC CMD...: run one start-up step, log how long it took
step() {
    local desc=$1 t0 rc
    shift
    t0=$(e2e_now_ms)
    "$@"
    rc=$?
    e2e_log "$desc: $(($(e2e_now_ms) - t0)) ms"
    return "$rc"
}

setup_database() {
    mariadb_apply_schema "$DB_NAME" || return 1
    mariadb_create_app_user "$DB_NAME" "$POLICYD_DB_USER" "$POLICYD_DB_PASSWORD" || return 1
    # Dovecot reads exactly what contrib/dovecot/dovecot-sql.conf.ext says it needs.
    db "CREATE USER 'dovecot'@'localhost' IDENTIFIED BY '$DOVECOT_DB_PASSWORD';
        GRANT SELECT ON $DB_NAME.users TO 'dovecot'@'localhost';
        GRANT SELECT ON $DB_NAME.domains TO 'dovecot'@'localhost';" || return 1
    hash_passwords
    fixtures_sql >"$E2E_DIR/fixtures.sql" || return 1
    db "source $E2E_DIR/fixtures.sql"
}

setup_postfix() {
    postfix_configure "$E2E_DIR/postfix" "[127.0.0.1]:$PORT_SINK" "$DOVECOT_AUTH_SOCKET" || return 1
    # The main.cf lines and the submission service we ship (only the policy service address differs).
    postfix_contrib_policyd "$PORT_POLICY" "$PORT_SUBMISSION" || return 1
    # Inbound mail for these domains is relayed too (to the sink): unauthenticated mail to them passes.
    postfix_main "relay_domains = example.test example.org other.test" || return 1
    postfix_listener_plain "$PORT_MX"
    postfix_listener_auth_notls "$PORT_NOTLS"
    postfix_start
}

start_all() {
    local t0
    t0=$(e2e_now_ms)
    step "TLS certificate" tls_make_cert "$E2E_DIR/tls" || return 1
    e2e_defer mariadb_stop
    step "MariaDB start" mariadb_start "$E2E_DIR/db" || return 1
    step "schema, users, fixtures" setup_database || return 1
    # Auth cache as in production: a user whose password was verified keeps logging in while the
    # database is down (so the test reaches relay-policyd then), and after being disabled or deleted
    # until the entry expires. That is why relay rights are checked by the policy service, not here.
    DOVECOT_EXTRA_CONF=$'auth_cache_size = 1M\nauth_cache_ttl = 1 hour\nauth_cache_negative_ttl = 0'
    step "Dovecot start" dovecot_start "$E2E_DIR/dovecot" \
        "host=$MARIADB_SOCKET dbname=$DB_NAME user=dovecot password=$DOVECOT_DB_PASSWORD" || return 1
    step "smtp-sink start" sink_start "$E2E_DIR/sink" "$PORT_SINK" || return 1
    step "relay-policyd start" start_policyd || { e2e_show_file "$E2E_DIR/policyd.log"; return 1; }
    step "Postfix configure and start" setup_postfix || return 1
    e2e_log "started everything in $(( ($(e2e_now_ms) - t0) )) ms"
}

# ---- cases ---------------------------------------------------------------------------------------

cases_accounts() {
    MECH=PLAIN submit alice@example.test alice@example.test rcpt@external.test sent \
        "AUTH PLAIN, SHA512-CRYPT user, own address: delivered"
    MECH=LOGIN submit alice@example.test alice@example.test rcpt@external.test sent \
        "AUTH LOGIN, SHA512-CRYPT user, own address: delivered"
    MECH=LOGIN submit bob@example.test bob@example.test rcpt@external.test sent \
        "AUTH LOGIN, BLF-CRYPT user, own address: delivered"
    MECH=PLAIN submit bob@example.test bob@example.test rcpt@external.test sent \
        "AUTH PLAIN, BLF-CRYPT user, own address: delivered"
    submit noauth@example.test noauth@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "user without SMTP authority: 550 5.7.1"
    submit disabled@example.test disabled@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "disabled authority (active = 0): 550 5.7.1"
    submit suspended@example.test suspended@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "suspended account (suspended_until tomorrow): 550 5.7.1"
    submit expired@example.test expired@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "expired account (valid_until yesterday): 550 5.7.1"
    submit inactive@example.test inactive@example.test rcpt@external.test "auth 535 5.7.8" \
        "disabled user (users.active = 0): Dovecot refuses the login, 535 5.7.8"
    submit alice@example.test alice@example.test rcpt@external.test "auth 535 5.7.8" \
        "wrong password: 535 5.7.8" --auth-password wrong-pw
}

cases_senders() {
    submit alice@example.test someone@foreign.test rcpt@external.test "rcpt 550 5.7.1" \
        "foreign sender domain: 550 5.7.1"
    submit alice@example.test alice+news@example.test rcpt@external.test sent \
        "own_address: +extension of the login: delivered"
    submit alice@example.test other@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "own_address: another address of the domain: 550 5.7.1"
    submit alice@example.test anyone@alias.test rcpt@external.test sent \
        "extra authority_senders pattern @alias.test: delivered"
    submit bob@example.test someone@example.test rcpt@external.test sent \
        "own_domain: another address of the login domain: delivered"
    submit bob@example.test bob@example.org rcpt@external.test "rcpt 550 5.7.1" \
        "own_domain: the customer's other domain: 550 5.7.1"
    submit carol@example.test sales@example.org rcpt@external.test sent \
        "customer_domains: the customer's other domain: delivered"
    submit carol@example.test carol@other.test rcpt@external.test "rcpt 550 5.7.1" \
        "customer_domains: another customer's domain: 550 5.7.1"
    submit dave@example.test news@example.org rcpt@external.test sent \
        "listed_only: the listed sender: delivered"
    submit dave@example.test dave@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "listed_only: the login's own address: 550 5.7.1"
}

cases_clients() {
    submit netuser@example.test netuser@example.test rcpt@external.test sent \
        "authority_networks 127.0.0.1/32, client 127.0.0.1: delivered"
    submit netuser@example.test netuser@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "authority_networks 127.0.0.1/32, client 127.0.0.2: 550 5.7.1" --local-interface 127.0.0.2
    unauth 127.0.0.3 printer@example.test rcpt@external.test sent \
        "IP-authorised printer (auth_mode ip, 127.0.0.3/32) without SASL: delivered"
    unauth 127.0.0.4 printer@example.test rcpt@external.test "rcpt 554 5.7.1" \
        "printer's sender from 127.0.0.4 (not in any list): relay denied by Postfix, 554 5.7.1"
    unauth 127.0.0.1 someone@foreign.test rcpt@external.test "rcpt 554 5.7.1" \
        "unauthenticated relay: refused by Postfix, 554 5.7.1"
    unauth 127.0.0.1 someone@foreign.test rcpt@example.test sent \
        "unauthenticated mail to a local domain (inbound): untouched, delivered"
    PORT=$PORT_NOTLS TLS=no submit tlsuser@example.test tlsuser@example.test rcpt@external.test \
        "rcpt 5[0-9][0-9] 5.7.0" "require_tls, AUTH without TLS (port $PORT_NOTLS): 5.7.0"
    submit tlsuser@example.test tlsuser@example.test rcpt@external.test sent \
        "require_tls, STARTTLS session: delivered"
    PORT=$PORT_NOTLS TLS=no submit alice@example.test alice@example.test rcpt@external.test sent \
        "no require_tls, AUTH without TLS (port $PORT_NOTLS): delivered"
}

cases_recipients_and_size() {
    local body=$E2E_DIR/big-body.txt rcpts file
    submit localonly@example.test localonly@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "may_relay_external = 0, external recipient: 550 5.7.1"
    submit localonly@example.test localonly@example.test colleague@example.org sent \
        "may_relay_external = 0, recipient in a local domain: delivered"
    if smtp_case "max_recipients_per_message = 2, three recipients: third gets 452 4.5.3, two delivered" \
        0 "452 4\.5\.3 " yes --server "127.0.0.1:$PORT_SUBMISSION" --tls --auth PLAIN \
        --auth-user capped@example.test --auth-password capped-pw --from capped@example.test \
        --to r1@external.test,r2@external.test,r3@external.test; then
        file=$(sink_file_for "$CASE_TOKEN" | head -n 1)
        rcpts=$(grep -c '^X-Rcpt-Args:' "$file")
        if [ "$rcpts" = 2 ] && ! grep -q '^X-Rcpt-Args: <r3@' "$file"; then
            ok "max_recipients_per_message = 2: the sink got r1 and r2 only"
        else
            not_ok "max_recipients_per_message = 2: the sink got r1 and r2 only" "got $rcpts recipients"
        fi
    fi
    submit small@example.test small@example.test rcpt@external.test sent \
        "max_message_bytes = 2000, small message: delivered"
    head -c 10000 /dev/zero | tr '\0' x | fold -w 72 >"$body"
    submit small@example.test small@example.test rcpt@external.test "data 552 5.3.4" \
        "max_message_bytes = 2000, 10 kB message: 552 5.3.4 at END-OF-MESSAGE" --body "$body"
}

# refused_within SECONDS LOGIN DESC: send as LOGIN until refused at RCPT with 5.7.1, for at most
# SECONDS + 1; ok when the refusal came within SECONDS of now.
refused_within() {
    local limit_ms=$(($1 * 1000)) login=$2 desc=$3 start end out rc i
    start=$(e2e_now_ms)
    for ((i = 1; i <= 40; i++)); do
        out=$E2E_DIR/swaks/poll-$login-$i.txt
        swaks --timeout 10 --server "127.0.0.1:$PORT_SUBMISSION" --tls --auth PLAIN --auth-user "$login" \
            --auth-password "$(password_of "$login")" --from "$login" --to rcpt@external.test \
            --ehlo client.example.test --header "Subject: relay-e2e poll $i" >"$out" 2>&1
        rc=$?
        end=$(e2e_now_ms)
        if [ "$rc" = 24 ] && grep -Eq '^<[-~*]+ *550 5\.7\.1 ' "$out"; then
            if [ $((end - start)) -le "$limit_ms" ]; then
                ok "$desc (refused after $((end - start)) ms)"
            else
                not_ok "$desc" "refused only after $((end - start)) ms"
            fi
            return
        fi
        [ $((end - start)) -gt $((limit_ms + 1000)) ] && break
        sleep 0.2
    done
    not_ok "$desc" "still not refused after $((end - start)) ms (last: $out)"
    show_diagnostics "$out"
}

cases_live_changes() {
    submit erin@example.test erin@example.test rcpt@external.test sent \
        "erin before the change: delivered"
    db "UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id SET a.active = 0
        WHERE u.local_part = 'erin'"
    refused_within 2 erin@example.test "authority disabled in SQL while the daemon runs: 550 5.7.1 within 2 s"
    submit erin@example.test erin@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "disabled account stays refused: 550 5.7.1"

    submit frank@example.test frank@example.test rcpt@external.test sent \
        "frank before deletion: delivered"
    db "DELETE u FROM users u JOIN domains d ON d.id = u.domain_id
        WHERE u.local_part = 'frank' AND d.name = 'example.test'"
    refused_within 2 frank@example.test "deleted account (users row and authority gone): 550 5.7.1 within 2 s"

    db "DELETE n FROM authority_networks n JOIN smtp_authorities a ON a.id = n.authority_id
        JOIN users u ON u.id = a.user_id WHERE u.local_part = 'printer'"
    sleep 2   # a few polls ([cache] poll_interval)
    unauth 127.0.0.3 printer@example.test rcpt@external.test "rcpt 554 5.7.1" \
        "printer's network removed from authority_networks: relay denied, 554 5.7.1"
}

cases_database_down() {
    mariadb_stop
    e2e_log "database stopped; waiting $((MAX_STALE_SECONDS + 1)) s (max_stale = $MAX_STALE_SECONDS)"
    sleep $((MAX_STALE_SECONDS + 1))
    if submit alice@example.test alice@example.test rcpt@external.test \
        "rcpt 4[0-9][0-9] 4\.[0-9]{1,3}\.[0-9]{1,3}" "database stopped, rules stale: 4xx at RCPT, not delivered"; then
        # Postfix's own answer when the policy service fails (smtpd_policy_service_default_action).
        if grep -Eq 'Server configuration problem|Relay policy service unavailable' "$CASE_OUT"; then
            not_ok "the 4xx came from relay-policyd, not Postfix's fallback" "$(grep -E '4\.3\.5' "$CASE_OUT")"
        else
            ok "the 4xx came from relay-policyd, not Postfix's fallback"
        fi
    fi
    check_cmd "relay-policyd still running with the database down" alive "$POLICYD_PID"

    mariadb_start "$E2E_DIR/db" || { not_ok "database restarted"; return; }
    ok "database restarted"
    retry_until_delivered "database back: delivered again without restarting anything" --timeout 10 \
        --server "127.0.0.1:$PORT_SUBMISSION" --tls --auth PLAIN --auth-user alice@example.test \
        --auth-password alice-pw --from alice@example.test --to rcpt@external.test --ehlo client.example.test ||
        show_diagnostics "$RETRY_OUT"
    check_cmd "relay-policyd is the same process as at the start" alive "$POLICYD_PID"
}

final_checks() {
    postfix_wait_queue_empty 20 || e2e_log "Postfix queue not empty after 20 s"
    check_refused_never_delivered "queue drained"
    postfix_check_log_clean
}

# ---- main ----------------------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
    # A private Postfix instance (postfix -c DIR start) and smtp-sink -u nobody need root.
    not_ok "the test runs as root" "run it as root (a container is fine)"
    finish
fi
if [ ! -x "$POLICYD_BIN" ]; then
    not_ok "relay-policyd is built ($POLICYD_BIN)" "build the target relay-policyd first"
    finish
fi
e2e_ports_free "$PORT_MX" "$PORT_SINK" "$PORT_NOTLS" "$PORT_SUBMISSION" "$PORT_POLICY" || {
    not_ok "test ports are free"
    finish
}
if ! start_all; then
    not_ok "start MariaDB, Dovecot, smtp-sink, relay-policyd and Postfix"
    e2e_show_file "$E2E_DIR/policyd.log" 20
    e2e_show_file "${POSTFIX_LOG:-/dev/null}" 20
    finish
fi
ok "started MariaDB, Dovecot (passdb on our users table), smtp-sink, relay-policyd and Postfix"
check_cmd "Dovecot: SHA512-CRYPT user logs in" dovecot_auth_test alice@example.test alice-pw
check_cmd "Dovecot: BLF-CRYPT user logs in, mixed-case login" dovecot_auth_test Bob@Example.TEST bob-pw

cases_accounts
cases_senders
cases_clients
cases_recipients_and_size
cases_live_changes
cases_database_down
final_checks

e2e_finish
