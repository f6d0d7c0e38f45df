#!/usr/bin/env bash
# Integration test of relayctl against a real, private MariaDB: every subcommand, the exit codes, bad
# input (unknown login, second authority, malformed CIDR / pattern / login / date, password mismatch),
# SQL-special characters stored literally, passwords Dovecot accepts, and no side effects of explain.
#
# Usage: test_relayctl.sh BUILD_DIR      (ctest: integration_relayctl)
# Prints "ok - ..." / "not ok - ..." per check and "N passed, N failed"; exit 0 only if all passed,
# 77 (skipped) when MariaDB is not installed or relayctl is not built.
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/relayctl.sh
. "$SRC/tests/lib/relayctl.sh"
relayctl_require "${1:-}"
command -v doveadm >/dev/null 2>&1 || skip "doveadm (dovecot-core) not installed: it proves Dovecot accepts the hashes"

DB=relay_authority
work_dir relayctl-test
export TMPDIR=$WORK/tmp   # relayctl's temporary client option files must appear (and vanish) here
mkdir -p "$TMPDIR"

# The SQL-special characters every text field must store literally.
SPECIAL="'\";\\%_"

# A value as hex, so that what is stored is compared byte for byte (no client escaping in between).
qhex() { mariadb_sql "$DB" -e "SELECT HEX($1)" 2>&1; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F'; }

# dovecot_accepts HASH PASSWORD: doveadm verifies the hash the way Dovecot's passdb does
dovecot_accepts() { doveadm pw -t "$1" -p "$2" >/dev/null 2>&1; }
stored_hash() { mariadb_sql "$DB" -e "SELECT u.password_hash FROM users u JOIN domains d ON d.id = u.domain_id WHERE CONCAT(u.local_part, '@', d.name) = '$1'"; }

generation() { q "SELECT generation FROM change_generation WHERE id = 1"; }

# ---- set-up --------------------------------------------------------------------------------------

if ! mariadb_start "$WORK/db"; then
    not_ok "MariaDB starts"
    finish
fi
ADMIN_PW="adm${SPECIAL}pw"
APP_PW="app${SPECIAL}pw"
mariadb_sql -e "CREATE DATABASE $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; CREATE DATABASE other_db;
    CREATE TABLE other_db.t (i INT); CREATE DATABASE empty_db;" || exit 1
# A DDL-capable admin with SQL-special characters in its password: db init passes it to the mariadb
# client through the temporary option file, which must quote it correctly.
mariadb_sql -e "CREATE USER 'ra_admin'@'localhost' IDENTIFIED BY '$(printf '%s' "$ADMIN_PW" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")';
    GRANT ALL ON *.* TO 'ra_admin'@'localhost';" || exit 1

write_conf() { # FILE USER PASSWORD DB (the config reader takes a double-quoted value as is, no escapes)
    local pw=$3
    printf '[database]\nsocket = %s\nuser = %s\npassword = "%s"\nname = %s\nconnect_timeout = 3\n' \
        "$MARIADB_SOCKET" "$2" "$pw" "$4" >"$1"
}
ADMIN_CONF=$WORK/admin.conf
write_conf "$ADMIN_CONF" ra_admin "$ADMIN_PW" "$DB"
write_conf "$WORK/other.conf" ra_admin "$ADMIN_PW" other_db
write_conf "$WORK/empty.conf" ra_admin "$ADMIN_PW" empty_db
write_conf "$WORK/badpw.conf" ra_admin "wrong" "$DB"
printf '[database]\nsocket = %s/nosuchsocket\nuser = x\nname = %s\nconnect_timeout = 2\n' "$WORK" "$DB" >"$WORK/nodb.conf"
CONF=$ADMIN_CONF

# ---- help, usage ---------------------------------------------------------------------------------

expect_out "relayctl --help lists the commands and exit codes" 0 "explain.*no side effects" --help
help_bad=
while read -r group action; do
    "$RELAYCTL" $group $action --help >/dev/null 2>&1 || help_bad+="$group $action; "
done < <("$RELAYCTL" --help | sed -n 's/^  \([a-z-]*\) \([a-z-]*\) .*/\1 \2/p; s/^  \(usage\|unused\|explain\|test-send\) .*/\1/p')
if [ -z "$help_bad" ]; then ok "every subcommand has --help (exit 0)"; else not_ok "every subcommand has --help" "$help_bad"; fi
expect "unknown command: exit 1" 1 frobnicate
expect "unknown option: exit 1" 1 account list --frobnicate
expect "there is no --password option (passwords never in argv): exit 1" 1 account add x@example.com --password secret
expect_out "missing config file: exit 1 naming the file" 1 "cannot open" --config "$WORK/none.conf" customer list
CONF=$WORK/nodb.conf
expect_out "database unreachable: exit 4" 4 "cannot connect" customer list
CONF=$WORK/badpw.conf
expect_out "wrong database password: exit 5" 5 "access denied" customer list
CONF=$ADMIN_CONF

# ---- db ------------------------------------------------------------------------------------------

expect_out "db status on an empty database: no schema yet" 0 "none \(empty database" db status
expect_out "db migrate on an empty database: exit 2, says db init" 2 "db init" db migrate
expect_out "db init --dry-run lists the migrations" 0 "would apply 001_initial.sql" db init --dry-run
expect_sql "db init --dry-run changed nothing" "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$DB'" 0
expect_out "db init applies every migration (admin password with $SPECIAL via the option file)" 0 \
    "schema version is now [0-9]+" db init
