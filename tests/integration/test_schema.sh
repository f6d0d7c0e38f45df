#!/usr/bin/env bash
# Integration test of sql/: the migrations and the sample data applied to a real, private MariaDB, and the
# promises docs/sql.md makes about them (constraints, cascades, defaults, the change generation, views).
#
# Usage: test_schema.sh BUILD_DIR      (ctest: integration_schema)
# Prints "ok - ..." / "not ok - ..." per check and "N passed, N failed"; exit 0 only if all passed,
# 77 (skipped) when no MariaDB server is installed.
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/mariadb.sh
. "$SRC/tests/lib/mariadb.sh"

BUILD=$(build_dir "${1:-}") || exit 2
mariadb_available || skip "MariaDB server (mariadbd, mariadb-install-db, mariadb) not installed"

DB=relay_authority
work_dir schema-test

q() { mariadb_sql "$DB" -e "$1" 2>&1; }

# expect_eq DESC SQL WANT: the query's output must be exactly WANT
expect_eq() {
    local got
    got=$(q "$2")
    if [ "$got" = "$3" ]; then ok "$1"; else not_ok "$1" "got: $got"$'\n'"want: $3"; fi
}

# expect_ok DESC SQL: the statement must succeed
expect_ok() {
    local out
    if out=$(q "$2"); then ok "$1"; else not_ok "$1" "$out"; fi
}

# expect_refused DESC SQL PATTERN: the statement must fail with an error matching PATTERN (grep -E)
expect_refused() {
    local out
    if out=$(q "$2"); then
        not_ok "$1" "accepted, but should have been refused: $2"
    elif printf '%s' "$out" | grep -Eq -- "$3"; then
        ok "$1"
    else
        not_ok "$1" "refused with an unexpected error: $out"
    fi
}

generation() { mariadb_sql "$DB" -e "SELECT generation FROM change_generation WHERE id = 1"; }

# expect_generation_moves DESC SQL YES|NO
expect_generation_moves() {
    local before after out
    before=$(generation)
    if ! out=$(q "$2"); then not_ok "$1" "statement failed: $out"; return; fi
    after=$(generation)
    if [ "$3" = YES ] && [ "$after" -gt "$before" ]; then ok "$1"
    elif [ "$3" = NO ] && [ "$after" = "$before" ]; then ok "$1"
    else not_ok "$1" "generation before $before, after $after (want moved: $3)"
    fi
}

# ---- start ------------------------------------------------------------------------------------------

if mariadb_start "$WORK/db"; then
    ok "private MariaDB started (pid $MARIADB_PID, socket $MARIADB_SOCKET)"
else
    not_ok "private MariaDB started"
    finish
fi

# ---- the migration files ----------------------------------------------------------------------------

