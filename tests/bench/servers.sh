# shellcheck shell=bash
# tests/bench/run.sh: the database and the policy servers under test (sourced; uses run.sh's variables).
#
#   setup_database              private MariaDB, schema, ACCOUNTS bench accounts, the 100/hour rule,
#                               the IP-authorised printer of the Postfix runs, the peer's database
#   start_relay NAME PORT DB DBUSER [WORKERS]   relay-policyd (foreground, allow_root); sets RELAY_PID_<NAME>;
#                               WORKERS sets [policyd] workers and [database] pool_size
#   start_null / start_postfwd / start_prl   the reference and the peers
#   restart_postfwd             postfwd keeps its rate counters in memory: a restart clears them
#   reset_relay_counters DB / reset_prl_counters   clear the other servers' counters
#   stop_peers                  stop the null server and both peers (before the Postfix runs)
#   wait_ready PORT ACCOUNTS    until an RCPT request is answered DUNNO (rules loaded)
#   tree_cpu_ticks PID          CPU clock ticks of PID and its live descendants (plus reaped children)
#   machine_facts               date, CPU, memory, kernel, versions

db() { mariadb_sql "$1" -e "$2"; }

machine_facts() {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1))"
    echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -sr)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "relay-policyd: $("$POLICYD" --version 2>&1 | head -n 1)"
    echo "mariadb: $(mariadbd --version 2>/dev/null | sed 's/.*Ver //; s/ for.*//' || /usr/sbin/mariadbd --version | sed 's/.*Ver //; s/ for.*//')"
    echo "postfix: $(postconf -d -h mail_version 2>/dev/null)"
    echo "postfwd: $(dpkg-query -W -f='${Version}' postfwd 2>/dev/null) (postfwd2)"
    echo "policyd-rate-limit: $(dpkg-query -W -f='${Version}' policyd-rate-limit 2>/dev/null)"
}

# The bench rule and the Postfix printer. The printer sends from 127.0.0.1 without SASL (smtp-source
# cannot log in); its own authority-scope limit replaces the global 100/hour one for it, so the Postfix
# runs are charged in MariaDB like every other message but never limited.
bench_rules_sql() {
    cat <<SQL
INSERT INTO rate_limits (scope, meter, amount, window_seconds, kind, action, note)
    VALUES ('global', 'messages', $LIMIT, 3600, 'each_account', 'defer', 'bench: each SASL user at most $LIMIT messages per hour');
INSERT INTO customers (id, name) VALUES (1, 'bench printers');
INSERT INTO domains (id, customer_id, name, is_local) VALUES (1, 1, 'printers.example', 1);
INSERT INTO users (id, domain_id, local_part, password_hash) VALUES (1, 1, 'printer', NULL);
INSERT INTO smtp_authorities (id, user_id, customer_id, auth_mode, note) VALUES (1, 1, 1, 'ip', 'bench: Postfix runs');
INSERT INTO authority_networks (authority_id, cidr) VALUES (1, '127.0.0.1/32');
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds, kind, action, note)
    VALUES ('authority', 1, 'messages', 1000000000, 3600, 'each_account', 'defer', 'bench: the Postfix printer');
SQL
}

setup_database() {
    local t0
    e2e_defer mariadb_stop
    mariadb_start "$E2E_DIR/db" || return 1
    mariadb_apply_schema "$DB" || return 1
    mariadb_create_app_user "$DB" "$POLICYD_DB_USER" "$POLICYD_DB_PASSWORD" || return 1
    t0=$(e2e_now_ms)
    "$BENCH" --gen-sql "$ACCOUNTS" >"$E2E_DIR/accounts.sql" || return 1
    mariadb_sql "$DB" <"$E2E_DIR/accounts.sql" || return 1
    log "loaded $ACCOUNTS accounts in $(( $(e2e_now_ms) - t0 )) ms"
    bench_rules_sql | mariadb_sql "$DB" || return 1
    # policyd-rate-limit creates its own table (mail_count) in its own database.
    mariadb_sql -e "CREATE DATABASE $PRL_DB; CREATE USER 'prl'@'localhost' IDENTIFIED BY '$PRL_DB_PASSWORD';
        GRANT ALL ON $PRL_DB.* TO 'prl'@'localhost';"
}

# BENCH_RELAY_EXTRA: lines appended to every relay-policyd configuration of the suite (after its [policyd]
# section; a line "[rate_limits]" may start another), e.g. $'[rate_limits]\nlease_size = 64'.
write_relay_conf() {
    local file=$1 port=$2 dbname=$3 dbuser=$4 workers=${5:-} tuning=
    # Optional: more workers and database connections (END-OF-MESSAGE charges run that many at a time).
    [ -n "$workers" ] && tuning="pool_size = $workers"
    cat >"$file" <<CONF
# relay-policyd for tests/bench/run.sh: the defaults, except where it listens and the test database.
[general]
node = bench
log_level = info

[database]
socket = $MARIADB_SOCKET
user = $dbuser
password = $POLICYD_DB_PASSWORD
name = $dbname
$tuning

[policyd]
listen = inet:127.0.0.1:$port
${RELAY_UNIX_LISTEN:+listen = unix:$RELAY_UNIX_LISTEN}
${RELAY_UNIX_LISTEN:+socket_mode = 0666}
user = root
group = root
allow_root = true
${workers:+workers = $workers}
${BENCH_RELAY_EXTRA:-}
CONF
}

