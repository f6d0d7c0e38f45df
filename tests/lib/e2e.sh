# shellcheck shell=bash
# shellcheck disable=SC2034  # E2E_* variables are for the scripts that source this file
# The end-to-end tests' frame: a work dir, deferred clean-up, ports, background daemons. Sources
# tests/lib/harness.sh (ok, not_ok, check, check_cmd, summary, skip, alive, stop_pid, ...). Source it first:
#
#   . "$SRC/tests/lib/e2e.sh"
#   e2e_init NAME BUILD_DIR        work dir E2E_DIR=BUILD_DIR/e2e-NAME (emptied), counters, EXIT trap
#   e2e_defer CMD [ARG...]         run CMD at exit (last registered runs first), also on failure
#   e2e_finish                     the end of a test: run time, summary, exit 0/1; after a pass, stop
#                                  everything and drop the database files (over 100 MB), keeping the logs
#   e2e_start_bg LOGFILE CMD...    start CMD in the background (setsid, stdio redirected); sets E2E_BG_PID
#   e2e_wait_until SECONDS CMD...  poll CMD every 0.1 s until it succeeds; false after SECONDS
#   e2e_port_open HOST PORT        true when something accepts TCP connections there
#   e2e_wait_port HOST PORT [SECS] [PID]  wait until the port accepts connections (default 15 s);
#                                  gives up early when PID (the daemon that should listen) is gone
#   e2e_ports_free PORT...         fail (with who holds it) if one of the 127.0.0.1 ports is taken
#   e2e_now_ms                     milliseconds since the epoch
#   e2e_token [PREFIX]             a unique token for subjects / Message-IDs
#   e2e_log MSG                    a diagnostic line ("# MSG"), not counted
#   e2e_show_file FILE [LINES]     print the tail of a file as diagnostics
#
# Everything started through these helpers is stopped by PID, never by name. Loops are bounded.
#
# A whole mail stack, as tests/e2e/test_postfix_policyd.sh builds it (each start function registers its
# stop with e2e_defer, except mariadb_start: add "e2e_defer mariadb_stop" yourself):
#
#   . tests/lib/{e2e,tls,mariadb,dovecot,sink,postfix}.sh
#   e2e_init my_test "$1"; e2e_ports_free 12125 12126 12187 || exit 1
#   tls_make_cert "$E2E_DIR/tls"
#   e2e_defer mariadb_stop; mariadb_start "$E2E_DIR/db"; mariadb_apply_schema relay_authority
#   (CREATE USER dovecot + GRANT SELECT on users, domains; INSERT your accounts; see dovecot.sh)
#   dovecot_start "$E2E_DIR/dovecot" "host=$MARIADB_SOCKET dbname=relay_authority user=dovecot password=PW"
#   sink_start "$E2E_DIR/sink" 12126
#   (start the daemon under test with e2e_start_bg, e2e_defer stop_pid "$E2E_BG_PID", e2e_wait_port)
#   postfix_configure "$E2E_DIR/postfix" "[127.0.0.1]:12126" "$DOVECOT_AUTH_SOCKET"
#   postfix_main "smtpd_milters = inet:127.0.0.1:12250" ...
#   postfix_listener_plain 12125; postfix_listener_submission 12187; postfix_start
#   swaks --server 127.0.0.1:12187 --tls --auth PLAIN ...; sink_wait_for TOKEN
#   e2e_finish

# shellcheck source=harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

E2E_DEFERRED=()

e2e_log() { printf '# %s\n' "$*"; }

e2e_finish() {
    e2e_log "run time $(( ($(e2e_now_ms) - E2E_START_MS) / 1000 )) s; work dir $E2E_DIR"
    if summary; then
        e2e_run_deferred
        rm -rf "$E2E_DIR/db/data"
        exit 0
    fi
    exit 1
}

