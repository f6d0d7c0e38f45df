# shellcheck shell=bash
# A private Postfix instance on loopback (own config dir, queue, log), driven as root with "postfix -c".
# Needs e2e.sh sourced first (and tls.sh for the certificate).
#
#   postfix_configure DIR RELAYHOST SASL_PATH
#       DIR        work dir (created): etc/ (main.cf, master.cf), queue/, data/, maillog
#       RELAYHOST  where all mail goes, e.g. "[127.0.0.1]:12126" (smtp-sink)
#       SASL_PATH  Dovecot auth socket (DOVECOT_AUTH_SOCKET), or "" for no SASL
#       Uses TLS_CERT / TLS_KEY (tls_make_cert). Templates: tests/e2e/postfix/{main,master}.cf.in.
#       Sets POSTFIX_DIR, POSTFIX_ETC, POSTFIX_LOG (the maillog file).
#   postfix_main 'name = value' ...       set main.cf parameters (postconf -e), e.g. restrictions, milters
#   postfix_main_file FILE [SED_SCRIPT]   set every parameter of a main.cf snippet (comments and blank
#                                         lines skipped, continuation lines joined), after "sed SED_SCRIPT"
#   postfix_listener PORT [name=value ...]
#       add an smtpd on 127.0.0.1:PORT with "-o name=value" overrides (values may contain spaces).
#       Presets (extra name=value arguments are appended and win):
#         postfix_listener_plain PORT ...          no AUTH offered (an MX, "port 25")
#         postfix_listener_submission PORT ...     STARTTLS required, then AUTH PLAIN/LOGIN
#         postfix_listener_auth_notls PORT ...     AUTH offered without TLS (TLS not even offered)
#   postfix_master_file FILE [SED_SCRIPT] append the service entries of a master.cf snippet (comments
#                                         skipped) after "sed SED_SCRIPT"; entries whose service is
#                                         127.0.0.1:PORT are waited for by postfix_start
#   postfix_start       "postfix start" (includes its checks), wait for every listener; sets POSTFIX_PID;
#                       registers postfix_stop with e2e_defer
#   postfix_stop        SIGTERM to the master PID (it stops its children), bounded wait
#   postfix_queue_empty / postfix_wait_queue_empty [SECS]   nothing left in the queue (default 20 s)
#   postfix_check_log_clean             one check: no fatal or panic line in POSTFIX_LOG
#   postfix_postconf ARGS...              postconf -c POSTFIX_ETC ARGS (read the effective config)

POSTFIX_PID=
POSTFIX_PORTS=()

postfix_postconf() { postconf -c "$POSTFIX_ETC" "$@"; }

postfix_configure() {
    local dir=$1 relayhost=$2 sasl_path=$3 tmpl=$E2E_SRC_DIR/tests/e2e/postfix
    POSTFIX_DIR=$dir
    POSTFIX_ETC=$dir/etc
    POSTFIX_LOG=$dir/maillog
    POSTFIX_PORTS=()
    mkdir -p "$POSTFIX_ETC" "$dir/queue" "$dir/data"
    chmod 0755 "$dir" "$dir/queue"
    # Postfix insists that its data directory belongs to mail_owner.
    chown postfix:postfix "$dir/data"
    chmod 0700 "$dir/data"
    sed -e "s|@DIR@|$dir|g" -e "s|@HOSTNAME@|mail.example.test|g" -e "s|@RELAYHOST@|$relayhost|g" \
        -e "s|@TLS_CERT@|$TLS_CERT|g" -e "s|@TLS_KEY@|$TLS_KEY|g" -e "s|@SASL_PATH@|$sasl_path|g" \
        "$tmpl/main.cf.in" >"$POSTFIX_ETC/main.cf" || return 1
    cp "$tmpl/master.cf.in" "$POSTFIX_ETC/master.cf" || return 1
    # No SASL path: an instance without SASL (smtp-source cannot log in anyway). An empty
    # smtpd_sasl_path would make smtpd fail as soon as SASL is enabled, so leave it at its default.
    if [ -z "$sasl_path" ]; then
        postconf -c "$POSTFIX_ETC" -X smtpd_sasl_type smtpd_sasl_path || return 1
        postfix_main "smtpd_sasl_auth_enable = no" || return 1
    fi
}

