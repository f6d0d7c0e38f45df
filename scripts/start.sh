#!/usr/bin/env bash
# The README's first command: a working demo on this machine, on loopback only.
#   1. installs missing Debian packages (scripts/install-deps.sh)
#   2. builds build/ (RelWithDebInfo)
#   3. starts a private MariaDB (own datadir, unix socket only, no TCP) under the demo directory and
#      (re)creates the database relay_authority from sql/migrations/ + sql/sample-data.sql
#   4. writes a demo config file and starts the daemons that are built: relay-policyd on
#      inet:127.0.0.1:10040, relay-milter on inet:10041@127.0.0.1
#   5. starts a private Postfix (its own config, queue and log under the demo directory) with a
#      submission service on 127.0.0.1:10587 (STARTTLS, then AUTH through a private Dovecot on the
#      project's users table) that asks relay-policyd, and smtp-sink on 127.0.0.1:10025 as its relay host
#      (every relayed message lands as a file in DEMO/sink/mail)
#   6. prints what to try next, with swaks.
# Everything it starts is recorded in DEMO/pids/*.pid; scripts/stop.sh stops it. Running start.sh again
# stops the previous demo first and resets the demo database to the sample data.
#
# Environment: RELAY_DEMO_DIR (default /var/tmp/relay-authority-demo), RELAY_DEMO_POLICYD_PORT (10040),
# RELAY_DEMO_MILTER_PORT (10041), RELAY_DEMO_SUBMISSION_PORT (10587), RELAY_DEMO_SINK_PORT (10025),
# RELAY_BUILD_JOBS (2).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO=${RELAY_DEMO_DIR:-/var/tmp/relay-authority-demo}
POLICYD_PORT=${RELAY_DEMO_POLICYD_PORT:-10040}
MILTER_PORT=${RELAY_DEMO_MILTER_PORT:-10041}
SUBMISSION_PORT=${RELAY_DEMO_SUBMISSION_PORT:-10587}
SINK_PORT=${RELAY_DEMO_SINK_PORT:-10025}
DOVECOT_USER=dovecot_demo
JOBS=${RELAY_BUILD_JOBS:-2}
BUILD=$ROOT/build
CONF=$DEMO/relay-authority.conf
DB=relay_authority
APP_USER=relay_demo
# The daemons drop root privileges to this account after binding, as they would in production.
RUN_USER=nobody
RUN_GROUP=nogroup

say() { printf '==> %s\n' "$*"; }
die() { printf 'start.sh: %s\n' "$*" >&2; exit 1; }

started_ok=0
cleanup_on_failure() {
    if [ "$started_ok" != 1 ]; then
        echo "start.sh: failed; stopping what was started" >&2
        bash "$ROOT/scripts/stop.sh" >&2 || true
    fi
}

build() {
    say "build $BUILD (-j$JOBS)"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD.configure.log" 2>&1 ||
        { cat "$BUILD.configure.log" >&2; die "cmake configure failed"; }
    # Only the programs the demo runs: the test binaries are scripts/test.sh's business.
    local targets
    targets=$(cmake --build "$BUILD" --target help | sed -nE 's/^\.\.\. (relay-policyd|relay-milter|relayctl)$/\1/p')
    [ -n "$targets" ] || targets=relay_core
    # shellcheck disable=SC2086  # one word per target
    cmake --build "$BUILD" -j"$JOBS" --target $targets || die "the build failed (errors above)"
}

start_database() {
    say "MariaDB in $DEMO/db (unix socket only)"
    # shellcheck source=../tests/lib/mariadb.sh
    . "$ROOT/tests/lib/mariadb.sh"
    mariadb_available || die "mariadbd / mariadb-install-db / mariadb not found"
    mariadb_start "$DEMO/db" || die "MariaDB did not start (log: $DEMO/db/error.log)"
    echo "$MARIADB_PID" >"$DEMO/pids/mariadbd.pid"
    echo "$MARIADB_SOCKET" >"$DEMO/db-socket"
    # mariadb_start makes the directory 0700; the daemons reach the socket after dropping to $RUN_USER.
    chmod 0711 "$DEMO/db"

    say "database $DB: schema from sql/migrations/, then sql/sample-data.sql"
    mariadb_sql -e "DROP DATABASE IF EXISTS \`$DB\`"
    mariadb_apply_schema "$DB" || die "applying sql/migrations/ failed"
    mariadb_load_sample_data "$DB" || die "loading sql/sample-data.sql failed"
    APP_PASSWORD=$(openssl rand -hex 16)
    mariadb_create_app_user "$DB" "$APP_USER" "$APP_PASSWORD" || die "creating the database user failed"
}

write_config() {
    say "config $CONF"
    umask 027
    cat >"$CONF" <<EOF
# relay-authority demo configuration, written by scripts/start.sh (overwritten on every run).
# Every key and its meaning: docs/configuration.md; the full list: contrib/relay-authority.conf.example.
[database]
socket = $MARIADB_SOCKET
user = $APP_USER
password = $APP_PASSWORD
name = $DB

[policyd]
listen = inet:127.0.0.1:$POLICYD_PORT
user = $RUN_USER
group = $RUN_GROUP

[milter]
listen = inet:$MILTER_PORT@127.0.0.1
user = $RUN_USER
group = $RUN_GROUP

[general]
node = demo
log_level = info
EOF
    umask 022
    # Readable by the daemons' group (they re-read it on SIGHUP after dropping privileges), not by others.
    chgrp "$RUN_GROUP" "$CONF"
}