start_relay() {
    local name=$1 port=$2 dbname=$3 dbuser=$4 workers=${5:-} pid
    write_relay_conf "$E2E_DIR/relay-$name.conf" "$port" "$dbname" "$dbuser" "$workers"
    e2e_start_bg "$E2E_DIR/relay-$name.log" "$POLICYD" --config "$E2E_DIR/relay-$name.conf" --foreground
    pid=$E2E_BG_PID
    printf -v "RELAY_PID_$name" '%s' "$pid"
    e2e_defer stop_pid "$pid" 15
    e2e_wait_port 127.0.0.1 "$port" 30 "$pid" || { e2e_show_file "$E2E_DIR/relay-$name.log"; return 1; }
}

# An RCPT request answered DUNNO means the rules are loaded (before that: a temporary failure).
wait_ready() {
    local port=$1 accounts=$2 i
    for ((i = 0; i < 120; i++)); do
        "$BENCH" --target "inet:127.0.0.1:$port" --mix rcpt-only --accounts "$accounts" --connections 1 \
            --requests 1 --json 2>/dev/null | grep -q '"actions":{"DUNNO":1}' && return 0
        sleep 0.5
    done
    return 1
}

start_null() {
    e2e_start_bg "$E2E_DIR/null.log" "$BENCH" --null-server "inet:127.0.0.1:$PORT_NULL" --threads 2
    NULL_PID=$E2E_BG_PID
    e2e_defer stop_pid "$NULL_PID" 10
    e2e_wait_port 127.0.0.1 "$PORT_NULL" 10 "$NULL_PID"
}

# postfwd2 forks into the background itself: its master's PID comes from --pidfile.
start_postfwd() {
    local dir=$E2E_DIR/postfwd
    mkdir -p "$dir"
    cat >"$dir/postfwd.cf" <<CF
# tests/bench: each SASL user at most $LIMIT messages per hour, counted at END-OF-MESSAGE
id=RATE01; protocol_state==END-OF-MESSAGE; sasl_username=~.; action=rate(sasl_username/$LIMIT/3600/450 4.7.1 rate limit exceeded)
CF
    rm -f "$dir/postfwd.pid" "$dir/cache.sock"
    postfwd2 -d -f "$dir/postfwd.cf" --server_socket "tcp:127.0.0.1:$PORT_POSTFWD" \
        --cache_socket "unix::$dir/cache.sock" --pidfile "$dir/postfwd.pid" -u root -g root -n \
        -l postfwd-bench </dev/null >>"$dir/postfwd.log" 2>&1
    e2e_wait_until 15 test -s "$dir/postfwd.pid" || { e2e_show_file "$dir/postfwd.log"; return 1; }
    POSTFWD_PID=$(tr -d ' \n' <"$dir/postfwd.pid")
    e2e_wait_port 127.0.0.1 "$PORT_POSTFWD" 15 "$POSTFWD_PID"
}

stop_postfwd() {
    [ -n "${POSTFWD_PID:-}" ] || return 0
    stop_pid "$POSTFWD_PID" 20
    POSTFWD_PID=
}

restart_postfwd() {
    stop_postfwd
    start_postfwd
}

start_prl() {
    local dir=$E2E_DIR/prl
    mkdir -p "$dir"
    cat >"$dir/policyd-rate-limit.yaml" <<YAML
# tests/bench: each SASL user at most $LIMIT messages per hour, MySQL backend
debug: False
user: "root"
group: "root"
pidfile: "$dir/policyd-rate-limit.pid"
mysql_config:
    user: "prl"
    passwd: "$PRL_DB_PASSWORD"
    db: "$PRL_DB"
    unix_socket: "$MARIADB_SOCKET"
    charset: "utf8"
backend: 1
SOCKET: ["127.0.0.1", $PORT_PRL]
limits:
    - [$LIMIT, 3600]
limits_by_id: {}
limit_by_sasl: True
limit_by_sender: False
limit_by_ip: False
limited_networks: []
success_action: "dunno"
fail_action: "defer_if_permit Rate limit reach, retry later"
db_error_action: "dunno"
report: False
delay_to_close: 300
YAML
    e2e_start_bg "$dir/policyd-rate-limit.log" policyd-rate-limit -f "$dir/policyd-rate-limit.yaml"
    PRL_PID=$E2E_BG_PID
    e2e_defer stop_pid "$PRL_PID" 10
    e2e_wait_port 127.0.0.1 "$PORT_PRL" 15 "$PRL_PID"
}

stop_peers() {
    [ -n "${NULL_PID:-}" ] && stop_pid "$NULL_PID" 10
    NULL_PID=
    stop_postfwd
    [ -n "${PRL_PID:-}" ] && stop_pid "$PRL_PID" 10
    PRL_PID=
    return 0
}

reset_relay_counters() {
    db "$1" "DELETE FROM rate_counters; DELETE FROM abuse_rate_refusals; DELETE FROM abuse_client_networks;"
}

reset_prl_counters() {
    db "$PRL_DB" "DELETE FROM mail_count" 2>/dev/null
    return 0
}

tree_cpu_ticks() {
    /usr/bin/python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
parent, ticks = {}, {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open(f"/proc/{d}/stat") as f:
            stat = f.read()
    except OSError:
        continue  # gone meanwhile
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[1] ppid; fields[11:15] utime stime cutime cstime (stat fields 14-17)
    parent[d] = fields[1]
    ticks[d] = sum(int(x) for x in fields[11:15])
total = 0
for pid in ticks:
    q, hops = pid, 0
    while q != root and q in parent and q not in ("0", "1") and hops < 64:
        q, hops = parent[q], hops + 1
    if q == root:
        total += ticks[pid]
print(total)
PY
}
