#!/bin/bash
# End to end: [relayctl] after_change_command flushes a real Dovecot's auth cache. Dovecot (auth cache on,
# passdb SQL on our users table through contrib/dovecot/dovecot-sql.conf.ext) verifies a password, which it
# then caches; relayctl account passwd / delete change the database.
#   - without the command the stale cache is shown: the old password still authenticates after passwd and
#     after delete (this is what makes the other half a real test);
#   - with after_change_command = doveadm auth cache flush %{login}: after passwd the old password is
#     refused and the new one works; after delete the password is refused.
#
#   tests/e2e/test_relayctl_cache_flush.sh BUILD_DIR          (ctest: e2e_relayctl_cache_flush)
#
# No TCP port: Dovecot is asked through doveadm auth test (its auth socket under the work dir). Work dir:
# BUILD_DIR/e2e-relayctl_cache_flush. Exit 0 when every check passed, 77 when a program is missing.

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e mariadb dovecot; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

DB_NAME=relay_authority
DOVECOT_DB_PASSWORD=dovecot-flush-pw

e2e_require dovecot doveadm mariadbd mariadb mariadb-install-db
e2e_init relayctl_cache_flush "$BUILD_DIR"
RELAYCTL=$E2E_BUILD_DIR/relayctl
if [ ! -x "$RELAYCTL" ]; then
    echo "# SKIP: $RELAYCTL not built"
    exit 77
fi
DOVEADM=$(command -v doveadm)
umask 077  # the config files hold database passwords

# ctl CONF ARGS...: relayctl with that config; output in $E2E_DIR/ctl.out (stdout and stderr)
ctl() {
    local conf=$1
    shift
    "$RELAYCTL" --config "$conf" "$@" >"$E2E_DIR/ctl.out" 2>&1
}

# auth LOGIN PASSWORD: Dovecot's verdict, "ok" or "refused", through its (cached) passdb
auth() { if dovecot_auth_test "$1" "$2"; then echo ok; else echo refused; fi; }

# expect_auth DESC LOGIN PASSWORD WANT
expect_auth() {
    local got
    got=$(auth "$2" "$3")
    if [ "$got" = "$4" ]; then ok "$1"; else not_ok "$1" "doveadm auth test $2: $got, want $4"; fi
}

# cache_hits LOGIN: how many lookups of LOGIN Dovecot answered from its cache (auth_debug log lines)
cache_hits() { grep -ci "$1.*cache hit" "$DOVECOT_LOG" 2>/dev/null || true; }

setup() {
    e2e_defer mariadb_stop
    mariadb_start "$E2E_DIR/db" || return 1
    mariadb_sql -e "CREATE DATABASE $DB_NAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" || return 1
    printf '[database]\nsocket = %s\nuser = %s\nname = %s\n' "$MARIADB_SOCKET" "$MARIADB_ADMIN_USER" "$DB_NAME" \
        >"$E2E_DIR/plain.conf"
    ctl "$E2E_DIR/plain.conf" db init || { cat "$E2E_DIR/ctl.out"; return 1; }
    mariadb_sql "$DB_NAME" -e "CREATE USER 'dovecot'@'localhost' IDENTIFIED BY '$DOVECOT_DB_PASSWORD';
        GRANT SELECT ON $DB_NAME.users TO 'dovecot'@'localhost';
        GRANT SELECT ON $DB_NAME.domains TO 'dovecot'@'localhost';" || return 1
    ctl "$E2E_DIR/plain.conf" customer add "Example Corp" &&
        ctl "$E2E_DIR/plain.conf" domain add example.test --customer "Example Corp" || return 1
    # The cache as an admin would run it: positive entries for an hour, no negative caching.
    DOVECOT_EXTRA_CONF=$'auth_cache_size = 1M\nauth_cache_ttl = 1 hour\nauth_cache_negative_ttl = 0\nauth_debug = yes'
    dovecot_start "$E2E_DIR/dovecot" \
        "host=$MARIADB_SOCKET dbname=$DB_NAME user=dovecot password=$DOVECOT_DB_PASSWORD" || return 1
    # The same database with the flush configured, as docs/relayctl.md shows it (plus -c: this Dovecot's
    # config is not the system one).
    cp "$E2E_DIR/plain.conf" "$E2E_DIR/flush.conf"
    printf '[relayctl]\nafter_change_command = %s -c %s auth cache flush %%{login}\n' "$DOVEADM" "$DOVECOT_CONF" \
        >>"$E2E_DIR/flush.conf"
}

# add_cached CONF LOGIN PASSWORD: create the account and have Dovecot cache its password
add_cached() {
    printf '%s\n' "$3" | "$RELAYCTL" --config "$1" account add "$2" --password-stdin >"$E2E_DIR/ctl.out" 2>&1 ||
        { not_ok "account add $2" "$(cat "$E2E_DIR/ctl.out")"; return 1; }
    local hits
    hits=$(cache_hits "$2")
    expect_auth "$2: the first password authenticates (Dovecot caches it)" "$2" "$3" ok
    expect_auth "$2: again, now from Dovecot's cache" "$2" "$3" ok
    if [ "$(cache_hits "$2")" -gt "$hits" ]; then ok "$2: Dovecot's log shows the cache hit"
    else not_ok "$2: Dovecot's log shows the cache hit" "$(tail -n 20 "$DOVECOT_LOG")"; fi
}

