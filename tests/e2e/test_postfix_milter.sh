#!/bin/bash
# End to end: a real Postfix with relay-milter in smtpd_milters (contrib/postfix/milter.cf as pasted),
# Dovecot SASL on our users table, the rules in a private MariaDB, smtp-sink as relayhost, swaks as client.
# At the end, a throughput comparison with smtp-source: Postfix -> relay-milter -> sink versus
# Postfix -> sink, same Postfix, same run (figures printed as "# bench:" lines, not asserted).
#
#   tests/e2e/test_postfix_milter.sh BUILD_DIR          (ctest: e2e_postfix_milter)
#   RELAY_MILTER_BENCH_MESSAGES=N   messages per benchmark round (default 300; 0 skips the benchmark)
#   RELAY_MILTER_BENCH_ROUNDS=N     rounds of the three variants, interleaved (default 2); medians are printed
#
# Ports (127.0.0.1): Postfix 12270 (submission: STARTTLS then AUTH), 12271 (no AUTH, like an MX),
# 12272 (AUTH without TLS), 12275 (benchmark, with milter), 12276 (benchmark, smtpd_milters empty);
# smtp-sink 12273; relay-milter 12274.

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e tls mariadb dovecot sink postfix swaks; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

PORT_SUBMISSION=12270
PORT_MX=12271
PORT_NOTLS=12272
PORT_SINK=12273
PORT_MILTER=12274
PORT_BENCH_MILTER=12275
PORT_BENCH_PLAIN=12276
DOVECOT_DB_PASSWORD=dovecot-e2e-pw
BENCH_MESSAGES=${RELAY_MILTER_BENCH_MESSAGES:-300}
BENCH_ROUNDS=${RELAY_MILTER_BENCH_ROUNDS:-2}

e2e_require postfix postconf postqueue smtp-sink smtp-source dovecot doveadm mariadbd mariadb \
    mariadb-install-db swaks openssl
e2e_init postfix_milter "$BUILD_DIR"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/e2e/milter/common.sh"
mkdir -p "$E2E_DIR/swaks"
SWAKS_CASE_PREFIX=pf   # smtp_case, expect_case: tests/lib/swaks.sh

case_diagnostics() { tail -n 2 "$MILTER_LOG" | cut -c1-300 | sed 's/^/#   milter: /'; }

# submit LOGIN FROM TO EXPECT DESC [SWAKS_ARGS...]: STARTTLS + AUTH (MECH, PORT, TLS=no may be set in front)
submit() {
    local login=$1 from=$2 to=$3 expect=$4 desc=$5 tls=()
    shift 5
    [ "${TLS:-yes}" = yes ] && tls=(--tls)
    expect_case "$desc" "$expect" --server "127.0.0.1:${PORT:-$PORT_SUBMISSION}" "${tls[@]}" \
        --auth "${MECH:-PLAIN}" --auth-user "$login" --auth-password "$(password_of "$login")" \
        --from "$from" --to "$to" --header "From: $from" "$@"
}

unauth() {
    local ip=$1 from=$2 to=$3 expect=$4 desc=$5
    shift 5
    expect_case "$desc" "$expect" --server "127.0.0.1:$PORT_MX" --local-interface "$ip" --from "$from" --to "$to" \
        --header "From: $from" "$@"
}

setup_postfix() {
    postfix_configure "$E2E_DIR/postfix" "[127.0.0.1]:$PORT_SINK" "$DOVECOT_AUTH_SOCKET" || return 1
    # The main.cf lines we ship for relay-milter, as an admin pastes them (only the socket differs).
    postfix_main_file "$SRC_DIR/contrib/postfix/milter.cf" "s/127\.0\.0\.1:10041/127.0.0.1:$PORT_MILTER/g" ||
        return 1
    postfix_main "relay_domains = example.test example.org other.test" \
        "default_process_limit = 200" "smtpd_client_connection_count_limit = 0" || return 1
    postfix_listener_submission "$PORT_SUBMISSION"
    postfix_listener_plain "$PORT_MX"
    postfix_listener_auth_notls "$PORT_NOTLS"
    postfix_listener_plain "$PORT_BENCH_MILTER"
    postfix_listener_plain "$PORT_BENCH_PLAIN" "smtpd_milters="
    postfix_start
}

start_all() {
    tls_make_cert "$E2E_DIR/tls" || return 1
    e2e_defer mariadb_stop
    mariadb_start "$E2E_DIR/db" || return 1
    milter_setup_database relay_authority || return 1
    milter_db "CREATE USER 'dovecot'@'localhost' IDENTIFIED BY '$DOVECOT_DB_PASSWORD';
        GRANT SELECT ON relay_authority.users TO 'dovecot'@'localhost';
        GRANT SELECT ON relay_authority.domains TO 'dovecot'@'localhost';" || return 1
    # A verified password keeps working while the database is down (as in production), so the
    # database-down case reaches relay-milter.
    DOVECOT_EXTRA_CONF=$'auth_cache_size = 1M\nauth_cache_ttl = 1 hour\nauth_cache_negative_ttl = 0'
    dovecot_start "$E2E_DIR/dovecot" \
        "host=$MARIADB_SOCKET dbname=relay_authority user=dovecot password=$DOVECOT_DB_PASSWORD" || return 1
    sink_start "$E2E_DIR/sink" "$PORT_SINK" || return 1
    milter_start "$PORT_MILTER" || return 1
    setup_postfix
}

