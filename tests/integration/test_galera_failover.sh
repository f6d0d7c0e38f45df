#!/usr/bin/env bash
# Three relay-policyd on one shared [database] host list, on a real 3-node MariaDB Galera cluster
# (tests/lib/galera.sh), under steady traffic (galera/timeline_client.py writes every answer with its time).
#   tests/integration/test_galera_failover.sh BUILD_DIR      (ctest: integration_galera_failover)
#
# Checked (issue 10, items 1, 5 and 6):
#   - a malformed host entry is refused by --check-config, naming the entry;
#   - every daemon uses the first server of the list (its log says so; the nodes table too);
#   - an account disabled in SQL on node 2 is refused by all three daemons within 2 s;
#   - kill -9 of node 1 (the server in use) while the traffic runs: every daemon switches to node 2 within
#     3 s (its log says so, with the time), and its END-OF-MESSAGE charges are accepted again as soon as
#     the cluster has evicted the dead node: until then Galera holds every write on every node (about
#     evs.suspect_timeout, 5 s by default; no daemon can shorten that), so the bound checked for charges
#     is that plus 3 s, and the figure is printed;
#   - with node 1 down, an account disabled on node 3 is refused by all three daemons within 2 s;
#   - node 1 restarted and Synced: the daemons move back to it after [database] failback_after;
#   - node 1 cut off from the cluster (gmcast.isolate=1): from the moment it stops being Synced, every
#     daemon serves from node 2 within 3 s;
#   - a daemon whose password is wrong on node 1 only logs the cause (access denied) and serves from node 2;
#   - never, during all of this, an accepted request of a disabled account.
# The figures (stall per daemon) are printed as "# ..." lines; docs/performance.md has the method.
# Needs root (the nodes run as mysql), galera-4 and rsync; exit 77 when something is missing.
# Prints "ok - ..." / "not ok - ..." and "N passed, N failed". Exit 0 all passed, 77 skipped, 1 failed.
set -u

BUILD=$(cd "${1:?usage: test_galera_failover.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "$BUILD/galera-failover-test.XXXXXX") || exit 1
# shellcheck source=ratelimit/lib.sh
. "$SRC/tests/integration/ratelimit/lib.sh"
# shellcheck source=../lib/galera.sh
. "$SRC/tests/lib/galera.sh"
CLIENT=$SRC/tests/integration/galera/timeline_client.py
TIMELINE=$SRC/tests/integration/galera/timeline.py

if ! galera_available; then echo "# skipped: needs root, mariadbd with galera-4 and rsync"; exit 77; fi
if ! command -v python3 >/dev/null; then echo "# skipped: python3 is not installed"; exit 77; fi
if [ ! -x "$RL_BIN" ]; then echo "# skipped: $RL_BIN not built"; exit 77; fi

CLIENT_PID=
cleanup() {
    touch "$WORK/stop"
    [ -n "$CLIENT_PID" ] && { kill "$CLIENT_PID" 2>/dev/null; wait "$CLIENT_PID" 2>/dev/null; }
    rl_stop_all
    if [ "$FAILED" -eq 0 ]; then
        galera_stop
        rm -rf "$WORK"
    else
        galera_stop --keep
        echo "# kept $WORK for inspection"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORTS=(12451 12452 12453)   # the three daemons
EXTRA_PORT=12454            # the daemon with a wrong password on node 1
FAILBACK=6                  # [database] failback_after in the daemons' config
SWITCH_BOUND=3              # seconds: a daemon serves from the next server within this (issue 10)
DISABLE_BOUND=2             # seconds: a disable reaches every daemon within this
GALERA_SUSPECT=5            # Galera's evs.suspect_timeout (default PT5S): writes wait this long for a dead node
DOMAIN=galera.example

now() { date +%s.%N; }
# elapsed FROM: seconds since FROM (a unix time), two decimals
elapsed() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.2f}")' "$1"; }
below() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null; }
timeline() { python3 "$TIMELINE" "$1" "$WORK/timeline.log" "${@:2}"; }
node_sql() { galera_sql "$1" relay_authority -e "$2" 2>&1; }

# wait_log FILE TEXT SECONDS: until FILE contains TEXT (fixed string), bounded
wait_log() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# in_use_count TEXT: how many of the three daemons' logs name TEXT as the server in use (last change)
last_in_use() { grep -o 'database server in use: tcp:[^ ]*' "$1" | tail -n 1 | sed 's/.*tcp:/tcp:/'; }
all_in_use() {  # all_in_use SERVER SECONDS: every daemon's last "in use" line names SERVER
    local want=$1 i d ok_all
    for ((i = 0; i < $2 * 10; i++)); do
        ok_all=1
        for d in 0 1 2; do [ "$(last_in_use "$WORK/policyd$d.log")" = "$want" ] || ok_all=0; done
        [ "$ok_all" = 1 ] && return 0
        sleep 0.1
    done
    return 1
}
logs_tail() { local d; for d in 0 1 2; do echo "== policyd$d"; tail -n 8 "$WORK/policyd$d.log"; done; }

