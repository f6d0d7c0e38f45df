#!/bin/bash
# End to end: relayctl creates the accounts, then `relayctl test-send` submits through a real Postfix
# (STARTTLS, Dovecot SASL on our users table, relay-policyd deciding) and must report success, or name the
# failing step and its cause in plain words: wrong password, relay refused, sender not owned, no STARTTLS,
# untrusted certificate.
#
#   tests/e2e/test_relayctl_send.sh BUILD_DIR          (ctest: e2e_relayctl_send)
#
# Ports (127.0.0.1, the relayctl range): smtp-sink 12351, relay-policyd 12352, Postfix submission 12353
# (STARTTLS required, then AUTH), Postfix 12354 (AUTH without TLS, TLS not offered). Work dir:
# BUILD_DIR/e2e-relayctl_send. Exit 0 when every check passed, 77 when a required program is missing.

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e tls mariadb dovecot sink postfix policyd; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

PORT_SINK=12351
PORT_POLICY=12352
PORT_SUBMISSION=12353
PORT_NOTLS=12354
POLICYD_DB_PASSWORD=policyd-send-pw
DOVECOT_DB_PASSWORD=dovecot-send-pw

require postfix postconf smtp-sink dovecot doveadm mariadbd mariadb mariadb-install-db openssl
e2e_init relayctl_send "$BUILD_DIR"
RELAYCTL=$E2E_BUILD_DIR/relayctl
POLICYD_BIN=$E2E_BUILD_DIR/relay-policyd
for bin in "$RELAYCTL" "$POLICYD_BIN"; do [ -x "$bin" ] || skip "$bin not built"; done
e2e_ports_free "$PORT_SINK" "$PORT_POLICY" "$PORT_SUBMISSION" "$PORT_NOTLS" || exit 1

ctl() { "$RELAYCTL" --config "$E2E_DIR/admin.conf" "$@"; }

# ---- start ---------------------------------------------------------------------------------------

setup_database() {
    mariadb_sql -e "CREATE DATABASE $DB_NAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" || return 1
    printf '[database]\nsocket = %s\nuser = %s\nname = %s\n' "$MARIADB_SOCKET" "$MARIADB_ADMIN_USER" "$DB_NAME" \
        >"$E2E_DIR/admin.conf"
    ctl db init >"$E2E_DIR/db-init.log" 2>&1 || { cat "$E2E_DIR/db-init.log"; return 1; }
    mariadb_create_app_user "$DB_NAME" "$POLICYD_DB_USER" "$POLICYD_DB_PASSWORD" || return 1
    mariadb_sql "$DB_NAME" -e "CREATE USER 'dovecot'@'localhost' IDENTIFIED BY '$DOVECOT_DB_PASSWORD';
        GRANT SELECT ON $DB_NAME.users TO 'dovecot'@'localhost';
        GRANT SELECT ON $DB_NAME.domains TO 'dovecot'@'localhost';" || return 1
    {
        ctl customer add "Example Corp" &&
        ctl domain add example.test --customer "Example Corp" &&
        echo alice-pw-2026 | ctl account add alice@example.test --password-stdin &&
        echo bob-pw-2026-x | ctl account add bob@example.test --password-stdin --scheme BLF-CRYPT &&
        echo local-pw-2026 | ctl account add localonly@example.test --password-stdin --no-relay-external &&
        ctl account add printer@example.test --auth-mode ip --network 127.0.0.2
    } >"$E2E_DIR/accounts.log" 2>&1 || { cat "$E2E_DIR/accounts.log"; return 1; }
}

start_policyd() {
    policyd_e2e_start relayctl-send "$PORT_POLICY" "$DB_NAME" "$POLICYD_DB_USER" "$POLICYD_DB_PASSWORD" \
        $'[cache]\npoll_interval = 200ms'
}

setup_postfix() {
    postfix_configure "$E2E_DIR/postfix" "[127.0.0.1]:$PORT_SINK" "$DOVECOT_AUTH_SOCKET" || return 1
    postfix_contrib_policyd "$PORT_POLICY" "$PORT_SUBMISSION" || return 1
    postfix_listener_auth_notls "$PORT_NOTLS"
    postfix_start
}

# ---- cases ---------------------------------------------------------------------------------------

