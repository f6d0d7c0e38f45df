#!/usr/bin/env bash
# Integration test of the password lifecycle against a real, private MariaDB: users.password_changed_at
# (migration 006) kept by relayctl (account add, account passwd, import) and by triggers for edits in SQL
# (a new password_hash moves it, other edits do not, neither moves change_generation), the backfill of
# rows from before the migration, and relayctl account list --password-older-than (nonsense ages refused).
#
# Usage: test_relayctl_password_age.sh BUILD_DIR      (ctest: integration_relayctl_password_age)
# Prints "ok - ..." / "not ok - ..." per check and "N passed, N failed"; exit 0 only if all passed,
# 77 (skipped) when MariaDB is not installed or relayctl is not built.
set -u
umask 077  # the config files hold a database password

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/relayctl.sh
. "$SRC/tests/lib/relayctl.sh"
relayctl_require "${1:-}"
DB=relay_authority
work_dir relayctl-password-age-test

generation() { q "SELECT generation FROM change_generation WHERE id = 1"; }
# changed_at LOCAL: users.password_changed_at of LOCAL@example.com (NULL printed as NULL)
changed_at() { q "SELECT u.password_changed_at FROM users u WHERE u.local_part = '$1'"; }
# recent LOCAL: 1 when it was set within the last 10 minutes (a bound, not a timing)
recent() { q "SELECT TIMESTAMPDIFF(SECOND, password_changed_at, NOW()) BETWEEN 0 AND 600 FROM users WHERE local_part = '$1'"; }

# ---- set-up --------------------------------------------------------------------------------------

if ! mariadb_start "$WORK/db"; then
    not_ok "MariaDB starts"
    finish
fi

# ---- migration 006 on a database that already has users (applied file by file, as an upgrade) ---

mariadb_sql -e "CREATE DATABASE old_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" || exit 1
for f in "$SRC"/sql/migrations/00[1-5]_*.sql; do mariadb_sql old_db <"$f" || { not_ok "apply $f"; exit 1; }; done
mariadb_sql old_db -e "INSERT INTO customers (name) VALUES ('Old');
    INSERT INTO domains (customer_id, name) VALUES (1, 'old.example');
    INSERT INTO users (domain_id, local_part, password_hash, created_at, updated_at)
        VALUES (1, 'pw', '{PLAIN}old-password', '2024-01-01 10:00:00', '2024-02-03 04:05:06'),
               (1, 'nopw', NULL, '2024-01-01 10:00:00', '2024-01-01 10:00:00')" || exit 1
if out=$(mariadb_sql old_db <"$SRC/sql/migrations/006_password_changed_at.sql" 2>&1); then
    ok "006 applies to a database with users"
else
    not_ok "006 applies to a database with users" "$out"
fi
expect_sql_in() { # DESC DB SQL WANT
    local got
    got=$(mariadb_sql "$2" -e "$3" 2>&1)
    if [ "$got" = "$4" ]; then ok "$1"; else not_ok "$1" "got: $got"$'\n'"want: $4"; fi
}
expect_sql_in "existing rows: password_changed_at = updated_at (the latest it can have been set), NULL without a password; updated_at unmoved" old_db \
    "SELECT GROUP_CONCAT(CONCAT(local_part, ' ', COALESCE(password_changed_at, 'NULL'), ' ', updated_at) ORDER BY local_part SEPARATOR ', ') FROM users" \
    "nopw NULL 2024-01-01 10:00:00, pw 2024-02-03 04:05:06 2024-02-03 04:05:06"
if out=$(mariadb_sql old_db <"$SRC/sql/migrations/006_password_changed_at.sql" 2>&1); then
    ok "006 applies again (idempotent)"
else
    not_ok "006 applies again (idempotent)" "$out"