# ---- cluster, schema, accounts ------------------------------------------------------------------------

fixture() {
    galera_sql 1 relay_authority <<EOF
INSERT INTO customers (name) VALUES ('Galera Customer');
INSERT INTO domains (customer_id, name) SELECT id, '$DOMAIN' FROM customers WHERE name = 'Galera Customer';
INSERT INTO users (domain_id, local_part) SELECT d.id, u.lp FROM domains d
    JOIN (SELECT 'sender' AS lp UNION ALL SELECT 'disabled' UNION ALL SELECT 'victim1' UNION ALL SELECT 'victim2') u
    WHERE d.name = '$DOMAIN';
INSERT INTO smtp_authorities (user_id, may_relay_external) SELECT id, 1 FROM users;
UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id SET a.active = 0 WHERE u.local_part = 'disabled';
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds)
    SELECT 'authority', authority_id, 'messages', 1000000, 3600 FROM v_accounts WHERE login = 'sender@$DOMAIN';
EOF
}

started=$SECONDS
if galera_start "$WORK" && galera_use 1 && mariadb_apply_schema relay_authority &&
    galera_create_app_user relay_authority "$RL_DB_USER" "$RL_DB_PASSWORD" && fixture; then
    ok "3-node Galera cluster Synced, schema and accounts on node 1 ($((SECONDS - started)) s)"
else
    not_ok "3-node Galera cluster Synced, schema and accounts on node 1"
    finish
fi
# Grants for the heartbeat (nodes) come with the schema's user above: SELECT, INSERT, UPDATE, DELETE.

# write_config FILE NODE PORT HOST_NODES...
write_config() {
    local file=$1 node=$2 port=$3 n ports=()
    shift 3
    for n in "$@"; do ports+=("$(galera_port "$n")"); done
    relay_write_config "$file" "[general]" "node = $node" "log_level = info" \
        "$(relay_hosts_section "$RL_DB_USER" "${PASSWORD_OVERRIDE:-$RL_DB_PASSWORD}" "${ports[@]}")" \
        "connect_timeout = 2" "read_timeout = 3" "write_timeout = 3" \
        "failback_after = $FAILBACK" "health_interval = 300ms" \
        "[cache]" "poll_interval = 200ms" "max_stale = 120" \
        "$(relay_policyd_section "$port")" "workers = 8" \
        "[rate_limits]" "charge_timeout = 5" \
        "[abuse]" "enabled = no"
}

# ---- a malformed host entry ---------------------------------------------------------------------------

write_config "$WORK/bad.conf" bad "${PORTS[0]}" 1 2
sed -i 's/^host = 127.0.0.1:16302$/host = 127.0.0.1:163020/' "$WORK/bad.conf"
bad_out=$("$RL_BIN" --config "$WORK/bad.conf" --check-config 2>&1)
bad_rc=$?
if [ "$bad_rc" -ne 0 ] && printf '%s' "$bad_out" | grep -qF "[database] host = '127.0.0.1:163020' (line 6)"; then
    ok "a malformed host entry is refused, naming the entry and its line"
else
    not_ok "a malformed host entry is refused, naming the entry and its line (exit $bad_rc)" "$bad_out"
fi

# ---- three daemons on one list ------------------------------------------------------------------------

for d in 0 1 2; do
    write_config "$WORK/policyd$d.conf" "mta$d" "${PORTS[$d]}" 1 2 3
    if ! rl_start_policyd "$WORK/policyd$d.conf" "$WORK/policyd$d.log"; then
        not_ok "relay-policyd $d starts" "$(tail -n 20 "$WORK/policyd$d.log")"
        finish
    fi
done
NODE1=tcp:127.0.0.1:$(galera_port 1)
NODE2=tcp:127.0.0.1:$(galera_port 2)
if all_in_use "$NODE1" 5; then
    ok "all three daemons use the first server of the list ($NODE1)"
else
    not_ok "all three daemons use the first server of the list ($NODE1)" "$(logs_tail)"
fi