CASE_NO=0
# send_case DESC WANT_EXIT REGEX PASSWORD RELAYCTL_TEST_SEND_ARGS...
#   REGEX must match relayctl's output (grep -E); the password goes to stdin. Sets CASE_OUT, CASE_TOKEN
#   (used as the EHLO name, so it appears in the Received: header of a delivered message).
send_case() {
    local desc=$1 want=$2 re=$3 pw=$4 rc problems=
    shift 4
    CASE_NO=$((CASE_NO + 1))
    CASE_TOKEN=$(e2e_token "send$CASE_NO")
    CASE_OUT=$E2E_DIR/case-$CASE_NO.txt
    printf '%s\n' "$pw" | "$RELAYCTL" test-send --server 127.0.0.1 --helo "$CASE_TOKEN.example.test" --timeout 30 \
        "$@" >"$CASE_OUT" 2>&1
    rc=$?
    [ "$rc" = "$want" ] || problems+="exit $rc, want $want; "
    grep -Eq -- "$re" "$CASE_OUT" || problems+="output does not match /$re/; "
    if [ -n "$pw" ] && grep -qF -- "$pw" "$CASE_OUT"; then problems+="the password appears in the output; "; fi
    if [ -z "$problems" ]; then ok "$desc"; return 0; fi
    not_ok "$desc" "$problems(output: $CASE_OUT)"
    tail -n 6 "$CASE_OUT" | sed 's/^/#   /'
    return 1
}