LATEST=$(ls "$SRC"/sql/migrations/[0-9][0-9][0-9]_*.sql | sed 's|.*/||' | sort | tail -n 1 | cut -c1-3)
LATEST=$((10#$LATEST))
expect_sql "schema_version is the newest migration" "SELECT MAX(version) FROM schema_version" "$LATEST"
expect_sql "every migration is recorded once" "SELECT COUNT(*) = COUNT(DISTINCT version) FROM schema_version" 1
if [ -z "$(ls -A "$TMPDIR")" ]; then ok "the temporary client option file is removed"; else not_ok "the temporary client option file is removed" "$(ls -la "$TMPDIR")"; fi
expect_out "db init again: exit 3 (already initialised)" 3 "already initialised" db init
expect_out "db migrate when up to date: exit 0" 0 "up to date" db migrate
expect_out "db status --json shows the version" 0 "\"schema_version\": $LATEST" --json db status
CONF=$WORK/other.conf
expect_out "db init refuses a database with foreign tables: exit 3" 3 "not empty" db init
CONF=$WORK/empty.conf
mkdir -p "$WORK/badsql/migrations"
printf 'CREATE TABLE a (i INT);\nTHIS IS NOT SQL;\n' >"$WORK/badsql/migrations/001_broken.sql"
expect_out "a failing migration: exit 5 naming the file and line" 5 "001_broken.sql failed.*line 2" db init --sql-dir "$WORK/badsql"
CONF=$ADMIN_CONF

# The rest runs as an application user with only SELECT, INSERT, UPDATE, DELETE, like a hosting panel.
mariadb_create_app_user "$DB" ra_app "$APP_PW" || exit 1
write_conf "$WORK/app.conf" ra_app "$APP_PW" "$DB"
CONF=$WORK/app.conf

# ---- customers and domains -------------------------------------------------------------------------

expect_out "customer add" 0 "customer Acme added" customer add Acme
expect_out "customer add, same name in other case: exit 3" 3 "already exists" customer add ACME
expect "customer add with SQL-special characters" 0 customer add "Cust${SPECIAL}x"
expect_sql "customer name stored literally" "SELECT HEX(name) FROM customers WHERE id = 2" "$(hex "Cust${SPECIAL}x")"
expect_out "customer list --json" 0 "\"name\": \"Acme\"" --json customer list
expect "domain add" 0 domain add example.com --customer Acme
expect "domain add by customer id, not local" 0 domain add remote.example --customer 1 --no-local
expect_out "domain add of an IDN is stored as A-label" 0 "xn--bcher-kva.example" domain add "bücher.example" --customer Acme
expect "domain add for the special customer" 0 domain add special.example --customer "Cust${SPECIAL}x"
expect_out "domain add, unknown customer: exit 2" 2 "does not exist" domain add x.example --customer Nobody
expect_out "domain add, malformed name: exit 1" 1 "malformed domain" domain add "bad domain" --customer Acme
expect "domain add, duplicate: exit 3" 3 domain add example.com --customer Acme
expect "domain add without --customer: exit 1" 1 domain add y.example
expect_out "domain list" 0 "remote.example +Acme +yes +no" domain list
expect "domain set --no-local" 0 domain set xn--bcher-kva.example --no-local
expect_sql "is_local changed" "SELECT is_local FROM domains WHERE name = 'xn--bcher-kva.example'" 0

# ---- accounts ------------------------------------------------------------------------------------

expect_out "account add with --password-stdin (SHA512-CRYPT)" 0 "account alice@example.com added" \
    --stdin $'alice-pw-long1\n' account add alice@example.com --password-stdin
H=$(stored_hash alice@example.com)
if [ "${H#\{SHA512-CRYPT\}\$6\$}" != "$H" ] && dovecot_accepts "$H" alice-pw-long1 && ! dovecot_accepts "$H" wrong; then
    ok "doveadm pw -t accepts the SHA512-CRYPT hash relayctl wrote (and refuses a wrong password)"
else
    not_ok "doveadm pw -t accepts the SHA512-CRYPT hash relayctl wrote" "hash: $H"
fi
expect "account add --scheme BLF-CRYPT" 0 --stdin $'bob-pw-long-1\n' account add Bob@Example.COM --password-stdin --scheme BLF-CRYPT \
    --sender-policy own_domain --require-tls --max-recipients 5 --max-size 10M --allow-null-sender --no-relay-external
H=$(stored_hash bob@example.com)
if [ "${H#\{BLF-CRYPT\}\$2y\$}" != "$H" ] && dovecot_accepts "$H" bob-pw-long-1 && ! dovecot_accepts "$H" wrong; then
    ok "doveadm pw -t accepts the BLF-CRYPT hash relayctl wrote (login normalised to lower case)"
else
    not_ok "doveadm pw -t accepts the BLF-CRYPT hash relayctl wrote" "hash: $H"
fi
expect_sql "every authority field stored" "SELECT sender_policy, require_tls, max_recipients_per_message,
    max_message_bytes, allow_null_sender, may_relay_external FROM smtp_authorities a JOIN users u ON u.id = a.user_id
    WHERE u.local_part = 'bob'" "$(printf 'own_domain\t1\t5\t10485760\t1\t0')"
run account add carol@example.com --generate-password --valid-until 2030-01-01 --note "Floor 2"
GEN=$(printf '%s\n' "$OUT" | sed -n 's/^generated password (shown once, store it now): //p')
if [ "$RC" = 0 ] && [ ${#GEN} -ge 16 ] && dovecot_accepts "$(stored_hash carol@example.com)" "$GEN"; then
    ok "--generate-password prints a strong password once, and Dovecot accepts it"
else
    not_ok "--generate-password prints a strong password once" "rc $RC, out: $OUT"
fi
run --json account add dave@example.com --generate-password
GEN=$(printf '%s\n' "$ERR" | sed -n 's/^generated password (shown once): //p')
if [ "$RC" = 0 ] && [ -n "$GEN" ] && ! grep -qF -- "$GEN" "$WORK/out" && grep -q '"password_generated": true' "$WORK/out"; then
    ok "--json: the generated password goes to stderr, never into the JSON"
else
    not_ok "--json: the generated password is not in the JSON output" "out: $OUT; err: $ERR"
fi
expect_out "second authority for one user: exit 3 with a clear message" 3 "already has an SMTP authority" \
    --stdin $'x-long-password\n' account add alice@example.com --password-stdin
expect_out "account add in an unknown domain: exit 2" 2 "not known" --stdin $'x-long-password\n' account add a@nowhere.example --password-stdin
expect_out "malformed login: exit 1" 1 "malformed login" --stdin $'x-long-password\n' account add "not a login" --password-stdin
expect_out "no password and stdin not a terminal: exit 1" 1 "no password given" account add eve@example.com
expect_out "--password-stdin with empty input: exit 1" 1 "no password|empty" account add eve@example.com --password-stdin
# Weak passwords (issue 13): refused with the reason, nothing created or changed.
expect_out "a short password is refused with the minimum named: exit 1" 1 \
    "fewer than the minimum of 12 \(\[relayctl\] min_password_length\); nothing changed" \
    --stdin $'abc\n' account add eve@example.com --password-stdin
expect_out "a password of one repeated character is refused" 1 "one character repeated" \
    --stdin $'aaaaaaaaaaaaaaaa\n' account add eve@example.com --password-stdin
expect_out "the login as password is refused" 1 "the login or its local part" \
    --stdin $'Eve@Example.com\n' account add eve@example.com --password-stdin
expect_out "a most common password is refused" 1 "most common passwords" \
    --stdin $'Password1234\n' account add eve@example.com --password-stdin
printf '[relayctl]\nmin_password_length = 16\n' | cat "$WORK/app.conf" - >"$WORK/app16.conf"
CONF=$WORK/app16.conf
expect_out "[relayctl] min_password_length = 16 refuses 15 characters" 1 "minimum of 16" \
    --stdin $'eve-pw-15-chars\n' account add eve@example.com --password-stdin
CONF=$WORK/app.conf
expect_sql "refused adds left nothing behind" "SELECT COUNT(*) FROM users WHERE local_part IN ('eve', 'a')" 0
expect "account add, auth_mode ip with networks, no password" 0 account add printer@example.com --auth-mode ip \
    --network 192.0.2.10 --network 198.51.100.0/30 --network 2001:db8::/48
expect_out "account add with a malformed --network: exit 1" 1 "malformed network" account add x2@example.com \
    --auth-mode ip --network 192.0.2.300
# A user that already exists without an authority (a mailbox login): the authority is added to it.
q "INSERT INTO users (domain_id, local_part, password_hash) SELECT id, 'mailbox', '{PLAIN}x' FROM domains WHERE name = 'example.com'" >/dev/null
expect_out "account add for an existing user without authority: uses it" 0 "existing user" account add mailbox@example.com --no-password
expect_sql "and keeps its password" "SELECT password_hash FROM users WHERE local_part = 'mailbox'" "{PLAIN}x"

LOGIN_Q='"q'"'"'\";\\%_"@special.example'   # quoted local part "q'\";\\%_": every special character
LOGIN_A="o'hara%_x@special.example"          # dot-atom local part with ' % _
expect "account add with SQL-special characters in login, note and password" 0 --stdin "pw-long${SPECIAL}"$'\n' \
    account add "$LOGIN_Q" --password-stdin --note "note${SPECIAL}"
expect "account add, login with ' % _" 0 --stdin $'pw-long-enough\n' account add "$LOGIN_A" --password-stdin
expect_sql "special local parts stored literally" "SELECT HEX(local_part) FROM users WHERE domain_id = (SELECT id FROM domains WHERE name = 'special.example') ORDER BY id" \
    "$(hex "\"q'\\\";\\\\%_\"")
$(hex "o'hara%_x")"
expect_sql "note stored literally" "SELECT HEX(note) FROM smtp_authorities WHERE note LIKE 'note%'" "$(hex "note${SPECIAL}")"
if dovecot_accepts "$(q "SELECT password_hash FROM users WHERE local_part LIKE '\"q%'")" "pw-long${SPECIAL}"; then
    ok "password with SQL-special characters hashed so that Dovecot accepts it"
else
    not_ok "password with SQL-special characters hashed so that Dovecot accepts it"
fi
expect_sql "nothing was injected: exactly the users added" "SELECT COUNT(*) FROM users" 8
expect_out "account show for the special login" 0 "note${SPECIAL//\\/\\\\}" account show "$LOGIN_Q"

expect_out "account list shows status and facility letters" 0 "bob@example.com +Acme +active +TZ" account list
expect_out "account list: printer is IP-authorised with networks (R I N)" 0 "printer@example.com +Acme +active +RIN +ip" account list
expect_out "account list --customer" 0 "q'" account list --customer "Cust${SPECIAL}x"
run account list --domain special.example
if [ "$RC" = 0 ] && ! grep -q alice <<<"$OUT" && grep -q "o'hara" <<<"$OUT"; then ok "account list --domain filters"; else not_ok "account list --domain filters" "$OUT"; fi
expect_out "account list --status with a bad word: exit 1" 1 "not one of" account list --status sleepy
expect_out "account show: settings to type into a device" 0 "username: +alice@example.com" account show alice@example.com --server smtp.example.com
# Device settings as contrib/postfix serves them (issue 15): 587 with STARTTLS required; port 25 for
# IP-authorised devices; all from [relayctl] when set.
run account show alice@example.com
if [ "$RC" = 0 ] && grep -Eq "^  port: +587$" <<<"$OUT" && grep -Eq "^  security: +STARTTLS \(required\)$" <<<"$OUT" &&
    ! grep -q "if the device offers it" <<<"$OUT"; then
    ok "account show: port 587, STARTTLS required (the defaults match contrib/postfix)"
else
    not_ok "account show: port 587, STARTTLS required" "$OUT"
fi
run account show printer@example.com
if [ "$RC" = 0 ] && grep -Eq "^  port: +25$" <<<"$OUT" && grep -Eq "^  authentication: +none" <<<"$OUT"; then
    ok "account show: an IP-authorised device is told port 25, no login"
else
    not_ok "account show: an IP-authorised device is told port 25, no login" "$OUT"
fi
printf '[relayctl]\nsubmission_server = mail.example.net\nsubmission_port = 465\nsubmission_tls = tls\nip_port = 2525\n' |
    cat "$WORK/app.conf" - >"$WORK/device.conf"
CONF=$WORK/device.conf
run account show alice@example.com
if [ "$RC" = 0 ] && grep -Eq "^  SMTP server: +mail.example.net$" <<<"$OUT" && grep -Eq "^  port: +465$" <<<"$OUT" &&
    grep -Eq "^  security: +TLS from the first byte" <<<"$OUT"; then
    ok "account show: [relayctl] submission_server, submission_port, submission_tls are printed"
else
    not_ok "account show: [relayctl] submission_* are printed" "$OUT"
fi
run --json account show alice@example.com
if tr -d ' \n' <<<"$OUT" | grep -q '"device_settings":{"server":"mail.example.net","port":465,"security":"TLS","authentication":true,"username":"alice@example.com"}'; then
    ok "account show --json: device_settings from [relayctl]"
else
    not_ok "account show --json: device_settings from [relayctl]" "$OUT"
fi
run --json account show printer@example.com
if tr -d ' \n' <<<"$OUT" | grep -q '"device_settings":{"server":"mail.example.net","port":2525,"security":"none","authentication":false,"username":null}'; then
    ok "account show --json: ip_port for an IP-authorised device"
else
    not_ok "account show --json: ip_port for an IP-authorised device" "$OUT"
fi
CONF=$WORK/app.conf
expect_out "account show --json" 0 "\"max_message_bytes\": 10485760" --json account show bob@example.com
expect_out "account show, unknown login: exit 2" 2 "no account" account show nobody@example.com
expect_out "--json error object for an unknown login" 2 "\"exit_code\": 2" --json account show nobody@example.com

expect "account set changes fields" 0 account set alice@example.com --max-recipients 20 --sender-policy listed_only --note "set${SPECIAL}"
expect_sql "account set stored them" "SELECT max_recipients_per_message, sender_policy, HEX(a.note) FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'alice'" \
    "$(printf '20\tlisted_only\t%s' "$(hex "set${SPECIAL}")")"
expect "account set --max-recipients none clears it" 0 account set alice@example.com --max-recipients none --sender-policy own_address
expect_sql "cleared to NULL" "SELECT COALESCE(max_recipients_per_message, 'NULL') FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'alice'" NULL
expect "account set with nothing to change: exit 1" 1 account set alice@example.com
expect "account set with a bad --auth-mode: exit 1" 1 account set alice@example.com --auth-mode magic
expect "account set with --relay-external and --no-relay-external: exit 1" 1 account set alice@example.com --relay-external --no-relay-external

expect "account passwd --password-stdin" 0 --stdin $'new-alice-pw\n' account passwd alice@example.com --password-stdin
if dovecot_accepts "$(stored_hash alice@example.com)" new-alice-pw; then ok "the new password verifies with doveadm"; else not_ok "the new password verifies with doveadm"; fi
expect "account passwd without a password source and no terminal: exit 1" 1 account passwd alice@example.com
before=$(stored_hash alice@example.com)
expect_out "account passwd with a weak password: exit 1" 1 "fewer than the minimum" \
    --stdin $'short\n' account passwd alice@example.com --password-stdin
if [ "$(stored_hash alice@example.com)" = "$before" ]; then ok "a refused passwd keeps the old hash"; else not_ok "a refused passwd keeps the old hash"; fi
# [relayctl] after_change_command: run without a shell after passwd / disable / delete, the login one
# argument however odd (issue 15 item 5).
cat >"$WORK/record.sh" <<REC
#!/bin/sh
for a in "\$@"; do printf '<%s>' "\$a"; done >>"$WORK/after.log"
echo >>"$WORK/after.log"
REC
chmod 755 "$WORK/record.sh"
printf '[relayctl]\nafter_change_command = %s auth cache flush %%{login} user=%%{login}\n' "$WORK/record.sh" |
    cat "$WORK/app.conf" - >"$WORK/after.conf"
CONF=$WORK/after.conf
: >"$WORK/after.log"
expect "account passwd with after_change_command" 0 --stdin $'after-change-pw-1\n' account passwd alice@example.com --password-stdin
expect "account passwd of the login with SQL and shell special characters" 0 --stdin $'after-change-pw-2\n' \
    account passwd "$LOGIN_Q" --password-stdin
want_q=$LOGIN_Q   # the login as stored and shown, quotes and all, as one argument
if [ "$(sed -n 1p "$WORK/after.log")" = "<auth><cache><flush><alice@example.com><user=alice@example.com>" ] &&
    [ "$(sed -n 2p "$WORK/after.log")" = "<auth><cache><flush><$want_q><user=$want_q>" ]; then
    ok "after_change_command ran with the login as one argument, no shell"
else
    not_ok "after_change_command ran with the login as one argument" "$(cat "$WORK/after.log"); want $want_q"
fi
printf '[relayctl]\nafter_change_command = /bin/false\n' | cat "$WORK/app.conf" - >"$WORK/after-false.conf"
CONF=$WORK/after-false.conf
expect_out "a failing after_change_command is a warning; the change stands (exit 0)" 0 \
    "warning: the password change of alice@example.com done, but after_change_command /bin/false exited with 1" \
    --stdin $'after-change-pw-3\n' account passwd alice@example.com --password-stdin
if dovecot_accepts "$(stored_hash alice@example.com)" after-change-pw-3; then ok "and the new password is set"; else not_ok "and the new password is set"; fi
printf '[relayctl]\nafter_change_command = doveadm auth cache flush\n' | cat "$WORK/app.conf" - >"$WORK/after-rel.conf"
expect_out "a relative after_change_command is refused naming the key" 1 "after_change_command.*absolute path" \
    --config "$WORK/after-rel.conf" account list
CONF=$WORK/app.conf
expect "account passwd, unknown login: exit 2" 2 --stdin $'x-long-password\n' account passwd nobody@example.com --password-stdin
if command -v script >/dev/null 2>&1; then
    before=$(stored_hash alice@example.com)
    out=$( (sleep 1; printf 'first-pw-long\n'; sleep 0.5; printf 'second-pw-long\n') |
        script -qec "'$RELAYCTL' --config '$CONF' account passwd alice@example.com --password-stdin" /dev/null 2>&1)
    rc=$?
    if [ "$rc" = 1 ] && grep -q "do not match" <<<"$out" && [ "$(stored_hash alice@example.com)" = "$before" ] &&
        ! grep -q "first-pw" <<<"$out"; then
        ok "terminal: password asked twice without echo; a mismatch is exit 1 and changes nothing"
    else
        not_ok "terminal: password mismatch is exit 1" "rc $rc: $out"
    fi
    out=$( (sleep 1; printf 'tty-pw-long-1\n'; sleep 0.5; printf 'tty-pw-long-1\n') |
        script -qec "'$RELAYCTL' --config '$CONF' account passwd alice@example.com" /dev/null 2>&1)
    if dovecot_accepts "$(stored_hash alice@example.com)" tty-pw-long-1; then ok "terminal: the same password twice is set"; else not_ok "terminal: the same password twice is set" "$out"; fi
    out=$( (sleep 1; printf 'n\n') | script -qec "'$RELAYCTL' --config '$CONF' account delete carol@example.com" /dev/null 2>&1)
    rc=$?
    if [ "$rc" = 1 ] && [ "$(q "SELECT COUNT(*) FROM users WHERE local_part = 'carol'")" = 1 ]; then
        ok "terminal: delete asks for confirmation; 'n' keeps the account"
    else
        not_ok "terminal: delete asks for confirmation" "rc $rc: $out"
    fi
else
    echo "# script(1) not installed: terminal checks skipped"
fi

g0=$(generation)
CONF=$WORK/after.conf
: >"$WORK/after.log"
expect "account disable" 0 account disable alice@example.com
CONF=$WORK/app.conf
if [ "$(cat "$WORK/after.log")" = "<auth><cache><flush><alice@example.com><user=alice@example.com>" ]; then
    ok "account disable runs after_change_command"
else
    not_ok "account disable runs after_change_command" "$(cat "$WORK/after.log")"
fi
expect_sql "authority inactive" "SELECT a.active FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'alice'" 0
if [ "$(generation)" -gt "$g0" ]; then ok "the change generation moved (daemons reload)"; else not_ok "the change generation moved"; fi
expect_out "account list --status disabled" 0 "alice@example.com" account list --status disabled
expect "account enable" 0 account enable alice@example.com
expect_out "account suspend --until +2h --reason with special characters" 0 "suspended until" \
    account suspend alice@example.com --until +2h --reason "ticket${SPECIAL}"
expect_sql "suspension stored" "SELECT suspended_until > NOW(), HEX(suspend_reason) FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'alice'" \
    "$(printf '1\t%s' "$(hex "ticket${SPECIAL}")")"
expect_out "account list --status suspended" 0 "alice@example.com .*suspended" account list --status suspended
expect_out "account suspend without --until: exit 1" 1 "needs --until" account suspend bob@example.com
expect_out "account suspend with a malformed time: exit 1" 1 "cannot read" account suspend bob@example.com --until tomorrowish
expect_out "account suspend into the past: exit 1" 1 "not in the future" account suspend bob@example.com --until 2001-01-01
expect "account unsuspend" 0 account unsuspend alice@example.com
expect_sql "suspension lifted" "SELECT COALESCE(suspended_until, 'NULL') FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'alice'" NULL
expect_out "account set --valid-until with a bad date: exit 1" 1 "cannot read" account set alice@example.com --valid-until 2030-13-45

# ---- senders and networks -------------------------------------------------------------------------

expect "sender add @domain" 0 sender add alice@example.com @remote.example
expect "sender add with SQL-special characters" 0 sender add alice@example.com '"s'"'"'\";\\%_"@remote.example'
expect_sql "pattern stored literally" "SELECT HEX(pattern) FROM authority_senders WHERE pattern LIKE '\"s%'" "$(hex "\"s'\\\";\\\\%_\"@remote.example")"
expect_out "sender add, malformed pattern: exit 1" 1 "malformed sender pattern" sender add alice@example.com "no-at-sign"
expect_out "sender add, malformed pattern with a bad domain: exit 1" 1 "malformed sender pattern" sender add alice@example.com "x@bad_domain!"
expect "sender add, duplicate: exit 3" 3 sender add alice@example.com @REMOTE.example
expect "sender add, unknown login: exit 2" 2 sender add nobody@example.com @remote.example
expect_out "sender list LOGIN" 0 "alice@example.com +@remote.example" sender list alice@example.com
expect_out "sender list (all) --json" 0 "\"pattern\": \"@remote.example\"" --json sender list
expect "sender remove (no terminal: no prompt)" 0 sender remove alice@example.com @remote.example
expect "sender remove, not listed: exit 2" 2 sender remove alice@example.com @remote.example
expect "network add" 0 network add alice@example.com 10.1.0.0/16
expect "network add IPv6" 0 network add alice@example.com 2001:DB8:1::/64
expect_sql "CIDRs stored normalised" "SELECT cidr FROM authority_networks WHERE authority_id = (SELECT a.id FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'alice') ORDER BY cidr" \
    "$(printf '10.1.0.0/16\n2001:db8:1::/64')"
expect_out "network add with host bits set: exit 1" 1 "host bits" network add alice@example.com 10.1.2.3/16
expect_out "network add, garbage: exit 1" 1 "malformed network" network add alice@example.com "10.0.0.0/33"
expect_out "network add, SQL in the CIDR: exit 1" 1 "malformed network" network add alice@example.com "1.2.3.4'; DROP TABLE users; --"
expect "network add, duplicate: exit 3" 3 network add alice@example.com 10.1.0.0/16
expect_out "network list" 0 "alice@example.com +10.1.0.0/16" network list alice@example.com
expect "network remove" 0 network remove alice@example.com 2001:db8:1::/64
expect "network remove, not listed: exit 2" 2 network remove alice@example.com 2001:db8:1::/64

# ---- rate limits ------------------------------------------------------------------------------------

expect_out "limit set per account, calendar day" 0 "limit added" limit set --account alice@example.com --meter messages --amount 500 --window day --calendar
expect_out "limit set again with the same key changes it" 0 "limit changed" limit set --account alice@example.com --meter messages --amount 600 --window day --calendar --action reject
expect_sql "one row, amount and action changed" "SELECT COUNT(*), MAX(amount), MAX(action) FROM rate_limits WHERE scope = 'authority'" "$(printf '1\t600\treject')"
expect "limit set per domain, rolling hour" 0 limit set --domain example.com --meter recipients --amount 1000 --window 1h
expect "limit set global shared pool of bytes" 0 limit set --global --meter bytes --amount 1G --window day --kind shared_pool --shadow
expect "limit set per customer" 0 limit set --customer "Cust${SPECIAL}x" --meter messages --amount 50 --window 30m
expect "limit set per client network" 0 limit set --network 203.0.113.0/24 --meter messages --amount 10
expect_out "limit set without a scope: exit 1" 1 "exactly one scope" limit set --meter messages --amount 5
expect_out "limit set with a bad meter: exit 1" 1 "not one of" limit set --global --meter pigeons --amount 5
expect_out "limit set --calendar with a 30 min window: exit 1" 1 "calendar" limit set --global --meter messages --amount 5 --window 30m --calendar
expect "limit set for an unknown account: exit 2" 2 limit set --account nobody@example.com --meter messages --amount 5
expect_out "limit list" 0 "authority +alice@example.com +messages +600" limit list
expect_out "limit list --domain" 0 "domain +example.com +recipients" limit list --domain example.com
expect_out "account show lists the effective limits" 0 "600" account show alice@example.com
LIMIT_ID=$(q "SELECT id FROM rate_limits WHERE scope = 'client_network'")
expect "limit remove ID" 0 limit remove "$LIMIT_ID"
expect "limit remove of a missing ID: exit 2" 2 limit remove "$LIMIT_ID"
expect "limit remove by key" 0 limit remove --domain example.com --meter recipients --window 1h
expect "limit remove by key, no such limit: exit 2" 2 limit remove --domain example.com --meter recipients --window 1h
if [ "$(q "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$DB' AND table_name = 'v_rate_usage'")" = 1 ]; then
    expect "usage (the usage view exists)" 0 usage
    expect "usage LOGIN" 0 usage alice@example.com
else
    expect_out "usage without the usage view: exit 2, says the schema is older" 2 "rate usage not available \(schema" usage
fi
expect "usage, unknown login: exit 2" 2 usage nobody@example.com

# ---- unused, explain, export ------------------------------------------------------------------------

q "UPDATE smtp_authorities SET last_used_at = NOW(), last_client_address = '192.0.2.99' WHERE user_id = (SELECT id FROM users WHERE local_part = 'bob')" >/dev/null
run unused --days 30
if [ "$RC" = 0 ] && grep -q "alice@example.com" <<<"$OUT" && ! grep -q "bob@example.com" <<<"$OUT"; then
    ok "unused --days 30 lists never-used accounts, not recently used ones"
else
    not_ok "unused --days 30" "$OUT"
fi
expect "unused without --since or --days: exit 1" 1 unused
q "UPDATE smtp_authorities SET last_used_at = NOW() - INTERVAL 100 DAY WHERE user_id = (SELECT id FROM users WHERE local_part = 'bob')" >/dev/null
run unused --since 90d
if [ "$RC" = 0 ] && grep -Eq "^bob@example.com .* from 192.0.2.99" <<<"$OUT" && grep -Eq "^alice@example.com .*never" <<<"$OUT" &&
    grep -q "unused since .* (90d)" <<<"$OUT"; then
    ok "unused --since 90d: used 100 days ago and never used are listed"
else
    not_ok "unused --since 90d" "$OUT"
fi
run unused --since 120d
if [ "$RC" = 0 ] && ! grep -q "^bob@example.com" <<<"$OUT"; then ok "unused --since 120d: not the account used 100 days ago"; else not_ok "unused --since 120d" "$OUT"; fi
expect_out "unused --since with a nonsense age: exit 1" 1 "not an age" unused --since soon

# A shared relay domain (its accounts send for several customers): account add needs --customer (issue 15 item 6).
expect "domain add relay.example for Acme" 0 domain add relay.example --customer Acme
expect "account add in relay.example for another customer, named" 0 account add dev1@relay.example --auth-mode ip \
    --network 192.0.2.77 --customer "Cust${SPECIAL}x"
expect_out "account add in the now shared relay.example without --customer: exit 1, asks for it" 1 \
    "domain relay.example is shared: its accounts send for 'Cust.*' besides its owner 'Acme'; say which customer this one sends for with --customer" \
    account add dev2@relay.example --auth-mode ip --network 192.0.2.78
expect_sql "and nothing was added" "SELECT COUNT(*) FROM users WHERE local_part = 'dev2'" 0
expect "with --customer Acme it is added" 0 account add dev2@relay.example --auth-mode ip --network 192.0.2.78 --customer Acme
expect "account add in an unshared domain needs no --customer" 0 --stdin $'fresh-password-1\n' account add fresh@example.com --password-stdin

gen_before=$(generation)
events_before=$(q "SELECT COUNT(*) FROM relay_events")
expect_out "explain: allowed" 0 "Verdict: continue \(reason ok\)" explain --login alice@example.com \
    --sender alice@example.com --rcpt someone@external.test --client-ip 10.1.2.3 --tls
expect_out "explain: every rule's outcome is printed" 0 "pass +sender" explain --login alice@example.com \
    --sender alice@example.com --rcpt someone@external.test --client-ip 10.1.2.3
expect_out "explain: the failing rule is marked" 0 "FAIL +sender +sender_not_owned" explain --login alice@example.com \
    --sender boss@example.com --rcpt someone@external.test --client-ip 10.1.2.3
expect_out "explain: sender not owned, with the reply" 0 "^Reply: +550 5\.7\.1 " explain --login alice@example.com \
    --sender boss@example.com --rcpt someone@external.test --client-ip 10.1.2.3
expect_out "explain: client outside the networks" 0 "reason client_not_allowed" explain --login alice@example.com \
    --sender alice@example.com --rcpt someone@external.test --client-ip 192.0.2.1
expect_out "explain: no relay to external domains" 0 "reason external_relay_denied" explain --login bob@example.com \
    --sender bob@example.com --rcpt someone@external.test --client-ip 10.1.2.3 --tls
expect_out "explain: unknown login" 0 "reason no_authority" explain --login nobody@example.com \
    --sender nobody@example.com --rcpt x@external.test --client-ip 10.1.2.3
expect_out "explain: a login not written as the login is no account" 0 \
    "FAIL +authority +no_authority: '<alice@example\.com>' is not an account's login" explain \
    --login '<alice@example.com>' --sender alice@example.com --rcpt x@external.test --client-ip 10.1.2.3 --tls
expect_out "explain: a routed local part is external relaying" 0 "percent sign in the local part can route it" \
    explain --login bob@example.com --sender bob@example.com --rcpt 'x%external.test@example.com' \
    --client-ip 10.1.2.3 --tls
expect_out "explain: IP-authorised printer without login" 0 "reason ip_authorised" explain \
    --sender printer@example.com --rcpt x@external.test --client-ip 192.0.2.10
expect_out "explain --json" 0 "\"reason\": \"sender_not_owned\"" --json explain --login alice@example.com \
    --sender boss@example.com --rcpt x@external.test --client-ip 10.1.2.3
expect_out "explain with a malformed --client-ip: exit 1" 1 "not an IP address" explain --login alice@example.com \
    --sender alice@example.com --rcpt x@external.test --client-ip 999.1.1.1
if [ "$(generation)" = "$gen_before" ] && [ "$(q "SELECT COUNT(*) FROM relay_events")" = "$events_before" ] &&
    [ "$(q "SELECT COUNT(*) FROM smtp_authorities WHERE last_used_at IS NOT NULL")" = 1 ]; then
    ok "explain has no side effects (no events, no last use, generation unchanged)"
else
    not_ok "explain has no side effects"
fi

run export sendmail-access
if [ "$RC" = 0 ] && grep -q "^# printer@example.com" <<<"$OUT" && grep -qP '^Connect:192\.0\.2\.10\tRELAY$' <<<"$OUT" &&
    grep -qP '^Connect:198\.51\.100\.3\tRELAY$' <<<"$OUT" && ! grep -q alice <<<"$OUT"; then
    ok "export sendmail-access: Connect:ADDRESS RELAY lines under a comment naming the account"
else
    not_ok "export sendmail-access" "$OUT"
fi
if grep -q "skipped 2001:db8::/48" <<<"$OUT" && grep -q "2001:db8::/48" <<<"$ERR"; then
    ok "export sendmail-access: an IPv6 network it cannot express is skipped with a warning"
else
    not_ok "export sendmail-access: IPv6 network skipped with a warning" "$OUT / $ERR"
fi
expect_out "export --json" 0 "\"login\": \"" --json export sendmail-access
expect "suspend the printer" 0 account suspend printer@example.com --until +1h
run export sendmail-access
if [ "$RC" = 0 ] && ! grep -q "192.0.2.10" <<<"$OUT"; then ok "export sendmail-access leaves out suspended accounts"; else not_ok "export leaves out suspended accounts" "$OUT"; fi

# ---- disable, delete --------------------------------------------------------------------------------

expect "domain disable (no terminal: no prompt)" 0 domain disable special.example
expect_out "its accounts are domain-disabled" 0 "o'hara%_x@special.example .*domain-disabled" account list --domain special.example
expect "domain enable" 0 domain enable special.example
expect "customer disable" 0 customer disable Acme
expect_out "its accounts are customer-disabled" 0 "alice@example.com .*customer-disabled" account list --customer Acme
expect "customer enable" 0 customer enable Acme
expect "domain disable of an unknown domain: exit 2" 2 domain disable nowhere.example

expect_out "account delete (no terminal: proceeds without prompt)" 0 "deleted" account delete alice@example.com
expect_sql "authority, user, senders, networks and account limits are gone" \
    "SELECT (SELECT COUNT(*) FROM users WHERE local_part = 'alice') + (SELECT COUNT(*) FROM rate_limits WHERE scope = 'authority') + (SELECT COUNT(*) FROM authority_networks n LEFT JOIN smtp_authorities a ON a.id = n.authority_id WHERE a.id IS NULL)" 0
CONF=$WORK/after.conf
: >"$WORK/after.log"
expect "account delete --keep-user" 0 account delete carol@example.com --keep-user
CONF=$WORK/app.conf
if [ "$(cat "$WORK/after.log")" = "<auth><cache><flush><carol@example.com><user=carol@example.com>" ]; then
    ok "account delete runs after_change_command"
else
    not_ok "account delete runs after_change_command" "$(cat "$WORK/after.log")"
fi
expect_sql "the user stays, without authority" "SELECT COUNT(*), SUM(a.id IS NULL) FROM users u LEFT JOIN smtp_authorities a ON a.user_id = u.id WHERE u.local_part = 'carol'" "$(printf '1\t1')"
expect_out "account show of a user without authority: exit 2" 2 "no SMTP authority" account show carol@example.com
expect "account delete, unknown login: exit 2" 2 account delete alice@example.com
expect_out "account add for the kept user creates its authority again" 0 "existing user" account add carol@example.com --no-password


# ---- UTF-8 text ------------------------------------------------------------------------------------
# Text is UTF-8 from relayctl's input through the connection (utf8mb4) into the columns and back out:
# tables and "key: value" blocks show it as it is, aligned by characters; --json carries it unchanged;
# what could drive the terminal (ESC, C1 controls, bidi overrides) is shown as '?'.

UCUST="Bücher & Söhne"
UNOTE="Réception, 2ᵉ étage ✉"
expect "customer add with a UTF-8 name" 0 customer add "$UCUST"
expect_sql "the UTF-8 name is stored as UTF-8 (utf8mb4 connection, no double encoding)" \
    "SELECT HEX(name) FROM customers WHERE name LIKE 'B%cher%'" "$(hex "$UCUST")"
run customer list
if [ "$RC" = 0 ] && grep -qF -- "$UCUST" "$WORK/out" && ! grep -q '??' "$WORK/out"; then
    ok "customer list shows the UTF-8 name as it is"
else
    not_ok "customer list shows the UTF-8 name as it is" "$OUT"
fi
# Column starts in characters (not bytes): every line's ACTIVE column begins where its header does.
starts=$(python3 -c '
import re, sys
cols = set()
for line in sys.stdin.buffer.read().decode("utf-8").splitlines():
    cols.add([m.start() for m in re.finditer(r"(?<=  )\S", line)][1])
print(len(cols))' <"$WORK/out" 2>&1)
check "customer list stays aligned with a UTF-8 name (columns counted in characters)" "$starts" 1
expect "account set --note with UTF-8" 0 account set bob@example.com --note "$UNOTE"
expect_sql "the UTF-8 note is stored as UTF-8" \
    "SELECT HEX(a.note) FROM smtp_authorities a JOIN users u ON u.id = a.user_id WHERE u.local_part = 'bob'" "$(hex "$UNOTE")"
run account show bob@example.com
if [ "$RC" = 0 ] && grep -qF -- "note:           $UNOTE" "$WORK/out"; then
    ok "account show shows the UTF-8 note as it is"
else
    not_ok "account show shows the UTF-8 note as it is" "$(grep note "$WORK/out")"
fi
run --json account show bob@example.com
if [ "$RC" = 0 ] && grep -qF -- "\"note\": \"$UNOTE\"" "$WORK/out"; then
    ok "account show --json carries the UTF-8 note unchanged"
else
    not_ok "account show --json carries the UTF-8 note unchanged" "$(grep note "$WORK/out")"
fi
run --json customer list
if [ "$RC" = 0 ] && grep -qF -- "\"name\": \"$UCUST\"" "$WORK/out"; then
    ok "customer list --json carries the UTF-8 name unchanged"
else
    not_ok "customer list --json carries the UTF-8 name unchanged" "$OUT"
fi
run export csv
if [ "$RC" = 0 ] && grep -qF -- "\"$UNOTE\"" "$WORK/out"; then
    ok "export csv carries the UTF-8 note unchanged"
else
    not_ok "export csv carries the UTF-8 note unchanged" "$(grep bob "$WORK/out")"
fi
# An attacker's note (written in SQL, e.g. through a panel): ESC clear-screen, a C1 CSI, a right-to-left
# override. None may reach the terminal raw; the UTF-8 around them stays.
q "UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id SET a.note = CONCAT('é', CHAR(27), '[2J', _utf8mb4 x'C29B', '31m', _utf8mb4 x'E280AE', 'txt') WHERE u.local_part = 'bob'" >/dev/null
run account show bob@example.com
if [ "$RC" = 0 ] && grep -qF "note:           é?[2J?31m?txt" "$WORK/out" &&
    ! LC_ALL=C grep -q $'\e\|\xc2\x9b\|\xe2\x80\xae' "$WORK/out"; then
    ok "account show: ESC, C1 CSI and a bidi override in a note are shown as '?', the UTF-8 around them kept"
else
    not_ok "account show: control characters in a note are shown as '?'" "$(grep note "$WORK/out" | od -c | head -5)"
fi
run --json account show bob@example.com
if [ "$RC" = 0 ] && grep -qF '"note": "é\u001b[2J\u009b31m' "$WORK/out" && ! LC_ALL=C grep -q $'\e\|\xc2\x9b' "$WORK/out"; then
    ok "account show --json: the controls escaped (\\u001b, \\u009b), the same value"
else
    not_ok "account show --json: the controls escaped" "$(grep note "$WORK/out" | od -c | head -5)"
fi

finish
