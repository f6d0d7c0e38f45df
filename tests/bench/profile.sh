#!/bin/bash
# Where does relay-policyd's time (and memory) go? The profiles behind docs/performance.md, on the database
# a previous tests/bench/run.sh left in BUILD_DIR/e2e-bench/db (1000 accounts in relay_authority, 100k in
# relay_big). Run on demand, as root, after run.sh:
#
#   tests/bench/profile.sh BUILD_DIR perf      perf record of relay-policyd under the RCPT-only and the
#                                              realistic mix (report: OUT/perf-*.txt)
#   tests/bench/profile.sh BUILD_DIR sql       MariaDB statement counters per message (realistic mix)
#   tests/bench/profile.sh BUILD_DIR workers   realistic mix with [policyd] workers / [database] pool_size
#                                              4/4 (the defaults), 16/16 and 32/32, and 16/16 with
#                                              innodb_flush_log_at_trx_commit = 2
#   tests/bench/profile.sh BUILD_DIR syscalls  strace -c of relay-policyd and of the null server (RCPT-only)
#   tests/bench/profile.sh BUILD_DIR massif    heap profile of relay-policyd loading relay_big's accounts
#   tests/bench/profile.sh BUILD_DIR rss       RSS with relay_big's accounts: default, MALLOC_ARENA_MAX=2,
#                                              after malloc_trim(0) (gdb)
#
# OUT = BUILD_DIR/bench-profile. Ports 12330-12339 (127.0.0.1). Everything started is stopped by PID.

set -u
BUILD_DIR=${1:-}
WHAT=${2:-}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e mariadb; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done
if [ -z "$BUILD_DIR" ] || [ -z "$WHAT" ]; then
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
fi
B=$(cd "$BUILD_DIR" && pwd)
BENCH=$B/policy-bench
OUT=$B/bench-profile
DATADIR=$B/e2e-bench/db
[ -d "$DATADIR/data/relay_big" ] || { echo "run tests/bench/run.sh $BUILD_DIR first (needs its database)" >&2; exit 2; }
mkdir -p "$OUT"
# shellcheck disable=SC2034  # e2e.sh's list of clean-ups (not e2e_init: it would empty the work dir)
E2E_DEFERRED=()
trap 'e2e_run_deferred' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
e2e_defer mariadb_stop
mariadb_start "$DATADIR" || exit 1
mariadb_sql -e "SET GLOBAL innodb_flush_log_at_trx_commit = 1"

log() { printf '# %s\n' "$*"; }

# start NAME PORT DB DBUSER WORKERS [WRAPPER...]: relay-policyd (POOL: [database] pool_size, default 4);
# sets PID once the rules are loaded
start() {
    local name=$1 port=$2 db=$3 user=$4 workers=$5 i
    shift 5
    cat >"$OUT/$name.conf" <<CONF
[general]
node = profile
[database]
socket = $MARIADB_SOCKET
user = $user
password = bench-policyd-pw
name = $db
pool_size = ${POOL:-4}
[policyd]
listen = inet:127.0.0.1:$port
user = root
group = root
allow_root = true
workers = $workers
CONF
    e2e_start_bg "$OUT/$name.log" "$@" "$B/relay-policyd" --config "$OUT/$name.conf" --foreground
    PID=$E2E_BG_PID
    e2e_defer stop_pid "$PID" 60
    e2e_wait_port 127.0.0.1 "$port" 120 "$PID" || return 1
    for ((i = 0; i < 240; i++)); do
        "$BENCH" --target "inet:127.0.0.1:$port" --mix rcpt-only --requests 1 -c 1 --json 2>/dev/null |
            grep -q '"DUNNO":1' && return 0
        sleep 0.5
    done
    return 1
}

reset() {
    mariadb_sql relay_authority -e "DELETE FROM rate_counters; DELETE FROM abuse_rate_refusals; DELETE FROM abuse_client_networks;"
}

# run PORT MIX SECONDS: one policy-bench run (JSON on stdout)
run() {
    timeout 120 "$BENCH" --target "inet:127.0.0.1:$1" --mix "$2" --duration "$3" --warmup 1 --json
}

rps() { grep -o '"requests_per_s":[0-9.]*' | cut -d: -f2; }

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

