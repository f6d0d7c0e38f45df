#!/usr/bin/env bash
# relayctl db grants and --check-db against a real, private MariaDB: each role's account, created with CREATE USER and
# exactly the printed statements, can do its work and no more.
#   daemon:  relay-policyd starts, answers, charges rate limits (rate_counters, abuse_client_networks),
#            writes relay_events and the last-use stamp; it cannot edit a rule or read a password hash.
#   admin:   relayctl db init on an empty database (DDL, triggers), then customer/domain/account add.
#   dovecot: the password_query of contrib/dovecot/dovecot-sql.conf.ext; nothing else of users.
#
# Usage: test_grants.sh BUILD_DIR      (ctest: integration_grants)
# Exit 0 only if all passed; 77 (skipped) when MariaDB is not installed or the binaries are not built.
# relay-policyd listens on 127.0.0.1:12295.
set -u
# Config files hold passwords: private to us, as load_config() expects (no world-readable warning).
umask 077

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/mariadb.sh
. "$SRC/tests/lib/mariadb.sh"

BUILD=$(build_dir "${1:-}") || exit 2
RELAYCTL=$BUILD/relayctl
POLICYD=$BUILD/relay-policyd
CLIENT=$SRC/tests/integration/policyd/policy_client.py
for bin in "$RELAYCTL" "$POLICYD"; do [ -x "$bin" ] || skip "$bin not built"; done
mariadb_available || skip "MariaDB server (mariadbd, mariadb-install-db, mariadb) not installed"

PORT=12295
DB=relay_authority
work_dir grants-test
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"

# as USER PASSWORD DB SQL: run SQL as that account (password over the socket), output and errors
as() {
    "$(_mariadb_bin mariadb)" --no-defaults "--socket=$MARIADB_SOCKET" "--user=$1" "--password=$2" \
        --batch --skip-column-names "$3" -e "$4" 2>&1
}

# account USER PASSWORD ROLE DB: CREATE USER, then exactly what relayctl db grants prints, as root
account() {
    local user=$1 password=$2 role=$3 db=$4 grants
    grants=$("$RELAYCTL" db grants --user "$user" --host localhost --role "$role" --database "$db") || return 1
    printf '%s\n' "$grants" >"$WORK/grants-$role.sql"
    mariadb_sql -e "CREATE USER '$user'@'localhost' IDENTIFIED BY '$password'" && mariadb_sql <<<"$grants"
}

write_conf() {  # write_conf FILE USER PASSWORD DB
    relay_write_config "$1" "[general]" "node = it-grants" "$(mariadb_database_section "$2" "$3" "$4")" \
        "[cache]" "poll_interval = 200ms" "$(relay_policyd_section "$PORT")"
}

if ! mariadb_start "$WORK/db" || ! mariadb_apply_schema "$DB" || ! mariadb_load_sample_data "$DB"; then
    not_ok "MariaDB with schema and sample data"
    finish
fi
ok "MariaDB with schema and sample data"

# ---- the printed statements themselves
out=$("$RELAYCTL" db grants --user "o'x" --host '10.0.0.%' --role admin --database "$DB")
# shellcheck disable=SC2016  # backquotes are SQL here
check "host pattern and quote in the user name are SQL literals; db.* escapes '_'" \
    "$(grep -c "TO 'o\\\\'x'@'10.0.0.%';\$" <<<"$out"):$(grep -c '`relay\\_authority`\.\*' <<<"$out")" "2:2"
"$RELAYCTL" db grants --user x --role nobody --database "$DB" >/dev/null 2>"$WORK/err"
check "unknown role: exit 1 naming the roles" "$?:$(grep -c 'want daemon, admin or dovecot' "$WORK/err")" "1:1"
"$RELAYCTL" db grants --role daemon --database "$DB" >/dev/null 2>&1
check "--user is required: exit 1" "$?" "1"

# ---- daemon
if account relay_daemon daemon-pw daemon "$DB"; then ok "daemon account from the printed statements"; else
    not_ok "daemon account from the printed statements" "$(cat "$WORK/grants-daemon.sql")"; fi
write_conf "$WORK/daemon.conf" relay_daemon daemon-pw "$DB"
if start_daemon "$WORK/policyd.log" "ready on" "$POLICYD" --config "$WORK/daemon.conf" --foreground; then
    ok "relay-policyd starts with the daemon grants"