port_open() { nc -z -w 1 127.0.0.1 "$1" >/dev/null 2>&1; }

pid_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    case ${stat%% *} in Z|X|x) return 1 ;; *) return 0 ;; esac
}

# start_daemon NAME PORT: start build/NAME in the foreground mode (logs to DEMO/NAME.log), record its PID,
# wait up to 15 s for its port. A daemon that is not built yet is skipped.
start_daemon() {
    local name=$1 port=$2 bin=$BUILD/$1 pid i
    if [ ! -x "$bin" ]; then
        echo "    $name is not built yet ($bin missing): not started"
        return 0
    fi
    if ! "$bin" --config "$CONF" --check-config >"$DEMO/$name.check-config.txt" 2>&1; then
        cat "$DEMO/$name.check-config.txt" >&2
        die "$name --check-config refused $CONF"
    fi
    say "$name on port $port (log: $DEMO/$name.log)"
    setsid "$bin" --config "$CONF" --foreground </dev/null >>"$DEMO/$name.log" 2>&1 &
    pid=$!
    echo "$pid" >"$DEMO/pids/$name.pid"
    for ((i = 0; i < 150; i++)); do
        port_open "$port" && return 0
        if ! pid_alive "$pid"; then
            tail -n 20 "$DEMO/$name.log" >&2
            die "$name exited during start-up"
        fi
        sleep 0.1
    done
    tail -n 20 "$DEMO/$name.log" >&2
    die "$name did not listen on port $port within 15 s"
}

# The mail stack of tests/e2e/test_postfix_policyd.sh, built with the same helpers (tests/lib/*.sh), left
# running: its PIDs go to DEMO/pids for scripts/stop.sh. Skipped when Postfix, Dovecot or swaks is missing.
start_mta() {
    local prog
    for prog in postfix postconf smtp-sink dovecot doveadm swaks openssl; do
        command -v "$prog" >/dev/null 2>&1 || { echo "    $prog not installed: no Postfix in this demo"; return 0; }
    done
    [ -f "$DEMO/pids/relay-policyd.pid" ] || { echo "    relay-policyd not running: no Postfix in this demo"; return 0; }
    local lib
    for lib in e2e tls dovecot sink postfix; do
        # shellcheck source=/dev/null
        . "$ROOT/tests/lib/$lib.sh"
    done
    say "Dovecot (SASL only) on the users table, smtp-sink on 127.0.0.1:$SINK_PORT"
    local dovecot_password
    dovecot_password=$(openssl rand -hex 16)
    mariadb_sql -e "DROP USER IF EXISTS '$DOVECOT_USER'@'localhost';
        CREATE USER '$DOVECOT_USER'@'localhost' IDENTIFIED BY '$dovecot_password'" || die "creating $DOVECOT_USER failed"
    "$BUILD/relayctl" --config "$CONF" db grants --user "$DOVECOT_USER" --role dovecot | mariadb_sql ||
        die "granting $DOVECOT_USER its privileges failed"
    tls_make_cert "$DEMO/tls" >/dev/null 2>&1 || die "creating the TLS certificate failed"
    dovecot_start "$DEMO/dovecot" "host=$MARIADB_SOCKET dbname=$DB user=$DOVECOT_USER password=$dovecot_password" ||
        die "Dovecot did not start (log: $DEMO/dovecot/dovecot.log)"
    echo "$DOVECOT_PID" >"$DEMO/pids/dovecot.pid"
    sink_start "$DEMO/sink" "$SINK_PORT" || die "smtp-sink did not start"
    echo "$SINK_PID" >"$DEMO/pids/smtp-sink.pid"

    say "Postfix: submission on 127.0.0.1:$SUBMISSION_PORT (STARTTLS, AUTH), log $DEMO/postfix/maillog"
    postfix_configure "$DEMO/postfix" "[127.0.0.1]:$SINK_PORT" "$DOVECOT_AUTH_SOCKET" || die "configuring Postfix failed"
    # The files we ship, as an admin pastes them: main.cf lines, and the submission service on our port
    # (not chrooted: the Dovecot socket lives outside the queue directory).
    postfix_main_file "$ROOT/contrib/postfix/main.cf" "s/127\.0\.0\.1:10040/127.0.0.1:$POLICYD_PORT/g" ||
        die "applying contrib/postfix/main.cf failed"
    postfix_master_file "$ROOT/contrib/postfix/master.cf" \
        "s/^submission .*smtpd\$/127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd/; s/127\.0\.0\.1:10040/127.0.0.1:$POLICYD_PORT/g" ||
        die "applying contrib/postfix/master.cf failed"
    postfix_start || die "Postfix did not start (log: $DEMO/postfix/maillog)"
    echo "$POSTFIX_PID" >"$DEMO/pids/master.pid"
}