# passwd CONF LOGIN NEW_PASSWORD
passwd() {
    printf '%s\n' "$3" | "$RELAYCTL" --config "$1" account passwd "$2" --password-stdin >"$E2E_DIR/ctl.out" 2>&1 &&
        grep -q "password of $2 changed" "$E2E_DIR/ctl.out"
}

run_cases() {
    # ---- without after_change_command: the stale cache
    add_cached "$E2E_DIR/plain.conf" stale@example.test Stale-first-pw-1 || return
    check_cmd "without the command: account passwd" passwd "$E2E_DIR/plain.conf" stale@example.test Stale-second-pw-2
    expect_auth "without the command: the OLD password still authenticates after passwd (stale cache)" \
        stale@example.test Stale-first-pw-1 ok
    add_cached "$E2E_DIR/plain.conf" gone@example.test Gone-first-pw-1 || return
    check_cmd "without the command: account delete" ctl "$E2E_DIR/plain.conf" account delete gone@example.test --yes
    expect_auth "without the command: a DELETED account still authenticates (stale cache)" \
        gone@example.test Gone-first-pw-1 ok

    # ---- with after_change_command = doveadm auth cache flush %{login}
    add_cached "$E2E_DIR/flush.conf" alice@example.test Alice-first-pw-1 || return
    if passwd "$E2E_DIR/flush.conf" alice@example.test Alice-second-pw-2 && ! grep -q warning "$E2E_DIR/ctl.out"; then
        ok "with the command: account passwd, the command ran without a warning"
    else
        not_ok "with the command: account passwd" "$(cat "$E2E_DIR/ctl.out")"
    fi
    if grep -q "CACHE-FLUSH.*alice@example.test" "$DOVECOT_LOG"; then ok "Dovecot's log shows the flush of that login"
    else not_ok "Dovecot's log shows the flush of that login" "$(tail -n 20 "$DOVECOT_LOG")"; fi
    expect_auth "with the command: the old password is refused right after passwd" \
        alice@example.test Alice-first-pw-1 refused
    expect_auth "with the command: the new password authenticates" alice@example.test Alice-second-pw-2 ok
    # --json: stdout is relayctl's JSON alone (doveadm's "1 cache entries flushed" goes to stderr)
    printf 'Alice-json-pw-3\n' | "$RELAYCTL" --config "$E2E_DIR/flush.conf" --json account passwd alice@example.test \
        --password-stdin >"$E2E_DIR/json.out" 2>"$E2E_DIR/json.err"
    if python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j["password_set"]' "$E2E_DIR/json.out" &&
        grep -q "cache entries flushed" "$E2E_DIR/json.err"; then
        ok "with --json: stdout is valid JSON, the command's output is on stderr"
    else
        not_ok "with --json: stdout is valid JSON, the command's output is on stderr" \
            "stdout: $(cat "$E2E_DIR/json.out"); stderr: $(cat "$E2E_DIR/json.err")"
    fi
    add_cached "$E2E_DIR/flush.conf" bob@example.test Bob-first-pw-1 || return
    if ctl "$E2E_DIR/flush.conf" account delete bob@example.test --yes && ! grep -q warning "$E2E_DIR/ctl.out"; then
        ok "with the command: account delete, the command ran without a warning"
    else
        not_ok "with the command: account delete" "$(cat "$E2E_DIR/ctl.out")"
    fi
    expect_auth "with the command: a deleted account is refused at once" bob@example.test Bob-first-pw-1 refused
    expect_auth "the flush was for that login only: the stale entry of another login is still cached" \
        stale@example.test Stale-first-pw-1 ok

    # ---- a command that fails: reported, the change stands
    printf '[relayctl]\nafter_change_command = %s -c %s/nonexistent.conf auth cache flush %%{login}\n' \
        "$DOVEADM" "$E2E_DIR" | cat "$E2E_DIR/plain.conf" - >"$E2E_DIR/broken.conf"
    if passwd "$E2E_DIR/broken.conf" alice@example.test Alice-third-pw-3 &&
        grep -q "warning: the password change of alice@example.test done, but after_change_command .*doveadm exited with" \
            "$E2E_DIR/ctl.out"; then
        ok "a failing command: warning on stderr naming it, exit 0 (the password is changed)"
    else
        not_ok "a failing command: warning, exit 0" "$(cat "$E2E_DIR/ctl.out")"
    fi
}

if setup; then
    ok "harness started (MariaDB, schema by relayctl, Dovecot with auth cache on SQL passdb)"
    run_cases
else
    not_ok "harness started"
    e2e_show_file "$E2E_DIR/dovecot/dovecot.log" 20
fi
e2e_finish
