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

. "$SRC/tests/lib/mariadb.sh"

[ "$(id -u)" = 0 ] || skip "needs root (the daemons drop privileges)"
mariadb_available || skip "MariaDB is not installed"
require python3
[ -x "$POLICYD" ] && [ -x "$MILTER" ] || skip "daemons not built"
getent passwd nobody >/dev/null && getent group nogroup >/dev/null || skip "no nobody/nogroup"

work_dir test-daemon-sockets

# start DAEMON CONF LOG WANT: foreground; sets PID; waits up to 30 s for WANT in LOG or for the exit.
start() {
    start_daemon "$3" "$4" "$1" --config "$2" --foreground
    local rc=$?
    PID=$DAEMON_PID
    return $rc
}
describe() { stat -c '%F %U:%G %a' "$1" 2>/dev/null || echo missing; }
leftovers() { find "$1" -name '.*.staging.*' | wc -l; }

check_or_finish "MariaDB with schema and sample data" mariadb_start_sample "$WORK/db" relay_it it-pw
chmod 0755 "$WORK"

write_config() {  # write_config FILE SECTION LISTEN
    local socket_access=
    [ "$2" = policyd ] && socket_access=$'socket_group = nogroup\nsocket_mode = 0660'
    relay_write_config "$1" "[general]" "log_level = info" "$(mariadb_database_section relay_it it-pw)" \
        "[$2]" "listen = $3" "user = nobody" "group = nogroup" "$socket_access"
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
        stop_pid "$PID" 20
    else
        check "$daemon: a second instance is refused while the first listens" \
            "$(grep -c 'another process is listening on this socket' "$WORK/second.log")" "1"
    fi
    check "$daemon: the first one's socket is untouched" "$(describe "$sock")" "socket nobody:nogroup 660"

    # Stop: nobody may not remove a file in root's directory. It says so; the next start removes it.
    stop_pid "$first" 20
    check "$daemon: stop without the right to remove the socket says so" \
        "$(grep -c "cannot remove socket $sock (Permission denied); the next start removes it" "$log")" "1"
    check "$daemon: the socket stays behind" "$(describe "$sock")" "socket nobody:nogroup 660"
    : >"$log"
    if start "$bin" "$conf" "$log" "$ready"; then
        check "$daemon: the next start removes the stale socket" "$(grep -c "removed stale socket $sock" "$log")" "1"
        check "$daemon: and listens again" "$(describe "$sock")" "socket nobody:nogroup 660"
        stop_pid "$PID" 20
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
        stop_pid "$PID" 20
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
        stop_pid "$PID" 20
        check "$daemon: stop removes the socket when it may" "$(describe "$sock")" "missing"
    else
        not_ok "$daemon: start in a directory of the daemon's user"; sed 's/^/#   /' "$log"
    fi
done

finish