cases_authorised() {
    MECH=PLAIN submit alice@example.test alice@example.test rcpt@external.test sent "AUTH PLAIN, own sender: delivered"
    MECH=LOGIN submit alice@example.test alice@example.test rcpt@external.test sent "AUTH LOGIN, own sender: delivered"
    if milter_log_has 'stage=end_of_message login=alice@example.test .*verdict=continue'; then
        ok "relay-milter saw {auth_authen} from Postfix at MAIL"
    else
        not_ok "relay-milter saw {auth_authen} from Postfix at MAIL"
    fi
    submit alice@example.test alice@example.test rcpt@external.test sent \
        "group syntax and encoded-word display name in From:: delivered" \
        --header "From: Team: =?utf-8?q?Alice_M=C3=BCller?= <alice@example.test>;"
    submit tlsuser@example.test tlsuser@example.test rcpt@external.test sent \
        "require_tls over STARTTLS: delivered ({tls_version} at MAIL: Postfix honoured smfi_setsymlist)"
    PORT=$PORT_NOTLS TLS=no submit tlsuser@example.test tlsuser@example.test rcpt@external.test "mail 530 5.7.0" \
        "require_tls, AUTH without TLS: 530 5.7.0 at MAIL"
    submit localonly@example.test localonly@example.test colleague@example.org sent \
        "may_relay_external = 0, local recipient: delivered"
}

cases_refused() {
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
        --server "127.0.0.1:$PORT_SUBMISSION" --tls --auth PLAIN --auth-user capped@example.test \
        --auth-password capped-pw --from capped@example.test --header "From: capped@example.test" \
        --to r1@external.test,r2@external.test,r3@external.test
}

cases_unauthenticated() {
    unauth 127.0.0.1 someone@foreign.test rcpt@external.test "rcpt 554 5.7.1" \
        "unauthenticated relay: refused by Postfix (relay access denied)"
    unauth 127.0.0.1 someone@foreign.test rcpt@example.test sent \
        "unauthenticated inbound to a relay domain: untouched by relay-milter, delivered"
    unauth 127.0.0.3 someone@foreign.test rcpt@example.test "mail 550 5.7.1" \
        "IP-authorised printer's address with a foreign sender: 550 5.7.1 from relay-milter"
}

cases_live_and_down() {
    local i tok out delivered=no
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
    for ((i = 1; i <= 30; i++)); do
        tok=$(e2e_token back)
        out=$E2E_DIR/swaks/back-$i.txt
        if swaks --timeout 30 --server "127.0.0.1:$PORT_SUBMISSION" --tls --auth PLAIN --auth-user alice@example.test \
            --auth-password alice-pw --from alice@example.test --to rcpt@external.test \
            --header "From: alice@example.test" --header "Subject: relay-e2e $tok" >"$out" 2>&1; then
            delivered=$tok
            break
        fi
        NEGATIVE_TOKENS+=("$tok")
        sleep 0.5
    done
    if [ "$delivered" != no ] && sink_wait_for "$delivered" 20; then
        ok "database back: delivered again without restarting anything ($i attempts)"
    else
        not_ok "database back: delivered again" "last: $out"
    fi

    e2e_stop_pid "$MILTER_PID" 15
    # milter_default_action = tempfail: Postfix answers 4xx from the first command the milter would see
    # (here STARTTLS: 454 4.3.0), so nothing gets through unchecked.
    smtp_case "relay-milter stopped: 4xx (milter_default_action = tempfail), not delivered" 29 \
        "4[0-9][0-9] 4\.[0-9.]+ " no --server "127.0.0.1:$PORT_SUBMISSION" --tls --auth PLAIN \
        --auth-user alice@example.test --auth-password alice-pw --from alice@example.test --to rcpt@external.test \
        --header "From: alice@example.test"
    milter_start "$PORT_MILTER" || { not_ok "relay-milter restarted"; return; }
    submit alice@example.test alice@example.test rcpt@external.test sent "relay-milter restarted: delivered again"
}

final_checks() {
    postfix_wait_queue_empty 20 || e2e_log "Postfix queue not empty after 20 s"
    check_refused_never_delivered "queue drained"
    postfix_check_log_clean
    milter_check_log_clean
}

