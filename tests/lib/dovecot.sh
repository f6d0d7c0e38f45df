# shellcheck shell=bash
# A private Dovecot that is only an authentication server (SASL for Postfix), its passdb in MariaDB.
# Needs e2e.sh sourced first.
#
#   dovecot_start DIR CONNECT [SQL_CONF]
#       DIR       work dir (created): dovecot.conf, run/ (base_dir), state/, dovecot.log
#       CONNECT   the passdb's "connect =" value, e.g.
#                 "host=$MARIADB_SOCKET dbname=relay_authority user=dovecot password=secret"
#       SQL_CONF  passdb SQL file to use (default: contrib/dovecot/dovecot-sql.conf.ext, the file we ship);
#                 its "connect =" line is replaced by CONNECT.
#       Extra dovecot.conf lines: set DOVECOT_EXTRA_CONF before the call (e.g. auth cache settings).
#       Sets DOVECOT_AUTH_SOCKET (Postfix smtpd_sasl_path; owned by user/group postfix), DOVECOT_PID,
#       DOVECOT_CONF, DOVECOT_LOG. Registers dovecot_stop with e2e_defer.
#   dovecot_stop                 SIGTERM to the master PID, bounded wait, then SIGKILL
#   dovecot_auth_test USER PW    "doveadm auth test" against this instance (exit 0 = success)
#   dovecot_hash SCHEME PW       print a password hash with its {SCHEME} prefix (SHA512-CRYPT, BLF-CRYPT)
#
# The instance runs no IMAP/POP (protocols empty), no TLS (Postfix does TLS) and no failure delay.
# disable_plaintext_auth = no: Postfix decides where AUTH is offered (smtpd_tls_auth_only per listener).

DOVECOT_PID=
DOVECOT_EXTRA_CONF=${DOVECOT_EXTRA_CONF:-}

dovecot_hash() {
    doveadm pw -s "$1" -p "$2"
}

dovecot_write_conf() {
    local dir=$1 connect=$2 sql_src=$3
    # Replace the shipped connect line; keep everything else (the password_query) exactly as shipped.
    awk -v connect="connect = $connect" '
        /^[[:space:]]*connect[[:space:]]*=/ { print connect; next }
        { print }' "$sql_src" >"$dir/dovecot-sql.conf.ext"
    chmod 0600 "$dir/dovecot-sql.conf.ext"
    cat >"$dir/dovecot.conf" <<CONF
# Written by tests/lib/dovecot.sh: an auth-only Dovecot for the e2e tests.
protocols =
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
passdb {
  driver = sql
  args = $dir/dovecot-sql.conf.ext
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=/nonexistent
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
$DOVECOT_EXTRA_CONF
CONF
}

dovecot_start() {
    local dir=$1 connect=$2 sql_src=${3:-$E2E_SRC_DIR/contrib/dovecot/dovecot-sql.conf.ext}
    mkdir -p "$dir/run" "$dir/state"
    chmod 0755 "$dir" "$dir/run"
    DOVECOT_CONF=$dir/dovecot.conf
    DOVECOT_LOG=$dir/dovecot.log
    DOVECOT_AUTH_SOCKET=$dir/run/auth-postfix
    dovecot_write_conf "$dir" "$connect" "$sql_src" || return 1
    # Dovecot daemonises; its master keeps stdio open, so never leave them on a pipe.
    if ! dovecot -c "$DOVECOT_CONF" </dev/null >>"$dir/start.log" 2>&1; then
        cat "$dir/start.log" >&2
        return 1
    fi
    e2e_defer dovecot_stop
    if ! e2e_wait_until 10 test -S "$DOVECOT_AUTH_SOCKET" -a -s "$dir/run/master.pid"; then
        echo "dovecot did not create $DOVECOT_AUTH_SOCKET" >&2
        e2e_show_file "$DOVECOT_LOG" >&2
        return 1
    fi
    DOVECOT_PID=$(cat "$dir/run/master.pid")
}

dovecot_stop() {
    [ -n "$DOVECOT_PID" ] || return 0
    e2e_stop_pid "$DOVECOT_PID" 10
    DOVECOT_PID=
}

dovecot_auth_test() {
    doveadm -c "$DOVECOT_CONF" auth test "$1" "$2" >/dev/null 2>&1
}
