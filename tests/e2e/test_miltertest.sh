#!/bin/bash
# End to end without an MTA: miltertest (the Debian package) plays Sendmail/Postfix against the real
# relay-milter binary, whose rules live in a private MariaDB. Every case of the relay-policyd e2e list
# that a milter can see, plus the From:/Sender: header cases.
#
#   tests/e2e/test_miltertest.sh BUILD_DIR          (ctest: e2e_miltertest)
#
# Ports (127.0.0.1): relay-milter 12255, a second instance for the privilege check 12256.
# Each case runs tests/e2e/milter/transaction.lua once; the Lua script reports the milter's answer per
# step ("mail=continue rcpt1=replycode ..."), and the SMTP code + enhanced status of a refusal are read
# from relay-milter's log line for that queue id (miltertest only shows reply codes at end of message).

BUILD_DIR=$1
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e mariadb swaks; do  # swaks.sh: password_of
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

PORT_MILTER=12255
PORT_MILTER2=12256
LUA=$SRC_DIR/tests/e2e/milter/transaction.lua
NEGOTIATE_LUA=$SRC_DIR/tests/e2e/milter/negotiate.lua

require miltertest mariadbd mariadb mariadb-install-db
e2e_init miltertest "$BUILD_DIR"
# shellcheck source=/dev/null
. "$SRC_DIR/tests/e2e/milter/common.sh"
mkdir -p "$E2E_DIR/mt"
CASE_NO=0

# mt_case DESC WANT_RESULT WANT_REPLY [-D name=value ...]
#   WANT_RESULT  the Lua script's result line without "result ", e.g. "mail=continue rcpt1=replycode"
#   WANT_REPLY   "550 5.7.1": relay-milter logged this reply for the case's queue id; "" for none
mt_case() {
    local desc=$1 want=$2 reply=$3 out got rc problems=
    shift 3
    CASE_NO=$((CASE_NO + 1))
    CASE_QID=MT$(printf '%03d' "$CASE_NO")
    out=$E2E_DIR/mt/$CASE_NO.txt
    echo "# $desc" >"$out"
    miltertest -s "$LUA" -D "sock=inet:$PORT_MILTER@127.0.0.1" -D "qid=$CASE_QID" "$@" >>"$out" 2>&1
    rc=$?
    got=$(sed -n 's/^result //p' "$out")
    [ "$rc" = 0 ] || problems+="miltertest exit $rc; "
    [ "$got" = "$want" ] || problems+="got '$got', want '$want'; "
    if [ -n "$reply" ] && ! milter_log_has "queue_id=$CASE_QID(\\.[0-9]+)? .* reply=\"$reply " 3; then
        problems+="no reply '$reply' logged for $CASE_QID; "
    fi
    if [ -z "$problems" ]; then
        ok "$desc"
        return 0
    fi
    not_ok "$desc" "$problems(output: $out)"
    grep "queue_id=$CASE_QID" "$MILTER_LOG" | tail -n 2 | cut -c1-300 | sed 's/^/#   milter: /'
    return 1
}

# mt LOGIN SENDER EXPECT DESC [-D ...]: LOGIN "-" = no SASL login; From: defaults to the sender.
#   EXPECT: ok | accept | mail CODE ENH | rcpt CODE ENH | eoh CODE ENH | eom CODE ENH
mt() {
    local login=$1 sender=$2 expect=$3 desc=$4 want reply=
    shift 4
    local args=(-D "sender=$sender" -D "from=$sender" -D "rcpts=rcpt@external.test" -D tls=yes)
    [ "$login" = - ] || args+=(-D "login=$login")
    case $expect in
        ok) want="mail=continue rcpt1=continue eoh=continue eom=continue" ;;
        accept) want="mail=accept" ;;
        mail\ *) want="mail=replycode"; reply=${expect#mail } ;;
        rcpt\ *) want="mail=continue rcpt1=replycode"; reply=${expect#rcpt } ;;
        eoh\ *) want="mail=continue rcpt1=continue eoh=replycode"; reply=${expect#eoh } ;;
        eom\ *) want="mail=continue rcpt1=continue eoh=continue eom=replycode"; reply=${expect#eom } ;;
    esac
    mt_case "$desc" "$want" "$reply" "${args[@]}" "$@"
}

