# shellcheck shell=bash
# A private 3-node MariaDB Galera cluster on loopback for integration tests (/work/shared/RECIPE-galera.md):
# every node has its own datadir, unix socket and ports, runs as the `mysql` user (the rsync state transfer
# fails for nodes running as root), and is started and stopped by PID. Needs root (to run the nodes as
# mysql), mariadbd with galera-4 (/usr/lib/galera/libgalera_smm.so) and rsync. Source it:
#
#   . "$SRC/tests/lib/galera.sh"        (sources tests/lib/mariadb.sh as well)
#   galera_available                true when the above is present and we are root
#   galera_start DIR                init and start nodes 1..3 (node 1 bootstraps the cluster), wait until
#                                   all three are Synced (bounded). Node data lives in a short directory
#                                   under /tmp that mysql can reach (GALERA_RUN; DIR/galera links to it).
#   galera_stop [--keep]            SIGTERM every node by PID, wait (60 s each), then SIGKILL; removes
#                                   GALERA_RUN unless --keep (then it says where it is)
#   galera_port N                   node N's SQL port on 127.0.0.1 (16301..16303)
#   galera_socket N                 node N's unix socket
#   galera_pid N                    node N's mariadbd PID ("" when it is not running)
#   galera_alive N                  true while node N runs
#   galera_sql N [CLIENT ARG...]    the mariadb client on node N as root over its socket, --batch
#                                   --skip-column-names, utf8mb4
#   galera_status N VARIABLE        a SHOW GLOBAL STATUS value of node N (e.g. wsrep_local_state)
#   galera_conflicts                certification failures and brute-force aborts, nodes 1..3 summed
#   galera_synced N                 true when node N answers with wsrep_ready=ON and wsrep_local_state=4
#   galera_wait_synced N [SECONDS]  wait until node N is Synced (default 120 s)
#   galera_kill N                   kill -9 node N (waits until it is gone)
#   galera_restart N [SECONDS]      start node N again (joins the running nodes, state transfer by IST or
#                                   rsync) and wait until it is Synced (default 180 s)
#   galera_isolate N / galera_unisolate N
#                                   cut node N off the group (gmcast.isolate=1) / let it back (=0); the
#                                   isolated node answers queries with error 1047
#   galera_use N                    point tests/lib/mariadb.sh's MARIADB_SOCKET/MARIADB_ADMIN_USER at node
#                                   N, so mariadb_sql, mariadb_apply_schema, mariadb_load_sample_data work
#                                   on it (DDL and grants replicate to the other nodes)
#   galera_create_app_user DB USER PASSWORD
#                                   (re)create USER@localhost and USER@127.0.0.1 (TCP) with SELECT, INSERT,
#                                   UPDATE, DELETE on DB.*, on node 1 (replicated)
#
# GALERA_PROVIDER_EXTRA (environment): more wsrep_provider_options for every node, appended with ';'
# (e.g. 'evs.suspect_timeout=PT2S': how soon the cluster evicts a node that stopped answering).
#
# Ports (127.0.0.1 only; tests/lib/mariadb.sh's servers use unix sockets only): SQL 1630N, group
# communication 1631N, incremental state transfer (IST) 1632N, full state transfer (SST, rsync) 1633N.
# The caller installs the EXIT trap that calls galera_stop. All waits are bounded.

# shellcheck source=mariadb.sh
. "$(dirname "${BASH_SOURCE[0]}")/mariadb.sh"

GALERA_NODES=3
GALERA_RUN=
GALERA_PROVIDER=/usr/lib/galera/libgalera_smm.so
GALERA_CLUSTER_NAME=relay_test_cluster
_GALERA_PIDS=("" "" "" "")   # index 1..3

galera_port() { echo $((16300 + $1)); }
_galera_gcomm_port() { echo $((16310 + $1)); }
_galera_ist_port() { echo $((16320 + $1)); }
_galera_sst_port() { echo $((16330 + $1)); }
_galera_dir() { echo "$GALERA_RUN/n$1"; }
galera_socket() { echo "$GALERA_RUN/n$1/sock"; }
galera_pid() { echo "${_GALERA_PIDS[$1]}"; }
galera_alive() { _mariadb_pid_alive "${_GALERA_PIDS[$1]}"; }

galera_available() {
    mariadb_available && [ -r "$GALERA_PROVIDER" ] && command -v rsync >/dev/null 2>&1 &&
        [ "$(id -u)" -eq 0 ] && id mysql >/dev/null 2>&1
}

