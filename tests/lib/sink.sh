# shellcheck shell=bash
# smtp-sink (from the postfix package) as the relayhost / smart host of the test MTAs: it accepts every
# message and writes each one, envelope and content, to a file of its own. Needs e2e.sh sourced first.
#
#   sink_start DIR PORT           listen on 127.0.0.1:PORT, one file per message under DIR/mail/.
#                                 Sets SINK_PID, SINK_MAIL_DIR; registers sink_stop with e2e_defer.
#   sink_stop                     stop it by PID (bounded wait)
#   sink_has TOKEN                true if a stored message contains TOKEN (fixed string)
#   sink_wait_for TOKEN [SECS]    wait until a message with TOKEN arrives (default 15 s)
#   sink_file_for TOKEN           print the file(s) holding TOKEN
#   sink_count                    number of stored messages

SINK_PID=

sink_start() {
    local dir=$1 port=$2
    SINK_MAIL_DIR=$dir/mail
    mkdir -p "$SINK_MAIL_DIR"
    chmod 0755 "$dir"
    # smtp-sink drops root privileges to nobody before it writes the files.
    chown nobody "$SINK_MAIL_DIR"
    e2e_start_bg "$dir/sink.log" smtp-sink -u nobody -h sink.example.test \
        -d "$SINK_MAIL_DIR/%Y%m%d%H%M%S." "127.0.0.1:$port" 64
    SINK_PID=$E2E_BG_PID
    e2e_defer sink_stop
    if ! e2e_wait_port 127.0.0.1 "$port" 10 "$SINK_PID"; then
        echo "smtp-sink did not listen on 127.0.0.1:$port" >&2
        e2e_show_file "$dir/sink.log" >&2
        return 1
    fi
}

sink_stop() {
    [ -n "$SINK_PID" ] || return 0
    stop_pid "$SINK_PID" 10
    SINK_PID=
}

sink_has() {
    grep -rqF -e "$1" "$SINK_MAIL_DIR" 2>/dev/null
}

sink_wait_for() {
    e2e_wait_until "${2:-15}" sink_has "$1"
}

sink_file_for() {
    grep -rlF -e "$1" "$SINK_MAIL_DIR" 2>/dev/null
}

sink_count() {
    find "$SINK_MAIL_DIR" -type f | wc -l
}
