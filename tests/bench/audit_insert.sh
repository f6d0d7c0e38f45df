#!/usr/bin/env bash
# What relay_events.event_key (migration 008) costs the audit trail's batch insert: the daemons' statement
# shape (4 INSERTs of 128 rows in one transaction per batch of 512) into a table as before 008 (A) and as
# after it (B: the key column with its UNIQUE index, UNHEX(?) and ON DUPLICATE KEY UPDATE), interleaved
# A/B in one private MariaDB so that the machine's load hits both alike. Prints each round and the ratio
# B/A of the total times (above 1: the key costs that much more server time per batch).
#
#   tests/bench/audit_insert.sh BUILD_DIR [ROUNDS] [BATCHES]     (default 5 rounds of 100 batches)
# Run it under the lock like every benchmark (it starts a server; about a minute):
#   flock /tmp/relay-tests.lock tests/bench/audit_insert.sh build
set -u

BUILD=$(cd "${1:?usage: audit_insert.sh BUILD_DIR [ROUNDS] [BATCHES]}" && pwd)
ROUNDS=${2:-5}
BATCHES=${3:-100}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/lib/mariadb.sh"

mariadb_available || skip "MariaDB is not installed"
require python3
work_dir audit-insert-bench

check_or_finish "private MariaDB with the schema" eval 'mariadb_start "$WORK/db" && mariadb_apply_schema relay_authority'
mariadb_sql relay_authority -e "CREATE TABLE events_a LIKE relay_events;
    ALTER TABLE events_a DROP INDEX relay_events_event_key, DROP COLUMN event_key;
    CREATE TABLE events_b LIKE relay_events;"

# gen TABLE KEYED: BATCHES transactions of 4 x 128 rows, values like a refusal at RCPT.
gen() {
    python3 - "$1" "$2" "$BATCHES" <<'EOF'
import os, sys
table, keyed, batches = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
cols = ("event_time, node, stage, authority_id, login, client_address, sender, recipient_count, size_bytes, "
        "verdict, reason, queue_id, detail, repeat_count" + (", event_key" if keyed else ""))
out = []
n = 0
for b in range(batches):
    out.append("START TRANSACTION;")
    for s in range(4):
        rows = []
        for r in range(128):
            n += 1
            key = ", UNHEX('%s')" % os.urandom(16).hex().upper() if keyed else ""
            rows.append("(FROM_UNIXTIME(1767225600) + INTERVAL %d MICROSECOND, 'mx1', 'rcpt', %d, 'user%d@example.com', "
                        "'192.0.2.%d', 'sender@example.com', 1, 0, 'reject', 'sender_not_owned', 'Q%d', "
                        "'550 5.7.1 Sender address rejected; recipient rcpt@example.org', 1%s)"
                        % (n, n % 1000, n % 1000, n % 250, n, key))
        out.append("INSERT INTO %s (%s) VALUES %s%s;" % (table, cols, ", ".join(rows),
                   " ON DUPLICATE KEY UPDATE id = id" if keyed else ""))
    out.append("COMMIT;")
print("\n".join(out))
EOF
}

now_ms() { date +%s%3N; }
total_a=0
total_b=0
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= ROUNDS; round++)); do
    gen events_a 0 >"$WORK/a.sql"
    gen events_b 1 >"$WORK/b.sql"
    t0=$(now_ms); mariadb_sql relay_authority <"$WORK/a.sql"; t1=$(now_ms)
    mariadb_sql relay_authority <"$WORK/b.sql"; t2=$(now_ms)
    a=$((t1 - t0)); b=$((t2 - t1))
    total_a=$((total_a + a)); total_b=$((total_b + b))
    echo "# round $round: A (before 008) ${a} ms, B (event_key) ${b} ms for $BATCHES batches of 512 rows each"
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
rows=$(mariadb_sql relay_authority -e "SELECT (SELECT COUNT(*) FROM events_a), (SELECT COUNT(*) FROM events_b)")
check "both tables hold every row" "$rows" "$((ROUNDS * BATCHES * 512))"$'\t'"$((ROUNDS * BATCHES * 512))"
echo "# per batch of 512: A $((total_a * 1000 / (ROUNDS * BATCHES))) us, B $((total_b * 1000 / (ROUNDS * BATCHES))) us;" \
    "B/A = $(python3 -c "print(f'{$total_b / $total_a:.3f}')")"
finish
