#!/usr/bin/env bash
# relay-policyd under a low open file limit and against slow clients (issue 13 items 3 and 5):
#   tests/integration/test_policyd_limits.sh BUILD_DIR
# Starts a private MariaDB (tests/lib/mariadb.sh) with the schema and sample data, then the real
# relay-policyd under `ulimit -n 64` on 127.0.0.1:12211. Checks that the connection cap is lowered and
# logged, that clients beyond it are closed at once rather than left waiting, that a new client is served
# once others leave, and that a client dribbling bytes is cut off at [policyd] request_timeout.
# Exit 0 = all passed, 77 = skipped (no MariaDB / python3 / binary), 1 = a check failed.
set -u

BUILD=$(cd "${1:?usage: test_policyd_limits.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/relay-policyd
HOLD=$SRC/tests/integration/policyd/hold_clients.py
PORT=12211

. "$SRC/tests/lib/mariadb.sh"

mariadb_available || skip "MariaDB is not installed"
require python3
[ -x "$BIN" ] || skip "$BIN not built"

work_dir test-policyd-limits

check_or_finish "MariaDB with schema and sample data" mariadb_start_sample "$WORK/db" relay_it it-pw

relay_write_config "$WORK/policyd.conf" "[general]" "log_level = info" "node = it-limits" \
    "$(mariadb_database_section relay_it it-pw)" "read_timeout = 2" \
    "$(relay_policyd_section "$PORT")" "threads = 2" "workers = 4" "idle_timeout = 60" "request_timeout = 2"

# The limit applies to relay-policyd only (bash execs it), soft and hard: nothing to raise.
if ! start_daemon "$WORK/policyd.log" "ready on" \
    bash -c 'ulimit -n 64 && exec "$@"' limit "$BIN" --config "$WORK/policyd.conf" --foreground; then
    not_ok "relay-policyd starts under ulimit -n 64"
    sed 's/^/#   /' "$WORK/policyd.log"
    finish
fi
ok "relay-policyd starts under ulimit -n 64"

CAP=$(sed -n 's/.*max_connections 10000 lowered to \([0-9]*\): the open file limit (RLIMIT_NOFILE) is 64.*/\1/p' "$WORK/policyd.log" | head -1)
check "the log states the lowered connection cap" "${CAP:-none}" "[1-9]*"
CAP=${CAP:-1}

REQ="sasl_username=alice@example.com;sender=alice@example.com;recipient=x@example.org;protocol_state=RCPT"
# Every client beyond the cap (and beyond the descriptors, had the cap been wrong) is closed at once.
got=$(timeout 100 python3 "$HOLD" 127.0.0.1 $PORT $((CAP + 20)) "$REQ")
read -r answered refused hanging <<<"${got:-0 0 0}"
check "$((CAP + 20)) clients: none left waiting" "${hanging:-?}" "0"
check "$((CAP + 20)) clients: the cap ($CAP) answered" "${answered:-?}" "$CAP"
check "$((CAP + 20)) clients: the 20 beyond it closed at once" "${refused:-?}" "20"
check "refusals logged once, naming the cap" "$(grep -c "refusing connections: max_connections ($CAP) reached, lowered from 10000" "$WORK/policyd.log")" "1"

# The clients above have gone: a new one is served (the server counts them gone within a moment).
for ((i = 0; i < 50; i++)); do
    got=$(timeout 20 python3 "$HOLD" 127.0.0.1 $PORT 1 "$REQ")
    [ "$got" = "1 0 0" ] && break
    sleep 0.1
done
check "a new client is answered after the others left" "$got" "1 0 0"

# A client sending a byte every 0.5 s is never idle, but its request has a 2-s deadline.
got=$(timeout 100 python3 "$HOLD" --dribble 127.0.0.1 $PORT 0.5)
check "a dribbling client is disconnected after request_timeout (2 s) and well before 30 s" \
    "$(awk -v t="$got" 'BEGIN { print (t != "open" && t + 0 >= 1.9 && t + 0 < 30) ? "yes" : "no (" t ")" }')" "yes"
check "the disconnection is logged" \
    "$(grep -c 'request not complete 2 s after its first byte (request_timeout; [0-9]* bytes, starting with "requ' "$WORK/policyd.log")" "1"
check "still serving" "$(timeout 20 python3 "$HOLD" 127.0.0.1 $PORT 1 "$REQ")" "1 0 0"

finish
