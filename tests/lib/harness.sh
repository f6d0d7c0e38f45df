# shellcheck shell=bash
# The one harness of the shell-driven tests (tests/integration/test_*.sh, tests/e2e/test_*.sh): counting,
# checks, skips and the processes a test starts. Every test script sources it, directly or through
# tests/lib/e2e.sh or tests/lib/mariadb.sh; sourcing it again changes nothing.
#
#   ok DESC                          count and print "ok - DESC"
#   not_ok DESC [DETAIL]             count and print "not ok - DESC", then DETAIL's lines as "#   ..."
#   check DESC GOT WANT              ok when GOT matches WANT, a shell glob ("550 5.7.1 *"; quote a literal
#                                    * or [ with \), else not_ok with "got '...', want '...'"
#   check_cmd DESC CMD [ARG...]      ok when CMD succeeds (run in this shell: what it sets stays set), else
#                                    not_ok with the command and the end of its output; CMD's status
#   check_or_finish DESC CMD [ARG...]  check_cmd, and when CMD failed: finish (a set-up step nothing can
#                                    follow without)
#   summary                          print "N passed, N failed"; true only if none failed and some passed
#   finish                           summary, then exit 0 (all passed) or 1
#   skip REASON                      print "# SKIP: REASON" and exit 77 (ctest: skipped)
#   require PROG...                  skip when one of the programs is not installed
#   build_dir ARG                    print the absolute path of the build directory a test was given; false
#                                    (with the usage on stderr) when ARG is no directory:
#                                    BUILD=$(build_dir "${1:-}") || exit 2
#   work_dir NAME                    WORK=$(mktemp -d BUILD/NAME.XXXXXX) and the EXIT trap that cleans up:
#                                    the at_exit commands (last first), stop_daemons, mariadb_stop (with
#                                    mariadb.sh), then keep_work_on_failure WORK. Needs BUILD.
#   at_exit CMD [ARG...]             run CMD at exit, before the daemons and the database stop
#   keep_work_on_failure DIR         remove DIR when nothing failed, else say it is kept (for EXIT traps)
#   alive PID                        true while PID runs (a zombie counts as dead)
#   stop_pid PID [SECONDS]           SIGTERM, wait up to SECONDS (default 15), then SIGKILL; reaps our child
#   start_daemon LOG READY CMD...    start CMD in the background (stdin /dev/null, output appended to LOG),
#                                    wait up to 30 s for a line matching READY (grep regex) in LOG; sets
#                                    DAEMON_PID and adds it to DAEMON_PIDS; false when CMD exits first
#   stop_daemons [SECONDS]           stop_pid every PID in DAEMON_PIDS (for EXIT traps)
#
# PASSED and FAILED hold the counts. Every wait is bounded; processes are stopped by PID, never by name.

[ -n "${HARNESS_LOADED:-}" ] && return 0
HARNESS_LOADED=1

PASSED=0
FAILED=0
DAEMON_PID=
DAEMON_PIDS=()
HARNESS_AT_EXIT=()

ok() {
    PASSED=$((PASSED + 1))
    printf 'ok - %s\n' "$1"
}

not_ok() {
    FAILED=$((FAILED + 1))
    printf 'not ok - %s\n' "$1"
    if [ $# -gt 1 ] && [ -n "$2" ]; then
        printf '%s\n' "$2" | sed 's/^/#   /'
    fi
    return 0
}

check() {
    # shellcheck disable=SC2053  # WANT is a glob on purpose
    if [[ $2 == $3 ]]; then ok "$1"; else not_ok "$1" "got '$2', want '$3'"; fi
}

check_cmd() {
    local desc=$1 out rc
    shift
    # In this shell, not a subshell: what CMD sets (MARIADB_PID, ...) must stay set.
    out=$(mktemp "${TMPDIR:-/tmp}/check.XXXXXX") || return 1
    "$@" >"$out" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then ok "$desc"; else not_ok "$desc" "command failed (exit $rc): $*"$'\n'"$(tail -n 20 "$out")"; fi
    rm -f "$out"
    return "$rc"
}

check_or_finish() {
    check_cmd "$@" || finish
}

summary() {
    printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
}

finish() {
    summary
    exit $?
}

skip() {
    printf '# SKIP: %s\n' "$1"
    exit 77
}

require() {
    local prog
    for prog in "$@"; do
        command -v "$prog" >/dev/null 2>&1 || skip "required program not installed: $prog"
    done
}

build_dir() {
    if [ -z "$1" ] || [ ! -d "$1" ]; then
        echo "usage: $0 BUILD_DIR (the cmake build directory)" >&2
        return 2
    fi
    (cd "$1" && pwd)
}

at_exit() {
    HARNESS_AT_EXIT+=("$(printf '%q ' "$@")")
}

_harness_cleanup() {
    local i
    for ((i = ${#HARNESS_AT_EXIT[@]} - 1; i >= 0; i--)); do eval "${HARNESS_AT_EXIT[$i]}" || true; done
    stop_daemons
    if declare -F mariadb_stop >/dev/null; then mariadb_stop; fi
    keep_work_on_failure "${WORK:-}"
}

work_dir() {
    WORK=$(mktemp -d "$BUILD/$1.XXXXXX") || exit 1
    # Daemons that drop privileges (nobody) must reach their sockets and files in here.
    chmod 0755 "$WORK"
    trap _harness_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

keep_work_on_failure() {
    [ -n "$1" ] || return 0
    if [ "$FAILED" -eq 0 ]; then rm -rf "$1"; else echo "# kept $1 for inspection"; fi
}

alive() {
    local pid=$1 stat state
    [ -n "$pid" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    # The command name (field 2) may hold spaces or ')': the state is the first field after the last ')'.
    state=${stat##*) }
    state=${state%% *}
    case $state in
        Z|X|x) return 1 ;;
        *) return 0 ;;
    esac
}

_harness_wait_gone() {  # PID TENTHS
    local i
    for ((i = 0; i < $2; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    ! alive "$1"
}

stop_pid() {
    local pid=$1 seconds=${2:-15}
    [ -n "$pid" ] || return 0
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        if ! _harness_wait_gone "$pid" $((seconds * 10)); then
            printf '# pid %s did not stop within %s s: SIGKILL\n' "$pid" "$seconds"
            kill -KILL "$pid" 2>/dev/null
            _harness_wait_gone "$pid" 50 || printf '# pid %s survived SIGKILL\n' "$pid"
        fi
    fi
    # Reap it if it is our own child (daemons that fork are reaped by init instead).
    wait "$pid" 2>/dev/null
    return 0
}

start_daemon() {
    local log=$1 ready=$2 i
    shift 2
    "$@" </dev/null >>"$log" 2>&1 &
    DAEMON_PID=$!
    DAEMON_PIDS+=("$DAEMON_PID")
    for ((i = 0; i < 300; i++)); do
        grep -q -- "$ready" "$log" 2>/dev/null && return 0
        alive "$DAEMON_PID" || return 1
        sleep 0.1
    done
    return 1
}

stop_daemons() {  # stop_daemons [SECONDS]
    local pid
    for pid in "${DAEMON_PIDS[@]}"; do stop_pid "$pid" "${1:-15}"; done
    DAEMON_PIDS=()
}
