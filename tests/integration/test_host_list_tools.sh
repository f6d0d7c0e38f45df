#!/usr/bin/env bash
# relayctl and relay-milter on a [database] host list (issue 10 item 1: they share core with
# relay-policyd). Two plain MariaDB servers on 127.0.0.1 (tests/lib/mariadb.sh, TCP here), A listed first,
# B second, both with the schema and the sample data:
#   - A refuses the login (the app user's password differs there): relayctl lists and changes accounts
#     through B, relay-milter decides from B's rules; both log A's cause ("refused the login", access
#     denied), not "unreachable"/"down";
#   - A is down: relayctl still lists and changes accounts through B, a relay-milter started then decides
#     from B's rules (a disable made through relayctl is refused, an account enabled there is accepted).
#   tests/integration/test_host_list_tools.sh BUILD_DIR      (ctest: integration_host_list_tools)
# Needs MariaDB and miltertest; exit 77 when one is missing. Ports: 127.0.0.1:16341 (A), 16342 (B),
# relay-milter 12257/12258.
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/relayctl.sh
. "$SRC/tests/lib/relayctl.sh"
BUILD=$(build_dir "${1:-}") || exit 2
RELAYCTL=$BUILD/relayctl
MILTER=$BUILD/relay-milter
LUA=$SRC/tests/e2e/milter/transaction.lua
[ -x "$RELAYCTL" ] && [ -x "$MILTER" ] || skip "relayctl or relay-milter not built in $BUILD"
mariadb_available || skip "MariaDB server not installed"
require miltertest
work_dir host-list-tools

PORT_A=16341
PORT_B=16342
DB_USER=relay_tools
DB_PASSWORD=tools-pw-$$
A_PID=

# start_server NAME PORT: a private MariaDB also listening on 127.0.0.1:PORT, with the schema, the sample
# data and the app user for TCP logins. Leaves MARIADB_* pointing at it.
start_server() {
    local u p
    MARIADB_PID=
    mariadb_start "$WORK/$1" --skip-networking=0 "--port=$2" --bind-address=127.0.0.1 &&
        mariadb_apply_schema relay_authority && mariadb_load_sample_data relay_authority || return 1
    u=$(_mariadb_quote "$DB_USER")
    p=$(_mariadb_quote "$DB_PASSWORD")
    mariadb_sql -e "CREATE USER $u@'127.0.0.1' IDENTIFIED BY $p;
        GRANT SELECT, INSERT, UPDATE, DELETE ON relay_authority.* TO $u@'127.0.0.1'"
}

check_or_finish "server A starts on 127.0.0.1:$PORT_A with the sample data" start_server a "$PORT_A"
A_PID=$MARIADB_PID
A_SOCKET=$MARIADB_SOCKET
at_exit stop_pid "$A_PID" 60
check_or_finish "server B starts on 127.0.0.1:$PORT_B with the sample data" start_server b "$PORT_B"
sql_a() { MARIADB_SOCKET=$A_SOCKET mariadb_sql relay_authority -e "$1" 2>&1; }
sql_b() { mariadb_sql relay_authority -e "$1" 2>&1; }
active() {  # SERVER LOCAL_PART: smtp_authorities.active of LOCAL_PART@example.com on server a or b
    "sql_$1" "SELECT a.active FROM smtp_authorities a JOIN users u ON u.id = a.user_id
        JOIN domains d ON d.id = u.domain_id WHERE u.local_part = '$2' AND d.name = 'example.com'"
}

# relayctl's configuration, and the start of each relay-milter's (it holds a password: written 0600,
# relayctl warns otherwise)
TOOLS_CONFIG=("[general]" "node = host-list-tools" "log_level = info"
    "$(relay_hosts_section "$DB_USER" "$DB_PASSWORD" "$PORT_A" "$PORT_B")"
    "connect_timeout = 2" "read_timeout = 2" "write_timeout = 2" "failback_after = 1d"
    "[cache]" "poll_interval = 200ms")
relay_write_config "$WORK/tools.conf" "${TOOLS_CONFIG[@]}"

CONF=$WORK/tools.conf  # relayctl.sh's run: relayctl --config CONF ARGS, sets RC, OUT, ERR

# expect_ctl DESC REGEX ARGS...: relayctl exits 0 and its stdout matches REGEX (grep -E)
expect_ctl() {
    local desc=$1 re=$2
    shift 2
    run "$@"
    if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -Eq -- "$re"; then
        ok "$desc"
    else
        not_ok "$desc" "exit $RC, stdout: $(printf '%s' "$OUT" | head -n 5)"$'\n'"stderr: $ERR"
    fi
}