cases_accounts() {
    mt alice@example.test alice@example.test ok "authorised user, own address: accepted through eom"
    mt noauth@example.test noauth@example.test "mail 550 5.7.1" "user without SMTP authority: 550 5.7.1 at MAIL"
    mt nobody@example.test nobody@example.test "mail 550 5.7.1" "login without any user row: 550 5.7.1"
    mt disabled@example.test disabled@example.test "mail 550 5.7.1" "disabled authority: 550 5.7.1"
    mt suspended@example.test suspended@example.test "mail 550 5.7.1" "suspended account: 550 5.7.1"
    mt expired@example.test expired@example.test "mail 550 5.7.1" "expired account: 550 5.7.1"
    mt Alice@Example.TEST alice@example.test ok "login matched case-insensitively"
}

cases_senders() {
    mt alice@example.test someone@foreign.test "mail 550 5.7.1" "foreign sender domain: 550 5.7.1"
    mt alice@example.test alice+news@example.test ok "own_address: +extension: accepted"
    mt alice@example.test other@example.test "mail 550 5.7.1" "own_address: other address of the domain: 550 5.7.1"
    mt alice@example.test anyone@alias.test ok "authority_senders @alias.test: accepted"
    mt bob@example.test someone@example.test ok "own_domain: another address of the domain: accepted"
    mt bob@example.test bob@example.org "mail 550 5.7.1" "own_domain: the customer's other domain: 550 5.7.1"
    mt carol@example.test sales@example.org ok "customer_domains: the customer's other domain: accepted"
    mt carol@example.test carol@other.test "mail 550 5.7.1" "customer_domains: another customer's domain: 550 5.7.1"
    mt dave@example.test news@example.org ok "listed_only: the listed sender: accepted"
    mt dave@example.test dave@example.test "mail 550 5.7.1" "listed_only: the login itself: 550 5.7.1"
    mt alice@example.test "" "mail 550 5.7.1" "null sender without allow_null_sender: 550 5.7.1" \
        -D "from=alice@example.test"
    mt nullok@example.test "" ok "null sender with allow_null_sender: accepted" -D "from=nullok@example.test"
    mt alice@example.test "alice@exa mple.test" "mail 553 5.1.7" "malformed envelope sender: 553 5.1.7" \
        -D "from=alice@example.test"
}

cases_clients() {
    mt netuser@example.test netuser@example.test ok "authority_networks 127.0.0.1/32, client 127.0.0.1: accepted"
    mt netuser@example.test netuser@example.test "mail 550 5.7.1" \
        "authority_networks 127.0.0.1/32, client 127.0.0.2: 550 5.7.1" -D client=127.0.0.2
    mt - printer@example.test ok "IP-authorised printer (127.0.0.3) without SASL: checked, accepted" \
        -D client=127.0.0.3
    mt - printer@example.test accept "printer's sender from 127.0.0.4: not ours, accepted untouched at MAIL" \
        -D client=127.0.0.4
    mt - someone@foreign.test accept "unauthenticated inbound mail: accepted untouched at MAIL"
    mt tlsuser@example.test tlsuser@example.test "mail 530 5.7.0" "require_tls without TLS: 530 5.7.0" \
        -D tls=no
    mt tlsuser@example.test tlsuser@example.test ok "require_tls with TLS: accepted"
    mt alice@example.test alice@example.test ok "no require_tls, no TLS: accepted" -D tls=no
}