fi
expect_sql_in "applying 006 again changes no row" old_db \
    "SELECT GROUP_CONCAT(CONCAT(local_part, ' ', COALESCE(password_changed_at, 'NULL')) ORDER BY local_part) FROM users" \
    "nopw NULL,pw 2024-02-03 04:05:06"
expect_sql_in "the triggers on users: the three generation triggers and the two of 006, nothing else" old_db \
    "SELECT GROUP_CONCAT(CONCAT(ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ', TRIGGER_NAME) ORDER BY TRIGGER_NAME SEPARATOR ', ')
       FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'old_db' AND EVENT_OBJECT_TABLE = 'users'" \
    "AFTER DELETE users_generation_delete, AFTER INSERT users_generation_insert, AFTER UPDATE users_generation_update, BEFORE INSERT users_password_changed_at_insert, BEFORE UPDATE users_password_changed_at_update"

# ---- a fresh database through relayctl ----------------------------------------------------------

mariadb_sql -e "CREATE DATABASE $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" || exit 1
printf '[database]\nsocket = %s\nuser = %s\nname = %s\n' "$MARIADB_SOCKET" "$MARIADB_ADMIN_USER" "$DB" >"$WORK/admin.conf"
"$RELAYCTL" --config "$WORK/admin.conf" db init >/dev/null 2>&1 || { not_ok "db init"; exit 1; }
expect_sql "db init: schema version 6 or later, users.password_changed_at exists" \
    "SELECT MAX(version) >= 6, (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'users' AND COLUMN_NAME = 'password_changed_at') FROM schema_version" \
    "$(printf '1\t1')"
mariadb_create_app_user "$DB" ra_app app-pw || exit 1
printf '[database]\nsocket = %s\nuser = ra_app\npassword = app-pw\nname = %s\n' "$MARIADB_SOCKET" "$DB" >"$WORK/app.conf"
CONF=$WORK/app.conf
for cmd in "customer add Acme" "domain add example.com --customer Acme"; do
    # shellcheck disable=SC2086
    "$RELAYCTL" --config "$CONF" $cmd >/dev/null || { not_ok "set-up: $cmd"; exit 1; }
done

# ---- relayctl keeps it -------------------------------------------------------------------------

printf 'Alice-first-password-1\n' >"$WORK/pw1"
expect_out "account add --password-stdin" 0 "account alice@example.com added" --stdin "$(cat "$WORK/pw1")"$'\n' account add alice@example.com --password-stdin
expect_sql "account add: password_changed_at is now" "SELECT TIMESTAMPDIFF(SECOND, password_changed_at, NOW()) BETWEEN 0 AND 600 FROM users WHERE local_part = 'alice'" 1
expect_out "account add of an IP-only device without a password" 0 "added" \
    account add printer@example.com --auth-mode ip --no-password --network 192.0.2.10
expect_sql "no password: password_changed_at is NULL" "SELECT password_changed_at IS NULL FROM users WHERE local_part = 'printer'" 1
expect_out "account add bob --generate-password" 0 "generated password" account add bob@example.com --generate-password

# Age alice's and bob's passwords in SQL (naming the column keeps the value given, as an import from a
# system that knows the date would).
gen=$(generation)
q "UPDATE users SET password_changed_at = '2020-05-06 07:08:09' WHERE local_part = 'alice';
   UPDATE users SET password_changed_at = NOW() - INTERVAL 100 DAY WHERE local_part = 'bob'" >/dev/null
expect_sql "an UPDATE naming only password_changed_at keeps the value given" "SELECT password_changed_at FROM users WHERE local_part = 'alice'" "2020-05-06 07:08:09"
expect_sql "… and does not move the change generation" "SELECT generation FROM change_generation" "$gen"

expect_out "account list --password-older-than 180d: alice, with the time it was set" 0 \
    "alice@example.com .*2020-05-06 07:08" account list --password-older-than 180d
