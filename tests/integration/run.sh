#!/usr/bin/env bash
# Runs the integration_tests binary (Boost.Test, tests/integration/*.cpp) against a private MariaDB:
#
#   tests/integration/run.sh BUILD_DIR/integration_tests BUILD_DIR [BOOST_TEST_ARGS...]
#
# Starts mariadbd with its own datadir and unix socket under BUILD_DIR/integration-store (no TCP), applies
# sql/migrations to a fresh database, creates the application user, and hands the test binary:
#   RELAY_TEST_DB_SOCKET, RELAY_TEST_DB_USER, RELAY_TEST_DB_PASSWORD, RELAY_TEST_DB_NAME
#   RELAY_TEST_DB_EMPTY_NAME   a database without any table (schema missing)
#   RELAY_TEST_DB_OLD_NAME     a database whose schema_version is 1 (schema too old)
#   RELAY_TEST_DB_SAMPLE_NAME  the schema plus sql/sample-data.sql
#   RELAY_TEST_DBCTL           "RELAY_TEST_DBCTL stop|start" stops / restarts this mariadbd (by PID)
# mariadbd is stopped by PID on exit whatever happens. Exit status: the binary's; 77 when MariaDB is not
# installed (ctest: skipped).
set -u

bin=${1:?usage: run.sh INTEGRATION_TESTS_BINARY BUILD_DIR [ARGS...]}
build=${2:?usage: run.sh INTEGRATION_TESTS_BINARY BUILD_DIR [ARGS...]}
shift 2
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "$build" && pwd)

# shellcheck source=../lib/mariadb.sh
. "$src/tests/lib/mariadb.sh"
if ! mariadb_available; then
    echo "skipped: mariadbd / mariadb-install-db / mariadb not installed (apt-get install mariadb-server)"
    exit 77
fi

work=$build/integration-store
pidfile=$work/mariadbd.current-pid   # the running server's PID, also after a restart by dbctl
rm -rf "$work"
mkdir -p "$work"

stop_db() {
    # The server may have been restarted by dbctl (another process): its PID is in the file.
    local pid
    pid=$(cat "$pidfile" 2>/dev/null)
    [ -n "$pid" ] && MARIADB_PID=$pid
    mariadb_stop
    rm -f "$pidfile"
}
trap stop_db EXIT
trap 'exit 130' INT TERM

if ! mariadb_start "$work/db"; then
    echo "not ok - could not start a private MariaDB in $work/db"
    exit 1
fi
echo "$MARIADB_PID" >"$pidfile"

db=relay_it
user=relay_it
# A password with characters that need care, so a test can prove it never appears in a message.
password="it-Secret-$$-$RANDOM'%"
if ! mariadb_apply_schema "$db"; then
    echo "not ok - applying sql/migrations to $db failed"
    exit 1
fi
if ! mariadb_apply_schema relay_it_sample || ! mariadb_load_sample_data relay_it_sample; then
    echo "not ok - loading sql/sample-data.sql into relay_it_sample failed"
    exit 1
fi
mariadb_create_app_user "$db" "$user" "$password" || exit 1
mariadb_sql -e "CREATE DATABASE relay_it_empty CHARACTER SET utf8mb4;
    CREATE DATABASE relay_it_old CHARACTER SET utf8mb4;
    CREATE TABLE relay_it_old.schema_version (version INT UNSIGNED NOT NULL PRIMARY KEY,
        name VARCHAR(100) NOT NULL, applied_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP);
    INSERT INTO relay_it_old.schema_version (version, name) VALUES (1, '001_initial');
    GRANT SELECT, INSERT, UPDATE, DELETE ON relay_it_empty.* TO '$user'@'localhost';
    GRANT SELECT, INSERT, UPDATE, DELETE ON relay_it_old.* TO '$user'@'localhost';
    GRANT SELECT, INSERT, UPDATE, DELETE ON relay_it_sample.* TO '$user'@'localhost';" || exit 1

# dbctl: lets the test binary stop and restart this server (reconnect tests). Same datadir and socket.
cat >"$work/dbctl" <<EOF
#!/usr/bin/env bash
set -u
. "$src/tests/lib/mariadb.sh"
pidfile="$pidfile"
case "\${1:-}" in
    stop)
        MARIADB_PID=\$(cat "\$pidfile" 2>/dev/null)
        mariadb_stop
        : >"\$pidfile"
        ;;
    start)
        mariadb_start "$work/db" || exit 1
        echo "\$MARIADB_PID" >"\$pidfile"
        ;;
    *) echo "usage: dbctl stop|start" >&2; exit 2 ;;
esac
EOF
chmod +x "$work/dbctl"

# The socket path through the datadir directory stays the same across restarts (mariadb.sh may put the
# real socket in a short temporary directory and link it there).
export RELAY_TEST_DB_SOCKET=$MARIADB_DIR/sock
export RELAY_TEST_DB_USER=$user
export RELAY_TEST_DB_PASSWORD=$password
export RELAY_TEST_DB_NAME=$db
export RELAY_TEST_DB_EMPTY_NAME=relay_it_empty
export RELAY_TEST_DB_OLD_NAME=relay_it_old
export RELAY_TEST_DB_SAMPLE_NAME=relay_it_sample
export RELAY_TEST_DBCTL=$work/dbctl

"$bin" --log_level=test_suite --report_level=short "$@"
status=$?
if [ "$status" -eq 0 ]; then echo "ok - integration_tests"; else echo "not ok - integration_tests (exit $status)"; fi
exit "$status"
