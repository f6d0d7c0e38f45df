# shellcheck shell=bash
# A private MariaDB for integration and end-to-end tests: own datadir, unix socket only (--skip-networking),
# started and stopped by PID. Source it:
#
#   . "$SRC/tests/lib/mariadb.sh"
#   mariadb_available               true when mariadbd, mariadb-install-db and mariadb are installed
#   mariadb_start DIR [OPTION...]   init DIR/data if missing, start mariadbd (extra mariadbd OPTIONs
#                                   allowed), wait up to 60 s until it answers. Sets MARIADB_DIR,
#                                   MARIADB_SOCKET, MARIADB_PID, MARIADB_ADMIN_USER, MARIADB_ERROR_LOG.
#                                   Calling it again after mariadb_stop restarts on the same datadir.
#   mariadb_stop                    SIGTERM, wait up to 60 s, then SIGKILL; never by name
#   mariadb_alive                   true while the started mariadbd runs (a zombie counts as dead)
#   mariadb_sql [CLIENT ARG...]     the mariadb client as the admin user over the socket, --batch
#                                   --skip-column-names, utf8mb4; e.g. mariadb_sql relay_authority -e 'SELECT 1'
#   mariadb_apply_schema DB         create DB (utf8mb4) and apply sql/migrations/NNN_*.sql in order, each
#                                   only when its NNN is above MAX(schema_version.version): safe to repeat
#   mariadb_load_sample_data DB     apply sql/sample-data.sql
#   mariadb_create_app_user DB USER PASSWORD
#                                   (re)create USER@localhost with SELECT, INSERT, UPDATE, DELETE on DB.*
#   mariadb_database_section USER PASSWORD [DB [CONNECT_TIMEOUT]]
#                                   print a daemon config's [database] section for this server (socket,
#                                   USER, PASSWORD, DB (default relay_authority), connect_timeout (default
#                                   2)); more [database] lines may follow it. The file around it:
#                                   relay_write_config (relay_config.sh, sourced here too)
#   mariadb_start_sample DIR USER PASSWORD
#                                   mariadb_start DIR, then relay_authority with the schema, the sample
#                                   data and the app user USER: what most daemon tests begin with
#
# The admin user is root when the tests run as root (unix_socket authentication: no password anywhere),
# else the invoking OS user, created by mariadb-install-db with the same authentication.
# The caller installs the EXIT trap that calls mariadb_stop. All waits are bounded. Sources
# tests/lib/harness.sh (alive, stop_pid and the test counters).

# shellcheck source=harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
# shellcheck source=relay_config.sh
. "$(dirname "${BASH_SOURCE[0]}")/relay_config.sh"

MARIADB_LIB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MARIADB_DIR=
MARIADB_SOCKET=
MARIADB_PID=
MARIADB_ADMIN_USER=
MARIADB_ERROR_LOG=
_MARIADB_SHORT_DIR=   # a short directory for the socket when DIR is too long for a unix socket path

