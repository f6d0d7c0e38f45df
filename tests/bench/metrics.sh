#!/usr/bin/env bash
# The cost of [metrics] (issue 11: at most 5 % of RCPT throughput): two relay-policyd on one private
# MariaDB, one without and one with [metrics] policyd_listen (scraped by nothing, and by curl every second
# in the "scraped" variant), driven by policy-bench rcpt-only in interleaved rounds (off, on, off, on ...).
#
#   tests/bench/metrics.sh BUILD_DIR      (on demand; prints one line per run and the medians)
# Knobs: BENCH_ROUNDS=5, BENCH_SECONDS=5, BENCH_CONNECTIONS=50, BENCH_ACCOUNTS=1000.
# Ports (127.0.0.1): 12450 (off), 12451 (on), 12452 (its metrics).
set -u
BUILD=$(cd "${1:?usage: metrics.sh BUILD_DIR}" && pwd)
ROUNDS=${BENCH_ROUNDS:-5} SECONDS_RUN=${BENCH_SECONDS:-5} CONN=${BENCH_CONNECTIONS:-50} ACCOUNTS=${BENCH_ACCOUNTS:-1000}
WORK=$BUILD/bench-metrics
# shellcheck source=tests/bench/two_daemons.sh
. "$(dirname "$0")/two_daemons.sh"
bench_policyd off "$BUILD/relay-policyd" 12450 && \
    bench_policyd on "$BUILD/relay-policyd" 12451 "[metrics]
policyd_listen = 127.0.0.1:12452" || exit 1
sleep 2
run() { read -r rps _ < <(bench_rcpt "$1"); echo "$rps"; }
declare -a OFF ON
for ((r = 1; r <= ROUNDS; r++)); do
    OFF+=("$(run 12450)")
    # the "on" daemon is scraped every second during its run, as Prometheus would
    ( for ((i = 0; i < SECONDS_RUN + 2; i++)); do curl -s -o /dev/null http://127.0.0.1:12452/metrics; sleep 1; done ) &
    scraper=$!
    ON+=("$(run 12451)")
    wait "$scraper"
    echo "round $r: off ${OFF[-1]} req/s, on ${ON[-1]} req/s"
done
m_off=$(median "${OFF[@]}") m_on=$(median "${ON[@]}")
echo "median: off $m_off req/s, on $m_on req/s, cost $(python3 -c "print(f'{(1 - $m_on / $m_off) * 100:.1f} %')")"
