# shellcheck shell=bash
# relayctl as the integration tests drive it (tests/integration/test_relayctl.sh, test_relayctl_import.sh,
# test_host_list_tools.sh).
# Sources mariadb.sh (and so harness.sh); set CONF (the config relayctl gets), DB and WORK.
#
#   relayctl_require BUILD_ARG                   BUILD and RELAYCTL=BUILD/relayctl; skip (exit 77) when
#                                                relayctl is not built or MariaDB is not installed
#   q SQL                                        the query's output (and errors) in database DB
#   run [--stdin TEXT] ARGS...                   relayctl --config CONF ARGS (stdin: TEXT, else empty);
#                                                sets RC, OUT, ERR
#   expect DESC WANT_RC [--stdin TEXT] ARGS...   a check: relayctl exits with WANT_RC
#   expect_out DESC WANT_RC REGEX ARGS...        a check: that exit code, and stdout+stderr match REGEX
#                                                (grep -E)
#   expect_sql DESC SQL WANT                     a check: the query prints exactly WANT

# shellcheck source=mariadb.sh
. "$(dirname "${BASH_SOURCE[0]}")/mariadb.sh"

relayctl_require() {
    BUILD=$(build_dir "$1") || exit 2
    RELAYCTL=$BUILD/relayctl
    [ -x "$RELAYCTL" ] || skip "$RELAYCTL not built"
    mariadb_available || skip "MariaDB server (mariadbd, mariadb-install-db, mariadb) not installed"
}

q() { mariadb_sql "$DB" -e "$1" 2>&1; }

run() {
    local input=
    if [ "${1:-}" = --stdin ]; then input=$2; shift 2; fi
    printf '%s' "$input" | "$RELAYCTL" --config "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"
    RC=$?
    OUT=$(cat "$WORK/out")
    ERR=$(cat "$WORK/err")
}

expect() {
    local desc=$1 want=$2
    shift 2
    run "$@"
    if [ "$RC" = "$want" ]; then ok "$desc"; else not_ok "$desc" "exit $RC, want $want; stdout: $OUT; stderr: $ERR"; fi
}

expect_out() {
    local desc=$1 want=$2 re=$3
    shift 3
    run "$@"
    if [ "$RC" = "$want" ] && printf '%s\n%s\n' "$OUT" "$ERR" | grep -Eq -- "$re"; then
        ok "$desc"
    else
        not_ok "$desc" "exit $RC (want $want), output does not match /$re/; stdout: $OUT; stderr: $ERR"
    fi
}

expect_sql() {
    local got
    got=$(q "$2")
    if [ "$got" = "$3" ]; then ok "$1"; else not_ok "$1" "got: $got"$'\n'"want: $3"; fi
}
