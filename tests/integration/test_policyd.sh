#!/usr/bin/env bash
# relay-policyd against a real MariaDB: request-in / action-out transcripts over real sockets.
#   tests/integration/test_policyd.sh BUILD_DIR
# Starts a private MariaDB (tests/lib/mariadb.sh) with the schema and sql/sample-data.sql, then the real
# relay-policyd in the foreground on 127.0.0.1:12201 (+ [::1]:12202 and a unix socket), and drives it with
# tests/integration/policyd/policy_client.py. Everything is stopped by PID on exit.
# Exit 0 = all passed, 77 = skipped (no MariaDB / python3 / binary), 1 = a check failed.
set -u

BUILD=$(cd "${1:?usage: test_policyd.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/relay-policyd
TRANSCRIPTS=$SRC/tests/integration/policyd
CLIENT=$TRANSCRIPTS/policy_client.py
PORT=12201
PORT6=12202
PORT_DAEMON=12203
PORT_PRIV=12204

. "$SRC/tests/lib/mariadb.sh"

mariadb_available || skip "MariaDB is not installed"
require python3
[ -x "$BIN" ] || skip "$BIN not built"

work_dir test-policyd
# the daemon-mode instance (--pid-file), not a child of ours
stop_pidfile() { [ -f "$WORK/daemon.pid" ] && stop_pid "$(cat "$WORK/daemon.pid")"; return 0; }
at_exit stop_pidfile

# start_policyd CONF LOG [ARG...]: foreground daemon; sets PD_PID; waits up to 30 s for "ready on".
start_policyd() {
    local conf=$1 log=$2
    shift 2
    start_daemon "$log" "ready on" "$BIN" --config "$conf" --foreground "$@"
    local rc=$?
    PD_PID=$DAEMON_PID
    return $rc
}

ask() {  # ask ADDRESS REQUEST...: one connection, one answer line per request
    timeout 20 python3 "$CLIENT" --timeout 5 "$@" 2>&1
}

# transcript ADDRESS NAME: tests/integration/policyd/NAME.in against NAME.ref (transcript.py), a check per
# case; the answers are written to WORK/NAME.out (kept when a check failed: diff -u it against NAME.ref).
transcript() {
    local verdict name detail
    while IFS=$'\t' read -r verdict name detail; do
        if [ "$verdict" = PASS ]; then ok "$name"; else not_ok "$name" "$detail"; fi
    done < <(timeout 120 python3 "$TRANSCRIPTS/transcript.py" "$1" "$TRANSCRIPTS/$2.in" "$TRANSCRIPTS/$2.ref" \
        "$WORK/$2.out" 2>&1)
}

# wait_for NAME SECONDS WANT-GLOB ADDRESS REQUEST: repeat until the answer matches (bounded)
wait_for() {
    local name=$1 seconds=$2 want=$3 address=$4 request=$5 got i
    for ((i = 0; i < seconds * 5; i++)); do
        got=$(ask "$address" "$request")
        # shellcheck disable=SC2053
        if [[ $got == $want ]]; then ok "$name"; return 0; fi
        sleep 0.2
    done
    not_ok "$name: got '$got', want '$want' within $seconds s"
}

write_config() {  # write_config FILE LISTEN... (extra [policyd] lines from $EXTRA)
    local file=$1
    shift
    relay_write_config "$file" "[general]" "log_level = ${LOG_LEVEL:-info}" "node = it-policyd" \
        "$(mariadb_database_section relay_it "${DB_PASSWORD:-it-pw}" "${DB_NAME:-relay_authority}")" \
        "read_timeout = 2" "write_timeout = 2" \
        "[cache]" "poll_interval = 200ms" "max_stale = 10" \
        "[policyd]" "$(printf 'listen = %s\n' "$@")" \
        "user = ${PD_USER:-root}" "group = ${PD_GROUP:-root}" "allow_root = ${PD_ALLOW_ROOT:-yes}" \
        "idle_timeout = 30" "${EXTRA:-}"
}

check_or_finish "MariaDB with schema and sample data" mariadb_start_sample "$WORK/db" relay_it it-pw

SOCK=$WORK/policy.sock
A=inet:127.0.0.1:$PORT
write_config "$WORK/policyd.conf" "$A" "unix:$SOCK"
chmod 0644 "$WORK/policyd.conf"
if start_policyd "$WORK/policyd.conf" "$WORK/policyd.log"; then
    ok "relay-policyd starts and reports ready"
else
    not_ok "relay-policyd starts and reports ready"
    sed 's/^/#   /' "$WORK/policyd.log"
    finish
fi
MAIN_PID=$PD_PID
check "world-readable file with a password: warning naming the fix" \
    "$(grep -c "$WORK/policyd.conf: the configuration file is readable by everyone .*chmod 0640" "$WORK/policyd.log")" "1"

ALICE="sasl_method=PLAIN;sasl_username=alice@example.com;sender=alice@example.com"

# ---- decisions, as Postfix would ask them: tests/integration/policyd/decisions.in / .ref
transcript $A decisions
sleep 0.3
check "refusal logged with queue id, login, verdict, reason, latency" \
    "$(grep -c 'queue_id=4ABC123 login=bob@example.com .* verdict=reject reason=message_too_large .*latency_us=' "$WORK/policyd.log")" "1"
check "accepted END-OF-MESSAGE logged" \
    "$(grep -c 'end_of_message: queue_id=4ABC124 .*recipients=1 .*size=2000 verdict=continue' "$WORK/policyd.log")" "1"

# ---- protocol handling: pipelining, persistent connections, junk (policyd/protocol.in / .ref)
transcript $A protocol
sleep 0.2
check "unknown protocol_state logged with the login" \
    "$(grep -c "temporary failure to .*unknown protocol_state  RCPT for login=carol@example.org" "$WORK/policyd.log")" "1"
check "malformed request logged (sanitized)" "$(grep -c 'malformed request (line without .=.), starting with "GET / HTTP/1.0??' "$WORK/policyd.log")" "1"
check "unix socket listener" "$(ask "unix:$SOCK" "sasl_username=info@example.com")" "550 5.7.1 *"
check "unix socket mode 0660" "$(stat -c %a "$SOCK")" "660"

# ---- rules change in SQL while running
mariadb_sql relay_authority -e "UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id JOIN domains d ON
    d.id = u.domain_id SET a.active = 0 WHERE u.local_part = 'alice' AND d.name = 'example.com'"
wait_for "account disabled in SQL -> refused within 2 s" 2 "550 5.7.1 *" $A "$ALICE"
mariadb_sql relay_authority -e "UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id JOIN domains d ON
    d.id = u.domain_id SET a.active = 1 WHERE u.local_part = 'alice' AND d.name = 'example.com'"
wait_for "account enabled again -> allowed within 2 s" 2 "DUNNO" $A "$ALICE"

# ---- SIGHUP: reload (log level, caps); listen changes are reported, not applied
LOG_LEVEL=debug EXTRA="max_line_length = 200" write_config "$WORK/policyd.conf" "$A" "unix:$SOCK" "inet:127.0.0.1:12249"
kill -HUP "$MAIN_PID"
for ((i = 0; i < 50; i++)); do grep -q "configuration reloaded" "$WORK/policyd.log" && break; sleep 0.1; done
check "SIGHUP reloads the configuration" "$(grep -c 'configuration reloaded' "$WORK/policyd.log")" "1"
check "SIGHUP: new listen address reported as needing a restart" \
    "$(grep -c 'SIGHUP: \[policyd\] listen changed' "$WORK/policyd.log")" "1"
check "SIGHUP: new max_line_length in force" "$(ask $A "$ALICE;ccert_subject=$(head -c 300 /dev/zero | tr '\0' 'y')")" "CLOSED"
check "SIGHUP: log_level debug in force (DUNNO logged)" \
    "$(ask $A "$ALICE;instance=after-hup" >/dev/null; sleep 0.2; grep -c 'debug: rcpt: .*login=alice@example.com' "$WORK/policyd.log")" "[1-9]*"
check "still running after SIGHUP" "$(alive "$MAIN_PID" && echo yes)" "yes"
# A file anybody can write is refused at a reload too, and the running configuration stays.
LOG_LEVEL=info write_config "$WORK/policyd.conf" "$A" "unix:$SOCK"
chmod 0666 "$WORK/policyd.conf"
kill -HUP "$MAIN_PID"
for ((i = 0; i < 50; i++)); do grep -q "keeping the running configuration" "$WORK/policyd.log" && break; sleep 0.1; done
check "SIGHUP with a 0666 file: refused, running configuration kept, the fix named" \
    "$(grep -c "SIGHUP: keeping the running configuration: $WORK/policyd.conf: .*writable by everyone.*chmod go-w" \
        "$WORK/policyd.log")" "1"
before=$(grep -c 'debug: rcpt: .*login=alice@example.com' "$WORK/policyd.log")
ask $A "$ALICE;instance=after-bad-hup" >/dev/null
sleep 0.2
check "SIGHUP with a 0666 file: log_level debug (not the file's info) still in force" \
    "$(($(grep -c 'debug: rcpt: .*login=alice@example.com' "$WORK/policyd.log") - before))" "[1-9]*"
chmod 0644 "$WORK/policyd.conf"

# ---- database lost and back
if alive "$MAIN_PID"; then
    mariadb_stop
    check "database down, rules still cached -> DUNNO" "$(ask $A "$ALICE")" "DUNNO"
    wait_for "database down past max_stale (10 s) -> 451 4.3.0 (rules_unavailable)" 40 \
        "451 4.3.0 Relay rules temporarily unavailable, try again later" $A "$ALICE"
    check "database down: unauthenticated mail untouched -> DUNNO" "$(ask $A "sender=x@elsewhere.example")" "DUNNO"
    check "database down: refusals need no database either" "$(ask $A "sasl_username=info@example.com")" "451 4.3.0 *"
    if mariadb_start "$WORK/db"; then
        wait_for "database back -> allowed again without restarting the daemon" 20 "DUNNO" $A "$ALICE"
    else
        not_ok "MariaDB restarts"
    fi
fi

# ---- IPv6 listener (separate daemon; skipped when the host has no ::1)
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    write_config "$WORK/v6.conf" "inet:[::1]:$PORT6"
    if start_policyd "$WORK/v6.conf" "$WORK/v6.log"; then
        check "IPv6 listener [::1]" "$(ask "inet:[::1]:$PORT6" "$ALICE")" "DUNNO"
        stop_pid "$PD_PID"
    else
        not_ok "relay-policyd on [::1]:$PORT6 starts"
    fi
else
    echo "# no IPv6 loopback here: IPv6 listener not tested"
fi

# ---- SIGTERM with a request in flight: answered, then a clean exit
ask "unix:$SOCK" "$ALICE" >/dev/null  # warm
# an idle persistent connection, as every smtpd process keeps one: it must not hold up the exit
python3 -c "import socket,time; s=socket.create_connection(('127.0.0.1', $PORT)); open('$WORK/idle.up','w'); time.sleep(20)" &
IDLE_CLIENT=$!
for ((i = 0; i < 100; i++)); do [ -e "$WORK/idle.up" ] && break; sleep 0.1; done
check "idle connection open before SIGTERM" "$([ -e "$WORK/idle.up" ] && echo yes)" "yes"
# On a persistent connection, as Postfix's smtpd keeps one: a first request answered, the second sent and
# SIGTERM right behind it. The second must be answered: a stopping connection reads once more for a
# request already sent before it closes. (A brand-new connection racing the signal may still sit in the
# kernel's accept queue when the listener closes: "stop accepting" refuses it, and Postfix would retry.)
check "SIGTERM with a request in flight: answered" \
    "$(ask $A --signal-pid "$MAIN_PID" "$ALICE;instance=before-stop" "$ALICE;instance=in-flight" | tr '\n' ' ')" "DUNNO DUNNO "
start=$SECONDS
wait "$MAIN_PID"
status=$?
check "SIGTERM: exit status 0" "$status" "0"
check "SIGTERM: idle connections do not delay the exit" "$((SECONDS - start < 5))" "1"
check "SIGTERM: unix socket removed" "$([ -e "$SOCK" ] && echo present || echo removed)" "removed"
check "SIGTERM: stop logged" "$(grep -c 'relay-policyd stopped' "$WORK/policyd.log")" "1"
kill "$IDLE_CLIENT" 2>/dev/null
wait "$IDLE_CLIENT" 2>/dev/null

# ---- start-up failures and modes
check "--check-config: valid config, password masked" \
    "$("$BIN" --config "$WORK/policyd.conf" --check-config 2>&1 | grep -E '^password = ' | head -1)" "password = \*\*\*\*\*\*\*\*"
printf '[policyd]\nlisten = inet:127.0.0.1:99999\n' >"$WORK/bad.conf"
"$BIN" --config "$WORK/bad.conf" --check-config >"$WORK/bad.out" 2>&1
check "--check-config: invalid listen -> exit 2" "$?" "2"
check "--check-config: the message names the key" "$(grep -c 'listen' "$WORK/bad.out")" "[1-9]*"
"$BIN" --version >"$WORK/version.out" 2>&1
check "--version" "$(cat "$WORK/version.out")" "relay-policyd [0-9]*"
"$BIN" --help >"$WORK/help.out" 2>&1
missing=
for option in --config --foreground --pid-file --check-config --allow-root --help-config --version --help; do
    grep -q -- "$option" "$WORK/help.out" || missing="$missing $option"
done
check "--help names every option and where the keys are documented" \
    "${missing:-none}:$(grep -c 'relay-policyd(8)' "$WORK/help.out")" "none:[1-9]*"

write_config "$WORK/open.conf" "inet:127.0.0.1:$PORT_DAEMON"
chmod 0666 "$WORK/open.conf"
timeout 30 "$BIN" --config "$WORK/open.conf" --foreground >"$WORK/open.log" 2>&1
check "0666 configuration file: refused at start (exit 2) with the file and the fix" \
    "$?:$(grep -c "$WORK/open.conf: the configuration file is writable by everyone (mode 0666).*chmod go-w $WORK/open.conf" \
        "$WORK/open.log")" "2:1"

DB_PASSWORD=wrong write_config "$WORK/badpw.conf" "inet:127.0.0.1:$PORT_DAEMON"
timeout 30 "$BIN" --config "$WORK/badpw.conf" --foreground >"$WORK/badpw.log" 2>&1
status=$?
check "wrong database password: exit non-zero" "$status" "[1-9]"
check "wrong database password: message names the cause" "$(grep -ci 'access denied' "$WORK/badpw.log")" "[1-9]*"

mariadb_sql -e "CREATE DATABASE IF NOT EXISTS relay_empty; GRANT SELECT ON relay_empty.* TO 'relay_it'@'localhost'"
DB_NAME=relay_empty write_config "$WORK/noschema.conf" "inet:127.0.0.1:$PORT_DAEMON"
timeout 30 "$BIN" --config "$WORK/noschema.conf" --foreground >"$WORK/noschema.log" 2>&1
check "missing schema: exit non-zero" "$?" "[1-9]"

write_config "$WORK/daemon.conf" "inet:127.0.0.1:$PORT_DAEMON"
timeout 30 "$BIN" --config "$WORK/daemon.conf" --pid-file "$WORK/daemon.pid" >"$WORK/daemon.out" 2>&1
check "daemon mode: the starting process exits 0 once ready" "$?" "0"
DAEMON_PID=$(cat "$WORK/daemon.pid" 2>/dev/null)
check "daemon mode: pid file names a running process" "$([ -n "$DAEMON_PID" ] && alive "$DAEMON_PID" && echo yes)" "yes"
check "daemon mode: answers" "$(ask "inet:127.0.0.1:$PORT_DAEMON" "$ALICE")" "DUNNO"
if [ -n "$DAEMON_PID" ]; then
    stop_pid "$DAEMON_PID"
    check "daemon mode: SIGTERM stops it and removes the pid file" "$([ -e "$WORK/daemon.pid" ] && echo present || echo removed)" "removed"
fi
DB_PASSWORD=wrong write_config "$WORK/daemon-bad.conf" "inet:127.0.0.1:$PORT_DAEMON"
timeout 30 "$BIN" --config "$WORK/daemon-bad.conf" >"$WORK/daemon-bad.out" 2>&1
check "daemon mode: start-up failure -> exit 1 with the reason on stderr" \
    "$?:$(grep -ci 'access denied' "$WORK/daemon-bad.out")" "1:[1-9]*"

# ---- privileges: bind as root, then run as nobody
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null; then
    PD_USER=nobody PD_GROUP=nogroup PD_ALLOW_ROOT=no \
        write_config "$WORK/priv.conf" "inet:127.0.0.1:$PORT_PRIV" "unix:$WORK/priv.sock"
    if start_policyd "$WORK/priv.conf" "$WORK/priv.log"; then
        check "privileges dropped to nobody after binding" \
            "$(awk '/^Uid:/ {print $2 "/" $3}' "/proc/$PD_PID/status")" "$(id -u nobody)/$(id -u nobody)"
        check "unix socket owned by the daemon's user" "$(stat -c %U "$WORK/priv.sock")" "nobody"
        # Not dumpable after the drop: the kernel then gives /proc/PID/mem to root, not to the process's user.
        check "not dumpable after the drop (/proc/PID/mem owned by root)" "$(stat -c %U "/proc/$PD_PID/mem")" "root"
        stop_pid "$PD_PID"
    else
        not_ok "relay-policyd starts as root and drops to nobody"
        sed 's/^/#   /' "$WORK/priv.log"
    fi
    PD_USER=root PD_GROUP=root PD_ALLOW_ROOT=no write_config "$WORK/root.conf" "inet:127.0.0.1:$PORT_PRIV"
    timeout 30 "$BIN" --config "$WORK/root.conf" --foreground >"$WORK/root.log" 2>&1
    check "user = root without allow_root: refuses to run" "$?:$(grep -c 'allow_root' "$WORK/root.log")" "1:[1-9]*"
else
    echo "# not root: privilege tests skipped"
fi

finish
