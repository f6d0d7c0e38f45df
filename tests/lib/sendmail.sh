# shellcheck shell=bash
# A private Sendmail 8.17 (Debian's packages, unpacked, never installed: they conflict with Postfix) on
# loopback, in its own mount and UTS namespace (RECIPE-e2e.md sections 8 and 12), with Cyrus SASL (sasldb),
# STARTTLS, a milter, an access database and smtp-sink as smart host. Needs e2e.sh sourced first and root
# (unshare --mount). Source it:
#
#   sendmail_available              true when unshare, m4, saslpasswd2 and dpkg are there (root, too)
#   sendmail_fetch_debs CACHE_DIR   apt-get download sendmail-bin sendmail-cf sendmail-base into
#                                   CACHE_DIR unless already there (apt-get update once if needed)
#   sendmail_configure DIR DEBS PORT SINK_PORT MILTER_SOCKET
#       DIR      work dir (created): root/ (unpacked .debs), sbin/sendmail, etc/, sasl/, mqueue/, run/
#       DEBS     directory with the three .debs
#       PORT     the SMTP port (127.0.0.1), daemon name MTA-relay
#       MILTER_SOCKET relay-milter's socket in Sendmail S= syntax (inet:PORT@127.0.0.1); the
#                INPUT_MAIL_FILTER line comes from contrib/sendmail/relay-milter.m4 (as an admin pastes it)
#       Uses TLS_CERT / TLS_KEY (tls.sh). Extra .mc lines: SENDMAIL_EXTRA_MC before the call.
#       Sets SENDMAIL_DIR, SENDMAIL_TRAFFIC (the -X transcript of every session).
#   sendmail_add_user LOGIN PASSWORD  add LOGIN (local@domain) to the sasldb
#   sendmail_access LINE...           write the access database (e.g. "Connect:127.0.0.3 RELAY"), makemap
#   sendmail_relay_domains DOMAIN...  domains Sendmail relays for without AUTH (inbound, to the smart host)
#   sendmail_start                    start it in its namespace, wait for the port; sets SENDMAIL_PID;
#                                     registers sendmail_stop with e2e_defer
#   sendmail_stop                     SIGTERM to the daemon, bounded wait
#   sendmail_ns CMD...                run CMD inside the daemon's namespaces (nsenter), e.g. sendmail -bp
#
# SASL through saslauthd instead of sasldb (one password store: docs/sendmail.md), e.g. rimap to Dovecot:
#   sendmail_saslauthd_start DIR MECH OPTION [FLAG...]
#                                     saslauthd -a MECH -O OPTION -m DIR (its mux socket DIR/mux, never the
#                                     system's) in the foreground (-d), FLAGs added (e.g. -r); sets
#                                     SASLAUTHD_PID, SASLAUTHD_MUX, SASLAUTHD_LOG; registers its stop
#   sendmail_saslauthd_stop           SIGTERM to saslauthd by PID, bounded wait
#   sendmail_saslauthd_test USER PW   testsaslauthd against SASLAUTHD_MUX (service smtp; exit 0 = OK)
#   sendmail_use_saslauthd MUX        after sendmail_configure: Sendmail.conf says pwcheck_method saslauthd
#                                     with saslauthd_path MUX (instead of auxprop sasldb)

SENDMAIL_PID=
SASLAUTHD_PID=

