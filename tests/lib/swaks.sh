# shellcheck shell=bash
# tests/lib/swaks.sh: one SMTP case = one swaks session and its checks (sourced after e2e.sh and sink.sh).
#
#   smtp_case DESC WANT_EXIT WANT_REPLY WANT_SINK SWAKS_ARGS...
#       WANT_EXIT   swaks' exit code (0 sent, 23 refused at MAIL, 24 at RCPT, 26 after DATA, 28 at AUTH)
#       WANT_REPLY  extended regex for one server reply line, anchored at its start ("550 5\.7\.1 ")
#       WANT_SINK   yes: the message must reach the sink within SWAKS_SINK_WAIT s; no: it must not be
#                   there (its token is kept in NEGATIVE_TOKENS: the test checks them again at the end)
#       Sets CASE_TOKEN (in Subject and Message-Id) and CASE_OUT (the swaks transcript).
#   expect_case DESC EXPECT SWAKS_ARGS...
#       EXPECT: sent | mail CODE ENH | rcpt CODE ENH | data CODE ENH | auth CODE ENH
#   submit LOGIN FROM TO EXPECT DESC [SWAKS_ARGS...]
#       expect_case over STARTTLS + AUTH on 127.0.0.1:${PORT:-$PORT_SUBMISSION}; MECH (default PLAIN),
#       PORT and TLS=no may be set in front of the call; the password is password_of LOGIN. With
#       SUBMIT_FROM_HEADER=yes the message's From: is FROM too (for relay-milter's header check).
#   password_of LOGIN   "alice-pw" for alice@example.test: the rule every e2e fixture follows
#   retry_until_delivered DESC SWAKS_ARGS...
#       up to 30 sessions 0.5 s apart until one is accepted and reaches the sink: one check. The refused
#       attempts join NEGATIVE_TOKENS; RETRY_OUT is the last transcript.
#
# Settings (set them before the first case):
#   SWAKS_CASE_PREFIX  token prefix, so a transcript names its test (default "case")
#   SWAKS_ARGS         array of arguments every session gets (e.g. --server HOST:PORT)
#   SWAKS_SENT_REPLY   the MTA's reply to an accepted message (default Postfix's "250 2.0.0 Ok: queued")
#   SWAKS_TIMEOUT      swaks --timeout (default 40 s)   SWAKS_SINK_WAIT  (default 20 s)
# A test may define case_diagnostics TRANSCRIPT: called after a failed case to print its daemon's log.

CASE_NO=0
NEGATIVE_TOKENS=()
SWAKS_ARGS=()

smtp_case() {
    local desc=$1 want_exit=$2 want_reply=$3 want_sink=$4 rc problems=
    shift 4
    CASE_NO=$((CASE_NO + 1))
    CASE_TOKEN=$(e2e_token "${SWAKS_CASE_PREFIX:-case}$CASE_NO")
    CASE_OUT=$E2E_DIR/swaks/$CASE_NO.txt
    mkdir -p "$E2E_DIR/swaks"
    echo "# $desc" >"$CASE_OUT"
    swaks --timeout "${SWAKS_TIMEOUT:-40}" --ehlo client.example.test "${SWAKS_ARGS[@]}" \
        --header "Subject: relay-e2e $CASE_TOKEN" --header "Message-Id: <$CASE_TOKEN@client.example.test>" \
        "$@" >>"$CASE_OUT" 2>&1
    rc=$?
    [ "$rc" = "$want_exit" ] || problems+="swaks exit $rc, want $want_exit; "
    # Server replies are the lines swaks marks "<-", "<~" (TLS) or "<**", "<~*" (unexpected reply).
    sed -n 's/^<[-~*]\{1,2\} *//p' "$CASE_OUT" | grep -Eq -- "^$want_reply" ||
        problems+="no reply /$want_reply/; "
    if [ "$want_sink" = yes ]; then
        sink_wait_for "$CASE_TOKEN" "${SWAKS_SINK_WAIT:-20}" || problems+="not delivered to the sink; "
    else
        NEGATIVE_TOKENS+=("$CASE_TOKEN")
        ! sink_has "$CASE_TOKEN" || problems+="reached the sink; "
    fi
    if [ -z "$problems" ]; then
        ok "$desc"
        return 0
    fi
    not_ok "$desc" "$problems(transcript: $CASE_OUT)"
    sed -n 's/^\(<[-~*]*\|\*\*\*\) *//p' "$CASE_OUT" | tail -n 4 | sed 's/^/#   swaks: /'
    if declare -F case_diagnostics >/dev/null; then case_diagnostics "$CASE_OUT"; fi
    return 1
}

expect_case() {
    local desc=$1 expect=$2 stage reply
    shift 2
    stage=${expect%% *}
    reply=${expect#* }
    case $stage in
        sent) smtp_case "$desc" 0 "${SWAKS_SENT_REPLY:-250 2\.0\.0 Ok: queued}" yes "$@" ;;
        mail) smtp_case "$desc" 23 "$reply " no "$@" ;;
        rcpt) smtp_case "$desc" 24 "$reply " no "$@" ;;
        data) smtp_case "$desc" 26 "$reply " no "$@" ;;
        auth) smtp_case "$desc" 28 "$reply " no "$@" ;;
        *) not_ok "$desc" "bad expectation '$expect'" ;;
    esac
}

password_of() { printf '%s-pw' "${1%@*}"; }

submit() {
    local login=$1 from=$2 to=$3 expect=$4 desc=$5 tls=() header=()
    shift 5
    [ "${TLS:-yes}" = yes ] && tls=(--tls)
    [ "${SUBMIT_FROM_HEADER:-no}" = yes ] && header=(--header "From: $from")
    expect_case "$desc" "$expect" --server "127.0.0.1:${PORT:-$PORT_SUBMISSION}" "${tls[@]}" \
        --auth "${MECH:-PLAIN}" --auth-user "$login" --auth-password "$(password_of "$login")" \
        --from "$from" --to "$to" "${header[@]}" "$@"
}

retry_until_delivered() {
    local desc=$1 i tok delivered=no
    shift
    mkdir -p "$E2E_DIR/swaks"
    for ((i = 1; i <= 30; i++)); do
        tok=$(e2e_token back)
        RETRY_OUT=$E2E_DIR/swaks/back-$i.txt
        if swaks "$@" --header "Subject: relay-e2e $tok" >"$RETRY_OUT" 2>&1; then
            delivered=$tok
            break
        fi
        NEGATIVE_TOKENS+=("$tok")
        sleep 0.5
    done
    if [ "$delivered" != no ] && sink_wait_for "$delivered" 20; then
        ok "$desc ($i attempts)"
        return 0
    fi
    not_ok "$desc" "last: $RETRY_OUT"
    return 1
}

# check_refused_never_delivered [WHAT]: none of the refused cases' messages is in the sink (run it last,
# once the MTA's queue is empty, so a message that was accepted by mistake has had time to arrive).
check_refused_never_delivered() {
    local tok leaked=()
    for tok in "${NEGATIVE_TOKENS[@]}"; do
        sink_has "$tok" && leaked+=("$tok")
    done
    if [ ${#leaked[@]} -eq 0 ]; then
        ok "none of the ${#NEGATIVE_TOKENS[@]} refused messages reached the sink${1:+ ($1)}"
    else
        not_ok "none of the refused messages reached the sink" "leaked: ${leaked[*]}"
    fi
}