_mariadb_bin() {
    # mariadbd lives in /usr/sbin, which is not on every user's PATH.
    command -v "$1" 2>/dev/null && return 0
    local d
    for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
        [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    return 1
}

mariadb_available() {
    _mariadb_bin mariadbd >/dev/null && _mariadb_bin mariadb-install-db >/dev/null &&
        _mariadb_bin mariadb >/dev/null
}

mariadb_alive() { alive "$MARIADB_PID"; }

_mariadb_log_tail() {
    [ -f "$1" ] || return 0
    echo "# ---- last lines of $1" >&2
    tail -n 20 "$1" | sed 's/^/#   /' >&2
}

_mariadb_init_datadir() {
    local dir=$1 install_db
    [ -d "$dir/data/mysql" ] && return 0
    install_db=$(_mariadb_bin mariadb-install-db) || { echo "mariadb-install-db not found" >&2; return 1; }
    local args=(--no-defaults "--datadir=$dir/data" --skip-test-db --auth-root-authentication-method=socket)
    if [ "$(id -u)" -eq 0 ]; then
        args+=(--user=root)
    else
        args+=("--auth-root-socket-user=$(id -un)")
    fi
    if ! "$install_db" "${args[@]}" >"$dir/install.log" 2>&1; then
        echo "mariadb-install-db failed" >&2
        _mariadb_log_tail "$dir/install.log"
        return 1
    fi
}

_mariadb_pick_socket() {
    local dir=$1
    # sun_path holds 108 bytes; leave room for the server's own checks.
    if [ "${#dir}" -le 90 ]; then
        MARIADB_SOCKET=$dir/sock
    else
        _MARIADB_SHORT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mdb.XXXXXX") || return 1
        MARIADB_SOCKET=$_MARIADB_SHORT_DIR/sock
        ln -sfn "$MARIADB_SOCKET" "$dir/sock"  # so that people find it
    fi
}

_mariadb_ready() {
    "$(_mariadb_bin mariadb)" --no-defaults "--socket=$MARIADB_SOCKET" "--user=$MARIADB_ADMIN_USER" \
        --connect-timeout=2 -e 'SELECT 1' >/dev/null 2>&1
}

mariadb_start() {
    local dir=$1 mariadbd i pidfile_pid
    shift || true
    if [ -z "$dir" ]; then echo "usage: mariadb_start DIR [MARIADBD_OPTION...]" >&2; return 2; fi
    if mariadb_alive; then echo "mariadb_start: already running (pid $MARIADB_PID)" >&2; return 1; fi
    mkdir -p "$dir" && chmod 0700 "$dir" || return 1
    MARIADB_DIR=$(cd "$dir" && pwd)
    MARIADB_ERROR_LOG=$MARIADB_DIR/error.log
    if [ "$(id -u)" -eq 0 ]; then MARIADB_ADMIN_USER=root; else MARIADB_ADMIN_USER=$(id -un); fi
    mariadbd=$(_mariadb_bin mariadbd) || { echo "mariadbd not found" >&2; return 1; }
    _mariadb_init_datadir "$MARIADB_DIR" || return 1
    _mariadb_pick_socket "$MARIADB_DIR" || return 1
    rm -f "$MARIADB_SOCKET" "$MARIADB_DIR/mariadbd.pid"

    local args=(--no-defaults "--datadir=$MARIADB_DIR/data" "--socket=$MARIADB_SOCKET" --skip-networking
                "--pid-file=$MARIADB_DIR/mariadbd.pid" "--log-error=$MARIADB_ERROR_LOG"
                --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
                --innodb-buffer-pool-size=64M)
    [ "$(id -u)" -eq 0 ] && args+=(--user=root)
    # setsid: a terminal's Ctrl-C must not kill the server before the EXIT trap stops it cleanly. In a
    # non-interactive shell the background child is no group leader, so setsid execs and $! is mariadbd.
    setsid "$mariadbd" "${args[@]}" "$@" </dev/null >>"$MARIADB_DIR/mariadbd.out" 2>&1 &
    MARIADB_PID=$!

    for ((i = 0; i < 600; i++)); do
        if _mariadb_ready; then
            pidfile_pid=$(cat "$MARIADB_DIR/mariadbd.pid" 2>/dev/null)
            if [ -n "$pidfile_pid" ] && [ "$pidfile_pid" != "$MARIADB_PID" ]; then
                MARIADB_PID=$pidfile_pid  # setsid forked after all: stop the real server
            fi
            return 0
        fi
        if ! mariadb_alive; then
            echo "mariadbd exited during start-up" >&2
            _mariadb_log_tail "$MARIADB_ERROR_LOG"
            wait "$MARIADB_PID" 2>/dev/null
            MARIADB_PID=
            return 1
        fi
        sleep 0.1
    done
    echo "mariadbd did not answer within 60 s" >&2
    _mariadb_log_tail "$MARIADB_ERROR_LOG"
    mariadb_stop
    return 1
}

mariadb_stop() {
    # A large buffer pool may take a while to flush: up to 60 s before SIGKILL.
    stop_pid "$MARIADB_PID" 60
    MARIADB_PID=
    if [ -n "$_MARIADB_SHORT_DIR" ]; then
        rm -rf "$_MARIADB_SHORT_DIR"
        _MARIADB_SHORT_DIR=
    fi
    return 0
}

mariadb_sql() {
    "$(_mariadb_bin mariadb)" --no-defaults "--socket=$MARIADB_SOCKET" "--user=$MARIADB_ADMIN_USER" \
        --default-character-set=utf8mb4 --batch --skip-column-names "$@"
}

_mariadb_check_name() {
    case $1 in
        ''|*[!A-Za-z0-9_]*) echo "invalid name '$1' (letters, digits, _ only)" >&2; return 1 ;;
    esac
}