galera_sql() {
    local n=$1
    shift
    "$(_mariadb_bin mariadb)" --no-defaults "--socket=$(galera_socket "$n")" --user=root --connect-timeout=2 \
        --default-character-set=utf8mb4 --batch --skip-column-names "$@"
}

galera_status() {
    galera_sql "$1" -e "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | cut -f2
}

galera_conflicts() {
    local n total=0 v
    for n in 1 2 3; do
        for v in wsrep_local_cert_failures wsrep_local_bf_aborts; do
            total=$((total + $(galera_status "$n" "$v")))
        done
    done
    echo "$total"
}

galera_synced() {
    local out
    out=$(galera_sql "$1" -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state')" \
        2>/dev/null) || return 1
    printf '%s\n' "$out" | grep -qx $'wsrep_ready\tON' && printf '%s\n' "$out" | grep -qx $'wsrep_local_state\t4'
}

galera_wait_synced() {
    local n=$1 seconds=${2:-120} i
    for ((i = 0; i < seconds * 5; i++)); do
        galera_synced "$n" && return 0
        if ! galera_alive "$n"; then
            echo "galera node $n exited while joining" >&2
            _mariadb_log_tail "$(_galera_dir "$n")/error.log"
            return 1
        fi
        sleep 0.2
    done
    echo "galera node $n was not Synced within $seconds s" >&2
    _mariadb_log_tail "$(_galera_dir "$n")/error.log"
    return 1
}

_galera_answers() {
    "$(_mariadb_bin mariadb)" --no-defaults "--socket=$(galera_socket "$1")" --user=root --connect-timeout=2 \
        -e 'SELECT 1' >/dev/null 2>&1
}

_galera_init_node() {
    local n=$1 dir install_db
    dir=$(_galera_dir "$n")
    mkdir -p "$dir" && chown mysql:mysql "$dir" && chmod 0750 "$dir" || return 1
    [ -d "$dir/data/mysql" ] && return 0
    install_db=$(_mariadb_bin mariadb-install-db) || { echo "mariadb-install-db not found" >&2; return 1; }
    if ! "$install_db" --no-defaults "--datadir=$dir/data" --user=mysql --skip-test-db \
        --auth-root-authentication-method=socket >"$dir/install.log" 2>&1; then
        echo "mariadb-install-db failed for galera node $n" >&2
        _mariadb_log_tail "$dir/install.log"
        return 1
    fi
    chown -R mysql:mysql "$dir"
}

_galera_cluster_address() {
    local n list=""
    for ((n = 1; n <= GALERA_NODES; n++)); do list+="${list:+,}127.0.0.1:$(_galera_gcomm_port "$n")"; done
    echo "gcomm://$list"
}

# _galera_launch N [EXTRA OPTION...]: start mariadbd for node N in the background, record its PID.
_galera_launch() {
    local n=$1 dir mariadbd
    shift
    dir=$(_galera_dir "$n")
    mariadbd=$(_mariadb_bin mariadbd) || { echo "mariadbd not found" >&2; return 1; }
    rm -f "$dir/sock" "$dir/mariadbd.pid"
    local args=(--no-defaults "--datadir=$dir/data" "--socket=$dir/sock" "--port=$(galera_port "$n")"
                --bind-address=127.0.0.1 "--pid-file=$dir/mariadbd.pid" "--log-error=$dir/error.log"
                --user=mysql --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
                --innodb-buffer-pool-size=64M --binlog-format=ROW --default-storage-engine=InnoDB
                --innodb-autoinc-lock-mode=2 --wsrep-on=ON "--wsrep-provider=$GALERA_PROVIDER"
                "--wsrep-cluster-name=$GALERA_CLUSTER_NAME" "--wsrep-cluster-address=$(_galera_cluster_address)"
                "--wsrep-node-address=127.0.0.1:$(_galera_gcomm_port "$n")" "--wsrep-node-name=n$n"
                "--wsrep-provider-options=base_port=$(_galera_gcomm_port "$n");ist.recv_addr=127.0.0.1:$(_galera_ist_port "$n");gcache.size=32M${GALERA_PROVIDER_EXTRA:+;$GALERA_PROVIDER_EXTRA}"
                --wsrep-sst-method=rsync "--wsrep-sst-receive-address=127.0.0.1:$(_galera_sst_port "$n")")
    # setsid: see mariadb_start (Ctrl-C must not kill the node before the EXIT trap stops it).
    setsid "$mariadbd" "${args[@]}" "$@" </dev/null >>"$dir/mariadbd.out" 2>&1 &
    _GALERA_PIDS[n]=$!
}

# _galera_wait_answers N SECONDS: until node N answers SQL; adopts the PID file's PID.
_galera_wait_answers() {
    local n=$1 seconds=$2 i dir pidfile_pid
    dir=$(_galera_dir "$n")
    for ((i = 0; i < seconds * 10; i++)); do
        if _galera_answers "$n"; then
            pidfile_pid=$(cat "$dir/mariadbd.pid" 2>/dev/null)
            [ -n "$pidfile_pid" ] && [ "$pidfile_pid" != "${_GALERA_PIDS[n]}" ] && _GALERA_PIDS[n]=$pidfile_pid
            return 0
        fi
        if ! galera_alive "$n"; then
            echo "galera node $n exited during start-up" >&2
            _mariadb_log_tail "$dir/error.log"
            wait "${_GALERA_PIDS[n]}" 2>/dev/null
            _GALERA_PIDS[n]=
            return 1
        fi
        sleep 0.1
    done
    echo "galera node $n did not answer within $seconds s" >&2
    _mariadb_log_tail "$dir/error.log"
    return 1
}

galera_start() {
    local dir=$1 n
    if [ -z "$dir" ]; then echo "usage: galera_start DIR" >&2; return 2; fi
    galera_available || { echo "galera_start: needs root, mariadbd, $GALERA_PROVIDER and rsync" >&2; return 1; }
    mkdir -p "$dir" || return 1
    if [ -z "$GALERA_RUN" ]; then
        # Short (unix socket paths) and reachable by mysql (a test's mktemp -d directory is 0700 root).
        GALERA_RUN=$(mktemp -d /tmp/galera.XXXXXX) && chmod 0755 "$GALERA_RUN" || return 1
        ln -sfn "$GALERA_RUN" "$dir/galera"
    fi
    for ((n = 1; n <= GALERA_NODES; n++)); do _galera_init_node "$n" || return 1; done
    _galera_launch 1 --wsrep-new-cluster && _galera_wait_answers 1 60 && galera_wait_synced 1 60 || return 1
    for ((n = 2; n <= GALERA_NODES; n++)); do
        _galera_launch "$n" && _galera_wait_answers "$n" 120 && galera_wait_synced "$n" 120 || return 1
    done
    local size
    size=$(galera_status 1 wsrep_cluster_size)
    [ "$size" = "$GALERA_NODES" ] || { echo "galera cluster size is '$size', want $GALERA_NODES" >&2; return 1; }
}

galera_kill() {
    local n=$1 pid=${_GALERA_PIDS[$1]}
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null
    _mariadb_wait_gone "$pid" 100
    wait "$pid" 2>/dev/null
    _GALERA_PIDS[n]=
} 2>/dev/null  # not bash's "Killed" job notice

galera_restart() {
    local n=$1 seconds=${2:-180}
    if galera_alive "$n"; then echo "galera_restart: node $n is running" >&2; return 1; fi
    # A node killed with -9 left "safe_to_bootstrap: 0" and seqno -1: it joins the others and gets the
    # state it missed (IST from the gcache, or a full rsync).
    _galera_launch "$n" && _galera_wait_answers "$n" "$seconds" && galera_wait_synced "$n" "$seconds"
}

galera_isolate() { galera_sql "$1" -e "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'"; }
galera_unisolate() { galera_sql "$1" -e "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'"; }

_galera_stop_node() {
    local n=$1 pid=${_GALERA_PIDS[$1]}
    [ -n "$pid" ] || return 0
    if _mariadb_pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        if ! _mariadb_wait_gone "$pid" 600; then
            echo "# galera node $n (pid $pid) did not stop within 60 s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
            _mariadb_wait_gone "$pid" 100 || echo "# galera node $n (pid $pid) survived SIGKILL" >&2
        fi
    fi
    wait "$pid" 2>/dev/null
    _GALERA_PIDS[n]=
}

galera_stop() {
    local keep=${1:-} n
    for ((n = GALERA_NODES; n >= 1; n--)); do _galera_stop_node "$n"; done
    [ -n "$GALERA_RUN" ] || return 0
    if [ "$keep" = --keep ]; then
        echo "# kept the galera nodes' data and logs in $GALERA_RUN" >&2
    else
        rm -rf "$GALERA_RUN"
        GALERA_RUN=
    fi
    return 0
}

galera_use() {
    MARIADB_SOCKET=$(galera_socket "$1")
    MARIADB_ADMIN_USER=root
}

galera_create_app_user() {
    local sql
    sql=$(_mariadb_app_user_sql galera_create_app_user "localhost 127.0.0.1" "$@") || return
    galera_sql 1 -e "$sql"
}
