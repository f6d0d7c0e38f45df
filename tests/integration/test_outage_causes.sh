#!/usr/bin/env bash
# Logs that tell the cause (docs/monitoring.md "Logs that tell the cause"): one relay-policyd, dropping to
# nobody, started while its database socket is missing; then the socket appears but the password is wrong;
# then the socket's directory is 0700; then all is well. Each cause appears in the log, once, with the
# reply relay-policyd really sends ("451 4.3.0 ..."); the permission error says so and does not
# ask whether the server runs; the recovery is logged.
#
#   tests/integration/test_outage_causes.sh BUILD_DIR      (ctest: integration_outage_causes)
# Port (127.0.0.1): 12475.
set -u

BUILD=$(cd "${1:?usage: test_outage_causes.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=ratelimit/lib.sh
. "$SRC/tests/integration/ratelimit/lib.sh"

if ! mariadb_available; then echo "# skipped: MariaDB is not installed"; exit 77; fi
if [ ! -x "$RL_BIN" ]; then echo "# skipped: $RL_BIN not built"; exit 77; fi
if [ "$(id -u)" -ne 0 ] || ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null; then
    echo "# skipped: needs root and nobody/nogroup (the daemon drops to nobody)"; exit 77
fi

work_dir outage-causes-test  # the harness removes it (kept on failure), stops MariaDB
at_exit rl_stop_all

LOG=$WORK/policyd.log
LINK_DIR=$WORK/link
SOCKET=$LINK_DIR/mysqld.sock  # what the daemon is configured with: a symbolic link made later

# wait_log PATTERN: until an extended regexp matches a line of the log (at most 15 s); prints that line.
wait_log() {
    local i
    for ((i = 0; i < 150; i++)); do
        grep -E -m1 -- "$1" "$LOG" && return 0
        sleep 0.1
    done
    return 1
}

if mariadb_start "$WORK/db" && mariadb_apply_schema relay_authority &&
    mariadb_create_app_user relay_authority "$RL_DB_USER" "not-the-configured-one-$$"; then
    ok "private MariaDB; the daemon's account has another password than the configured one"
else
    not_ok "private MariaDB"
    finish
fi
# nobody must reach the real socket through the link (the datadir itself stays mariadbd's, 0700).
chmod 0755 "$WORK" && chmod 0711 "$(dirname "$MARIADB_SOCKET")" && mkdir -m 0755 "$LINK_DIR"

relay_write_config "$WORK/policyd.conf" "[general]" "node = causes" "log_level = info" \
    "$(MARIADB_SOCKET=$SOCKET mariadb_database_section "$RL_DB_USER" "$RL_DB_PASSWORD")" \
    "[cache]" "poll_interval = 200ms" "max_stale = 120" \
    "[policyd]" "listen = inet:127.0.0.1:12475" "user = nobody" "group = nogroup"
RL_BIN=$BUILD/relay-policyd
if ! rl_start_policyd "$WORK/policyd.conf" "$LOG"; then
    not_ok "relay-policyd starts while its database socket is missing" "$(tail -n 20 "$LOG")"
    finish
fi
ok "relay-policyd starts while its database socket is missing"

# 1. no socket
line=$(wait_log "cannot refresh the relay rules: cannot connect to MariaDB at unix:$SOCKET")
case $line in
    *"(no such socket: is the server running? check [database] socket)"*) ok "socket missing: the cause is logged" ;;
    *) not_ok "socket missing: the cause is logged" "$line" ;;
esac
# The reply the line names is the one relay-policyd really sends (since issue 14: "451 4.3.0 ...").
sent=$(exec 3<>/dev/tcp/127.0.0.1/12475 &&
    printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nsasl_username=alice@example.com\nsender=alice@example.com\nrecipient=bob@example.org\nclient_address=192.0.2.1\n\n' >&3 &&
    IFS= read -r -t 5 answer <&3 && printf '%s' "${answer#action=}")
check "relay-policyd answers an authenticated request with the fail-closed reply" "$sent" \
    "451 4.3.0 Relay rules temporarily unavailable, try again later"
case $line in
    *"authenticated mail gets \"$sent\" until"*) ok "the outage line names the reply relay-policyd sends" ;;
    *) not_ok "the outage line names the reply relay-policyd sends" "sent: $sent"$'\n'"line: $line" ;;
esac
if grep -q "DEFER_IF_PERMIT" "$LOG"; then
    not_ok "no log line names a reply that is not sent (DEFER_IF_PERMIT)" "$(grep "DEFER_IF_PERMIT" "$LOG")"
else
    ok "no log line names a reply that is not sent (DEFER_IF_PERMIT)"
fi
sleep 1  # five polls more with the same cause
check "the same cause is logged once, however many polls fail" \
    "$(grep -c "cannot refresh the relay rules.*no such socket" "$LOG")" "1"

# 2. the socket appears, the password is wrong
ln -s "$MARIADB_SOCKET" "$SOCKET"
line=$(wait_log "cannot refresh the relay rules, now: access denied for user '$RL_DB_USER'")
if [ -n "$line" ]; then ok "wrong password: the new cause is logged"; else not_ok "wrong password: the new cause is logged" "$(tail -n 5 "$LOG")"; fi
sleep 1
check "... once" "$(grep -c "cannot refresh the relay rules.*access denied for user" "$LOG")" "1"

# 3. the socket's directory is 0700 (root's): nobody cannot reach the socket
chmod 0700 "$LINK_DIR"
line=$(wait_log "cannot refresh the relay rules, now: cannot connect to MariaDB at unix:$SOCKET")
case $line in
    *"(permission denied for uid $(id -u nobody), the user the daemon runs as:"*) ok "socket directory 0700: a permission error, said so" ;;
    *) not_ok "socket directory 0700: a permission error, said so" "$line" ;;
esac
case $line in
    *"is the server running"*) not_ok "the permission error does not ask whether the server runs" "$line" ;;
    *) ok "the permission error does not ask whether the server runs" ;;
esac

# 4. all is well again
chmod 0755 "$LINK_DIR"
mariadb_sql -e "ALTER USER '$RL_DB_USER'@'localhost' IDENTIFIED BY '$RL_DB_PASSWORD'"
if wait_log "the database answers again" >/dev/null && wait_log "relay rules loaded: generation" >/dev/null; then
    ok "the recovery is logged and the rules are loaded"
else
    not_ok "the recovery is logged and the rules are loaded" "$(tail -n 5 "$LOG")"
fi
check "three causes, three lines" "$(grep -c "cannot refresh the relay rules" "$LOG")" "3"

finish
