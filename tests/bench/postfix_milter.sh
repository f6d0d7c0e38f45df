#!/bin/bash
# Throughput of Postfix with relay-milter: smtp-source through Postfix -> relay-milter -> smtp-sink versus
# Postfix -> smtp-sink, same Postfix, same run, interleaved rounds; medians printed as "# bench:" lines.
# The stack is the one of tests/e2e/test_postfix_milter.sh (tests/e2e/milter/postfix_stack.sh).
#
#   tests/bench/postfix_milter.sh BUILD_DIR        (run on demand; not part of ctest's pass/fail)
#   RELAY_MILTER_BENCH_MESSAGES=N   messages per round (default 300)
#   RELAY_MILTER_BENCH_ROUNDS=N     rounds of the three variants, interleaved (default 2)
#
# Needs root (a private Postfix). Ports: tests/e2e/milter/postfix_stack.sh (12270-12276).
# One check: every message was delivered and relay-milter fully checked each of its messages.

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e tls mariadb dovecot sink postfix swaks; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done
BENCH_MESSAGES=${RELAY_MILTER_BENCH_MESSAGES:-300}
BENCH_ROUNDS=${RELAY_MILTER_BENCH_ROUNDS:-2}

require postfix postconf postqueue smtp-sink smtp-source dovecot doveadm mariadbd mariadb mariadb-install-db \
    swaks openssl
e2e_init bench_postfix_milter "$BUILD_DIR"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/e2e/milter/postfix_stack.sh"

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

[ -x "$MILTER_BIN" ] || { not_ok "relay-milter is built ($MILTER_BIN)" "build the target relay-milter first"; finish; }
e2e_ports_free "${POSTFIX_MILTER_PORTS[@]}" || { not_ok "test ports are free"; finish; }
if ! postfix_milter_start_all; then
    not_ok "start MariaDB, Dovecot, smtp-sink, relay-milter and Postfix"
    e2e_show_file "$E2E_DIR/relay-milter.log" 20
    finish
fi
benchmark
e2e_finish
