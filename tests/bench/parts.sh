# shellcheck shell=bash
# tests/bench/run.sh: the four parts of the benchmark (sourced; uses run.sh's and servers.sh's names).
# Every part writes its raw figures into $RES; summarize.py turns them into the Markdown table.
#
#   part_throughput   interleaved rounds: null / relay-policyd / postfwd / policyd-rate-limit,
#                     RCPT-only and realistic mix, 50 connections, ACCOUNTS accounts
#   part_enforce      one account, 150 messages in a row: the 101st and later must be limited
#   part_postfix      smtp-source -> Postfix -> smtp-sink, with relay-policyd vs without, interleaved
#   part_memory       relay-policyd with BIG_ACCOUNTS accounts: resident memory, then IDLE idle connections

# The throughput scenarios, in the order they run within a round: NAME PORT MIX SERVER [OPTION...]
# (*-paced: latency at a fixed offered load of RATE requests/s instead of as fast as possible)
SCENARIOS=(
    "null-rcpt $PORT_NULL rcpt-only null"
    "relay-rcpt $PORT_RELAY rcpt-only relay"
    "null-paced $PORT_NULL rcpt-only null --rate $RATE"
    "relay-paced $PORT_RELAY rcpt-only relay --rate $RATE"
    "null-real $PORT_NULL realistic null"
    "relay-real $PORT_RELAY realistic relay"
    "relay16-real $PORT_RELAY16 realistic relay16"
    "postfwd-rcpt $PORT_POSTFWD rcpt-only postfwd"
    "prl-rcpt $PORT_PRL rcpt-only prl"
    "postfwd-real $PORT_POSTFWD realistic postfwd"
    "prl-real $PORT_PRL realistic prl"
)

# shellcheck disable=SC2154  # RELAY_PID_* are set by start_relay through printf -v
server_pid() {
    case $1 in
        null) echo "$NULL_PID" ;;
        relay) echo "$RELAY_PID_main" ;;
        relay16) echo "$RELAY_PID_tuned" ;;
        postfwd) echo "$POSTFWD_PID" ;;
        prl) echo "$PRL_PID" ;;
    esac
}

# Every server starts a run with empty counters, so no account reaches the limit during a throughput run
# (that would measure refusals, which are cheaper) and every server counts the same way.
reset_counters() {
    case $1 in
        null) ;;
        relay | relay16) reset_relay_counters "$DB" ;;
        postfwd) restart_postfwd ;;
        prl) reset_prl_counters ;;
    esac
}

start_servers_relay_only() {
    [ -n "${RELAY_PID_main:-}" ] && return 0
    # The main instance also listens on a unix socket (BENCH_POLICY_SOCKET=unix: Postfix's way in).
    RELAY_UNIX_LISTEN=$E2E_DIR/relay-policyd.sock start_relay main "$PORT_RELAY" "$DB" "$POLICYD_DB_USER" || return 1
    wait_ready "$PORT_RELAY" "$ACCOUNTS" || { log "relay-policyd never answered DUNNO"; return 1; }
    tree_rss_kib "$RELAY_PID_main" >"$RES/rss-relay-main-start.txt"
}

start_servers() {
    [ -n "${NULL_PID:-}" ] && return 0
    start_servers_relay_only || return 1
    start_relay tuned "$PORT_RELAY16" "$DB" "$POLICYD_DB_USER" 16 || return 1
    wait_ready "$PORT_RELAY16" "$ACCOUNTS" || return 1
    start_null || return 1
    start_postfwd || return 1
    start_prl || return 1
}

# load NAME PORT MIX OUTPUT_BASE [policy-bench args...]: one measured run; JSON in OUTPUT_BASE.json,
# the server's and MariaDB's CPU ticks in OUTPUT_BASE.cpu
load_run() {
    local name=$1 port=$2 mix=$3 out=$4 pid=$5 c0 c1 d0 d1
    shift 5
    c0=$(tree_cpu_ticks "$pid")
    d0=$(tree_cpu_ticks "$MARIADB_PID")
    timeout $((RUN_SECONDS + 120)) "$BENCH" --target "inet:127.0.0.1:$port" --mix "$mix" \
        --connections "$CONNECTIONS" --accounts "$ACCOUNTS" --duration $((RUN_SECONDS + 1)) --warmup 1 \
        --json "$@" >"$out.json" 2>"$out.err"
    c1=$(tree_cpu_ticks "$pid")
    d1=$(tree_cpu_ticks "$MARIADB_PID")
    echo "server_ticks=$((c1 - c0)) db_ticks=$((d1 - d0)) clk_tck=$(getconf CLK_TCK)" >"$out.cpu"
}

