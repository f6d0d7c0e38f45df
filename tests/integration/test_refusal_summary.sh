#!/usr/bin/env bash
# [general] refusal_summary (issue 16): a refusal flood logged line by line, then summarised.
#   tests/integration/test_refusal_summary.sh BUILD_DIR
# Starts a private MariaDB (tests/lib/mariadb.sh) with the schema and sample data, then the real
# relay-policyd on 127.0.0.1:12213, and floods it with RCPT requests of alice@example.com giving a sender
# she does not own (sender_not_owned), with policy-bench:
#   refusal_summary = 0 (default)  every refusal is a line;
#   SIGHUP to 1s                   the first refusal of a second in full, then "refusal summary:" lines
#                                  written while the daemon runs; full lines + more= add up to the flood;
#   SIGHUP to 1h, then SIGTERM     what was counted is said at the stop.
# Exit 0 = all passed, 77 = skipped (no MariaDB / binary), 1 = a check failed.
set -u

BUILD=$(cd "${1:?usage: test_refusal_summary.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/relay-policyd
BENCH=$BUILD/policy-bench
PORT=12213
FLOOD=300

. "$SRC/tests/lib/mariadb.sh"

mariadb_available || skip "MariaDB is not installed"
[ -x "$BIN" ] || skip "$BIN not built"
[ -x "$BENCH" ] || skip "$BENCH not built"

work_dir test-refusal-summary

check_or_finish "MariaDB with schema and sample data" mariadb_start_sample "$WORK/db" relay_it it-pw

write_config() {
    relay_write_config "$WORK/policyd.conf" "[general]" "log_level = info" "node = it-refusal-summary" \
        "refusal_summary = $1" "$(mariadb_database_section relay_it it-pw)" "$(relay_policyd_section "$PORT")"
}

cat >"$WORK/flood.txt" <<'REQ'
protocol_state=RCPT
client_address=192.0.2.7
sasl_method=PLAIN
sasl_username=alice@example.com
encryption_protocol=TLSv1.3
sender=someone@foreign.example
recipient=x@example.org
recipient_count=0
instance=it.1
REQ

# flood: FLOOD requests on one connection; true when all were answered with a 5xx.
flood() {
    timeout 60 "$BENCH" --target "inet:127.0.0.1:$PORT" --requests-file "$WORK/flood.txt" --connections 1 \
        --requests "$FLOOD" --json >"$WORK/bench.json" 2>&1 &&
        grep -q "\"actions\":{\"5[0-9][0-9] [^\"]*\":$FLOOD}" "$WORK/bench.json"
}
full_lines() { grep -c 'rcpt: .* login=alice@example.com .*reason=sender_not_owned' "$WORK/policyd.log"; }
summarised() {
    grep -F 'refusal summary: login=alice@example.com reason=sender_not_owned ' "$WORK/policyd.log" |
        sed -n 's/.* more=\([0-9]*\) .*/\1/p' | awk '{ s += $1 } END { print s + 0 }'
}
wait_for_log() {  # PATTERN COUNT: up to 15 s for COUNT lines matching PATTERN
    local i
    for ((i = 0; i < 150; i++)); do
        [ "$(grep -c -- "$1" "$WORK/policyd.log")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

write_config 0
start_daemon "$WORK/policyd.log" "ready on" "$BIN" --config "$WORK/policyd.conf" --foreground ||
    { not_ok "relay-policyd starts" "$(cat "$WORK/policyd.log")"; finish; }
PID=$DAEMON_PID

check_cmd "refusal_summary = 0: $FLOOD refusals answered 5xx" flood
check "refusal_summary = 0: one line per refusal" "$(full_lines)" "$FLOOD"
check "refusal_summary = 0: no summary line" "$(grep -c 'refusal summary:' "$WORK/policyd.log")" "0"

write_config 1s
kill -HUP "$PID"
check_cmd "SIGHUP applies refusal_summary" wait_for_log "configuration reloaded" 1
before=$(full_lines)
check_cmd "refusal_summary = 1s: $FLOOD refusals answered 5xx" flood
check_cmd "refusal_summary = 1s: a summary line is written while the daemon runs" \
    wait_for_log "refusal summary: login=alice@example.com reason=sender_not_owned more=[0-9]* interval=1s until=" 1
sleep 1.1  # the interval of the last refusal has ended; its summary comes within about a second
wait_for_log "refusal summary:" 1
for ((i = 0; i < 30; i++)); do
    [ $(($(full_lines) - before + $(summarised))) -ge "$FLOOD" ] && break
    sleep 0.1
done
written=$(($(full_lines) - before))
check "refusal_summary = 1s: lines in full + more= add up to the flood exactly" "$((written + $(summarised)))" "$FLOOD"
check "refusal_summary = 1s: fewer lines in full than refusals" "$([ "$written" -lt "$FLOOD" ] && echo yes || echo "no ($written)")" "yes"

write_config 1h
kill -HUP "$PID"
check_cmd "SIGHUP applies refusal_summary = 1h" wait_for_log "configuration reloaded" 2
before_full=$(full_lines) before_more=$(summarised)
check_cmd "refusal_summary = 1h: $FLOOD refusals answered 5xx" flood
stop_pid "$PID"
check "refusal_summary = 1h: what was counted is said at the stop, before 'stopped'" \
    "$(($(full_lines) - before_full + $(summarised) - before_more))" "$FLOOD"
check "the summary comes before 'relay-policyd stopped'" \
    "$(grep -n -e 'refusal summary:.*interval=3600s' -e 'relay-policyd stopped' "$WORK/policyd.log" | tail -1 | grep -c stopped)" "1"

finish