cases_recipients_and_size() {
    mt localonly@example.test localonly@example.test "rcpt 550 5.7.1" \
        "may_relay_external = 0, external recipient: 550 5.7.1 at RCPT"
    mt localonly@example.test localonly@example.test ok "may_relay_external = 0, local recipient: accepted" \
        -D "rcpts=colleague@example.org"
    mt_case "max_recipients_per_message = 2: third recipient 452 4.5.3, message accepted for two" \
        "mail=continue rcpt1=continue rcpt2=continue rcpt3=replycode eoh=continue eom=continue" "452 4.5.3" \
        -D login=capped@example.test -D sender=capped@example.test -D from=capped@example.test \
        -D "rcpts=r1@external.test,r2@external.test,r3@external.test"
    if milter_log_has "queue_id=$CASE_QID stage=end_of_message .* rcpts=2 "; then
        ok "the capped message was counted with 2 recipients at eom"
    else
        not_ok "the capped message was counted with 2 recipients at eom"
    fi
    mt small@example.test small@example.test ok "max_message_bytes = 2000, small message: accepted"
    mt small@example.test small@example.test "eom 552 5.3.4" \
        "max_message_bytes = 2000, 10 kB message: 552 5.3.4 at eom (body bytes counted)" -D body=10000
    mt small@example.test small@example.test "mail 552 5.3.4" "max_message_bytes = 2000, SIZE=10000: 552 5.3.4 at MAIL" \
        -D mailarg=SIZE=10000
}

cases_rate_limits() {
    local out=$E2E_DIR/mt/limited.txt
    mt limited@example.test limited@example.test ok "rate limit 2 messages/hour: first message accepted"
    mt limited@example.test limited@example.test ok "rate limit 2 messages/hour: second message accepted"
    CASE_NO=$((CASE_NO + 1))
    miltertest -s "$LUA" -D "sock=inet:$PORT_MILTER@127.0.0.1" -D "qid=MTLIMIT" -D login=limited@example.test \
        -D sender=limited@example.test -D from=limited@example.test >"$out" 2>&1
    if grep -Eq '^result .*(rcpt1|eom)=replycode' "$out" &&
        milter_log_has 'queue_id=MTLIMIT .*reason=rate_limited status=tempfail reply="4[0-9][0-9] 4\.'; then
        ok "rate limit 2 messages/hour: third message deferred (4xx, tempfail, reason rate_limited)"
    else
        not_ok "rate limit: third message deferred" "$(cat "$out"; grep MTLIMIT "$MILTER_LOG" | tail -n 2)"
    fi
    mt held@example.test held@example.test ok "rate limit with action hold: first message accepted normally"
    mt_case "rate limit with action hold: second message accepted into quarantine (smfi_quarantine)" \
        "mail=continue rcpt1=continue eoh=continue eom=continue quarantine=yes" "" -D login=held@example.test \
        -D sender=held@example.test -D from=held@example.test -D rcpts=rcpt@external.test
}