sendmail_available() {
    [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && command -v nsenter >/dev/null &&
        command -v m4 >/dev/null && command -v saslpasswd2 >/dev/null && command -v dpkg >/dev/null
}

_sendmail_have_debs() {
    local p
    for p in sendmail-bin sendmail-cf sendmail-base; do
        compgen -G "$1/${p}_*.deb" >/dev/null || return 1
    done
}

sendmail_fetch_debs() {
    local cache=$1
    mkdir -p "$cache"
    _sendmail_have_debs "$cache" && return 0
    # apt-get download writes into the current directory; a fresh machine may need the package lists first.
    if ! (cd "$cache" && apt-get download -q sendmail-bin sendmail-cf sendmail-base) >"$cache/download.log" 2>&1; then
        apt-get -q -o DPkg::Lock::Timeout=600 update >>"$cache/download.log" 2>&1
        (cd "$cache" && apt-get download -q sendmail-bin sendmail-cf sendmail-base) >>"$cache/download.log" 2>&1
    fi
    _sendmail_have_debs "$cache" || { cat "$cache/download.log" >&2; return 1; }
}

sendmail_configure() {
    local dir=$1 debs=$2 port=$3 sink_port=$4 milter_socket=$5 d deb
    SENDMAIL_DIR=$dir
    SENDMAIL_TRAFFIC=$dir/run/traffic.log
    mkdir -p "$dir"/{root,sbin,etc,sasl,mqueue,run}
    chmod 0755 "$dir"
    chmod 0700 "$dir/mqueue"
    for deb in "$debs"/sendmail-*.deb; do
        dpkg -x "$deb" "$dir/root" || return 1
    done
    d=$dir/root/usr/libexec/sendmail
    # The binary is setgid smmsp in the package; the daemon runs as root here, so drop that bit.
    install -m 0755 "$d/sendmail" "$dir/sbin/sendmail" || return 1
    install -m 0755 "$d/makemap" "$dir/sbin/makemap" || return 1
    printf '127.0.0.1 smtp.example.test smtp localhost\n::1 localhost\n' >"$dir/etc/hosts"
    sed -e 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf >"$dir/etc/nsswitch.conf"
    printf 'hosts files\naliases files\n' >"$dir/etc/service.switch"
    printf 'postmaster: root\n' >"$dir/etc/aliases"
    : >"$dir/etc/local-host-names"
    : >"$dir/etc/relay-domains"
    printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
        "$dir/sasl/sasldb2" >"$dir/sasl/Sendmail.conf"
    # The admin's snippet, with our socket in place of the documented default.
    sed -e "s|S=inet:10041@127.0.0.1|S=$milter_socket|" "$E2E_SRC_DIR/contrib/sendmail/relay-milter.m4" \
        >"$dir/etc/relay-milter.m4"
    cat >"$dir/etc/relaylab.mc" <<MC
include(\`$dir/root/usr/share/sendmail/cf/m4/cf.m4')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`smtp.example.test')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confSERVICE_SWITCH_FILE', \`$dir/etc/service.switch')dnl
define(\`confREFUSE_LA', \`999')dnl
define(\`confQUEUE_LA', \`999')dnl
define(\`confDELAY_LA', \`0')dnl
define(\`confMAX_DAEMON_CHILDREN', \`0')dnl
define(\`confCONNECTION_RATE_THROTTLE', \`0')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`access_db', \`hash -T<TMPF> -o $dir/etc/access')dnl
define(\`QUEUE_DIR', \`$dir/mqueue')dnl
define(\`STATUS_FILE', \`$dir/run/sendmail.st')dnl
define(\`confPID_FILE', \`$dir/run/sendmail.pid')dnl
define(\`ALIAS_FILE', \`$dir/etc/aliases')dnl
define(\`HELP_FILE', \`$dir/root/etc/mail/helpfile')dnl
define(\`confCW_FILE', \`-o $dir/etc/local-host-names')dnl
define(\`confCR_FILE', \`-o $dir/etc/relay-domains')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit,GroupWritableDirPathSafe')dnl
define(\`confCACERT_PATH', \`$(dirname "$TLS_CERT")')dnl
define(\`confCACERT', \`$TLS_CERT')dnl
define(\`confSERVER_CERT', \`$TLS_CERT')dnl
define(\`confSERVER_KEY', \`$TLS_KEY')dnl
define(\`confAUTH_MECHANISMS', \`PLAIN LOGIN')dnl
TRUST_AUTH_MECH(\`PLAIN LOGIN')dnl
define(\`confAUTH_OPTIONS', \`A p y')dnl
define(\`SMART_HOST', \`esmtp:[127.0.0.1]')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $sink_port')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h $sink_port')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $sink_port')dnl
define(\`confTO_QUEUEWARN', \`1h')dnl
include(\`$dir/etc/relay-milter.m4')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MTA-relay, Addr=127.0.0.1, Port=$port')dnl
${SENDMAIL_EXTRA_MC:-}
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MC
    m4 "$dir/etc/relaylab.mc" >"$dir/etc/sendmail.cf" 2>"$dir/etc/m4.log" || { cat "$dir/etc/m4.log" >&2; return 1; }
    sendmail_access || return 1  # an empty map, so the access_db feature has something to open
    cat >"$dir/sendmail-ns.sh" <<NS
#!/bin/bash
# Runs inside "unshare --mount --uts --propagation private": the host is not changed.
hostname smtp.example.test
mount --bind $dir/etc/hosts /etc/hosts
mount --bind $dir/etc/nsswitch.conf /etc/nsswitch.conf
mount --bind $dir/sasl /usr/lib/sasl2
$dir/sbin/sendmail -C $dir/etc/sendmail.cf -bi
exec $dir/sbin/sendmail -C $dir/etc/sendmail.cf -bD -X $SENDMAIL_TRAFFIC
NS
    chmod 0755 "$dir/sendmail-ns.sh"
}

sendmail_add_user() {
    local login=$1 password=$2
    printf '%s' "$password" | saslpasswd2 -f "$SENDMAIL_DIR/sasl/sasldb2" -p -c -u "${login#*@}" "${login%@*}" ||
        return 1
    chmod 0600 "$SENDMAIL_DIR/sasl/sasldb2"
}

sendmail_access() {
    local line
    : >"$SENDMAIL_DIR/etc/access"
    for line in "$@"; do
        printf '%s\n' "$line" >>"$SENDMAIL_DIR/etc/access"
    done
    # -C: makemap reads TrustedUser from a sendmail.cf; ours, not the host's (there is none).
    "$SENDMAIL_DIR/sbin/makemap" -C "$SENDMAIL_DIR/etc/sendmail.cf" hash "$SENDMAIL_DIR/etc/access" \
        <"$SENDMAIL_DIR/etc/access"
}

sendmail_relay_domains() {
    printf '%s\n' "$@" >"$SENDMAIL_DIR/etc/relay-domains"
}

sendmail_start() {
    e2e_start_bg "$SENDMAIL_DIR/run/start.log" unshare --mount --uts --propagation private \
        "$SENDMAIL_DIR/sendmail-ns.sh"
    SENDMAIL_PID=$E2E_BG_PID
    e2e_defer sendmail_stop
    if ! e2e_wait_port 127.0.0.1 "$(sed -n 's/.*Port=\([0-9]*\).*/\1/p' "$SENDMAIL_DIR/etc/relaylab.mc" | head -n 1)" \
        20 "$SENDMAIL_PID"; then
        echo "sendmail did not start" >&2
        e2e_show_file "$SENDMAIL_DIR/run/start.log" >&2
        return 1
    fi
}

sendmail_stop() {
    [ -n "$SENDMAIL_PID" ] || return 0
    stop_pid "$SENDMAIL_PID" 15
    SENDMAIL_PID=
}

sendmail_ns() {
    nsenter -t "$SENDMAIL_PID" -m -u "$@"
}

sendmail_use_saslauthd() {
    # Cyrus asks saslauthd over its mux socket; the path includes "/mux".
    printf 'pwcheck_method: saslauthd\nsaslauthd_path: %s\nmech_list: PLAIN LOGIN\n' "$1" \
        >"$SENDMAIL_DIR/sasl/Sendmail.conf"
}

sendmail_saslauthd_start() {
    local dir=$1 mech=$2 option=$3
    shift 3
    mkdir -p "$dir"
    chmod 0755 "$dir"
    SASLAUTHD_MUX=$dir/mux
    SASLAUTHD_LOG=$dir/saslauthd.log
    # -d: foreground, log to stderr (no syslog here); -n 0: one short-lived child per request, so
    # stopping the parent by PID leaves no worker behind; no -c: every login is checked again.
    e2e_start_bg "$SASLAUTHD_LOG" saslauthd -a "$mech" -O "$option" -m "$dir" -d -n 0 "$@"
    SASLAUTHD_PID=$E2E_BG_PID
    e2e_defer sendmail_saslauthd_stop
    if ! e2e_wait_until 10 test -S "$SASLAUTHD_MUX" || ! alive "$SASLAUTHD_PID"; then
        echo "saslauthd did not create $SASLAUTHD_MUX" >&2
        e2e_show_file "$SASLAUTHD_LOG" >&2
        return 1
    fi
}

sendmail_saslauthd_stop() {
    [ -n "$SASLAUTHD_PID" ] || return 0
    stop_pid "$SASLAUTHD_PID" 10
    SASLAUTHD_PID=
}

sendmail_saslauthd_test() {
    testsaslauthd -f "$SASLAUTHD_MUX" -s smtp -u "$1" -p "$2" >/dev/null 2>&1
}