MIGRATIONS=("$SRC"/sql/migrations/[0-9][0-9][0-9]_*.sql)
LAST_VERSION=$((10#$(basename "${MIGRATIONS[-1]}" | cut -c1-3)))

lint=""
for f in "${MIGRATIONS[@]}" "$SRC/sql/sample-data.sql"; do
    grep -qi '^[[:space:]]*DELIMITER' "$f" && lint+="$(basename "$f"): uses DELIMITER"$'\n'
    # a semicolon anywhere but at the end of a line would break tools that split statements at ';\n'
    grep -n ';' "$f" | grep -v ';[[:space:]]*$' | sed "s|^|$(basename "$f"):|" >>"$WORK/lint.txt"
done
[ -s "$WORK/lint.txt" ] && lint+=$(cat "$WORK/lint.txt")
if [ -z "$lint" ]; then ok "sql files: no DELIMITER, semicolons only at line ends"; else not_ok "sql files lint" "$lint"; fi

mariadb_sql -e "CREATE DATABASE $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
applied=1
for f in "${MIGRATIONS[@]}"; do
    if out=$(mariadb_sql "$DB" <"$f" 2>&1); then
        ok "mariadb $DB < $(basename "$f")"
    else
        applied=0
        not_ok "mariadb $DB < $(basename "$f")" "$out"
    fi
done
[ "$applied" -eq 1 ] || finish

expect_eq "schema_version has one row per migration, MAX(version) = $LAST_VERSION" \
    "SELECT COUNT(*), MAX(version) FROM schema_version" "${#MIGRATIONS[@]}"$'\t'"$LAST_VERSION"
expect_eq "change_generation has exactly the row id = 1" "SELECT COUNT(*), MIN(id) FROM change_generation" $'1\t1'

# Split at ';' + end of line and send statement by statement: what a tool without the client does.
mariadb_sql -e "CREATE DATABASE relay_split CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
split_ok=1
for f in "${MIGRATIONS[@]}"; do
    rm -f "$WORK"/stmt.*
    awk -v dir="$WORK" 'BEGIN { n = 0 } { buf = buf $0 "\n" } /;[[:space:]]*$/ { n++; f = sprintf("%s/stmt.%05d", dir, n); printf "%s", buf > f; close(f); buf = "" }' "$f"
    for s in "$WORK"/stmt.*; do
        if ! out=$(mariadb_sql relay_split -e "$(cat "$s")" 2>&1); then
            split_ok=0
            not_ok "$(basename "$f") applies one statement at a time" "$out"$'\n'"$(head -3 "$s")"
            break 2
        fi
    done
done
[ "$split_ok" -eq 1 ] && ok "migrations apply one statement at a time (split at ';' + newline)"
mariadb_sql -e "DROP DATABASE relay_split"

# ---- the schema as documentation ----------------------------------------------------------------------

expect_eq "every table is InnoDB with a utf8mb4 collation" \
    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DB' AND TABLE_TYPE = 'BASE TABLE'
       AND (ENGINE <> 'InnoDB' OR TABLE_COLLATION NOT LIKE 'utf8mb4%')" "0"
expect_eq "every table has a COMMENT" \
    "SELECT GROUP_CONCAT(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DB'
       AND TABLE_TYPE = 'BASE TABLE' AND TABLE_COMMENT = ''" "NULL"
expect_eq "every column of every table has a COMMENT" \
    "SELECT GROUP_CONCAT(c.TABLE_NAME, '.', c.COLUMN_NAME) FROM information_schema.COLUMNS c
       JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
       WHERE c.TABLE_SCHEMA = '$DB' AND t.TABLE_TYPE = 'BASE TABLE' AND c.COLUMN_COMMENT = ''" "NULL"
expect_eq "rate_counters table and v_rate_usage view (added by 003_rate_counters)" \
    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME IN ('rate_counters', 'v_rate_usage')" "2"

CONTRACT="customers.id customers.name customers.active
domains.id domains.customer_id domains.name domains.active domains.is_local
users.id users.domain_id users.local_part users.password_hash users.active
smtp_authorities.id smtp_authorities.user_id smtp_authorities.customer_id smtp_authorities.active
smtp_authorities.sender_policy smtp_authorities.may_relay_external smtp_authorities.require_tls
smtp_authorities.auth_mode smtp_authorities.allow_null_sender smtp_authorities.max_recipients_per_message
smtp_authorities.max_message_bytes smtp_authorities.valid_until smtp_authorities.suspended_until
smtp_authorities.suspend_reason smtp_authorities.last_used_at smtp_authorities.last_client_address
smtp_authorities.note authority_senders.id authority_senders.authority_id authority_senders.pattern
authority_networks.id authority_networks.authority_id authority_networks.cidr
rate_limits.id rate_limits.scope rate_limits.scope_id rate_limits.cidr rate_limits.meter rate_limits.amount
rate_limits.window_seconds rate_limits.calendar rate_limits.kind rate_limits.action rate_limits.shadow
rate_limits.active relay_events.id relay_events.event_time relay_events.node relay_events.stage
relay_events.authority_id relay_events.login relay_events.client_address relay_events.sender
relay_events.recipient_count relay_events.size_bytes relay_events.verdict relay_events.reason
relay_events.queue_id relay_events.detail relay_events.repeat_count relay_events.event_key schema_version.version schema_version.name
schema_version.applied_at change_generation.id change_generation.generation change_generation.changed_at"
missing=""
present=$(q "SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB'")
for col in $CONTRACT; do
    grep -qx "$col" <<<"$present" || missing+="$col "
done
if [ -z "$missing" ]; then ok "every contract column exists"; else not_ok "every contract column exists" "missing: $missing"; fi
for v in v_accounts v_effective_limits v_authority_senders v_authority_networks; do
    expect_eq "view $v exists and can be read" "SELECT COUNT(*) >= 0 FROM $v" "1"
done
expect_eq "relay_events indexes (authority_id, event_time), (event_time), (reason, event_time)" \
    "SELECT GROUP_CONCAT(cols ORDER BY cols SEPARATOR ' | ') FROM (
       SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'relay_events' AND INDEX_NAME <> 'PRIMARY'
         AND INDEX_NAME IN ('relay_events_authority_time', 'relay_events_time', 'relay_events_reason_time')
       GROUP BY INDEX_NAME) x" "authority_id,event_time | event_time | reason,event_time"
expect_eq "relay_events.event_key is unique (008: an event written twice is stored once)" \
    "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'relay_events'
       AND INDEX_NAME = 'relay_events_event_key' AND COLUMN_NAME = 'event_key' AND NON_UNIQUE = 0" "1"

# ---- sample data ------------------------------------------------------------------------------------------

if out=$(mariadb_sql "$DB" <"$SRC/sql/sample-data.sql" 2>&1); then ok "mariadb $DB < sample-data.sql"
else not_ok "mariadb $DB < sample-data.sql" "$out"; fi
if command -v doveadm >/dev/null 2>&1; then
    bad=""
    while IFS=$'\t' read -r login hash; do
        doveadm pw -t "$hash" -p "$login-pw" >/dev/null 2>&1 || bad+="$login "
    done < <(mariadb_sql "$DB" -e "SELECT CONCAT(u.local_part, '@', d.name), u.password_hash
                                   FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.password_hash IS NOT NULL")
    if [ -z "$bad" ]; then ok "sample passwords are LOGIN-pw (doveadm pw -t accepts every hash)"
    else not_ok "sample passwords are LOGIN-pw" "doveadm pw -t refused: $bad"; fi
else
    echo "# doveadm not installed: sample password hashes not verified"
fi
expect_eq "sample data uses every sender_policy" \
    "SELECT COUNT(DISTINCT sender_policy) FROM smtp_authorities" "4"
expect_eq "sample data uses every auth_mode" "SELECT COUNT(DISTINCT auth_mode) FROM smtp_authorities" "3"
expect_eq "sample relay domain holds per-device accounts for two customers" \
    "SELECT COUNT(*), COUNT(DISTINCT customer) FROM v_accounts WHERE domain = 'relay.example.net'" $'4\t2'
expect_eq "sample: a user without SMTP authority exists" \
    "SELECT COUNT(*) > 0 FROM users u LEFT JOIN smtp_authorities a ON a.user_id = u.id WHERE a.id IS NULL" "1"
expect_eq "v_accounts: statuses of the sample accounts" \
    "SELECT GROUP_CONCAT(login, '=', status, '/', COALESCE(refusal_reason, '-') ORDER BY login SEPARATOR ' ')
       FROM v_accounts WHERE login IN ('alice@example.com', 'carol@example.org', 'contractor@example.com',
       'intern@example.org', 'ceo@old-acme.example')" \
    "alice@example.com=active/- carol@example.org=suspended/account_suspended ceo@old-acme.example=disabled/domain_disabled contractor@example.com=expired/account_expired intern@example.org=disabled/account_disabled"
expect_eq "v_accounts: facility letters (printer RIN, router TIN, shop RZ, alice RT)" \
    "SELECT GROUP_CONCAT(facilities ORDER BY login SEPARATOR ' ') FROM v_accounts WHERE login IN
       ('printer-2f@relay.example.net', 'router-office@relay.example.net', 'shop@bakery.example', 'alice@example.com')" \
    "RT RIN TIN RZ"
expect_eq "v_effective_limits: webform gets its own 100/hour and the customer's 300/day, not the global 1000/day" \
    "SELECT GROUP_CONCAT(source_scope, ':', amount, '/', window_seconds ORDER BY rate_limit_id SEPARATOR ' ')
       FROM v_effective_limits WHERE login = 'webform@relay.example.net' AND meter = 'messages'" \
    "customer:300/86400 authority:100/3600"
expect_eq "v_effective_limits: alice gets the global daily limit and the example.com shared pool" \
    "SELECT GROUP_CONCAT(source_scope, ':', kind ORDER BY rate_limit_id SEPARATOR ' ')
       FROM v_effective_limits WHERE login = 'alice@example.com' AND meter = 'messages'" \
    "global:each_account domain:shared_pool"
expect_eq "v_authority_networks shows IPv4 and IPv6 networks with the login" \
    "SELECT GROUP_CONCAT(cidr ORDER BY cidr) FROM v_authority_networks WHERE login = 'router-office@relay.example.net'" \
    "198.51.100.7,2001:db8:ac3e::/48"
expect_eq "v_authority_senders shows patterns with the login" \
    "SELECT GROUP_CONCAT(pattern ORDER BY pattern) FROM v_authority_senders WHERE login = 'webform@relay.example.net'" \
    "@xn--bckerei-5wa.example,webform@bakery.example"

# ---- contract defaults and one authority per user ---------------------------------------------------------

q "INSERT INTO users (domain_id, local_part, password_hash, active)
     VALUES ((SELECT id FROM domains WHERE name = 'example.com'), 'dave', '{PLAIN}x', 1)" >/dev/null
expect_ok "INSERT naming only contract columns works" \
    "INSERT INTO smtp_authorities (user_id, customer_id)
       SELECT u.id, d.customer_id FROM users u JOIN domains d ON d.id = u.domain_id
       WHERE u.local_part = 'dave' AND d.name = 'example.com'"
expect_eq "defaults: active 1, own_address, may_relay_external 1, require_tls 0, sasl, null sender 0, NULL caps/times" \
    "SELECT active, sender_policy, may_relay_external, require_tls, auth_mode, allow_null_sender,
            max_recipients_per_message, max_message_bytes, valid_until, suspended_until
       FROM smtp_authorities WHERE user_id = (SELECT id FROM users WHERE local_part = 'dave')" \
    $'1\town_address\t1\t0\tsasl\t0\tNULL\tNULL\tNULL\tNULL'
expect_refused "a second smtp_authorities row for the same user is refused" \
    "INSERT INTO smtp_authorities (user_id, customer_id)
       SELECT user_id, customer_id FROM smtp_authorities WHERE user_id = (SELECT id FROM users WHERE local_part = 'dave')" \
    "Duplicate entry .* for key 'smtp_authorities_one_per_user'"
q "INSERT INTO users (domain_id, local_part) VALUES ((SELECT id FROM domains WHERE name = 'bakery.example'), 'erin')" >/dev/null
q "INSERT INTO users (domain_id, local_part) VALUES ((SELECT id FROM domains WHERE name = 'example.org'), 'fred')" >/dev/null
expect_eq "INSERT ... VALUES without customer_id: the customer of the login domain" \
    "INSERT INTO smtp_authorities (user_id) VALUES ((SELECT id FROM users WHERE local_part = 'fred'));
     SELECT c.name FROM smtp_authorities a JOIN customers c ON c.id = a.customer_id
       JOIN users u ON u.id = a.user_id WHERE u.local_part = 'fred'" "Acme GmbH"
expect_eq "INSERT ... SELECT without customer_id: the customer of the login domain" \
    "INSERT INTO smtp_authorities (user_id) SELECT id FROM users WHERE local_part = 'erin';
     SELECT c.name FROM smtp_authorities a JOIN customers c ON c.id = a.customer_id
       JOIN users u ON u.id = a.user_id WHERE u.local_part = 'erin'" "Bakery Example Ltd"

# ---- the change generation ----------------------------------------------------------------------------

ALICE=$(mariadb_sql "$DB" -e "SELECT authority_id FROM v_accounts WHERE login = 'alice@example.com'")
expect_generation_moves "UPDATE last_used_at / last_client_address does not move the generation" \
    "UPDATE smtp_authorities SET last_used_at = NOW(), last_client_address = '192.0.2.99' WHERE id = $ALICE" NO
expect_eq "UPDATE last_used_at does not touch smtp_authorities.updated_at" \
    "SELECT updated_at = created_at FROM smtp_authorities WHERE id = $ALICE" "1"
expect_generation_moves "UPDATE note of an authority does not move the generation" \
    "UPDATE smtp_authorities SET note = 'laptop only' WHERE id = $ALICE" NO
expect_generation_moves "UPDATE users.password_hash does not move the generation" \
    "UPDATE users SET password_hash = '{PLAIN}new' WHERE local_part = 'alice'" NO
expect_generation_moves "UPDATE smtp_authorities SET active = 0 moves the generation" \
    "UPDATE smtp_authorities SET active = 0 WHERE id = $ALICE" YES
expect_generation_moves "UPDATE suspended_until moves the generation" \
    "UPDATE smtp_authorities SET suspended_until = NOW() + INTERVAL 1 DAY WHERE id = $ALICE" YES
expect_generation_moves "UPDATE max_message_bytes from NULL moves the generation (NULL-safe compare)" \
    "UPDATE smtp_authorities SET max_message_bytes = 1000000 WHERE id = $ALICE" YES
expect_eq "a rule change sets smtp_authorities.updated_at" \
    "SELECT updated_at >= created_at AND updated_at >= NOW() - INTERVAL 1 MINUTE FROM smtp_authorities WHERE id = $ALICE" "1"
expect_generation_moves "UPDATE users SET active = 0 moves the generation" \
    "UPDATE users SET active = 0 WHERE local_part = 'dave'" YES
expect_generation_moves "INSERT INTO authority_senders moves the generation" \
    "INSERT INTO authority_senders (authority_id, pattern) VALUES ($ALICE, '@example.org')" YES
expect_generation_moves "INSERT INTO authority_networks moves the generation" \
    "INSERT INTO authority_networks (authority_id, cidr) VALUES ($ALICE, '2001:db8:1::/48')" YES
expect_generation_moves "UPDATE rate_limits moves the generation" \
    "UPDATE rate_limits SET amount = amount + 1 WHERE scope = 'global' AND meter = 'messages'" YES
expect_generation_moves "UPDATE domains moves the generation" \
    "UPDATE domains SET is_local = 1 WHERE name = 'news.example.com'" YES
expect_generation_moves "UPDATE customers moves the generation" \
    "UPDATE customers SET active = 1 WHERE name = 'Acme GmbH'" YES
expect_eq "change_generation.changed_at follows the last move" \
    "SELECT changed_at >= NOW(6) - INTERVAL 1 MINUTE FROM change_generation" "1"

# Two triggers tell a rule change from bookkeeping by listing the rule columns of smtp_authorities
# (smtp_authorities_updated_at, smtp_authorities_generation_update): a column added to the table but not
# to both lists would change the rules without the daemons reloading them or updated_at moving.
BOOKKEEPING="created_at updated_at last_used_at last_client_address note"
rule_columns=$(q "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB'
    AND TABLE_NAME = 'smtp_authorities'" | grep -vxF -e "${BOOKKEEPING// /$'\n'}" | LC_ALL=C sort | tr '\n' ' ')
check "smtp_authorities' rule columns read from information_schema" "$rule_columns" "*sender_policy *"
for trigger in smtp_authorities_updated_at smtp_authorities_generation_update; do
    listed=$(q "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '$DB'
        AND TRIGGER_NAME = '$trigger'" | grep -o 'OLD\.[a-z_]*' | sed 's/^OLD\.//' | LC_ALL=C sort -u | tr '\n' ' ')
    check "trigger $trigger compares every rule column of smtp_authorities (information_schema)" \
        "$listed" "$rule_columns"
done

# ---- cascades and restrictions ----------------------------------------------------------------------------

WEBFORM_ID=$(mariadb_sql "$DB" -e "SELECT authority_id FROM v_accounts WHERE login = 'webform@relay.example.net'")
q "INSERT INTO relay_events (authority_id, login, verdict, reason) VALUES ($WEBFORM_ID, 'webform@relay.example.net', 'reject', 'rate_limited')" >/dev/null
expect_generation_moves "DELETE of a user moves the generation" \
    "DELETE FROM users WHERE local_part = 'webform'" YES
expect_eq "DELETE of a user cascades to its authority, senders, networks and authority rate limits" \
    "SELECT (SELECT COUNT(*) FROM smtp_authorities WHERE id = $WEBFORM_ID)
          + (SELECT COUNT(*) FROM authority_senders WHERE authority_id = $WEBFORM_ID)
          + (SELECT COUNT(*) FROM authority_networks WHERE authority_id = $WEBFORM_ID)
          + (SELECT COUNT(*) FROM rate_limits WHERE scope = 'authority' AND scope_id = $WEBFORM_ID)" "0"
expect_eq "relay_events of a deleted account are kept" \
    "SELECT COUNT(*) > 0 FROM relay_events WHERE authority_id = $WEBFORM_ID" "1"
ROUTER_ID=$(mariadb_sql "$DB" -e "SELECT authority_id FROM v_accounts WHERE login = 'router-office@relay.example.net'")
expect_ok "DELETE of an authority (user kept) works" "DELETE FROM smtp_authorities WHERE id = $ROUTER_ID"
expect_eq "... and its networks went with it" \
    "SELECT COUNT(*) FROM authority_networks WHERE authority_id = $ROUTER_ID" "0"
expect_refused "DELETE of a customer that still has domains is refused (RESTRICT)" \
    "DELETE FROM customers WHERE name = 'Bakery Example Ltd'" "foreign key constraint fails"
expect_ok "DELETE of a domain works" "DELETE FROM domains WHERE name = 'xn--bckerei-5wa.example'"
expect_eq "... its users, their authorities and its domain rate limits went with it" \
    "SELECT (SELECT COUNT(*) FROM users WHERE local_part = 'baker')
          + (SELECT COUNT(*) FROM v_accounts WHERE domain = 'xn--bckerei-5wa.example')" "0"
expect_refused "a rate limit for an authority that does not exist is refused" \
    "INSERT INTO rate_limits (scope, scope_id, meter, amount, window_seconds) VALUES ('authority', 999999, 'messages', 5, 60)" \
    "foreign key constraint fails"
expect_refused "an authority for a user that does not exist is refused" \
    "INSERT INTO smtp_authorities (user_id, customer_id) VALUES (999999, 1)" "foreign key constraint fails"
expect_refused "an authority for a user that does not exist is refused (customer_id omitted)" \
    "INSERT INTO smtp_authorities (user_id) VALUES (999999)" "foreign key constraint fails|cannot be null"

# ---- CHECK constraints: tests/integration/test_schema_checks.cpp (the integration suite schema_checks)

# ---- the application user and schema re-application ----------------------------------------------------

if mariadb_create_app_user "$DB" relay "it's a \\ test"; then ok "mariadb_create_app_user relay@localhost"
else not_ok "mariadb_create_app_user relay@localhost"; fi
app() { "$(_mariadb_bin mariadb)" --no-defaults --socket="$MARIADB_SOCKET" --user=relay --password="it's a \\ test" \
        --batch --skip-column-names "$DB" -e "$1" 2>&1; }
DAVE="(SELECT id FROM users WHERE local_part = 'dave')"
if out=$(app "UPDATE smtp_authorities SET last_used_at = NOW() WHERE user_id = $DAVE; SELECT COUNT(*) FROM v_accounts"); then
    ok "app user reads the views and writes last_used_at (triggers run)"
else
    not_ok "app user reads the views and writes last_used_at (triggers run)" "$out"
fi
if out=$(app "INSERT INTO relay_events (node, stage, verdict, reason) VALUES ('t', 'rcpt', 'defer', 'store_unavailable')"); then
    ok "app user appends to relay_events"
else
    not_ok "app user appends to relay_events" "$out"
fi
if out=$(app "DROP TABLE relay_events"); then not_ok "app user cannot DROP tables" "DROP succeeded"
else ok "app user cannot DROP tables"; fi
if mariadb_apply_schema "$DB"; then ok "mariadb_apply_schema on an up-to-date database applies nothing and succeeds"
else not_ok "mariadb_apply_schema on an up-to-date database"; fi
if mariadb_apply_schema relay_fresh && [ "$(mariadb_sql relay_fresh -e 'SELECT MAX(version) FROM schema_version')" = "$LAST_VERSION" ]; then
    ok "mariadb_apply_schema creates and migrates a fresh database"
else
    not_ok "mariadb_apply_schema creates and migrates a fresh database"
fi

# ---- restart on the same datadir (what the store's reconnect tests do) -------------------------------------

mariadb_stop
if mariadb_alive; then not_ok "mariadb_stop stops the server"; else ok "mariadb_stop stops the server"; fi
if mariadb_start "$WORK/db" && [ "$(generation)" -gt 1 ]; then ok "mariadb_start again on the same datadir keeps the data"
else not_ok "mariadb_start again on the same datadir keeps the data"; fi

finish