# bench_round PORT LABEL: BENCH_MESSAGES messages from 20 parallel sessions; prints messages/s from the
# first connection until the last message is in the sink. Sets BENCH_RATE.
bench_round() {
    local port=$1 label=$2 before target t0 t1 ms
    before=$(sink_count)
    target=$((before + BENCH_MESSAGES))
    t0=$(e2e_now_ms)
    smtp-source -s 20 -m "$BENCH_MESSAGES" -l 2000 -M client.example.test -f bench@example.test \
        -t rcpt@example.test -S "relay-bench $label" "127.0.0.1:$port" >>"$E2E_DIR/bench.log" 2>&1
    e2e_wait_until 120 bash -c "[ \$(find '$SINK_MAIL_DIR' -type f | wc -l) -ge $target ]"
    t1=$(e2e_now_ms)
    ms=$((t1 - t0))
    BENCH_RATE=$(awk -v n="$BENCH_MESSAGES" -v ms="$ms" 'BEGIN { printf "%.1f", n * 1000 / ms }')
    e2e_log "bench: $label: $BENCH_MESSAGES messages in $ms ms = $BENCH_RATE msg/s (sink has $(sink_count), want $target)"
    [ "$(sink_count)" -ge "$target" ]
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

benchmark() {
    local plain=() full=() notours=() i fails=0 checked
    [ "$BENCH_MESSAGES" -gt 0 ] || return 0
    # An IP-authorised account for 127.0.0.1 makes every smtp-source session "ours": relay-milter runs
    # the full check (account, sender, recipient, From: header, size, rate limits, audit event) on each
    # message. Without its network row the same sessions are "not ours": accepted at MAIL FROM.
    milter_db "INSERT INTO users (domain_id, local_part) SELECT id, 'bench' FROM domains WHERE name = 'example.test';
        INSERT INTO smtp_authorities (user_id, auth_mode) SELECT u.id, 'ip' FROM users u WHERE u.local_part = 'bench';"
    local net_on="INSERT INTO authority_networks (authority_id, cidr) SELECT a.id, '127.0.0.1/32' FROM smtp_authorities a
            JOIN users u ON u.id = a.user_id WHERE u.local_part = 'bench'"
    local net_off="DELETE n FROM authority_networks n JOIN smtp_authorities a ON a.id = n.authority_id
            JOIN users u ON u.id = a.user_id WHERE u.local_part = 'bench'"
    for ((i = 1; i <= BENCH_ROUNDS; i++)); do
        bench_round "$PORT_BENCH_PLAIN" "round $i Postfix -> sink (smtpd_milters empty)" || fails=$((fails + 1))
        plain+=("$BENCH_RATE")
        milter_db "$net_off"
        sleep 1.5
        bench_round "$PORT_BENCH_MILTER" "round $i Postfix -> relay-milter (not ours: accepted at MAIL) -> sink" ||
            fails=$((fails + 1))
        notours+=("$BENCH_RATE")
        milter_db "$net_on"
        sleep 1.5
        bench_round "$PORT_BENCH_MILTER" "round $i Postfix -> relay-milter (full check) -> sink" ||
            fails=$((fails + 1))
        full+=("$BENCH_RATE")
    done
    checked=$(grep -c 'stage=end_of_message login=- .*sender=<bench@example.test>.*verdict=permit' "$MILTER_LOG")
    if [ "$fails" = 0 ] && [ "$checked" -ge $((BENCH_ROUNDS * BENCH_MESSAGES)) ]; then
        ok "benchmark: every message delivered; relay-milter fully checked all $((BENCH_ROUNDS * BENCH_MESSAGES)) of its messages"
    else
        not_ok "benchmark: every message delivered and checked" "$fails rounds incomplete, $checked checked"
    fi
    e2e_log "bench: rounds (msg/s): Postfix -> sink ${plain[*]}; with relay-milter, not ours ${notours[*]};" \
        "with relay-milter, full check ${full[*]}"
    e2e_log "bench: medians: Postfix -> sink $(median "${plain[@]}") msg/s;" \
        "Postfix -> relay-milter -> sink: not ours $(median "${notours[@]}") msg/s, full check $(median "${full[@]}") msg/s" \
        "($BENCH_MESSAGES messages per round, smtp-source -s 20 -l 2000, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
}

# ---- main ----------------------------------------------------------------------------------------

if [ ! -x "$MILTER_BIN" ]; then
    not_ok "relay-milter is built ($MILTER_BIN)" "build the target relay-milter first"
    e2e_summary
    exit 1
fi
e2e_ports_free "$PORT_SUBMISSION" "$PORT_MX" "$PORT_NOTLS" "$PORT_SINK" "$PORT_MILTER" "$PORT_BENCH_MILTER" \
    "$PORT_BENCH_PLAIN" || { not_ok "test ports are free"; e2e_summary; exit 1; }
if ! start_all; then
    not_ok "start MariaDB, Dovecot, smtp-sink, relay-milter and Postfix"
    e2e_show_file "$E2E_DIR/relay-milter.log" 20
    e2e_show_file "${POSTFIX_LOG:-/dev/null}" 20
    e2e_summary
    exit 1
fi
ok "started MariaDB, Dovecot, smtp-sink, relay-milter and Postfix (smtpd_milters from contrib/postfix/milter.cf)"

cases_authorised
cases_refused
cases_unauthenticated
cases_live_and_down
final_checks
benchmark

e2e_finish