MILTER_LOG=
MILTER_PORT=
start_milter() {  # PORT LOG
    MILTER_PORT=$1
    MILTER_LOG=$2
    relay_write_config "$WORK/milter-$1.conf" "${TOOLS_CONFIG[@]}" "$(relay_milter_section "$1")"
    start_daemon "$2" "listening on" "$MILTER" --config "$WORK/milter-$1.conf" --foreground
}

# milter_says LOGIN: the Lua script's result line for one authenticated message from LOGIN to an
# external recipient (with TLS macros: alice's require_tls)
milter_says() {
    miltertest -s "$LUA" -D "sock=inet:$MILTER_PORT@127.0.0.1" -D "qid=HL$RANDOM" -D "login=$1" \
        -D "sender=$1" -D "from=$1" -D "rcpts=rcpt@external.test" -D tls=yes 2>&1 | sed -n 's/^result //p'
}

ACCEPTED="mail=continue rcpt1=continue eoh=continue eom=continue"
REFUSED="mail=replycode"

# ---- A refuses the login ---------------------------------------------------------------------------------
sql_a "ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY 'not-the-configured-one'" >/dev/null
expect_ctl "A refuses the login: relayctl account list works through B" "bob@example.com +Acme GmbH +active" account list
check "relayctl names A's cause: refused the login (access denied)" \
    "$(printf '%s\n' "$ERR" | grep -c "127.0.0.1:$PORT_A.*refused the login.*ccess denied")" "[1-9]*"
check "relayctl does not call A unreachable or down" \
    "$(printf '%s\n' "$ERR" | grep "127.0.0.1:$PORT_A" | grep -ciE "unreachable|: down")" 0
expect_ctl "relayctl account disable goes through B" "" account disable bob@example.com
check "bob is disabled on B" "$(active b bob)" 0
check "A was not touched (bob still active there)" "$(active a bob)" 1

check_cmd "relay-milter starts with A refusing the login" start_milter 12257 "$WORK/milter-creds.log"
check "relay-milter decides from B: bob, disabled there, is refused" "$(milter_says bob@example.com)" "$REFUSED"
check "relay-milter decides from B: alice is accepted" "$(milter_says alice@example.com)" "$ACCEPTED"
check "relay-milter logs A's cause: refused the login (access denied)" \
    "$(grep -c "127.0.0.1:$PORT_A.*refused the login.*ccess denied" "$MILTER_LOG")" "[1-9]*"
check "relay-milter does not call A unreachable" "$(grep "127.0.0.1:$PORT_A" "$MILTER_LOG" | grep -ci "unreachable")" 0
check "relay-milter logs B as the server in use" \
    "$(grep -c "database server in use: tcp:127.0.0.1:$PORT_B" "$MILTER_LOG")" "[1-9]*"
stop_pid "$DAEMON_PID"

# ---- A is down ------------------------------------------------------------------------------------------
stop_pid "$A_PID" 60
check "server A is stopped" "$(alive "$A_PID" && echo running || echo stopped)" stopped
expect_ctl "A down: relayctl account list works through B" "alice@example.com +Acme GmbH +active" account list
check "relayctl says A is down" "$(printf '%s\n' "$ERR" | grep -c "127.0.0.1:$PORT_A.*down")" "[1-9]*"
expect_ctl "A down: relayctl account enable bob goes through B" "" account enable bob@example.com
expect_ctl "A down: relayctl account disable alice goes through B" "" account disable alice@example.com
check "on B: bob enabled, alice disabled" "$(active b bob) $(active b alice)" "1 0"

check_cmd "relay-milter starts with A down" start_milter 12258 "$WORK/milter-down.log"
check "relay-milter decides from B: alice, disabled there, is refused" "$(milter_says alice@example.com)" "$REFUSED"
check "relay-milter decides from B: bob, enabled there again, is accepted" "$(milter_says bob@example.com)" "$ACCEPTED"
check "relay-milter logs B as the server in use" \
    "$(grep -c "database server in use: tcp:127.0.0.1:$PORT_B" "$MILTER_LOG")" "[1-9]*"
check "no internal error in relay-milter's logs" \
    "$(cat "$WORK"/milter-*.log | grep -ciE "internal error|terminate called|Segmentation")" 0

finish
