#!/usr/bin/env bash
# Integration test of relayctl import/export and prune against a real, private MariaDB: CSV, Postfix
# smtpd_sender_login_maps and Dovecot passwd-file imports (dry run, one transaction, idempotent rerun,
# every bad row reported with FILE:LINE and nothing imported), export csv -> import round trip (with
# password_changed_at; a CSV without that column imports too), and
# prune of old audit rows and rate-limit bookkeeping (a nonsense age refused).
#
# Usage: test_relayctl_import.sh BUILD_DIR      (ctest: integration_relayctl_import)
# Prints "ok - ..." / "not ok - ..." per check and "N passed, N failed"; exit 0 only if all passed,
# 77 (skipped) when MariaDB is not installed or relayctl is not built.
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/relayctl.sh
. "$SRC/tests/lib/relayctl.sh"
relayctl_require "${1:-}"

DB=relay_authority
work_dir relayctl-import-test

# A fingerprint of every account row, sender and network: equal before and after = nothing changed.
state() {
    q "SELECT CONCAT_WS('|', u.local_part, d.name, u.password_hash, a.customer_id, a.sender_policy, a.auth_mode,
           a.may_relay_external, a.require_tls, a.allow_null_sender, a.max_recipients_per_message,
           a.max_message_bytes, a.valid_until, a.active, a.note, a.updated_at,
           (SELECT GROUP_CONCAT(pattern ORDER BY pattern) FROM authority_senders s WHERE s.authority_id = a.id),
           (SELECT GROUP_CONCAT(cidr ORDER BY cidr) FROM authority_networks n WHERE n.authority_id = a.id))
       FROM smtp_authorities a JOIN users u ON u.id = a.user_id JOIN domains d ON d.id = u.domain_id
       ORDER BY d.name, u.local_part"
}
generation() { q "SELECT generation FROM change_generation WHERE id = 1"; }

# ---- set-up --------------------------------------------------------------------------------------

if ! mariadb_start "$WORK/db"; then
    not_ok "MariaDB starts"
    finish
fi
mariadb_sql -e "CREATE DATABASE $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" || exit 1
printf '[database]\nsocket = %s\nuser = %s\nname = %s\n' "$MARIADB_SOCKET" "$MARIADB_ADMIN_USER" "$DB" >"$WORK/admin.conf"
"$RELAYCTL" --config "$WORK/admin.conf" db init >/dev/null 2>&1 || { not_ok "db init"; exit 1; }
mariadb_create_app_user "$DB" ra_app app-pw || exit 1
printf '[database]\nsocket = %s\nuser = ra_app\npassword = app-pw\nname = %s\n' "$MARIADB_SOCKET" "$DB" >"$WORK/app.conf"
CONF=$WORK/app.conf
for cmd in "customer add Acme" "customer add Beta" "domain add example.com --customer Acme" \
    "domain add beta.example --customer Beta" "domain add relay.example --customer Acme"; do
    # shellcheck disable=SC2086
    "$RELAYCTL" --config "$CONF" $cmd >/dev/null || { not_ok "set-up: $cmd"; exit 1; }
done

# ---- CSV -----------------------------------------------------------------------------------------

HASH='{SHA512-CRYPT}$6$abcdefghijklmnop$Dq3QH7x1mFkS0mZ3.7b9b0Cj6sXb0y1uVqZr0T0zq0o1p9aPz8u6YVnQ8Y5Gm0s9m5bL1xK7eQ0mXnq5E2d1'
cat >"$WORK/accounts.csv" <<CSV
login,password,customer,sender_policy,senders,networks,auth_mode,may_relay_external,require_tls,allow_null_sender,max_recipients_per_message,max_message_bytes,valid_until,active,note
printer@example.com,,,listed_only,@example.com scans@example.com,192.0.2.0/28,ip,no,no,yes,20,10M,never,yes,"Floor 2, ""Kyocera"""
alice@example.com,$HASH,Acme,own_domain,,,sasl,yes,yes,no,none,none,2030-01-01,yes,
"bob@beta.example",Bob-long-password-1,Beta,,,,,,,,,,,,
CSV
before=$(state)
gen_before=$(generation)
expect_out "import csv --dry-run lists what it would create" 0 \
    "would create printer@example.com: add sender @example.com; add sender scans@example.com; add network 192.0.2.0/28" \
    import csv "$WORK/accounts.csv" --dry-run
