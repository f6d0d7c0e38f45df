#!/usr/bin/env bash
# Throughput of END-OF-MESSAGE charging against the RCPT-only path (docs/performance.md, "Rate limits").
#   tests/bench/ratelimit_charge.sh BUILD_DIR [ATTEMPTS] [CONNECTIONS]
#
# A private MariaDB (own datadir, unix socket) with 1000 accounts (user1..user1000@bench.example), each
# under two limits that never bind (1,000,000 messages per rolling hour per account, 10^9 recipients per
# calendar day per account), so every END-OF-MESSAGE charges two counter rows in one transaction. One
# relay-policyd on 127.0.0.1:12234, driven by rate_client.py with CONNECTIONS connections (default 50) and
# ATTEMPTS messages (default 20000) spread over the 1000 accounts:
#   rcpt  RCPT requests only (no database on the request path)
#   eom   END-OF-MESSAGE requests only (one charge each)
#   full  RCPT then END-OF-MESSAGE per message (what Postfix sends)
# first with the default [policyd] workers / [database] pool_size (4 / 4), then with 16 / 16.
# Prints one line per run. Everything started is stopped by PID on exit.
set -u

BUILD=$(cd "${1:?usage: ratelimit_charge.sh BUILD_DIR [ATTEMPTS] [CONNECTIONS]}" && pwd)
ATTEMPTS=${2:-20000}
CONNECTIONS=${3:-50}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "$BUILD/rate-limits-bench.XXXXXX") || exit 1
# shellcheck source=../integration/ratelimit/lib.sh
. "$SRC/tests/integration/ratelimit/lib.sh"

cleanup() {
    stop_daemons
    mariadb_stop
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mariadb_available || { echo "MariaDB is not installed"; exit 77; }
[ -x "$RL_BIN" ] || { echo "$RL_BIN not built"; exit 77; }
mariadb_start "$WORK/db" && mariadb_apply_schema relay_authority &&
    mariadb_create_app_user relay_authority "$RL_DB_USER" "$RL_DB_PASSWORD" || exit 1
mariadb_sql relay_authority <<'EOF' || exit 1
INSERT INTO customers (name) VALUES ('Bench Customer');
INSERT INTO domains (customer_id, name) SELECT id, 'bench.example' FROM customers WHERE name = 'Bench Customer';
INSERT INTO users (domain_id, local_part)
    WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000)
    SELECT d.id, CONCAT('user', seq.n) FROM seq JOIN domains d ON d.name = 'bench.example';
INSERT INTO smtp_authorities (user_id) SELECT id FROM users;
INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds)
    SELECT 'domain', id, 'messages', 1000000, 3600 FROM domains WHERE name = 'bench.example';
INSERT INTO rate_limits (scope, meter, amount, window_seconds, calendar)
    VALUES ('global', 'recipients', 1000000000, 86400, 'day');
EOF

echo "# $(nproc) CPUs, MariaDB $(mariadb_sql -e 'SELECT VERSION()'), $ATTEMPTS messages, $CONNECTIONS connections, 1000 accounts"
for tuning in "4 4" "16 16"; do
    read -r workers pool <<<"$tuning"
    stop_daemons
    RL_DB_EXTRA="pool_size = $pool" rl_write_config "$WORK/bench.conf" bench 12234 "workers = $workers"
    rl_start_policyd "$WORK/bench.conf" "$WORK/bench-$workers.log" || { tail "$WORK/bench-$workers.log"; exit 1; }
    # warm-up: connections, counter rows of every account, the server's buffer pool
    rl_client --target inet:127.0.0.1:12234 --connections "$CONNECTIONS" --attempts 2000 --mode eom \
        --login-pattern 'user{n}@bench.example' --accounts 1000 >/dev/null
    for mode in rcpt eom full; do
        out=$(rl_client --target inet:127.0.0.1:12234 --connections "$CONNECTIONS" --attempts "$ATTEMPTS" \
            --mode "$mode" --login-pattern 'user{n}@bench.example' --accounts 1000)
        printf 'workers=%-2s pool_size=%-2s mode=%-4s requests=%-6s seconds=%-7s requests/s=%-8s accepted rcpt=%s eom=%s\n' \
            "$workers" "$pool" "$mode" "$(rl_json "$out" requests)" "$(rl_json "$out" seconds)" \
            "$(rl_json "$out" requests_per_second)" "$(rl_json "$out" rcpt_accepted)" "$(rl_json "$out" eom_accepted)"
    done
done