case $WHAT in
    perf)
        start main 12330 relay_authority relay_policyd 4 || exit 1
        for mix in rcpt-only realistic; do
            reset
            perf record -F 999 -g -p "$PID" -o "$OUT/perf-$mix.data" -- sleep 8 >/dev/null 2>&1 &
            pp=$!
            run 12330 "$mix" 6 >/dev/null
            wait "$pp"
            perf report -i "$OUT/perf-$mix.data" --no-children --sort dso --stdio -g none >"$OUT/perf-$mix-dso.txt" 2>/dev/null
            perf report -i "$OUT/perf-$mix.data" --no-children --sort sym --stdio -g none >"$OUT/perf-$mix-sym.txt" 2>/dev/null
            perf report -i "$OUT/perf-$mix.data" --children --sort sym --stdio -g none >"$OUT/perf-$mix-children.txt" 2>/dev/null
            log "$mix: $OUT/perf-$mix-{dso,sym,children}.txt"
        done
        ;;
    sql)
        start main 12330 relay_authority relay_policyd 4 || exit 1
        reset
        q() {
            mariadb_sql -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute',
                'Com_stmt_close', 'Com_begin', 'Com_commit', 'Com_select', 'Com_insert', 'Com_update',
                'Innodb_data_fsyncs')"
        }
        q >"$OUT/sql-before.txt"
        run 12330 realistic 6 >"$OUT/sql-run.json"
        q >"$OUT/sql-after.txt"
        # The run (warm-up included) finished this many messages; the counters cover all of it.
        paste "$OUT/sql-before.txt" "$OUT/sql-after.txt" | awk '{ print $1, $4 - $2 }' | tee "$OUT/sql.txt"
        grep -o '"messages":{"finished":[0-9]*' "$OUT/sql-run.json"
        grep -o '"requests":[0-9]*' "$OUT/sql-run.json"
        ;;
    workers)
        start w4 12330 relay_authority relay_policyd 4 || exit 1
        POOL=16 start w16 12331 relay_authority relay_policyd 16 || exit 1
        POOL=32 start w32 12332 relay_authority relay_policyd 32 || exit 1
        for round in 1 2 3; do
            for p in "w4 12330" "w16 12331" "w32 12332"; do
                read -r name port <<<"$p"
                reset
                echo "round $round $name: $(run "$port" realistic 6 | rps) req/s"
            done
            mariadb_sql -e "SET GLOBAL innodb_flush_log_at_trx_commit = 2"
            reset
            echo "round $round w16, innodb_flush_log_at_trx_commit = 2: $(run 12331 realistic 6 | rps) req/s"
            mariadb_sql -e "SET GLOBAL innodb_flush_log_at_trx_commit = 1"
        done | tee "$OUT/workers.txt"
        ;;
    syscalls)
        start main 12330 relay_authority relay_policyd 4 || exit 1
        "$BENCH" --null-server inet:127.0.0.1:12335 2>/dev/null &
        npid=$!
        e2e_defer stop_pid "$npid" 10
        e2e_wait_port 127.0.0.1 12335 10 "$npid"
        for p in "relay 12330 $PID" "null 12335 $npid"; do
            read -r name port pid <<<"$p"
            run "$port" rcpt-only 2 >/dev/null
            timeout 8 strace -c -f -p "$pid" -o "$OUT/strace-$name.txt" 2>/dev/null &
            sp=$!
            sleep 1
            echo "$name: $(run "$port" rcpt-only 4 | grep -o '"requests":[0-9]*') during strace"
            wait "$sp"
            head -12 "$OUT/strace-$name.txt"
        done
        ;;
    massif)
        start massif 12336 relay_big relay_big 4 valgrind --tool=massif --massif-out-file="$OUT/massif.out" \
            --max-snapshots=40 --detailed-freq=1 --threshold=2.0 || exit 1
        sleep 3
        stop_pid "$PID" 60
        ms_print "$OUT/massif.out" >"$OUT/massif.txt"
        log "heap profile: $OUT/massif.txt (the last snapshot is the state with the rules loaded)"
        ;;
    rss)
        start big 12337 relay_big relay_big 4 || exit 1
        a=$PID
        start big_arena2 12338 relay_big relay_big 4 env MALLOC_ARENA_MAX=2 || exit 1
        b=$PID
        sleep 2
        n=$(mariadb_sql relay_big -e "SELECT COUNT(*) FROM smtp_authorities")
        echo "$n accounts loaded: $(rss "$a") KiB; with MALLOC_ARENA_MAX=2: $(rss "$b") KiB"
        gdb -p "$a" -batch -ex 'call (int)malloc_trim(0)' >/dev/null 2>&1
        echo "after malloc_trim(0): $(rss "$a") KiB"
        grep -E '^(VmRSS|RssAnon|RssFile|Threads)' "/proc/$a/status"
        ;;
    *)
        echo "unknown: $WHAT (perf, sql, workers, syscalls, massif, rss)" >&2
        exit 2
        ;;
esac