part_throughput() {
    local round sc name port mix server extra
    log "throughput: starting relay-policyd, null server, postfwd, policyd-rate-limit"
    start_servers || { log "a server did not start"; return 1; }
    # Warm-up (not recorded): caches, prepared statements, postfwd's children, the peer's table.
    for sc in "${SCENARIOS[@]}"; do
        read -r name port mix server extra <<<"$sc"
        timeout 60 "$BENCH" --target "inet:127.0.0.1:$port" --mix "$mix" --connections "$CONNECTIONS" \
            --accounts "$ACCOUNTS" --duration 1 --json >"$RES/warmup-$name.json" 2>&1
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        for sc in "${SCENARIOS[@]}"; do
            read -r name port mix server extra <<<"$sc"
            reset_counters "$server"
            log "round $round/$ROUNDS: $name"
            # shellcheck disable=SC2086  # extra holds options
            load_run "$name" "$port" "$mix" "$RES/tp-$name-r$round" "$(server_pid "$server")" $extra
        done
    done
    tree_rss_kib "$RELAY_PID_main" >"$RES/rss-relay-main.txt"
}

part_enforce() {
    local server port account=$((ACCOUNTS - 1))
    log "enforcement: one account, 150 messages in a row, limit $LIMIT per hour"
    start_servers || { log "a server did not start"; return 1; }
    for server in relay null postfwd prl; do
        case $server in
            relay) port=$PORT_RELAY ;;
            null) port=$PORT_NULL ;;
            postfwd) port=$PORT_POSTFWD ;;
            prl) port=$PORT_PRL ;;
        esac
        reset_counters "$server"
        timeout 300 "$BENCH" --target "inet:127.0.0.1:$port" --mix stream --account "$account" \
            --accounts "$ACCOUNTS" --messages 150 --connections 1 --json >"$RES/enforce-$server.json" \
            2>"$RES/enforce-$server.err"
        [ "$server" = relay ] && db "$DB" "SELECT * FROM v_rate_usage WHERE authority_id = $((1000000 + account))" \
            >"$RES/enforce-relay-counters.txt" 2>&1
    done
    reset_relay_counters "$DB"
}

# postfix_run PORT RESULT_BASE: smtp-source, POSTFIX_SESSIONS sessions, POSTFIX_MESSAGES messages of 2 kB; writes
# "messages=N accepted_ms=T delivered_ms=T exit=RC" (accepted: smtp-source done; delivered: all at the sink)
postfix_run() {
    local port=$1 out=$2 before t0 t1 t2 rc cpu0 cpu1
    before=$(sink_count)
    cpu0=$(postfix_cpu)
    t0=$(e2e_now_ms)
    timeout 180 smtp-source -s "$POSTFIX_SESSIONS" -m "$POSTFIX_MESSAGES" -l 2000 -M client.example -N \
        -f printer@printers.example -t rcpt@ext0.example "127.0.0.1:$port" >"$out.log" 2>&1
    rc=$?
    t1=$(e2e_now_ms)
    [ "$rc" -eq 0 ] && e2e_wait_until 120 eval "[ \$(sink_count) -ge $((before + POSTFIX_MESSAGES)) ]"
    t2=$(e2e_now_ms)
    cpu1=$(postfix_cpu)
    echo "messages=$(( $(sink_count) - before )) accepted_ms=$((t1 - t0)) delivered_ms=$((t2 - t0)) exit=$rc" \
        "$(cpu_delta "$cpu0" "$cpu1") clk_tck=$(getconf CLK_TCK)" >"$out.txt"
    return "$rc"
}

# CPU ticks so far of: Postfix (master and its children), relay-policyd, MariaDB, smtp-sink, the null server
postfix_cpu() {
    echo "$(tree_cpu_ticks "$POSTFIX_PID") $(tree_cpu_ticks "$RELAY_PID_main") $(tree_cpu_ticks "$MARIADB_PID")" \
        "$(tree_cpu_ticks "$SINK_PID") $(if [ -n "${NULL_PID:-}" ]; then tree_cpu_ticks "$NULL_PID"; else echo 0; fi)"
}

cpu_delta() {
    local a b
    read -ra a <<<"$1"
    read -ra b <<<"$2"
    echo "postfix_ticks=$((b[0] - a[0])) policyd_ticks=$((b[1] - a[1])) db_ticks=$((b[2] - a[2])) sink_ticks=$((b[3] - a[3]))" \
        "null_ticks=$((b[4] - a[4]))"
}