if grep -q "would create alice@example.com: password set" "$WORK/out" && grep -q "would create bob@beta.example" "$WORK/out" &&
    grep -q "dry run, nothing written: 3 to create, 0 to change, 0 unchanged" "$WORK/out"; then
    ok "--dry-run: every account and the totals"
else
    not_ok "--dry-run: every account and the totals" "$OUT"
fi
if [ "$(state)" = "$before" ] && [ "$(generation)" = "$gen_before" ]; then ok "--dry-run wrote nothing"; else not_ok "--dry-run wrote nothing"; fi
expect_out "import csv creates the accounts" 0 "imported from .*: 3 created, 0 changed, 0 unchanged" \
    import csv "$WORK/accounts.csv"
expect_sql "the CSV fields are stored" \
    "SELECT CONCAT_WS(' ', a.sender_policy, a.auth_mode, a.may_relay_external, a.allow_null_sender, a.max_recipients_per_message, a.max_message_bytes, a.note) FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'printer'" \
    'listed_only ip 0 1 20 10485760 Floor 2, "Kyocera"'
expect_sql "senders and networks are stored" \
    "SELECT CONCAT((SELECT GROUP_CONCAT(pattern ORDER BY pattern) FROM authority_senders), ' ', (SELECT GROUP_CONCAT(cidr) FROM authority_networks))" \
    "@example.com,scans@example.com 192.0.2.0/28"
expect_sql "a {SCHEME} hash is stored as given" "SELECT password_hash = '$HASH' FROM users WHERE local_part = 'alice'" 1
if doveadm pw -t "$(q "SELECT password_hash FROM users WHERE local_part = 'bob'")" -p Bob-long-password-1 >/dev/null 2>&1 ||
    ! command -v doveadm >/dev/null; then
    ok "a plain password is hashed (Dovecot accepts it)"
else
    not_ok "a plain password is hashed (Dovecot accepts it)"
fi
expect_sql "customer column: bob sends for Beta" \
    "SELECT c.name FROM smtp_authorities a JOIN customers c ON c.id = a.customer_id JOIN users u ON u.id = a.user_id WHERE u.local_part = 'bob'" Beta
after=$(state)
gen_after=$(generation)
expect_out "import csv again changes nothing" 0 "0 created, 0 changed, 3 unchanged" import csv "$WORK/accounts.csv"
if [ "$(state)" = "$after" ] && [ "$(generation)" = "$gen_after" ]; then
    ok "the rerun wrote nothing (same rows, change generation unmoved)"
else
    not_ok "the rerun wrote nothing" "generation $gen_after -> $(generation)"
fi

sed -e 's/^alice@example.com,\([^,]*\),Acme,own_domain,/alice@example.com,\1,Acme,own_address,/' \
    -e 's/^"bob@beta.example",Bob-long-password-1,/"bob@beta.example",Bob-long-password-2,/' \
    "$WORK/accounts.csv" >"$WORK/changed.csv"
expect_out "a changed row: --dry-run names the field and the password" 0 \
    "would change alice@example.com: sender_policy own_domain -> own_address" import csv "$WORK/changed.csv" --dry-run
if grep -q "would change bob@beta.example: password changed" "$WORK/out" && grep -q "0 to create, 2 to change, 1 unchanged" "$WORK/out"; then
    ok "--dry-run: the new plain password is a change, the rest unchanged"
else
    not_ok "--dry-run: the new plain password is a change" "$OUT"
fi

# ---- bad input: every bad row reported with FILE:LINE, nothing imported -------------------------

before=$(state)
cat >"$WORK/bad.csv" <<'CSV'
login,password,customer,networks
new1@example.com,,,192.0.2.1/24
new2@example.com,,Nobody Inc,
new3@example.com,{NOSUCH}abc,,
new4@nowhere.example,,,
new5@example.com,,,
new5@example.com,,,
new6@example.com,short,,
not a login,,,
CSV
run import csv "$WORK/bad.csv"
bad_ok=yes
for want in "bad.csv:2: malformed network '192.0.2.1/24'" "bad.csv:3: unknown customer 'Nobody Inc'" \
    "bad.csv:4: password: unknown password hash scheme \{NOSUCH\}" "bad.csv:5: domain nowhere.example is not known" \
    "bad.csv:7: duplicate login new5@example.com \(first at .*bad.csv:6\)" "bad.csv:8: password: the password has 5 characters" \
    "bad.csv:9: malformed login"; do
    grep -Eq -- "$want" "$WORK/err" || { bad_ok=no; not_ok "bad CSV: reported: $want" "$ERR"; }
