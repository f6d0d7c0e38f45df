#!/usr/bin/env bash
# Unix sockets of relay-policyd and relay-milter started as root (issue 13 items 1 and 7):
#   tests/integration/test_daemon_sockets.sh BUILD_DIR
# Starts a private MariaDB (tests/lib/mariadb.sh), then each daemon as root dropping to nobody:nogroup,
# with its unix socket in a directory only root can write. Checks the socket's owner and mode, that
# nothing of the private staging directory is left, that a stop which may not remove the socket says
# so and the next start removes it, that a second instance does not take a live socket away, that a
# symbolic link at the socket path is refused without touching its target, and that a stop removes the
# socket when the directory lets it.
# Exit 0 = all passed, 77 = skipped (not root, no MariaDB / python3 / binaries), 1 = a check failed.
set -u

BUILD=$(cd "${1:?usage: test_daemon_sockets.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
POLICYD=$BUILD/relay-policyd
MILTER=$BUILD/relay-milter
CLIENT=$SRC/tests/integration/policyd/policy_client.py
WORK=$BUILD/test-daemon-sockets

. "$SRC/tests/lib/mariadb.sh"

if [ "$(id -u)" != 0 ]; then echo "# skipped: needs root (the daemons drop privileges)"; exit 77; fi
if ! mariadb_available; then echo "# skipped: MariaDB is not installed"; exit 77; fi
if ! command -v python3 >/dev/null; then echo "# skipped: python3 is not installed"; exit 77; fi
if [ ! -x "$POLICYD" ] || [ ! -x "$MILTER" ]; then echo "# skipped: daemons not built"; exit 77; fi
if ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null; then
    echo "# skipped: no nobody/nogroup"; exit 77
fi

PASSED=0
FAILED=0
PIDS=()
ok() { echo "ok - $1"; PASSED=$((PASSED + 1)); }
not_ok() { echo "not ok - $1"; FAILED=$((FAILED + 1)); }
check() {  # check NAME GOT WANT-GLOB
    # shellcheck disable=SC2053
    if [[ $2 == $3 ]]; then ok "$1"; else not_ok "$1: got '$2', want '$3'"; fi
}
alive() { kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
stop_pid() {  # TERM, wait up to 20 s (libmilter looks for a stop every 5 s), then KILL
    local i
    kill -TERM "$1" 2>/dev/null
    for ((i = 0; i < 200; i++)); do alive "$1" || break; sleep 0.1; done
    alive "$1" && kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    mariadb_stop
}
trap cleanup EXIT

# start DAEMON CONF LOG WANT: foreground; sets PID; waits up to 30 s for WANT in LOG or for the exit.
start() {
    local bin=$1 conf=$2 log=$3 want=$4 i
    "$bin" --config "$conf" --foreground </dev/null >>"$log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    for ((i = 0; i < 300; i++)); do
        grep -q "$want" "$log" 2>/dev/null && return 0
        alive "$PID" || return 1
        sleep 0.1
    done
    return 1
}
describe() { stat -c '%F %U:%G %a' "$1" 2>/dev/null || echo missing; }
leftovers() { find "$1" -name '.*.staging.*' | wc -l; }

rm -rf "$WORK"
mkdir -p "$WORK"
if ! mariadb_start "$WORK/db" || ! mariadb_apply_schema relay_authority || ! mariadb_load_sample_data relay_authority ||
    ! mariadb_create_app_user relay_authority relay_it it-pw; then
    echo "not ok - MariaDB with schema and sample data"
    echo "0 passed, 1 failed"
    exit 1
fi
ok "MariaDB with schema and sample data"
chmod 0755 "$WORK"

write_config() {  # write_config FILE SECTION LISTEN
    cat >"$1" <<CONF
[general]
log_level = info
[database]
socket = $MARIADB_SOCKET
user = relay_it
password = it-pw
name = relay_authority
connect_timeout = 2
[$2]
listen = $3
user = nobody
group = nogroup
CONF
    [ "$2" = policyd ] && printf 'socket_group = nogroup\nsocket_mode = 0660\n' >>"$1"
    chmod 0600 "$1"
}

# ---- the same checks for both daemons
for daemon in policyd milter; do
    if [ $daemon = policyd ]; then bin=$POLICYD ready="ready on"; else bin=$MILTER ready="info: relay-milter .* listening on"; fi
    dir=$WORK/$daemon-run
    mkdir -m 0755 "$dir"  # root's: the daemon, once nobody, cannot remove anything in it
    sock=$dir/$daemon.sock
    conf=$WORK/$daemon.conf
    log=$WORK/$daemon.log
    write_config "$conf" $daemon "unix:$sock"

    if start "$bin" "$conf" "$log" "$ready"; then ok "$daemon: starts as root, drops to nobody"; else
        not_ok "$daemon: starts as root, drops to nobody"; sed 's/^/#   /' "$log"; continue
    fi
    first=$PID
    check "$daemon: socket is nobody:nogroup 0660" "$(describe "$sock")" "socket nobody:nogroup 660"
    check "$daemon: no private staging directory left" "$(leftovers "$dir")" "0"
    if [ $daemon = policyd ]; then
        check "$daemon: answers on the socket" \
            "$(timeout 20 python3 "$CLIENT" --timeout 5 "unix:$sock" "sender=someone@elsewhere.example")" "DUNNO"
    fi

    # A second instance must not take the live socket away (libmilter's own removal did).
    : >"$WORK/second.log"
    if start "$bin" "$conf" "$WORK/second.log" "$ready"; then
        not_ok "$daemon: a second instance is refused while the first listens"
        stop_pid "$PID"
    else
        check "$daemon: a second instance is refused while the first listens" \
            "$(grep -c 'another process is listening on this socket' "$WORK/second.log")" "1"
    fi
    check "$daemon: the first one's socket is untouched" "$(describe "$sock")" "socket nobody:nogroup 660"

    # Stop: nobody may not remove a file in root's directory. It says so; the next start removes it.
    stop_pid "$first"
    check "$daemon: stop without the right to remove the socket says so" \
        "$(grep -c "cannot remove socket $sock (Permission denied); the next start removes it" "$log")" "1"
    check "$daemon: the socket stays behind" "$(describe "$sock")" "socket nobody:nogroup 660"
    : >"$log"
    if start "$bin" "$conf" "$log" "$ready"; then
        check "$daemon: the next start removes the stale socket" "$(grep -c "removed stale socket $sock" "$log")" "1"
        check "$daemon: and listens again" "$(describe "$sock")" "socket nobody:nogroup 660"
        stop_pid "$PID"
    else
        not_ok "$daemon: the next start removes the stale socket and listens"; sed 's/^/#   /' "$log"
    fi

    # A symbolic link at the socket path: refused, its target untouched.
    rm -f "$sock"
    printf 'root only\n' >"$WORK/victim"
    chmod 0600 "$WORK/victim"
    ln -s "$WORK/victim" "$sock"
    : >"$log"
    if start "$bin" "$conf" "$log" "$ready"; then
        not_ok "$daemon: a symbolic link at the socket path is refused"
        stop_pid "$PID"
    else
        check "$daemon: a symbolic link at the socket path is refused" \
            "$(grep -c 'the path exists and is not a socket; not removing it' "$log")" "[1-9]*"
    fi
    check "$daemon: the link's target is untouched" "$(describe "$WORK/victim")" "regular file root:root 600"
    rm -f "$sock"

    # A directory the daemon's user may write: the socket goes with the daemon.
    chown nobody "$dir"
    : >"$log"
    if start "$bin" "$conf" "$log" "$ready"; then
        stop_pid "$PID"
        check "$daemon: stop removes the socket when it may" "$(describe "$sock")" "missing"
    else
        not_ok "$daemon: start in a directory of the daemon's user"; sed 's/^/#   /' "$log"
    fi
done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