e2e_show_file() {
    local file=$1 lines=${2:-30}
    [ -f "$file" ] || return 0
    e2e_log "---- last $lines lines of $file"
    tail -n "$lines" "$file" | sed 's/^/#   /'
}


e2e_defer() {
    local quoted
    quoted=$(printf '%q ' "$@")
    E2E_DEFERRED+=("$quoted")
}

e2e_run_deferred() {
    local i
    for ((i = ${#E2E_DEFERRED[@]} - 1; i >= 0; i--)); do
        eval "${E2E_DEFERRED[$i]}" || true
    done
    E2E_DEFERRED=()
}

e2e_init() {
    local name=$1 build_dir=$2
    if [ -z "$build_dir" ] || [ ! -d "$build_dir" ]; then
        echo "usage: $0 BUILD_DIR (the cmake build directory)" >&2
        exit 2
    fi
    E2E_BUILD_DIR=$(cd "$build_dir" && pwd)
    E2E_DIR=$E2E_BUILD_DIR/e2e-$name
    rm -rf "$E2E_DIR"
    mkdir -p "$E2E_DIR"
    # Daemons that drop privileges (postfix, dovecot, nobody) must reach sockets and spools in here.
    chmod 0755 "$E2E_DIR"
    E2E_START_MS=$(e2e_now_ms)
    trap 'e2e_run_deferred' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

e2e_now_ms() {
    # EPOCHREALTIME (bash 5) needs no fork: polling loops stay cheap on a loaded machine.
    if [ -n "${EPOCHREALTIME:-}" ]; then
        local t=${EPOCHREALTIME/[.,]/}
        echo $((t / 1000))
    else
        date +%s%3N
    fi
}

e2e_token() {
    printf '%s-%s-%04x%04x\n' "${1:-e2e}" "$(date +%s%N | cut -c7-16)" "$RANDOM" "$RANDOM"
}

e2e_wait_until() {
    local deadline=$(($(e2e_now_ms) + $1 * 1000))
    shift
    # Wall-clock deadline: on a loaded machine each try may itself take a while.
    while [ "$(e2e_now_ms)" -lt "$deadline" ]; do
        "$@" && return 0
        sleep 0.1
    done
    "$@"
}

e2e_start_bg() {
    local log=$1
    shift
    # A background child of a non-interactive shell is no process-group leader, so setsid execs in
    # place and $! is the daemon itself (no wrapper to outlive).
    setsid "$@" </dev/null >>"$log" 2>&1 &
    E2E_BG_PID=$!
}

e2e_port_open() {
    # A subshell, no new program; on loopback a closed port is refused at once.
    (: <>"/dev/tcp/$1/$2") 2>/dev/null
}

e2e_port_open_or_dead() {
    e2e_port_open "$1" "$2" && return 0
    [ -n "$3" ] && ! alive "$3" && E2E_WAIT_DEAD=1 && return 0
    return 1
}

e2e_wait_port() {
    E2E_WAIT_DEAD=0
    e2e_wait_until "${3:-15}" e2e_port_open_or_dead "$1" "$2" "${4:-}" && [ "$E2E_WAIT_DEAD" = 0 ]
}

e2e_ports_free() {
    local port busy=0
    for port in "$@"; do
        if e2e_port_open 127.0.0.1 "$port"; then
            echo "# port 127.0.0.1:$port is already in use:" >&2
            ss -ltnpH "sport = :$port" 2>/dev/null | sed 's/^/#   /' >&2
            busy=1
        fi
    done
    return "$busy"
}

# The source tree these helpers belong to (tests/lib/..).
E2E_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Old names of harness.sh's functions, only for the test scripts of branches written before it
# (adopt2, reasons): delete this block once they are merged and use require, alive, stop_pid, summary.
# Their `check DESC CMD` calls must become check_cmd (check compares GOT with WANT everywhere now).
e2e_require() { require "$@"; }
e2e_alive() { alive "$@"; }
e2e_stop_pid() { stop_pid "$@"; }
e2e_summary() { summary; }