done
if [ "$bad_ok" = yes ] && [ "$RC" = 1 ] && grep -q "nothing imported" "$WORK/err"; then
    ok "bad CSV: every bad row named with file:line and reason, exit 1"
fi
if [ "$(state)" = "$before" ]; then ok "bad CSV: nothing imported (not even the good row)"; else not_ok "bad CSV: nothing imported"; fi
printf 'login,pasword\nx@example.com,\n' >"$WORK/header.csv"
expect_out "a wrong header: exit 1, names the column and the known ones" 1 \
    "header.csv:1: unknown column 'pasword' in the header \(the columns are: login,password," import csv "$WORK/header.csv"
printf 'password,customer\n{PLAIN}x,Acme\n' >"$WORK/nologin.csv"
expect_out "a header without login: exit 1" 1 "nologin.csv:1: the header has no login column" import csv "$WORK/nologin.csv"
expect_out "a missing file: exit 1" 1 "cannot read .*none.csv" import csv "$WORK/none.csv"

# ---- Postfix smtpd_sender_login_maps -------------------------------------------------------------

cat >"$WORK/sender_login_maps" <<'MAP'
# sender            owners
@example.com        alice@example.com
billing@beta.example  alice@example.com,
    bob@beta.example
MAP
expect_out "import postfix-sender-map --dry-run" 0 \
    "would change alice@example.com: add sender @example.com" import postfix-sender-map "$WORK/sender_login_maps" --dry-run
expect_out "import postfix-sender-map: continuation lines and several owners" 0 \
    "imported from .*: 0 created, 3 changed, 0 unchanged" import postfix-sender-map "$WORK/sender_login_maps"
expect_sql "the owners got the senders" \
    "SELECT GROUP_CONCAT(CONCAT(u.local_part, '=', s.pattern) ORDER BY u.local_part, s.pattern) FROM authority_senders s JOIN smtp_authorities a ON a.id = s.authority_id JOIN users u ON u.id = a.user_id WHERE u.local_part IN ('alice', 'bob')" \
    "alice=@example.com,alice=billing@beta.example,bob=billing@beta.example"
expect_out "import postfix-sender-map again changes nothing" 0 "0 changed, 3 unchanged" \
    import postfix-sender-map "$WORK/sender_login_maps"
before=$(state)
printf 'ok@example.com alice@example.com\nnoowner@example.com\nbare alice@example.com\n@example.com ghost@example.com\n' >"$WORK/bad.map"
run import postfix-sender-map "$WORK/bad.map"
if [ "$RC" = 1 ] && grep -q "bad.map:2: no owner after the sender 'noowner@example.com'" "$WORK/err" &&
    grep -q "bad.map:3: the sender 'bare' has no @" "$WORK/err" &&
    grep -q "bad.map:4: no account ghost@example.com" "$WORK/err" && [ "$(state)" = "$before" ]; then
    ok "a bad sender map: each syntax error and unknown owner with file:line, nothing imported"
else
    not_ok "a bad sender map: each error with file:line, nothing imported" "rc $RC: $ERR"
fi

# ---- Dovecot passwd-file -------------------------------------------------------------------------

cat >"$WORK/passwd" <<PW
# Dovecot users
carol@example.com:$HASH:1000:1000::/home/carol::
dave@beta.example:\$6\$saltsalt\$abc:::
erin@beta.example::
PW
expect_out "import dovecot-passwd --customer Beta" 0 "3 created, 0 changed, 0 unchanged" \
    import dovecot-passwd "$WORK/passwd" --customer Beta