mariadb_apply_schema() {
    local db=$1 current file base version
    _mariadb_check_name "$db" || return 1
    mariadb_sql -e "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" ||
        return 1
    current=$(mariadb_sql "$db" -e "SELECT COALESCE(MAX(version), 0) FROM schema_version" 2>/dev/null) ||
        current=0
    for file in "$MARIADB_LIB_SRC"/sql/migrations/[0-9][0-9][0-9]_*.sql; do
        [ -f "$file" ] || continue
        base=$(basename "$file")
        version=$((10#${base:0:3}))
        [ "$version" -gt "$current" ] || continue
        if ! mariadb_sql "$db" <"$file"; then
            echo "applying $base to $db failed" >&2
            return 1
        fi
    done
}

mariadb_load_sample_data() {
    local db=$1
    _mariadb_check_name "$db" || return 1
    mariadb_sql "$db" <"$MARIADB_LIB_SRC/sql/sample-data.sql"
}

_mariadb_quote() {
    # A single-quoted SQL string literal (backslash and quote escaped).
    printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"
}

# _mariadb_app_user_sql FUNCTION "HOST..." DB USER PASSWORD: the statements that (re)create USER@HOST with
# SELECT, INSERT, UPDATE, DELETE on DB.* for each HOST; FUNCTION's usage message when an argument is missing.
_mariadb_app_user_sql() {
    local fn=$1 hosts=$2 db=${3-} user=${4-} password=${5-} u p host
    _mariadb_check_name "$db" || return 1
    if [ -z "$user" ] || [ $# -lt 5 ]; then
        echo "usage: $fn DB USER PASSWORD" >&2
        return 2
    fi
    u=$(_mariadb_quote "$user")
    p=$(_mariadb_quote "$password")
    for host in $hosts; do
        printf "CREATE OR REPLACE USER %s@'%s' IDENTIFIED BY %s;\n" "$u" "$host" "$p"
        printf "GRANT SELECT, INSERT, UPDATE, DELETE ON \`%s\`.* TO %s@'%s';\n" "$db" "$u" "$host"
    done
}

mariadb_create_app_user() {
    local sql
    sql=$(_mariadb_app_user_sql mariadb_create_app_user localhost "$@") || return
    mariadb_sql -e "$sql"
}

mariadb_start_sample() {
    mariadb_start "$1" && mariadb_apply_schema relay_authority && mariadb_load_sample_data relay_authority &&
        mariadb_create_app_user relay_authority "$2" "$3"
}

mariadb_database_section() {
    printf '[database]\nsocket = %s\nuser = %s\npassword = %s\nname = %s\nconnect_timeout = %s\n' \
        "$MARIADB_SOCKET" "$1" "$2" "${3:-relay_authority}" "${4:-2}"
}

# Old private names, only for tests/lib/galera.sh of the galera branches written before harness.sh:
# delete once they are merged and use alive (and stop_pid).
_mariadb_pid_alive() { alive "$@"; }
_mariadb_wait_gone() { _harness_wait_gone "$@"; }