# The printer's network decides what relay-policyd does with smtp-source's mail (from 127.0.0.1):
#   dunno:   no network row -> not ours -> DUNNO at RCPT and END-OF-MESSAGE; permit_mynetworks relays it.
#            The cost of asking the policy service twice per message, nothing else.
#   charged: 127.0.0.1/32 -> the IP-authorised printer: OK at RCPT, END-OF-MESSAGE charged in MariaDB.
#            Every message of the run is charged to the same account: one counter row, one lock.
printer_network() {
    local gen_before
    gen_before=$(db "$DB" "SELECT generation FROM change_generation")
    case $1 in
        dunno) db "$DB" "DELETE FROM authority_networks WHERE authority_id = 1" ;;
        charged) db "$DB" "INSERT IGNORE INTO authority_networks (authority_id, cidr) VALUES (1, '127.0.0.1/32')" ;;
    esac
    # relay-policyd polls the change generation every second ([cache] poll_interval); give it three.
    [ "$(db "$DB" "SELECT generation FROM change_generation")" = "$gen_before" ] || sleep 3
}

# postfix_pair MODE ROUND [PORT]: one run with relay-policyd (or with what listener PORT asks), one
# without, adjacent
postfix_pair() {
    local mode=$1 round=$2 port=${3:-$PORT_PF_WITH}
    log "postfix $mode round $round/$ROUNDS"
    postfix_run "$port" "$RES/pf-$mode-with-r$round"
    postfix_run "$PORT_PF_WITHOUT" "$RES/pf-$mode-without-r$round"
}

part_postfix() {
    local round mode policy="check_policy_service inet:127.0.0.1:$PORT_RELAY"
    [ "${BENCH_POLICY_SOCKET:-inet}" = unix ] && policy="check_policy_service unix:$E2E_DIR/relay-policyd.sock"
    log "postfix: smtp-source -> Postfix -> smtp-sink, with and without relay-policyd"
    start_servers_relay_only || return 1
    tls_make_cert "$E2E_DIR/tls" || return 1
    sink_start "$E2E_DIR/sink" "$PORT_SINK" || return 1
    # No SASL here: smtp-source cannot log in.
    postfix_configure "$E2E_DIR/postfix" "[127.0.0.1]:$PORT_SINK" "" || return 1
    # Without relay-policyd, permit_mynetworks lets 127.0.0.1 relay; with it, relay-policyd is asked first
    # (contrib/postfix/main.cf order) at RCPT and at END-OF-MESSAGE.
    postfix_main "mynetworks = 127.0.0.0/8" "smtpd_policy_service_max_idle = 300s" \
        "smtpd_policy_service_timeout = 20s" || return 1
    postfix_listener "$PORT_PF_WITH" smtpd_sasl_auth_enable=no \
        "smtpd_relay_restrictions=$policy, permit_mynetworks, reject_unauth_destination" \
        "smtpd_end_of_data_restrictions=$policy"
    postfix_listener "$PORT_PF_WITHOUT" smtpd_sasl_auth_enable=no \
        "smtpd_relay_restrictions=permit_mynetworks, reject_unauth_destination" "smtpd_end_of_data_restrictions="
    # Postfix's own cost of asking: the same restrictions with policy-bench's null server (a policy server
    # that does nothing but answer DUNNO) in relay-policyd's place, measured in the DUNNO rounds.
    local null_policy="check_policy_service inet:127.0.0.1:$PORT_NULL"
    [ -n "${NULL_PID:-}" ] || start_null || return 1
    postfix_listener "$PORT_PF_NULL" smtpd_sasl_auth_enable=no \
        "smtpd_relay_restrictions=$null_policy, permit_mynetworks, reject_unauth_destination" \
        "smtpd_end_of_data_restrictions=$null_policy"
    postfix_start || return 1
    echo "sessions=$POSTFIX_SESSIONS messages=$POSTFIX_MESSAGES policy_socket=${BENCH_POLICY_SOCKET:-inet}" \
        >"$RES/postfix-settings.txt"
    for mode in dunno charged; do
        printer_network "$mode"
        if ! POSTFIX_MESSAGES=100 postfix_run "$PORT_PF_WITH" "$RES/warmup-pf-$mode-with" ||
            ! POSTFIX_MESSAGES=100 postfix_run "$PORT_PF_WITHOUT" "$RES/warmup-pf-$mode-without"; then
            log "Postfix warm-up failed"
            e2e_show_file "$POSTFIX_LOG"
            postfix_stop
            sink_stop
            return 1
        fi
        for ((round = 1; round <= ROUNDS; round++)); do
            postfix_pair "$mode" "$round"
            [ "$mode" = dunno ] && postfix_pair null "$round" "$PORT_PF_NULL"
        done
    done
    # Where the charged runs' time goes: the same runs with MariaDB not flushing its log at every commit.
    mariadb_sql -e "SET GLOBAL innodb_flush_log_at_trx_commit = 2"
    for ((round = 1; round <= ROUNDS; round++)); do postfix_pair charged-flush2 "$round"; done
    mariadb_sql -e "SET GLOBAL innodb_flush_log_at_trx_commit = 1"
    printer_network dunno
    grep 'printers.example' "$E2E_DIR/relay-main.log" | grep 'end_of_message' |
        sed -n 's/.*latency_us=\([0-9]*\).*/\1/p' >"$RES/pf-eom-latency-us.txt"
    postfix_stop
    sink_stop
}

