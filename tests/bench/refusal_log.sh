#!/usr/bin/env bash
# The cost of the decision log under a refusal flood (issue 16): one private MariaDB (ACCOUNTS bench
# accounts), the null server and three relay-policyd on it, logging to a file (--foreground, stderr):
#   each     the default: one line per refused request;
#   summary  [general] refusal_summary = 60s: the first refusal of a login and reason per minute in full,
#            then one "refusal summary:" line per login and reason;
#   off      log_level = notice: refusals (logged at info) are not logged at all.
# policy-bench floods each with RCPT requests of REFUSING logins giving a sender they do not own
# (reason sender_not_owned), in interleaved rounds (the order rotates), and the script prints requests/s,
# the ratio to the null server of the same round, and the log bytes written per second of the run.
#
#   tests/bench/refusal_log.sh BUILD_DIR     (on demand, under /tmp/relay-tests.lock)
# Knobs: BENCH_ROUNDS=3, BENCH_SECONDS=4, BENCH_CONNECTIONS=50, BENCH_ACCOUNTS=1000, BENCH_REFUSING=100.
# Ports (127.0.0.1): 12462 (each), 12463 (summary), 12464 (off), 12465 (null server).
set -u
BUILD=$(cd "${1:?usage: refusal_log.sh BUILD_DIR}" && pwd)
ROUNDS=${BENCH_ROUNDS:-3} SECONDS_RUN=${BENCH_SECONDS:-4} CONN=${BENCH_CONNECTIONS:-50}
ACCOUNTS=${BENCH_ACCOUNTS:-1000} REFUSING=${BENCH_REFUSING:-100}
WORK=$BUILD/bench-refusal-log
# shellcheck source=tests/bench/two_daemons.sh
. "$(dirname "$0")/two_daemons.sh"

# REFUSING logins, each sending as an address of a domain nobody owns: refused at RCPT, sender_not_owned.
for ((n = 0; n < REFUSING; n++)); do
    printf 'protocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=192.0.2.%d\nclient_name=unknown\n' $((n % 250 + 1))
    printf 'sasl_method=PLAIN\nsasl_username=user%d@bench%d.example\nsender=someone@foreign.example\n' "$n" $((n / 10))
    printf 'recipient=rcpt%d@external.example\nrecipient_count=0\nqueue_id=\ninstance=bench.%d\nsize=0\n\n' "$n" "$n"
done >"$WORK/flood.txt"

# start_policyd NAME PORT EXTRA_CONFIG_LINES: ready when a refusal comes back (the rules are loaded).
start_policyd() {
    printf '[general]\nnode = bench-%s\n%s\n[database]\nsocket = %s\nuser = relay_bench\npassword = bench-pw\n' \
        "$1" "$3" "$MARIADB_SOCKET" >"$WORK/$1.conf"
    printf 'name = relay_authority\n[policyd]\nlisten = inet:127.0.0.1:%s\nuser = root\ngroup = root\nallow_root = yes\n' \
        "$2" >>"$WORK/$1.conf"
    "$BUILD/relay-policyd" --config "$WORK/$1.conf" --foreground >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    local i
    for ((i = 0; i < 100; i++)); do
        "$BENCH" --target "inet:127.0.0.1:$2" --requests-file "$WORK/flood.txt" --connections 1 --requests 1 \
            --json 2>/dev/null | grep -q '"actions":{"5' && return 0
        sleep 0.2
    done
    echo "$1 did not start:" >&2
    cat "$WORK/$1.log" >&2
    return 1
}
"$BENCH" --null-server inet:127.0.0.1:12465 --threads 2 >"$WORK/null.log" 2>&1 &
PIDS+=($!)
start_policyd each 12462 "" && start_policyd summary 12463 "refusal_summary = 60s" &&
    start_policyd off 12464 "log_level = notice" || exit 1

# flood PORT LOG: "requests/s log_bytes/s" (log bytes over the wall time of the run, warm-up included)
flood() {
    local before after t0 t1 rps
    before=$(stat -c %s "$2" 2>/dev/null || echo 0)
    t0=$(date +%s.%N)
    rps=$("$BENCH" --target "inet:127.0.0.1:$1" --requests-file "$WORK/flood.txt" --connections "$CONN" \
        --warmup 1 --duration "$SECONDS_RUN" --json |
        python3 -c 'import json,sys; print(int(json.load(sys.stdin)["requests_per_s"]))')
    t1=$(date +%s.%N)
    after=$(stat -c %s "$2" 2>/dev/null || echo 0)
    echo "$rps $(python3 -c "print(int(($after - $before) / ($t1 - $t0)))")"
}

names=(null each summary off) ports=(12465 12462 12463 12464)
declare -A RPS BYTES
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
    line="round $r:"
    for ((k = 0; k < 4; k++)); do
        i=$(((k + r - 1) % 4))  # the order rotates, so a drift in the machine's load favours nobody
        read -r rps bps < <(flood "${ports[$i]}" "$WORK/${names[$i]}.log")
        RPS[${names[$i]}]+="$rps " BYTES[${names[$i]}]+="$bps "
        line+=" ${names[$i]} $rps req/s ($bps log B/s)"
    done
    echo "$line"
done
# shellcheck disable=SC2086
null=$(median ${RPS[null]})
for name in each summary off; do
    # shellcheck disable=SC2086
    m=$(median ${RPS[$name]}) b=$(median ${BYTES[$name]})
    echo "median $name: $m req/s, $(python3 -c "print(f'{$m / $null:.3f}')") x null ($null req/s), $b log bytes/s"
done
echo "summary lines: $(grep -c 'refusal summary:' "$WORK/summary.log"); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