expect_sql "passwd-file: hashes as given, a bare crypt hash as {CRYPT}, customer from --customer" \
    "SELECT GROUP_CONCAT(CONCAT(u.local_part, ' ', LEFT(COALESCE(u.password_hash, '-'), 14), ' ', c.name) ORDER BY u.local_part) FROM users u JOIN smtp_authorities a ON a.user_id = u.id JOIN customers c ON c.id = a.customer_id WHERE u.local_part IN ('carol', 'dave', 'erin')" \
    "carol {SHA512-CRYPT} Beta,dave {CRYPT}\$6\$salt Beta,erin - Beta"
expect_out "import dovecot-passwd again changes nothing" 0 "0 created, 0 changed, 3 unchanged" \
    import dovecot-passwd "$WORK/passwd" --customer Beta
printf 'nodomain:{PLAIN}x:::\nfrank@example.com:{FOO}x:::\nnocolon\n' >"$WORK/bad.passwd"
expect_out "a bad passwd-file: user without domain, unknown scheme, no colon, each with its line" 1 \
    "bad.passwd:1: user 'nodomain' has no @domain" import dovecot-passwd "$WORK/bad.passwd"
if grep -q "bad.passwd:2: unknown password hash scheme {FOO}" "$WORK/err" && grep -q "bad.passwd:3: no ':'" "$WORK/err"; then
    ok "a bad passwd-file: the other two lines reported too"
else
    not_ok "a bad passwd-file: the other two lines reported too" "$ERR"
fi

# ---- export csv -> import csv round trip ----------------------------------------------------------

# A password changed long ago: the export carries when (password_changed_at), the import keeps it.
q "UPDATE users SET password_changed_at = '2021-03-04 05:06:07' WHERE local_part = 'alice'" >/dev/null
ALICE_AT=$(q "SELECT UNIX_TIMESTAMP(password_changed_at) FROM users WHERE local_part = 'alice'")
BOB_AT=$(q "SELECT UNIX_TIMESTAMP(password_changed_at) FROM users WHERE local_part = 'bob'")
expect_out "export csv writes the header" 0 "^login,password,customer,sender_policy" export csv
cp "$WORK/out" "$WORK/export.csv"
check "export csv: password_changed_at is the last column" "$(head -n 1 "$WORK/export.csv")" "*,active,note,password_changed_at"
check "export csv: alice's password_changed_at as @UNIX-SECONDS" "$(grep '^alice@example.com,' "$WORK/export.csv")" "*,@$ALICE_AT"
check "export csv: no password, an empty password_changed_at" "$(grep '^printer@example.com,' "$WORK/export.csv")" "*[^@0-9],"
before=$(state)
expect_out "importing the export changes nothing" 0 " 0 created, 0 changed, [0-9]+ unchanged" import csv "$WORK/export.csv"
if [ "$(state)" = "$before" ]; then ok "export -> import round-trips (same rows)"; else not_ok "export -> import round-trips"; fi
# Into an empty database: the same accounts come back.
mariadb_sql -e "CREATE DATABASE copy_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" || exit 1
printf '[database]\nsocket = %s\nuser = %s\nname = copy_db\n' "$MARIADB_SOCKET" "$MARIADB_ADMIN_USER" >"$WORK/copy.conf"
CONF=$WORK/copy.conf
run db init
for cmd in "customer add Acme" "customer add Beta" "domain add example.com --customer Acme" \
    "domain add beta.example --customer Beta" "domain add relay.example --customer Acme"; do
    # shellcheck disable=SC2086
    "$RELAYCTL" --config "$CONF" $cmd >/dev/null
done
expect_out "the export imports into an empty database" 0 "created, 0 changed, 0 unchanged" import csv "$WORK/export.csv"
run export csv
if [ "$OUT" = "$(cat "$WORK/export.csv")" ]; then ok "exporting the copy gives the same CSV"; else not_ok "exporting the copy gives the same CSV" "$(diff <(printf '%s\n' "$OUT") "$WORK/export.csv")"; fi
DB=copy_db
expect_sql "the copy keeps when each password was changed (not the import's time)" \
    "SELECT GROUP_CONCAT(CONCAT(local_part, '=', COALESCE(UNIX_TIMESTAMP(password_changed_at), 'NULL')) ORDER BY local_part) FROM users WHERE local_part IN ('alice', 'bob', 'printer')" \
    "alice=$ALICE_AT,bob=$BOB_AT,printer=NULL"
DB=relay_authority
CONF=$WORK/app.conf

# ---- password_changed_at: optional, checked ------------------------------------------------------

