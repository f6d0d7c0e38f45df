# shellcheck shell=bash
# The relay-milter cases every MTA runs: tests/e2e/test_postfix_milter.sh and test_sendmail_milter.sh source
# this file after common.sh and call the functions below; what differs between the MTAs (the relay
# restrictions of unauthenticated clients, the queue, extra listeners) stays in their own scripts.
# The MTA's script provides:
#   submit LOGIN FROM TO EXPECT DESC [SWAKS_ARGS...]   STARTTLS + AUTH PLAIN on its submission port, the
#                         From: header = FROM (tests/lib/swaks.sh's with SUBMIT_FROM_HEADER=yes)
#   MTA_SUBMISSION_PORT   that port (127.0.0.1)
#   MTA_TEMPFAIL          how the MTA answers while relay-milter is stopped (the case's description)
#   mta_checks_first_delivery   optional: its own checks of the first delivered message (CASE_TOKEN)
#
#   milter_cases_authorised        delivered: own sender, encoded From:, require_tls over STARTTLS, own_domain,
#                                  a local recipient of a may_relay_external = 0 account
#   milter_cases_refused           each refusal with its reply code, stage and enhanced status
#   milter_cases_live_and_down     a rule changed in SQL, the database down and back, relay-milter stopped
#                                  and back, all while the MTA runs

milter_cases_authorised() {
    submit alice@example.test alice@example.test rcpt@external.test sent "authorised user, own sender: delivered"
    if declare -F mta_checks_first_delivery >/dev/null; then mta_checks_first_delivery; fi
    submit alice@example.test alice@example.test rcpt@external.test sent \
        "group syntax and encoded-word display name in From:: delivered" \
        --header "From: Team: =?utf-8?q?Alice_M=C3=BCller?= <alice@example.test>;"
    submit tlsuser@example.test tlsuser@example.test rcpt@external.test sent \
        "require_tls over STARTTLS: delivered ({tls_version} reached relay-milter at MAIL)"
    submit bob@example.test someone@example.test rcpt@external.test sent "own_domain sender: delivered"
    submit localonly@example.test localonly@example.test colleague@example.org sent \
        "may_relay_external = 0, local recipient: delivered"
}

milter_cases_refused() {
    submit noauth@example.test noauth@example.test rcpt@external.test "mail 550 5.7.1" \
        "authenticated but no SMTP authority: 550 5.7.1 at MAIL"
    submit disabled@example.test disabled@example.test rcpt@external.test "mail 550 5.7.1" \
        "disabled authority: 550 5.7.1 at MAIL"
    submit alice@example.test someone@foreign.test rcpt@external.test "mail 550 5.7.1" \
        "foreign envelope sender: 550 5.7.1 at MAIL"
    submit alice@example.test alice@example.test rcpt@external.test "data 550 5.7.1" \
        "foreign From: header: 550 5.7.1 after DATA" --header "From: The Boss <boss@evil.test>"
    submit alice@example.test alice@example.test rcpt@external.test "data 550 5.6.0" \
        "two From: headers: 550 5.6.0 after DATA" --add-header "From: alice@example.test"
    submit localonly@example.test localonly@example.test rcpt@external.test "rcpt 550 5.7.1" \
        "may_relay_external = 0, external recipient: 550 5.7.1 at RCPT"
    local body=$E2E_DIR/big-body.txt
    head -c 10000 /dev/zero | tr '\0' x | fold -w 72 >"$body"
    submit small@example.test small@example.test rcpt@external.test "data 552 5.3.4" \
        "max_message_bytes = 2000, 10 kB: 552 5.3.4 at end of message" --body "$body"
    smtp_case "max_recipients_per_message = 2: third recipient 452 4.5.3, two delivered" 0 "452 4\.5\.3 " yes \
        --server "127.0.0.1:$MTA_SUBMISSION_PORT" --tls --auth PLAIN --auth-user capped@example.test \
        --auth-password capped-pw --from capped@example.test --header "From: capped@example.test" \
        --to r1@external.test,r2@external.test,r3@external.test
}

milter_cases_live_and_down() {
    submit erin@example.test erin@example.test rcpt@external.test sent "erin before the change: delivered"
    milter_db "UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id SET a.active = 0 WHERE u.local_part = 'erin'"
    sleep 1
    submit erin@example.test erin@example.test rcpt@external.test "mail 550 5.7.1" \
        "authority disabled in SQL while everything runs: 550 5.7.1 (after 1 s)"

    mariadb_stop
    e2e_log "database stopped; waiting $((MILTER_MAX_STALE + 1)) s"
    sleep $((MILTER_MAX_STALE + 1))
    submit alice@example.test alice@example.test rcpt@external.test "mail 451 4.3.0" \
        "database down: 451 4.3.0 at MAIL, not delivered"
    mariadb_start "$E2E_DIR/db" || { not_ok "database restarted"; return; }
    retry_until_delivered "database back: delivered again without restarting anything" --timeout 30 \
        --server "127.0.0.1:$MTA_SUBMISSION_PORT" --tls --auth PLAIN --auth-user alice@example.test \
        --auth-password alice-pw --from alice@example.test --to rcpt@external.test --header "From: alice@example.test"

    stop_pid "$MILTER_PID" 15
    smtp_case "relay-milter stopped: $MTA_TEMPFAIL, not delivered" 29 \
        "4[0-9][0-9] 4\.[0-9.]+ " no --server "127.0.0.1:$MTA_SUBMISSION_PORT" --tls --auth PLAIN \
        --auth-user alice@example.test --auth-password alice-pw --from alice@example.test --to rcpt@external.test \
        --header "From: alice@example.test"
    milter_start "$PORT_MILTER" || { not_ok "relay-milter restarted"; return; }
    submit alice@example.test alice@example.test rcpt@external.test sent "relay-milter restarted: delivered again"
}
