#!/usr/bin/env bash
# Stops what scripts/start.sh started, by the PIDs it recorded in DEMO/pids/ (never by process name):
# Postfix (its master), smtp-sink and Dovecot first, then the daemons, MariaDB last. SIGTERM, a bounded wait, then SIGKILL. The demo data stays in
# RELAY_DEMO_DIR (default /var/tmp/relay-authority-demo); delete that directory to remove it.
set -uo pipefail

DEMO=${RELAY_DEMO_DIR:-/var/tmp/relay-authority-demo}

pid_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    case ${stat%% *} in Z|X|x) return 1 ;; *) return 0 ;; esac
}

# The PID file may be stale and the number reused by an unrelated process: only signal it when the
# process still runs the program we started.
runs_program() {
    local pid=$1 program=$2 exe
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [ "$(basename "${exe% (deleted)}")" = "$program" ]
}

stop_one() {
    local name=$1 seconds=$2 file=$DEMO/pids/$1.pid pid i
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if [ -n "$pid" ] && pid_alive "$pid" && runs_program "$pid" "$name"; then
        echo "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < seconds * 10; i++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
        if pid_alive "$pid"; then
            echo "$name (pid $pid) did not stop within $seconds s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$file"
}

[ -d "$DEMO/pids" ] || { echo "stop.sh: nothing started ($DEMO/pids does not exist)"; exit 0; }
stop_one master 20      # Postfix's master process stops its children
stop_one smtp-sink 10
stop_one dovecot 10
stop_one relay-milter 10
stop_one relay-policyd 10
stop_one mariadbd 60
echo "stopped; data kept in $DEMO"