tree_rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

part_memory() {
    local t0 load_ms ready_ms pid rss_loaded rss_traffic hwm rss_idle established bench_pid i
    log "memory: relay-policyd with $BIG_ACCOUNTS accounts, then $IDLE idle connections"
    mariadb_apply_schema "$DB_BIG" || return 1
    mariadb_create_app_user "$DB_BIG" relay_big "$POLICYD_DB_PASSWORD" || return 1
    t0=$(e2e_now_ms)
    "$BENCH" --gen-sql "$BIG_ACCOUNTS" | mariadb_sql "$DB_BIG" || return 1
    load_ms=$(( $(e2e_now_ms) - t0 ))
    log "loaded $BIG_ACCOUNTS accounts in $load_ms ms"
    bench_rules_sql | mariadb_sql "$DB_BIG" || return 1
    t0=$(e2e_now_ms)
    start_relay big "$PORT_BIG" "$DB_BIG" relay_big || return 1
    wait_ready "$PORT_BIG" "$BIG_ACCOUNTS" || { log "relay-policyd (big) never answered DUNNO"; return 1; }
    ready_ms=$(( $(e2e_now_ms) - t0 ))
    # shellcheck disable=SC2154  # set by start_relay through printf -v
    pid=$RELAY_PID_big
    sleep 2
    rss_loaded=$(tree_rss_kib "$pid")
    # Traffic over all accounts (instance tracker, rate-limit memory, connection buffers in use).
    timeout 60 "$BENCH" --target "inet:127.0.0.1:$PORT_BIG" --mix realistic --accounts "$BIG_ACCOUNTS" \
        --connections "$CONNECTIONS" --duration 5 --json >"$RES/memory-traffic.json" 2>&1
    sleep 1
    rss_traffic=$(tree_rss_kib "$pid")
    "$BENCH" --target "inet:127.0.0.1:$PORT_BIG" --idle "$IDLE" --hold 20 --accounts "$BIG_ACCOUNTS" --json \
        >"$RES/idle.json" 2>"$RES/idle.err" &
    bench_pid=$!
    for ((i = 0; i < 600; i++)); do
        grep -q 'holding' "$RES/idle.err" 2>/dev/null && break
        alive "$bench_pid" || break
        sleep 0.1
    done
    sleep 5
    rss_idle=$(tree_rss_kib "$pid")
    established=$(ss -tnH state established "( sport = :$PORT_BIG )" 2>/dev/null | wc -l)
    wait "$bench_pid"
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
    grep -E '^(VmRSS|VmHWM|RssAnon|RssFile|Threads)' "/proc/$pid/status" >"$RES/memory-status.txt"
    printf '{"accounts":%s,"load_sql_ms":%s,"ready_ms":%s,"rss_kib_loaded":%s,"rss_kib_traffic":%s,"rss_kib_idle":%s,"hwm_kib":%s,"established_during_hold":%s,"main_accounts":%s,"rss_kib_main_start":%s,"rss_kib_main_1000":%s}\n' \
        "$BIG_ACCOUNTS" "$load_ms" "$ready_ms" "${rss_loaded:-0}" "${rss_traffic:-0}" "${rss_idle:-0}" "${hwm:-0}" \
        "${established:-0}" "$ACCOUNTS" "$(cat "$RES/rss-relay-main-start.txt" 2>/dev/null || echo 0)" \
        "$(cat "$RES/rss-relay-main.txt" 2>/dev/null || echo 0)" >"$RES/memory.json"
    stop_pid "$pid" 15
}