cases_headers() {
    mt alice@example.test alice@example.test "eoh 550 5.7.1" "foreign From: 550 5.7.1 at end of headers" \
        -D "from=Mallory <mallory@evil.test>"
    mt alice@example.test alice@example.test "eoh 550 5.6.0" "two From: headers: 550 5.6.0" \
        -D "from2=alice@example.test"
    mt alice@example.test alice@example.test "eoh 550 5.6.0" "no From: header: 550 5.6.0" -D "from=(none)"
    mt alice@example.test alice@example.test "eoh 550 5.6.0" "empty From: header: 550 5.6.0" -D "from="
    mt alice@example.test alice@example.test "eoh 550 5.6.0" "unparseable From: 550 5.6.0" \
        -D "from=Alice <alice@example.test"
    mt alice@example.test alice@example.test ok "display name, comment, folding: accepted" \
        -D "from=\"Smith, Alice\" (work)"$'\r\n'" <alice@example.test>"
    mt alice@example.test alice@example.test ok "group syntax with an owned member: accepted" \
        -D "from=Me: Alice <alice@example.test>;"
    mt alice@example.test alice@example.test "eoh 550 5.7.1" "group syntax with a foreign member: 550 5.7.1" \
        -D "from=Us: alice@example.test, eve@evil.test;"
    mt alice@example.test alice@example.test ok "encoded-word display name: accepted" \
        -D "from==?utf-8?q?Alice_M=C3=BCller?= <alice@example.test>"
    mt alice@example.test alice@example.test "eoh 550 5.7.1" \
        "encoded word hiding an owned address before a foreign one: 550 5.7.1" \
        -D "from==?utf-8?q?alice@example.test?= <eve@evil.test>"
    mt alice@example.test alice@example.test "eoh 550 5.7.1" "two From: addresses, one foreign: 550 5.7.1" \
        -D "from=alice@example.test, eve@evil.test"
    mt alice@example.test mallory@evil.test "mail 550 5.7.1" "From: owned, envelope not: 550 5.7.1 at MAIL" \
        -D "from=alice@example.test"
    mt alice@example.test alice@example.test "eoh 550 5.7.1" "envelope owned, From: not: 550 5.7.1 at eoh" \
        -D "from=bob@example.test"
    mt alice@example.test alice@example.test ok "From: in an authority_senders domain: accepted" \
        -D "from=news@alias.test"
    mt alice@example.test alice@example.test "eoh 550 5.7.1" "foreign Sender: 550 5.7.1" \
        -D "senderhdr=eve@evil.test"
    mt - printer@example.test "eoh 550 5.7.1" "IP-authorised printer with a foreign From: 550 5.7.1" \
        -D client=127.0.0.3 -D "from=ceo@evil.test"
    mt_case "three messages on one connection: each checked on its own" \
        "$(for n in "" .2 .3; do printf 'mail%s=continue rcpt1%s=continue rcpt2%s=continue eoh%s=continue eom%s=continue ' $n $n $n $n $n; done | sed 's/ $//')" \
        "" -D login=capped@example.test -D sender=capped@example.test -D from=capped@example.test \
        -D "rcpts=r1@external.test,r2@external.test" -D messages=3
}

cases_negotiation() {
    local out=$E2E_DIR/mt/negotiate.txt
    if miltertest -s "$NEGOTIATE_LUA" -D "sock=inet:$PORT_MILTER@127.0.0.1" >"$out" 2>&1 &&
        grep -q '^negotiated setsymlist=true quarantine=true nr_conn=true nr_helo=true nr_hdr=true nr_body=true nodata=true$' "$out"; then
        ok "negotiation: asks for macros (SMFIF_SETSYMLIST), quarantine, no replies to connect/HELO/headers/body, no DATA"
    else
        not_ok "negotiation flags" "$(cat "$out")"
    fi
}

# refused_within SECONDS LOGIN DESC: repeat a MAIL as LOGIN (new connection each time) until refused.
refused_within() {
    local limit_ms=$(($1 * 1000)) login=$2 desc=$3 start end i out
    start=$(e2e_now_ms)
    for ((i = 1; i <= 60; i++)); do
        out=$E2E_DIR/mt/poll-$login-$i.txt
        miltertest -s "$LUA" -D "sock=inet:$PORT_MILTER@127.0.0.1" -D "qid=POLL$i$RANDOM" -D "login=$login" \
            -D "sender=$login" -D "from=$login" >"$out" 2>&1
        end=$(e2e_now_ms)
        if grep -q '^result mail=replycode' "$out"; then
            if [ $((end - start)) -le "$limit_ms" ]; then ok "$desc (after $((end - start)) ms)"; else
                not_ok "$desc" "refused only after $((end - start)) ms"; fi
            return
        fi
        [ $((end - start)) -gt $((limit_ms + 1000)) ] && break
        sleep 0.1
    done
    not_ok "$desc" "not refused after $((end - start)) ms ($out)"
}

cases_live_changes() {
    mt erin@example.test erin@example.test ok "erin before the change: accepted"
    milter_db "UPDATE smtp_authorities a JOIN users u ON u.id = a.user_id SET a.active = 0 WHERE u.local_part = 'erin'"
    refused_within 2 erin@example.test "authority disabled in SQL while relay-milter runs: refused within 2 s"
    mt frank@example.test frank@example.test ok "frank before deletion: accepted"
    milter_db "DELETE u FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.local_part = 'frank'"
    refused_within 2 frank@example.test "deleted account: refused within 2 s"
}

