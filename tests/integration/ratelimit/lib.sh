# shellcheck shell=bash
# Shared by tests/integration/test_rate_limits.sh, test_frozen_db.sh and the rate-limit benchmarks in
# tests/bench: relay-policyd daemons on the private MariaDB, and the rate client. Source after setting
# BUILD, SRC, WORK; then mariadb.sh's and harness.sh's functions are available too.
#
#   rl_write_config FILE NODE PORT [EXTRA-INI-LINES]   a relay-policyd config for the private MariaDB
#                                                      ([policyd] lines or more sections; RL_DB_EXTRA:
#                                                      more [database] lines; RL_EXTRA_CONFIG: more
#                                                      lines at the end); relay_write_config writes it
#   rl_start_policyd CONF LOG                          foreground daemon; sets RL_PID; waits for "ready on"
#                                                      (harness.sh start_daemon: stop_daemons stops it)
#   rl_client ARG...                                   rate_client.py, bounded by timeout(1)
#   rl_json JSON KEY                                   a number from the client's JSON (0 when absent)

# shellcheck source=../../lib/mariadb.sh
. "$SRC/tests/lib/mariadb.sh"

RL_BIN=$BUILD/relay-policyd
RL_CLIENT=$SRC/tests/integration/ratelimit/rate_client.py
RL_DB_USER=relay_rl
RL_DB_PASSWORD=rl-pw-$$

rl_write_config() {
    relay_write_config "$1" "[general]" "node = $2" "log_level = info" \
        "$(mariadb_database_section "$RL_DB_USER" "$RL_DB_PASSWORD")" "read_timeout = 5" "write_timeout = 5" \
        "${RL_DB_EXTRA:-}" \
        "[cache]" "poll_interval = 200ms" "max_stale = 120" \
        "$(relay_policyd_section "$3")" "idle_timeout = 60" "${4:-}" "${RL_EXTRA_CONFIG:-}"
}

rl_start_policyd() {
    start_daemon "$2" "ready on" "$RL_BIN" --config "$1" --foreground
    local rc=$?
    RL_PID=$DAEMON_PID
    return $rc
}

rl_client() { timeout 300 python3 "$RL_CLIENT" "$@"; }

rl_json() {
    printf '%s' "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$2" 2>/dev/null ||
        echo "?"
}

rl_sql() { mariadb_sql relay_authority -e "$1" 2>&1; }

# rl_sql_wait WANT TRIES PAUSE QUERY: run QUERY until it prints WANT, at most TRIES times PAUSE s apart;
# prints the last answer. For rows the daemons write in the background (the audit trail).
rl_sql_wait() {
    local want=$1 tries=$2 pause=$3 query=$4 got= i
    for ((i = 0; i < tries; i++)); do
        got=$(rl_sql "$query")
        [ "$got" = "$want" ] && break
        sleep "$pause"
    done
    printf '%s\n' "$got"
}

# Old names, only for the scripts of branches written before harness.sh (galera-charge, galera-conn,
# obs): delete once they are merged and use stop_daemons, alive, stop_pid.
rl_stop_all() { stop_daemons; }
rl_alive() { alive "$@"; }
rl_stop_pid() { stop_pid "$@"; }