print_next_steps() {
    local sock=$MARIADB_SOCKET
    cat <<EOF

relay-authority demo is running (everything on loopback; files in $DEMO):
  MariaDB          unix socket $sock (no TCP), pid $(cat "$DEMO/pids/mariadbd.pid")
EOF
    local name
    local what
    for name in relay-policyd relay-milter dovecot smtp-sink master; do
        case $name in
            dovecot) what="Dovecot (SASL)   pid %s, log $DEMO/dovecot/dovecot.log" ;;
            smtp-sink) what="smtp-sink        pid %s, 127.0.0.1:$SINK_PORT, messages in $DEMO/sink/mail" ;;
            master) what="Postfix          pid %s, submission 127.0.0.1:$SUBMISSION_PORT, log $DEMO/postfix/maillog" ;;
            *) what="$(printf '%-16s' "$name") pid %s, log $DEMO/$name.log" ;;
        esac
        # shellcheck disable=SC2059  # the format is ours
        [ -f "$DEMO/pids/$name.pid" ] && printf "  $what\n" "$(cat "$DEMO/pids/$name.pid")"
    done
    cat <<EOF
  config           $CONF

Try:
  # the accounts of the sample provider, as an admin sees them in SQL (docs/sql.md):
  mariadb --no-defaults -S $sock $DB -e 'SELECT * FROM v_accounts\\G' | less
  # stop an account in SQL; running daemons notice within about a second:
  mariadb --no-defaults -S $sock $DB -e "UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id SET a.active = 0 WHERE u.local_part = 'bob'"
EOF
    if [ -f "$DEMO/pids/relay-policyd.pid" ]; then
        cat <<EOF
  # ask relay-policyd as Postfix would (bob may relay: DUNNO; info@example.com has no authority: 5.7.1):
  printf 'request=smtpd_access_policy\\nprotocol_state=RCPT\\nclient_address=192.0.2.10\\nsasl_method=PLAIN\\nsasl_username=bob@example.com\\nsender=bob@example.com\\nrecipient=friend@example.net\\nencryption_protocol=TLSv1.3\\ninstance=demo.1\\n\\n' | nc -N 127.0.0.1 $POLICYD_PORT
  printf 'request=smtpd_access_policy\\nprotocol_state=RCPT\\nclient_address=192.0.2.10\\nsasl_method=PLAIN\\nsasl_username=info@example.com\\nsender=info@example.com\\nrecipient=friend@example.net\\ninstance=demo.2\\n\\n' | nc -N 127.0.0.1 $POLICYD_PORT
EOF
    fi
    if [ -f "$DEMO/pids/master.pid" ]; then
        local swaks="swaks --server 127.0.0.1:$SUBMISSION_PORT --tls --to friend@example.net"
        cat <<EOF
  # send mail through Postfix as a sample user (passwords: the login followed by -pw); relayed mail
  # lands in $DEMO/sink/mail, every decision is a line in $DEMO/relay-policyd.log:
  $swaks --auth-user alice@example.com --auth-password alice@example.com-pw --from alice@example.com
  # refused: alice may send only as herself (5.7.1 at RCPT)
  $swaks --auth-user alice@example.com --auth-password alice@example.com-pw --from mallory@evil.example
  # refused: info@example.com logs in (Dovecot accepts the password) but has no SMTP authority
  $swaks --auth-user info@example.com --auth-password info@example.com-pw --from info@example.com
  ls $DEMO/sink/mail; tail $DEMO/relay-policyd.log
EOF
    fi
    if [ -x "$BUILD/relayctl" ]; then
        cat <<EOF
  # why would the engine refuse this? (no side effects)
  $BUILD/relayctl --config $CONF explain --login alice@example.com --sender alice@example.com --rcpt friend@example.net --client-ip 192.0.2.10
  $BUILD/relayctl --config $CONF account list
EOF
    fi
    cat <<EOF

Stop it all: sudo scripts/stop.sh
EOF
}

main() {
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0): it installs packages and drops daemons to $RUN_USER"
    say "install-deps"
    bash "$ROOT/scripts/install-deps.sh"
    build
    if compgen -G "$DEMO/pids/*.pid" >/dev/null; then
        say "stopping the previous demo"
        bash "$ROOT/scripts/stop.sh"
    fi
    mkdir -p "$DEMO/pids"
    chmod 0755 "$DEMO"
    local name port
    for name in relay-policyd:$POLICYD_PORT relay-milter:$MILTER_PORT postfix:$SUBMISSION_PORT smtp-sink:$SINK_PORT; do
        port=${name#*:}
        if { [ ! -e "$BUILD/${name%%:*}" ] || [ -x "$BUILD/${name%%:*}" ]; } && port_open "$port"; then
            die "port 127.0.0.1:$port is already in use (another relay-policyd/milter? set RELAY_DEMO_*_PORT)"
        fi
    done
    trap cleanup_on_failure EXIT
    start_database
    write_config
    start_daemon relay-policyd "$POLICYD_PORT"
    start_daemon relay-milter "$MILTER_PORT"
    start_mta
    started_ok=1
    print_next_steps
}

main "$@"