cases_database_down() {
    local i out back=no
    mariadb_stop
    e2e_log "database stopped; waiting $((MILTER_MAX_STALE + 1)) s (max_stale = $MILTER_MAX_STALE)"
    sleep $((MILTER_MAX_STALE + 1))
    mt alice@example.test alice@example.test "mail 451 4.3.0" "database down, rules stale: 451 4.3.0 (tempfail), never accepted"
    mt - someone@foreign.test accept "database down: unauthenticated inbound mail still accepted untouched"
    check_cmd "relay-milter still running with the database down" alive "$MILTER_PID"
    mariadb_start "$E2E_DIR/db" || { not_ok "database restarted"; return; }
    for ((i = 1; i <= 40; i++)); do
        out=$E2E_DIR/mt/back-$i.txt
        miltertest -s "$LUA" -D "sock=inet:$PORT_MILTER@127.0.0.1" -D "qid=BACK$i" -D login=alice@example.test \
            -D sender=alice@example.test -D from=alice@example.test >"$out" 2>&1
        if grep -q '^result mail=continue rcpt1=continue eoh=continue eom=continue$' "$out"; then
            back=yes
            break
        fi
        sleep 0.5
    done
    if [ "$back" = yes ]; then ok "database back: accepted again without a restart ($i attempts)"; else
        not_ok "database back: accepted again without a restart" "$(cat "$out")"; fi
}