# A file that only moves the time (the hash stays): a change of its own, named; then nothing to do.
WANT_AT=$(date -d '2020-01-02 03:04' +%s)
printf 'login,password_changed_at\nalice@example.com,2020-01-02 03:04\n' >"$WORK/age.csv"
expect_out "a new password_changed_at alone: --dry-run names the change" 0 \
    "would change alice@example.com: password_changed_at @$ALICE_AT -> @$WANT_AT" import csv "$WORK/age.csv" --dry-run
expect_out "a new password_changed_at alone is imported" 0 "1 changed, 0 unchanged" import csv "$WORK/age.csv"
expect_sql "password_changed_at stored as given, the hash untouched" \
    "SELECT CONCAT(UNIX_TIMESTAMP(password_changed_at), ' ', password_hash = '$HASH') FROM users WHERE local_part = 'alice'" "$WANT_AT 1"
expect_out "the same file again changes nothing" 0 "0 changed, 1 unchanged" import csv "$WORK/age.csv"
# A new password with its time: stored with that time (the trigger of migration 006 would say NOW()).
printf 'login,password,password_changed_at\nbob@beta.example,Bob-long-password-3,@%s\n' "$ALICE_AT" >"$WORK/newpw.csv"
expect_out "a new password with password_changed_at" 0 "changed bob@beta.example: password changed" import csv "$WORK/newpw.csv"
expect_sql "the new password got the file's time" "SELECT UNIX_TIMESTAMP(password_changed_at) FROM users WHERE local_part = 'bob'" "$ALICE_AT"
before=$(state)
ages_before=$(q "SELECT GROUP_CONCAT(COALESCE(UNIX_TIMESTAMP(password_changed_at), 'NULL') ORDER BY id) FROM users")
printf 'login,password_changed_at\nprinter@example.com,2020-01-01\nalice@example.com,+30d\ncarol@example.com,soon\n' >"$WORK/badage.csv"
run import csv "$WORK/badage.csv"
if [ "$RC" = 1 ] && grep -q "badage.csv:2: password_changed_at given, but the account has no password" "$WORK/err" &&
    grep -q "badage.csv:3: password_changed_at @[0-9]* is later than the database server's clock" "$WORK/err" &&
    grep -q "badage.csv:4: password_changed_at: cannot read 'soon' as a past time" "$WORK/err" &&
    [ "$(state)" = "$before" ] && [ "$(q "SELECT GROUP_CONCAT(COALESCE(UNIX_TIMESTAMP(password_changed_at), 'NULL') ORDER BY id) FROM users")" = "$ages_before" ]; then
    ok "bad password_changed_at values (no password, in the future, not a time): each with file:line, nothing imported"
else
    not_ok "bad password_changed_at values: each with file:line, nothing imported" "rc $RC: $ERR"
fi

# ---- prune ---------------------------------------------------------------------------------------

ALICE=$(q "SELECT a.id FROM smtp_authorities a JOIN users u ON u.id = a.user_id JOIN domains d ON d.id = u.domain_id WHERE u.local_part = 'alice' AND d.name = 'example.com'")
BOB=$(q "SELECT a.id FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'bob'")
q "INSERT INTO relay_events (event_time, login, reason) SELECT NOW() - INTERVAL 100 DAY, 'old@example.com', 'old' FROM seq_1_to_2500;
   INSERT INTO relay_events (event_time, login, reason) VALUES (NOW() - INTERVAL 1 DAY, 'new@example.com', 'new'), (NOW(), 'new@example.com', 'new');
   INSERT INTO relay_events (event_time, login, reason) VALUES (NOW() - INTERVAL 200 DAY, 'old@example.com', 'old');
   INSERT INTO abuse_client_networks VALUES ($ALICE, '192.0.2.0/24', NOW() - INTERVAL 120 DAY, NOW() - INTERVAL 100 DAY),
       ($ALICE, '198.51.100.0/24', NOW() - INTERVAL 2 DAY, NOW());
   INSERT INTO abuse_rate_refusals VALUES ($ALICE, NOW() - INTERVAL 100 DAY, 3), ($ALICE, NOW() - INTERVAL 1 HOUR, 2);
   INSERT INTO rate_limits (scope, meter, amount) VALUES ('global', 'messages', 100);
   SET @l = LAST_INSERT_ID();
   INSERT INTO rate_counters (rate_limit_id, subject_id, tat_us, last_charge_at) VALUES
       (@l, $ALICE, 0, NOW() - INTERVAL 100 DAY),
       (@l, $BOB, (UNIX_TIMESTAMP() + 86400) * 1000000, NOW() - INTERVAL 100 DAY),
       (@l, 0, 0, NOW() - INTERVAL 1 DAY);
   INSERT INTO rate_charge_keys (charge_key, charged_at) SELECT UNHEX(MD5(seq)), NOW() - INTERVAL 2 HOUR FROM seq_1_to_2500;
   INSERT INTO rate_charge_keys (charge_key, charged_at) VALUES (UNHEX(MD5('recent')), NOW() - INTERVAL 10 MINUTE);" >/dev/null