if ! grep -q "bob@example.com" "$WORK/out" && ! grep -q "printer@example.com" "$WORK/out" &&
    grep -q "^1 account(s) with a password set before .* (180d)$" "$WORK/out" && grep -q "PASSWORD SET" "$WORK/out"; then
    ok "--password-older-than 180d: not bob (100 days), not the device without a password; a total line"
else
    not_ok "--password-older-than 180d: only alice" "$OUT"
fi
expect_out "--password-older-than 12w: bob too" 0 "bob@example.com" account list --password-older-than 12w
run account list --password-older-than 2160h --json
if printf '%s' "$OUT" | python3 -c '
import json, sys
rows = json.load(sys.stdin)
assert sorted(r["login"] for r in rows) == ["alice@example.com", "bob@example.com"], rows
assert all(r["password_changed_at"] for r in rows), rows
'; then ok "--password-older-than --json: the same accounts, each with password_changed_at"; else not_ok "--json" "$OUT $ERR"; fi
for bad in soon 180 0d 1.5d 180D "180 d" ""; do
    expect_out "--password-older-than '$bad' is refused: exit 1, names the option" 1 \
        "password-older-than: '.*' is not an age such as 180d" account list --password-older-than "$bad"
done
expect_out "account show: password set, scheme, when" 0 "password: +set, \{SHA512-CRYPT\}, changed 2020-05-06 07:08" \
    account show alice@example.com
run account show printer@example.com --json
if printf '%s' "$OUT" | python3 -c 'import json, sys; j = json.load(sys.stdin); assert j["password_changed_at"] is None and not j["has_password"], j'; then
    ok "account show --json: password_changed_at null without a password"
else
    not_ok "account show --json: password_changed_at null without a password" "$OUT"
fi

gen=$(generation)
printf 'Alice-second-password-2\n' >"$WORK/pw2"
expect_out "account passwd" 0 "password of alice@example.com changed" --stdin "$(cat "$WORK/pw2")"$'\n' account passwd alice@example.com --password-stdin
expect_sql "account passwd: password_changed_at is now" "SELECT TIMESTAMPDIFF(SECOND, password_changed_at, NOW()) BETWEEN 0 AND 600 FROM users WHERE local_part = 'alice'" 1
expect_sql "account passwd does not move the change generation" "SELECT generation FROM change_generation" "$gen"
run account list --password-older-than 180d
if [ "$RC" = 0 ] && ! grep -q alice "$WORK/out" && grep -q "^0 account(s)" "$WORK/out"; then
    ok "after passwd alice is no longer listed"
else
    not_ok "after passwd alice is no longer listed" "$OUT $ERR"
fi

# ---- import: a new hash moves it, the same one does not ------------------------------------------

HASH='{SHA512-CRYPT}$6$abcdefghijklmnop$Dq3QH7x1mFkS0mZ3.7b9b0Cj6sXb0y1uVqZr0T0zq0o1p9aPz8u6YVnQ8Y5Gm0s9m5bL1xK7eQ0mXnq5E2d1'
printf 'login,password\ncarol@example.com,%s\nbob@example.com,%s\n' "$HASH" "$HASH" >"$WORK/a.csv"
expect_out "import csv: a new account and a new hash for bob" 0 "1 created, 1 changed" import csv "$WORK/a.csv"
expect_sql "import: carol's and bob's password_changed_at are now" \
    "SELECT SUM(TIMESTAMPDIFF(SECOND, password_changed_at, NOW()) BETWEEN 0 AND 600) FROM users WHERE local_part IN ('carol', 'bob')" 2
q "UPDATE users SET password_changed_at = '2021-01-01 00:00:00' WHERE local_part IN ('carol', 'bob')" >/dev/null
expect_out "import csv again: unchanged" 0 "0 created, 0 changed, 2 unchanged" import csv "$WORK/a.csv"
expect_sql "an unchanged password keeps its time" \
    "SELECT GROUP_CONCAT(password_changed_at) FROM users WHERE local_part IN ('carol', 'bob')" "2021-01-01 00:00:00,2021-01-01 00:00:00"