cases_process() {
    local conf2=$E2E_DIR/relay-milter-nobody.conf log2=$E2E_DIR/relay-milter-nobody.log pid2 uid out rc
    check_cmd "--version names relay-milter and libmilter" \
        bash -c "'$MILTER_BIN' --version | grep -q '^relay-milter .*libmilter'"
    check_cmd "--help describes the milter" bash -c "'$MILTER_BIN' --help | grep -q 'INPUT_MAIL_FILTER'"
    check_cmd "--check-config prints [milter] with the password masked" \
        bash -c "'$MILTER_BIN' --config '$E2E_DIR/relay-milter.conf' --check-config | grep -q '^header_from_action = reject' &&
                 ! '$MILTER_BIN' --config '$E2E_DIR/relay-milter.conf' --check-config | grep -q '$MILTER_DB_PASSWORD'"
    printf '[milter]\nheader_from_action = sometimes\n' >"$E2E_DIR/bad.conf"
    "$MILTER_BIN" --config "$E2E_DIR/bad.conf" --check-config >"$E2E_DIR/bad.out" 2>&1
    rc=$?
    if [ "$rc" = 2 ] && grep -q 'header_from_action' "$E2E_DIR/bad.out"; then
        ok "a bad [milter] value is refused with exit 2, naming the key"
    else
        not_ok "a bad [milter] value is refused with exit 2, naming the key" "exit $rc: $(head -c 300 "$E2E_DIR/bad.out")"
    fi

    # Privilege drop: a second instance binds as root, then runs as nobody and still answers.
    sed -e "s/^listen = .*/listen = inet:$PORT_MILTER2@127.0.0.1/" -e 's/^user = root/user = nobody/' \
        -e 's/^group = root/group = nogroup/' -e '/^allow_root/d' "$E2E_DIR/relay-milter.conf" >"$conf2"
    e2e_start_bg "$log2" "$MILTER_BIN" --config "$conf2" --foreground
    pid2=$E2E_BG_PID
    if e2e_wait_port 127.0.0.1 "$PORT_MILTER2" 15 "$pid2"; then
        uid=$(awk '/^Uid:/ {print $3}' "/proc/$pid2/status")
        if [ "$uid" = "$(id -u nobody)" ]; then ok "binds as root, then runs as nobody (uid $uid)"; else
            not_ok "binds as root, then runs as nobody" "effective uid $uid"; fi
        out=$(miltertest -s "$LUA" -D "sock=inet:$PORT_MILTER2@127.0.0.1" -D qid=NOBODY -D sender=x@foreign.test 2>&1)
        if [ "$out" = "result mail=accept" ]; then ok "the unprivileged instance answers"; else
            not_ok "the unprivileged instance answers" "$out"; fi
    else
        not_ok "second instance listens on $PORT_MILTER2" "$(tail -n 5 "$log2")"
    fi
    stop_pid "$pid2" 15
    ! alive "$pid2"
    check_cmd "SIGTERM stops the unprivileged instance" test $? = 0

    # Daemon mode: detaches once the socket is bound, exits 0, writes the pid file; a start-up failure
    # (the port is taken) is an exit status 1 with the reason on stderr.
    local conf3=$E2E_DIR/relay-milter-daemon.conf pidfile=$E2E_DIR/relay-milter-daemon.pid dpid
    sed -e "s/^listen = .*/listen = inet:$PORT_MILTER2@127.0.0.1/" "$E2E_DIR/relay-milter.conf" >"$conf3"
    if "$MILTER_BIN" --config "$conf3" --pid-file "$pidfile" >"$E2E_DIR/daemon.out" 2>&1; then
        dpid=$(cat "$pidfile" 2>/dev/null)
        if [ -n "$dpid" ] && alive "$dpid" && e2e_port_open 127.0.0.1 "$PORT_MILTER2"; then
            ok "daemon mode: returns 0 once serving, pid file written, listening"
        else
            not_ok "daemon mode: returns 0 once serving, pid file written, listening" "pid '$dpid'"
        fi
        "$MILTER_BIN" --config "$conf3" >"$E2E_DIR/daemon2.out" 2>&1
        rc=$?
        if [ "$rc" = 1 ] && grep -q 'cannot listen' "$E2E_DIR/daemon2.out"; then
            ok "daemon mode: a second instance on the same port exits 1 and says why"
        else
            not_ok "daemon mode: a second instance on the same port exits 1" "exit $rc: $(head -c 300 "$E2E_DIR/daemon2.out")"
        fi
        stop_pid "$dpid" 15
        if alive "$dpid"; then not_ok "daemon mode: SIGTERM stops the detached daemon"; else
            ok "daemon mode: SIGTERM stops the detached daemon"; fi
    else
        not_ok "daemon mode: starts" "$(head -c 300 "$E2E_DIR/daemon.out")"
    fi

    local t0
    t0=$(e2e_now_ms)
    kill -TERM "$MILTER_PID"
    if e2e_wait_until 10 eval "! alive $MILTER_PID"; then
        wait "$MILTER_PID" 2>/dev/null
        rc=$?
        if [ "$rc" = 0 ]; then ok "SIGTERM: clean stop, exit 0, in $(($(e2e_now_ms) - t0)) ms"; else
            not_ok "SIGTERM: clean stop" "exit status $rc"; fi
    else
        not_ok "SIGTERM: stops within 10 s"
    fi
    milter_check_log_clean
}

# ---- main ----------------------------------------------------------------------------------------

if [ ! -x "$MILTER_BIN" ]; then
    not_ok "relay-milter is built ($MILTER_BIN)" "build the target relay-milter first"
    finish
fi
e2e_ports_free "$PORT_MILTER" "$PORT_MILTER2" || { not_ok "test ports are free"; finish; }
e2e_defer mariadb_stop
if ! mariadb_start "$E2E_DIR/db" || ! milter_setup_database relay_authority || ! milter_start "$PORT_MILTER"; then
    not_ok "start MariaDB and relay-milter"
    e2e_show_file "$E2E_DIR/relay-milter.log" 20
    finish
fi
ok "started MariaDB (schema + fixtures) and relay-milter on inet:$PORT_MILTER@127.0.0.1"

cases_negotiation
cases_accounts
cases_senders
cases_clients
cases_recipients_and_size
cases_headers
cases_rate_limits
cases_live_changes
cases_database_down
cases_process

e2e_finish