else
    not_ok "relay-policyd starts with the daemon grants" "$(tail -5 "$WORK/policyd.log")"
fi
ALICE="sasl_method=PLAIN;sasl_username=alice@example.com;sender=alice@example.com"
answers=$(timeout 20 python3 "$CLIENT" --timeout 5 "inet:127.0.0.1:$PORT" "$ALICE" \
    "$ALICE;protocol_state=END-OF-MESSAGE;recipient_count=1;size=2000;queue_id=4GRANT1" 2>&1 | tr '\n' ' ')
check "RCPT and END-OF-MESSAGE (charged) for alice: DUNNO DUNNO" "$answers" "DUNNO DUNNO "
sql_count() { mariadb_sql "$DB" -e "$1"; }
for ((i = 0; i < 100; i++)); do
    [ "$(sql_count "SELECT COUNT(*) FROM relay_events WHERE node = 'it-grants'")" -ge 1 ] &&
        [ "$(sql_count "SELECT COUNT(*) FROM smtp_authorities a JOIN users u ON u.id = a.user_id
            WHERE u.local_part = 'alice' AND a.last_used_at > NOW() - INTERVAL 1 MINUTE")" -ge 1 ] && break
    sleep 0.1
done
check "relay_events written by the daemon account" \
    "$(sql_count "SELECT COUNT(*) > 0 FROM relay_events WHERE node = 'it-grants'")" "1"
check "last-use stamp written" "$(sql_count "SELECT COUNT(*) FROM smtp_authorities a JOIN users u ON
    u.id = a.user_id WHERE u.local_part = 'alice' AND a.last_used_at > NOW() - INTERVAL 1 MINUTE")" "1"
check "rate_counters charged" "$(sql_count "SELECT COUNT(*) > 0 FROM rate_counters WHERE used > 0")" "1"
check "abuse_client_networks recorded" "$(sql_count "SELECT COUNT(*) > 0 FROM abuse_client_networks")" "1"
if grep -qiE "lacks a privilege|denied" "$WORK/policyd.log"; then
    not_ok "no privilege error in the daemon's log" "$(grep -iE 'lacks a privilege|denied' "$WORK/policyd.log")"
else
    ok "no privilege error in the daemon's log"
fi
stop_daemons
# A daemon account with SELECT only: relay-policyd refuses to start and says where the grants are.
mariadb_sql -e "CREATE USER 'relay_ro'@'localhost' IDENTIFIED BY 'ro-pw';
    GRANT SELECT ON $DB.* TO 'relay_ro'@'localhost'"
write_conf "$WORK/ro.conf" relay_ro ro-pw "$DB"
timeout 60 "$POLICYD" --config "$WORK/ro.conf" --foreground </dev/null >"$WORK/ro.log" 2>&1
status=$?
check "SELECT-only account: relay-policyd exits 1 pointing to relayctl db grants" \
    "$status:$(grep -c 'relayctl db grants' "$WORK/ro.log")" "1:[1-9]*"
[ "$status" = 1 ] || sed 's/^/#   /' "$WORK/ro.log"
# --check-db: the same causes, before the start, each with its exit code (relay-policyd(8))
check_db() {  # check_db CONF: exit status and the first problem reported (log lines left out)
    "$POLICYD" --config "$1" --check-db >/dev/null 2>"$WORK/check.err"
    echo "$?:$(grep -m1 '^relay-policyd: ' "$WORK/check.err")"
}
check "--check-db, daemon account: exit 0, no problem" "$(check_db "$WORK/daemon.conf")" "0:"
check "--check-db, SELECT-only account: exit 6, names the privilege" "$(check_db "$WORK/ro.conf")" "6:*lacks a privilege*relayctl db grants*"
write_conf "$WORK/badpw.conf" relay_daemon wrong-pw "$DB"
check "--check-db, wrong password: exit 6" "$(check_db "$WORK/badpw.conf")" "6:*access denied*"
mariadb_sql -e "CREATE DATABASE relay_empty_it; GRANT SELECT ON relay_empty_it.* TO 'relay_ro'@'localhost'"
write_conf "$WORK/empty.conf" relay_ro ro-pw relay_empty_it
check "--check-db, no schema: exit 7" "$(check_db "$WORK/empty.conf")" "7:*"
sed "s|^socket = .*|socket = $WORK/no-such.sock|" "$WORK/daemon.conf" >"$WORK/down.conf"
check "--check-db, no server: exit 5" "$(check_db "$WORK/down.conf")" "5:*cannot connect*"
if [ "$(id -u)" -eq 0 ]; then
    # An inet listener needs no socket owner: a missing user is named as the user, by both.
    sed 's/^user = root$/user = relay-no-such-user/' "$WORK/daemon.conf" >"$WORK/nouser.conf"
    "$POLICYD" --config "$WORK/nouser.conf" --check-config >/dev/null 2>"$WORK/check.err"
    check "--check-config, unknown daemon user: exit 3 naming [policyd] user" \
        "$?:$(head -1 "$WORK/check.err")" "3:relay-policyd: \\[policyd] user relay-no-such-user: no such user*"
    timeout 60 "$POLICYD" --config "$WORK/nouser.conf" --foreground </dev/null >"$WORK/nouser.log" 2>&1
    check "the daemon says the same at start, not 'socket owner'" \
        "$?:$(grep -c 'socket owner' "$WORK/nouser.log"):$(grep -c '\[policyd\] user relay-no-such-user: no such user' "$WORK/nouser.log")" "1:0:1"