expect_out "prune with a nonsense age is refused: exit 1" 1 "--older-than: 'soon': want an age such as 90d" prune --older-than soon
expect_out "prune with an age under a day is refused" 1 "at least one day" prune --older-than 12h
printf '[relayctl]\nretention = 3 months\n' | cat "$WORK/app.conf" - >"$WORK/badret.conf"
expect_out "a nonsense [relayctl] retention is refused naming the key" 1 "retention.*want an age" --config "$WORK/badret.conf" prune
expect_out "prune --pause over a minute is refused" 1 "--pause: want 0 to 60000 milliseconds" prune --pause 60001
printf '[relayctl]\nprune_pause = 2 fortnights\n' | cat "$WORK/app.conf" - >"$WORK/badpause.conf"
expect_out "a nonsense [relayctl] prune_pause is refused naming the key" 1 "prune_pause" --config "$WORK/badpause.conf" prune
expect_out "prune --dry-run counts" 0 "relay_events: +2501" prune --older-than 90d --dry-run
expect_sql "prune --dry-run deleted nothing" "SELECT COUNT(*) FROM relay_events" 2503
if grep -Eq "rate_charge_keys \(over 1 h\): +2500$" "$WORK/out"; then
    ok "prune --dry-run counts the charge keys older than an hour, whatever --older-than says"
else
    not_ok "prune --dry-run counts the charge keys older than an hour, whatever --older-than says" "$OUT"
fi
printf '[relayctl]\nprune_batch_size = 1000\nprune_pause = 1ms\n' | cat "$WORK/app.conf" - >"$WORK/prune.conf"
expect_out "prune --older-than 90d in batches of [relayctl] prune_batch_size, prune_pause apart" 0 \
    "in [0-9]+ batch\(es\) of at most 1000 rows, 1 ms apart" --config "$WORK/prune.conf" prune --older-than 90d
if grep -Eq "relay_events: +2501$" "$WORK/out" && grep -Eq "abuse_client_networks: +1$" "$WORK/out" &&
    grep -Eq "abuse_rate_refusals: +1$" "$WORK/out" && grep -Eq "rate_counters \(idle\): +1$" "$WORK/out" &&
    grep -Eq "rate_charge_keys \(over 1 h\): +2500$" "$WORK/out"; then
    ok "prune reports what it deleted per table"
else
    not_ok "prune reports what it deleted per table" "$OUT"
fi
expect_sql "prune kept the recent events" "SELECT GROUP_CONCAT(DISTINCT reason), COUNT(*) FROM relay_events" "$(printf 'new\t2')"
expect_sql "prune kept the recent abuse rows" \
    "SELECT CONCAT((SELECT GROUP_CONCAT(network) FROM abuse_client_networks), ' ', (SELECT SUM(refusals) FROM abuse_rate_refusals))" \
    "198.51.100.0/24 2"
expect_sql "prune kept counters in use or not yet refilled, deleted the idle one" \
    "SELECT GROUP_CONCAT(subject_id ORDER BY subject_id) FROM rate_counters" "0,$BOB"
expect_sql "prune kept the charge key of the last hour (its charge may still be retried)" \
    "SELECT CONCAT(COUNT(*), ' ', HEX(MAX(charge_key)) = MD5('recent')) FROM rate_charge_keys" "1 1"
expect_out "prune again deletes nothing; default age from [relayctl] retention (90d)" 0 "relay_events: +0$" prune

finish