postfix_main() {
    local line
    for line in "$@"; do
        postconf -c "$POSTFIX_ETC" -e "$line" || return 1
    done
}

postfix_main_file() {
    local file=$1 script=${2:-}
    local -a lines=()
    local line
    # postconf -e wants one "name = value" per argument: join Postfix continuation lines (leading space).
    while IFS= read -r line; do
        lines+=("$line")
    done < <(sed -e "${script:-}" "$file" | awk '
        /^[[:space:]]*#/ || /^[[:space:]]*$/ { next }
        /^[[:space:]]/ { sub(/^[[:space:]]+/, " "); cur = cur $0; next }
        { if (cur != "") print cur; cur = $0 }
        END { if (cur != "") print cur }')
    [ ${#lines[@]} -gt 0 ] || return 1
    postfix_main "${lines[@]}"
}

postfix_listener() {
    local port=$1 opt name value
    shift
    {
        printf '127.0.0.1:%s inet n - n - - smtpd\n' "$port"
        printf '  -o syslog_name=postfix/%s\n' "$port"
        for opt in "$@"; do
            name=${opt%%=*}
            value=${opt#*=}
            case $value in
                *[[:space:]]*) printf '  -o { %s = %s }\n' "$name" "$value" ;;
                *) printf '  -o %s=%s\n' "$name" "$value" ;;
            esac
        done
    } >>"$POSTFIX_ETC/master.cf"
    POSTFIX_PORTS+=("$port")
}

postfix_master_file() {
    local file=$1 script=${2:-} port
    sed -e "$script" "$file" | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$' \
        >>"$POSTFIX_ETC/master.cf" || return 1
    for port in $(sed -e "$script" "$file" | sed -n 's/^127\.0\.0\.1:\([0-9]\{1,5\}\)[[:space:]].*/\1/p'); do
        POSTFIX_PORTS+=("$port")
    done
}

postfix_listener_plain() {
    local port=$1
    shift
    postfix_listener "$port" smtpd_sasl_auth_enable=no "$@"
}

postfix_listener_submission() {
    local port=$1
    shift
    postfix_listener "$port" smtpd_tls_security_level=encrypt smtpd_sasl_auth_enable=yes \
        smtpd_tls_auth_only=yes "$@"
}

postfix_listener_auth_notls() {
    local port=$1
    shift
    postfix_listener "$port" smtpd_tls_security_level=none smtpd_sasl_auth_enable=yes \
        smtpd_tls_auth_only=no "$@"
}

postfix_start() {
    local port
    # "postfix start" runs the integrity checks of "postfix check" itself (and creates the queue
    # directories with the right owners), then waits until the master has initialised.
    if ! postfix -c "$POSTFIX_ETC" start >>"$POSTFIX_DIR/start.log" 2>&1; then
        echo "postfix start failed:" >&2
        cat "$POSTFIX_DIR/start.log" >&2
        e2e_show_file "$POSTFIX_LOG" >&2
        return 1
    fi
    e2e_defer postfix_stop
    e2e_wait_until 10 test -s "$POSTFIX_DIR/queue/pid/master.pid"
    POSTFIX_PID=$(tr -d ' \n' <"$POSTFIX_DIR/queue/pid/master.pid" 2>/dev/null)
    for port in "${POSTFIX_PORTS[@]}"; do
        if ! e2e_wait_port 127.0.0.1 "$port" 15; then
            echo "postfix does not listen on 127.0.0.1:$port" >&2
            e2e_show_file "$POSTFIX_LOG" >&2
            return 1
        fi
    done
}

postfix_stop() {
    [ -n "$POSTFIX_PID" ] || return 0
    stop_pid "$POSTFIX_PID" 15
    POSTFIX_PID=
}

postfix_queue_empty() {
    postqueue -c "$POSTFIX_ETC" -p 2>/dev/null | grep -q '^Mail queue is empty'
}

postfix_wait_queue_empty() {
    e2e_wait_until "${1:-20}" postfix_queue_empty
}

postfix_check_log_clean() {
    if grep -qE 'fatal|panic' "$POSTFIX_LOG"; then
        not_ok "no fatal errors in the Postfix log" "$(grep -E 'fatal|panic' "$POSTFIX_LOG" | head -n 3)"
    else
        ok "no fatal errors in the Postfix log"
    fi
}