run_cases() {
    local sub=(--port "$PORT_SUBMISSION" --starttls --cafile "$TLS_CERT")
    if send_case "success: STARTTLS, AUTH PLAIN, SHA512-CRYPT user: exit 0 and every step shown" 0 \
        "^result: OK" alice-pw-2026 "${sub[@]}" --user alice@example.test --to rcpt@external.test --auth-method PLAIN; then
        if sink_wait_for "$CASE_TOKEN" 15; then ok "success: the message reached the next hop"; else not_ok "success: the message reached the next hop"; fi
        if grep -q '^C: STARTTLS' "$CASE_OUT" && grep -q '^C: AUTH PLAIN' "$CASE_OUT" &&
            ! grep -Eq '^C: AUTH PLAIN [^*]' "$CASE_OUT" && grep -q '^C: \*\*\*\*\*\*\*\* (hidden)$' "$CASE_OUT" &&
            grep -Eq '^S: 235 ' "$CASE_OUT" && grep -q '^C: RCPT TO:<rcpt@external.test>' "$CASE_OUT"; then
            ok "success: transcript shows STARTTLS, AUTH (masked), 235, RCPT"
        else
            not_ok "success: transcript shows STARTTLS, AUTH (masked), 235, RCPT" "see $CASE_OUT"
        fi
        if ! grep -qF "$(printf '\0alice@example.test\0alice-pw-2026' | base64)" "$CASE_OUT"; then
            ok "success: the AUTH PLAIN credentials (base64) are not printed"
        else
            not_ok "success: the AUTH PLAIN credentials (base64) are not printed"
        fi
    fi
    send_case "success: AUTH LOGIN, BLF-CRYPT user (password hashed by relayctl)" 0 "^result: OK" bob-pw-2026-x \
        "${sub[@]}" --user bob@example.test --to rcpt@external.test --auth-method LOGIN &&
        { sink_wait_for "$CASE_TOKEN" 15 && ok "AUTH LOGIN: delivered" || not_ok "AUTH LOGIN: delivered"; }
    send_case "wrong password: exit 6, says wrong password at AUTH" 6 \
        "^result: FAILED at AUTH: wrong user name or password \(535" wrong-pw "${sub[@]}" --user alice@example.test \
        --to rcpt@external.test
    send_case "relay refused (account may not relay externally): exit 6, says relay refused at RCPT" 6 \
        "^result: FAILED at RCPT: relay refused.*550 5\.7\.1" local-pw-2026 "${sub[@]}" --user localonly@example.test \
        --to rcpt@external.test
    send_case "relay refused (no login at all): exit 6, relay refused at RCPT" 6 \
        "^result: FAILED at RCPT: relay refused.*Relay access denied" "" --port "$PORT_NOTLS" \
        --from someone@foreign.test --to rcpt@external.test
    send_case "sender not owned: exit 6, says so at RCPT" 6 "^result: FAILED at RCPT: sender not owned" alice-pw-2026 \
        "${sub[@]}" --user alice@example.test --from boss@example.test --to rcpt@external.test
    send_case "--starttls against a server without STARTTLS: exit 6, says no STARTTLS" 6 \
        "does not offer STARTTLS" alice-pw-2026 --port "$PORT_NOTLS" --starttls --user alice@example.test \
        --to rcpt@external.test
    send_case "certificate not trusted (no --cafile): exit 6, names the certificate problem" 6 \
        "certificate is not trusted" alice-pw-2026 --port "$PORT_SUBMISSION" --starttls --user alice@example.test \
        --to rcpt@external.test
    send_case "AUTH without STARTTLS on the submission port (--allow-plaintext): exit 6, suggests --starttls" 6 \
        "offers no AUTH here.*--starttls" alice-pw-2026 --port "$PORT_SUBMISSION" --allow-plaintext \
        --user alice@example.test --to rcpt@external.test
    send_case "AUTH without --starttls/--tls is refused before connecting: exit 1, says cleartext" 1 \
        "refusing to send the password of alice@example.test in cleartext.*--starttls" alice-pw-2026 \
        --port "$PORT_NOTLS" --user alice@example.test --to rcpt@external.test &&
        { if grep -q '^connecting\|^C: ' "$CASE_OUT"; then not_ok "cleartext refusal: nothing was sent" "see $CASE_OUT"
          else ok "cleartext refusal: nothing was sent"; fi; }
    send_case "--allow-plaintext sends AUTH without TLS (a trusted test path): delivered" 0 "^result: OK" \
        alice-pw-2026 --port "$PORT_NOTLS" --allow-plaintext --user alice@example.test --to rcpt@external.test
    printf 'alice-pw-2026\n' >"$E2E_DIR/alice.pw"
    send_case "--password-file: the password from the file's first line" 0 "^result: OK" "" "${sub[@]}" \
        --user alice@example.test --password-file "$E2E_DIR/alice.pw" --to rcpt@external.test
    send_case "IP-authorised device tested from its address (--source-ip 127.0.0.2): delivered" 0 \
        "^connecting to .* from 127\.0\.0\.2 .*without AUTH" "" --port "$PORT_NOTLS" --source-ip 127.0.0.2 \
        --from printer@example.test --to rcpt@external.test &&
        { grep -q '^result: OK' "$CASE_OUT" && sink_wait_for "$CASE_TOKEN" 15 &&
          ok "--source-ip: the IP-authorised device's message reached the next hop" ||
          not_ok "--source-ip: the IP-authorised device's message reached the next hop" "see $CASE_OUT"; }
    send_case "IP-authorised device from another address: exit 6, relay refused" 6 \
        "^result: FAILED at RCPT: relay refused" "" --port "$PORT_NOTLS" --source-ip 127.0.0.1 \
        --from printer@example.test --to rcpt@external.test
    send_case "--source-ip that is not an address of this host: exit 6, says so" 6 \
        "not an address of this host" "" --port "$PORT_NOTLS" --source-ip 192.0.2.77 \
        --from printer@example.test --to rcpt@external.test
    send_case "--insecure skips certificate verification: delivered" 0 "^result: OK" alice-pw-2026 \
        --port "$PORT_SUBMISSION" --starttls --insecure --user alice@example.test --to rcpt@external.test
    send_case "nothing listening: exit 6, says cannot connect" 6 "cannot connect" alice-pw-2026 --port 12399 \
        --starttls --user alice@example.test --to rcpt@external.test
    local json=$E2E_DIR/case-json.txt
    printf 'alice-pw-2026\n' | "$RELAYCTL" --json test-send --server 127.0.0.1 "${sub[@]}" --user alice@example.test \
        --from boss@example.test --to rcpt@external.test >"$json" 2>&1
    if [ $? = 6 ] && grep -q '"failed_step": "RCPT"' "$json" && grep -q '"cause": "sender not owned' "$json" &&
        ! grep -q alice-pw-2026 "$json"; then
        ok "--json: failed_step, cause and transcript, no password"
    else
        not_ok "--json: failed_step, cause and transcript, no password" "see $json"
    fi
}

if policyd_e2e_start_all; then
    ok "harness started (MariaDB, schema and accounts by relayctl, Dovecot, relay-policyd, Postfix, sink)"
    run_cases
else
    not_ok "harness started"
    e2e_show_file "$POSTFIX_LOG" 20
fi
finish