python3 "$CLIENT" --out "$WORK/timeline.log" --stop-file "$WORK/stop" --max-seconds 280 \
    --target "inet:127.0.0.1:${PORTS[0]}" --target "inet:127.0.0.1:${PORTS[1]}" --target "inet:127.0.0.1:${PORTS[2]}" \
    --charge-login "sender@$DOMAIN" --probe-login "disabled@$DOMAIN" \
    --probe-login "victim1@$DOMAIN" --probe-login "victim2@$DOMAIN" 2>"$WORK/client.err" &
CLIENT_PID=$!
sleep 3
check "traffic flows: END-OF-MESSAGE charges accepted before any failure" \
    "$([ "$(timeline count eom accepted)" -gt 30 ] && echo yes || echo "no ($(timeline count eom any) answers)")" yes

# check_disabled LOGIN FROM WHAT: every daemon refuses LOGIN within DISABLE_BOUND of FROM, and accepts it
# no more after that.
check_disabled() {
    local login=$1 from=$2 what=$3 d got delay later problems=""
    for d in 0 1 2; do
        got=$(timeline refusal "$d" "$login" "$from")
        delay=${got% *}
        later=${got#* }
        if [ "$delay" = none ] || ! below "$delay" "$DISABLE_BOUND" || [ "$later" != 0 ]; then
            problems+="daemon $d: refused after $delay s, $later accepted later; "
        fi
        echo "# $what: daemon $d refused $login $delay s after the UPDATE"
    done
    if [ -z "$problems" ]; then
        ok "$what: refused by all three daemons within $DISABLE_BOUND s"
    else
        not_ok "$what: refused by all three daemons within $DISABLE_BOUND s" "$problems"
    fi
}

# disable LOGIN_LOCAL_PART NODE: UPDATE on that node; prints the unix time after the commit
disable() {
    node_sql "$2" "UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id SET a.active = 0
                   WHERE u.local_part = '$1'" >/dev/null
    now
}

t=$(disable victim1 2)
sleep $((DISABLE_BOUND + 1))
check_disabled "victim1@$DOMAIN" "$t" "account disabled on node 2, all nodes up"

# check_switch FROM WHAT BOUND: every daemon had an accepted charge within BOUND of FROM and no longer gap
# until FROM + 12 s.
check_switch() {
    local from=$1 what=$2 bound=$3 d gap problems="" until
    until=$(python3 -c 'import sys; print(float(sys.argv[1]) + 12)' "$from")
    for d in 0 1 2; do
        gap=$(timeline stall "$d" "$from" "$until")
        echo "# $what: daemon $d went at most $gap s without an accepted charge"
        if [ "$gap" = none ] || ! below "$gap" "$bound"; then problems+="daemon $d: $gap s; "; fi
    done
    if [ -z "$problems" ]; then
        ok "$what: every daemon's charges are accepted again within $bound s"
    else
        not_ok "$what: every daemon's charges are accepted again within $bound s" "$problems"
    fi
}

# check_logged SINCE FROM SERVER WHAT: every daemon's log, after SINCE, names SERVER as the one in use within
# SWITCH_BOUND of FROM
check_logged() {
    local since=$1 from=$2 server=$3 what=$4 d took problems=""
    for d in 0 1 2; do
        took=$(python3 "$TIMELINE" logged "$WORK/policyd$d.log" "$since" "$from" "database server in use: $server")
        echo "# $what: daemon $d switched to $server after $took s"
        if [ "$took" = none ] || ! below "$took" "$SWITCH_BOUND"; then problems+="daemon $d: $took s; "; fi
    done
    if [ -z "$problems" ]; then
        ok "$what: every daemon switches to $server within $SWITCH_BOUND s"
    else
        not_ok "$what: every daemon switches to $server within $SWITCH_BOUND s" "$problems $(logs_tail)"
    fi
}

# ---- kill -9 of the server in use ---------------------------------------------------------------------

t_kill=$(now)
galera_kill 1
sleep 12
check_logged "$t_kill" "$t_kill" "$NODE2" "kill -9 of node 1 (in use)"
check_switch "$t_kill" "kill -9 of node 1 (in use)" $((GALERA_SUSPECT + SWITCH_BOUND))
if all_in_use "$NODE2" 2; then
    ok "after kill -9 of node 1, all three daemons still name $NODE2 as the server in use"
else
    not_ok "after kill -9 of node 1, all three daemons still name $NODE2 as the server in use" "$(logs_tail)"
fi

t=$(disable victim2 3)
sleep $((DISABLE_BOUND + 1))
check_disabled "victim2@$DOMAIN" "$t" "account disabled on node 3 while node 1 is down"

hb=$(node_sql 2 "SELECT COUNT(*) FROM nodes WHERE node LIKE 'mta%' AND database_server = '$NODE2'")
for ((i = 0; i < 80 && hb != 3; i++)); do
    sleep 0.1
    hb=$(node_sql 2 "SELECT COUNT(*) FROM nodes WHERE node LIKE 'mta%' AND database_server = '$NODE2'")
done
check "the heartbeat (nodes.database_server) shows $NODE2 for the three daemons" "$hb" 3

# ---- node 1 back: the daemons move back after failback_after ------------------------------------------

started=$SECONDS
if galera_restart 1; then
    ok "node 1 restarted and Synced again ($((SECONDS - started)) s)"
    if all_in_use "$NODE1" $((FAILBACK + 10)); then
        ok "the daemons move back to $NODE1 once it has been healthy for failback_after"
    else
        not_ok "the daemons move back to $NODE1 once it has been healthy for failback_after" "$(logs_tail)"
    fi
else
    not_ok "node 1 restarted and Synced again"
fi

# ---- node 1 cut off from the cluster ------------------------------------------------------------------

t_isolate=$(now)
galera_isolate 1
t_isolated=
for ((i = 0; i < 300; i++)); do  # Galera takes a few seconds to notice (evs.suspect_timeout)
    if ! galera_synced 1; then t_isolated=$(now); break; fi
    sleep 0.1
done
if [ -z "$t_isolated" ]; then
    not_ok "node 1 leaves the Synced state after gmcast.isolate=1 (within 30 s)"
else
    sleep 8
    echo "# node 1 left the Synced state $(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$t_isolate" "$t_isolated") s after gmcast.isolate=1"
    check_logged "$t_isolate" "$t_isolated" "$NODE2" "node 1 cut off (from the moment it is not Synced)"
    check_switch "$t_isolated" "node 1 cut off (from the moment it is not Synced)" "$SWITCH_BOUND"
    if all_in_use "$NODE2" 2; then
        ok "node 1 cut off: all three daemons name $NODE2 as the server in use"
    else
        not_ok "node 1 cut off: all three daemons name $NODE2 as the server in use" "$(logs_tail)"
    fi
