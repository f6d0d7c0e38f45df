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
#       IMAP on loopback: set DOVECOT_IMAP_PORT before the call (e.g. for saslauthd -a rimap): then
#       protocols = imap with one listener on 127.0.0.1:PORT (no imaps), mail in DIR/mail (user nobody),
#       the auth penalty per client IP switched off; dovecot_start also waits for that port.
#       Sets DOVECOT_AUTH_SOCKET (Postfix smtpd_sasl_path; owned by user/group postfix), DOVECOT_PID,
#       DOVECOT_CONF, DOVECOT_LOG. Registers dovecot_stop with e2e_defer.
#   dovecot_stop                 SIGTERM to the master PID, bounded wait, then SIGKILL
#   dovecot_auth_test USER PW    "doveadm auth test" against this instance (exit 0 = success)
#   dovecot_hash SCHEME PW       print a password hash with its {SCHEME} prefix (SHA512-CRYPT, BLF-CRYPT)
#   dovecot_imap_login USER PW   IMAP LOGIN on 127.0.0.1:DOVECOT_IMAP_PORT (exit 0 = tagged OK); needs
#                                DOVECOT_IMAP_PORT; USER and PW without '"' or '\'
#
# The instance runs no IMAP/POP (protocols empty; unless DOVECOT_IMAP_PORT), no TLS (Postfix does TLS)
# and no failure delay.
# disable_plaintext_auth = no: Postfix decides where AUTH is offered (smtpd_tls_auth_only per listener).

DOVECOT_PID=
DOVECOT_EXTRA_CONF=${DOVECOT_EXTRA_CONF:-}
DOVECOT_IMAP_PORT=${DOVECOT_IMAP_PORT:-}

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
    local protocols='' imap_conf=''
    if [ -n "$DOVECOT_IMAP_PORT" ]; then
        protocols=imap
        imap_conf=$(dovecot_imap_conf "$dir")$'\n'
    fi
    cat >"$dir/dovecot.conf" <<CONF
# Written by tests/lib/dovecot.sh: an auth-only Dovecot for the e2e tests.
protocols =${protocols:+ $protocols}
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
$imap_conf$DOVECOT_EXTRA_CONF
CONF
}

# The IMAP part of dovecot.conf (DOVECOT_IMAP_PORT set): only what an IMAP LOGIN needs.
dovecot_imap_conf() {
    local dir=$1
    # After a successful LOGIN the imap process (userdb: uid nobody) opens the mailbox; give it one.
    mkdir -p "$dir/mail"
    chown nobody "$dir/mail"
    chmod 0700 "$dir/mail"
    cat <<CONF
# IMAP on loopback only (tests/lib/dovecot.sh, DOVECOT_IMAP_PORT).
listen = 127.0.0.1
mail_location = maildir:$dir/mail/%Lu
# All logins come from 127.0.0.1 (saslauthd): without this, each failed login the tests provoke delays
# the next login from that address by 2-15 s (Dovecot's auth penalty; login_trusted_networks does not help).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
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
    if [ -n "$DOVECOT_IMAP_PORT" ] && ! e2e_wait_port 127.0.0.1 "$DOVECOT_IMAP_PORT" 10 "$DOVECOT_PID"; then
        echo "dovecot does not listen on 127.0.0.1:$DOVECOT_IMAP_PORT (IMAP)" >&2
        e2e_show_file "$DOVECOT_LOG" >&2
        return 1
    fi
}

dovecot_stop() {
    [ -n "$DOVECOT_PID" ] || return 0
    stop_pid "$DOVECOT_PID" 10
    DOVECOT_PID=
}

dovecot_auth_test() {
    doveadm -c "$DOVECOT_CONF" auth test "$1" "$2" >/dev/null 2>&1
}

dovecot_imap_login() {
    local user=$1 pw=$2 reply
    [ -n "$DOVECOT_IMAP_PORT" ] || return 2
    # bash's /dev/tcp: greeting, LOGIN, LOGOUT; the tagged reply to LOGIN decides. Bounded by timeout.
    # shellcheck disable=SC2016  # the inner script expands its own positional parameters
    reply=$(timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "a1 LOGIN \"%s\" \"%s\"\r\na2 LOGOUT\r\n" "$2" "$3" >&3
        cat <&3' _ "$DOVECOT_IMAP_PORT" "$user" "$pw" 2>/dev/null)
    printf '%s\n' "$reply" | grep -q '^a1 OK'
}