fi

out=$(as relay_daemon daemon-pw "$DB" "UPDATE smtp_authorities SET active = 0")
check "daemon account cannot edit a rule (UPDATE smtp_authorities SET active)" "$out" "*ERROR 1143*"
out=$(as relay_daemon daemon-pw "$DB" "INSERT INTO authority_senders (authority_id, pattern) VALUES (1, '*')")
check "daemon account cannot add a sender pattern" "$out" "*ERROR 1142*"
out=$(as relay_daemon daemon-pw "$DB" "SELECT password_hash FROM users")
check "daemon account cannot read password hashes" "$out" "*ERROR 1143*"

# ---- admin: a fresh database, created and filled by relayctl with only the admin grants
mariadb_sql -e "CREATE DATABASE relay_admin_it CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
if account relay_admin admin-pw admin relay_admin_it; then ok "admin account from the printed statements"; else
    not_ok "admin account from the printed statements" "$(cat "$WORK/grants-admin.sql")"; fi
write_conf "$WORK/admin.conf" relay_admin admin-pw relay_admin_it
run_ctl() { "$RELAYCTL" --config "$WORK/admin.conf" "$@" >"$WORK/ctl.out" 2>&1; }
run_ctl db init
check "admin: relayctl db init (tables, views, triggers)" "$?:$(tail -1 "$WORK/ctl.out")" "0:schema version is now *"
run_ctl customer add Acme && run_ctl domain add example.org --customer Acme &&
    printf 'carol-Long-passphrase-42\n' | "$RELAYCTL" --config "$WORK/admin.conf" account add carol@example.org --password-stdin \
        >"$WORK/ctl.out" 2>&1
check "admin: customer add, domain add, account add" "$?" "0"
"$RELAYCTL" --config "$WORK/admin.conf" account disable carol@example.org >"$WORK/ctl.out" 2>&1
check "admin: account disable (an UPDATE that fires the change-generation trigger)" "$?" "0"

# ---- dovecot: the query of contrib/dovecot/dovecot-sql.conf.ext, with %n = alice, %d = example.com
if account relay_dovecot dovecot-pw dovecot "$DB"; then ok "dovecot account from the printed statements"; else
    not_ok "dovecot account from the printed statements" "$(cat "$WORK/grants-dovecot.sql")"; fi
query=$(sed -n '/^password_query/,/^$/p' "$SRC/contrib/dovecot/dovecot-sql.conf.ext" | sed -e 's/^password_query *= *//' \
    -e 's/\\$//' -e "s/%n/alice/; s/%d/example.com/" | tr '\n' ' ')
out=$(as relay_dovecot dovecot-pw "$DB" "$query")
check "dovecot: the password_query finds alice@example.com and her hash" "$out" "alice@example.com	{SHA512-CRYPT}*"
out=$(as relay_dovecot dovecot-pw "$DB" "SELECT note FROM users")
check "dovecot account reads nothing else of users" "$out" "*ERROR 1143*"
out=$(as relay_dovecot dovecot-pw "$DB" "SELECT COUNT(*) FROM smtp_authorities")
check "dovecot account cannot read smtp_authorities" "$out" "*ERROR 1142*"

finish