fi
galera_unisolate 1 >/dev/null 2>&1
galera_wait_synced 1 120 >/dev/null || not_ok "node 1 Synced again after gmcast.isolate=0"

# ---- wrong credentials on one server ------------------------------------------------------------------

# A password that differs on node 1 only (wsrep_on=OFF: this ALTER USER is not replicated).
node_sql 1 "SET SESSION wsrep_on = OFF; ALTER USER '$RL_DB_USER'@'127.0.0.1' IDENTIFIED BY 'other-on-node-1';
            ALTER USER '$RL_DB_USER'@'localhost' IDENTIFIED BY 'other-on-node-1'" >/dev/null
PASSWORD_OVERRIDE=
write_config "$WORK/policyd-cred.conf" mta-cred "$EXTRA_PORT" 1 2 3
if rl_start_policyd "$WORK/policyd-cred.conf" "$WORK/policyd-cred.log"; then
    denied=$(grep -c "database server $NODE1: refused the login (access denied" "$WORK/policyd-cred.log")
    in_use=$(last_in_use "$WORK/policyd-cred.log")
    answer=$(timeout 20 python3 "$RL_CLIENT" --target "inet:127.0.0.1:$EXTRA_PORT" --connections 1 --attempts 3 \
        --login "sender@$DOMAIN")
    if [ "$denied" -ge 1 ] && [ "$in_use" = "$NODE2" ] && [ "$(rl_json "$answer" eom_accepted)" = 3 ]; then
        ok "wrong password on node 1 only: logged as access denied, node 1 skipped, charges served by node 2"
    else
        not_ok "wrong password on node 1 only: logged as access denied, node 1 skipped, charges served by node 2" \
            "access-denied lines: $denied; in use: $in_use; client: $answer; $(tail -n 6 "$WORK/policyd-cred.log")"
    fi
else
    not_ok "relay-policyd with a wrong password on node 1 starts" "$(tail -n 20 "$WORK/policyd-cred.log")"
fi

# ---- over the whole run -------------------------------------------------------------------------------

touch "$WORK/stop"
wait "$CLIENT_PID" 2>/dev/null
CLIENT_PID=
check "no request of the disabled account was accepted (of $(timeline count "disabled@$DOMAIN" any))" \
    "$(timeline count "disabled@$DOMAIN" accepted)" 0
echo "# END-OF-MESSAGE answers over the run: $(timeline count eom accepted) accepted, $(timeline count eom tempfail) tempfail, $(timeline count eom timeout) timeouts"
finish