# ---- edits in SQL: the triggers -----------------------------------------------------------------

q "UPDATE users SET password_changed_at = '2022-02-02 02:02:02' WHERE local_part = 'alice'" >/dev/null
gen=$(generation)
q "UPDATE users SET note = 'desk 4' WHERE local_part = 'alice';
   UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id SET a.note = 'x' WHERE u.local_part = 'alice'" >/dev/null
expect_sql "SQL: a note edit leaves password_changed_at alone" "SELECT password_changed_at FROM users WHERE local_part = 'alice'" "2022-02-02 02:02:02"
expect_sql "… and does not move the change generation" "SELECT generation FROM change_generation" "$gen"
q "UPDATE users SET active = 0 WHERE local_part = 'alice'; UPDATE users SET active = 1 WHERE local_part = 'alice'" >/dev/null
expect_sql "SQL: disabling and enabling the user leaves password_changed_at alone" "SELECT password_changed_at FROM users WHERE local_part = 'alice'" "2022-02-02 02:02:02"
expect_sql "… and moves the change generation exactly as before 006 (twice)" "SELECT generation FROM change_generation" "$((gen + 2))"
gen=$(generation)
q "UPDATE users SET password_hash = '{PLAIN}hand-set-password' WHERE local_part = 'alice'" >/dev/null
expect_sql "SQL: a password changed by hand moves password_changed_at to now" "SELECT TIMESTAMPDIFF(SECOND, password_changed_at, NOW()) BETWEEN 0 AND 600 FROM users WHERE local_part = 'alice'" 1
expect_sql "… and does not move the change generation" "SELECT generation FROM change_generation" "$gen"
q "UPDATE users SET password_hash = password_hash, password_changed_at = '2022-02-02 02:02:02' WHERE local_part = 'alice'" >/dev/null
q "UPDATE users SET password_hash = '{PLAIN}hand-set-password' WHERE local_part = 'alice'" >/dev/null
expect_sql "SQL: setting the same hash again is no change" "SELECT password_changed_at FROM users WHERE local_part = 'alice'" "2022-02-02 02:02:02"
q "UPDATE users SET password_hash = '{PLAIN}migrated-password', password_changed_at = '2023-03-03 03:03:03' WHERE local_part = 'alice'" >/dev/null
expect_sql "SQL: a new hash with its own password_changed_at keeps the time given" "SELECT password_changed_at FROM users WHERE local_part = 'alice'" "2023-03-03 03:03:03"
q "UPDATE users SET password_hash = NULL WHERE local_part = 'alice'" >/dev/null
expect_sql "SQL: removing the password makes it NULL" "SELECT password_changed_at IS NULL FROM users WHERE local_part = 'alice'" 1
q "INSERT INTO users (domain_id, local_part, password_hash) SELECT id, 'dora', '{PLAIN}dora-password' FROM domains WHERE name = 'example.com';
   INSERT INTO users (domain_id, local_part) SELECT id, 'eve' FROM domains WHERE name = 'example.com';
   INSERT INTO users (domain_id, local_part, password_hash, password_changed_at) SELECT id, 'fred', '{PLAIN}fred-password', '2019-09-09 09:09:09' FROM domains WHERE name = 'example.com'" >/dev/null
expect_sql "SQL INSERT: with a hash now, without one NULL, with a time given that time" \
    "SELECT CONCAT_WS(' ', (SELECT TIMESTAMPDIFF(SECOND, password_changed_at, NOW()) BETWEEN 0 AND 600 FROM users WHERE local_part = 'dora'),
                          (SELECT COALESCE(password_changed_at, 'NULL') FROM users WHERE local_part = 'eve'),
                          (SELECT password_changed_at FROM users WHERE local_part = 'fred'))" \
    "1 NULL 2019-09-09 09:09:09"

finish
