#!/usr/bin/env bash
# Observability end to end (docs/monitoring.md): relay-policyd and relay-milter with [metrics] on, a private
# MariaDB, and a real Prometheus (tests/lib/prometheus.sh) scraping both every second.
#   - after five refusals for sender_not_owned, Prometheus's API shows exactly +5 for that series
#   - promtool check metrics accepts both endpoints' output; other paths are 404
#   - /healthz: 200, 503 "database unreachable" within 2 s of stopping MariaDB, 200 again once it is back
#   - relayctl status lists both daemons (table and --json) and flags the one that was stopped
#   - a port in use stops the start with a clear message naming the key
#
# Usage: test_metrics.sh BUILD_DIR      (ctest: e2e_metrics)
# Ports (127.0.0.1): relay-policyd 12440, relay-milter 12441, their metrics 12442 / 12443, Prometheus 12444.
set -u

BUILD=$(cd "${1:?usage: test_metrics.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/tests/lib/mariadb.sh"
. "$SRC/tests/lib/prometheus.sh"

POLICYD=$BUILD/relay-policyd
MILTER=$BUILD/relay-milter
RELAYCTL=$BUILD/relayctl
CLIENT=$SRC/tests/integration/policyd/policy_client.py
P_POLICY=12440 P_MILTER=12441 M_POLICY=12442 M_MILTER=12443 P_PROM=12444

mariadb_available || skip "MariaDB is not installed"
prometheus_available || skip "prometheus/promtool/curl/python3 not installed"
for bin in "$POLICYD" "$MILTER" "$RELAYCTL"; do [ -x "$bin" ] || skip "$bin not built"; done

work_dir e2e-metrics
at_exit prometheus_stop

write_config() {  # write_config FILE POLICYD_METRICS MILTER_METRICS
    relay_write_config "$1" "[general]" "node = e2e-metrics" \
        "$(mariadb_database_section relay_it it-pw relay_authority 1)" "read_timeout = 2" "write_timeout = 2" \
        "$(relay_policyd_section "$P_POLICY")" "$(relay_milter_section "$P_MILTER")" \
        "[metrics]" "policyd_listen = $2" "milter_listen = $3"
}

http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1$2"; }
healthz() { curl -s --max-time 2 -w ' %{http_code}' "http://127.0.0.1:$1/healthz" | tr -d '\n'; }
# wait_health PORT WANT SECONDS: polls every 0.1 s; prints the last answer, true when WANT came in time.
wait_health() {
    local got i
    for ((i = 0; i < $3 * 10; i++)); do
        got=$(healthz "$1")
        [ "$got" = "$2" ] && { echo "$got"; return 0; }
        sleep 0.1
    done
    echo "$got"
    return 1
}
refused_total() { prometheus_query 'sum(relay_authority_decisions_total{daemon="relay-policyd",reason="sender_not_owned"}) or vector(0)'; }

check_or_finish "MariaDB with schema and sample data" mariadb_start_sample "$WORK/db" relay_it it-pw

write_config "$WORK/relay.conf" "127.0.0.1:$M_POLICY" "127.0.0.1:$M_MILTER"
start_daemon "$WORK/policyd.log" "ready on" "$POLICYD" --config "$WORK/relay.conf" --foreground || { not_ok "relay-policyd starts" "$(tail -5 "$WORK/policyd.log")"; finish; }
POLICYD_PID=$DAEMON_PID
check "relay-policyd says where its metrics are" "$(grep -c "metrics on 127.0.0.1:$M_POLICY" "$WORK/policyd.log")" 1
start_daemon "$WORK/milter.log" "listening on" "$MILTER" --config "$WORK/relay.conf" --foreground || { not_ok "relay-milter starts" "$(tail -5 "$WORK/milter.log")"; finish; }
MILTER_PID=$DAEMON_PID
check "relay-milter says where its metrics are" "$(grep -c "metrics on 127.0.0.1:$M_MILTER" "$WORK/milter.log")" 1

# ---- the endpoints themselves
for port in $M_POLICY $M_MILTER; do
    curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >"$WORK/metrics-$port.txt"
    if out=$(promtool check metrics <"$WORK/metrics-$port.txt" 2>&1); then ok "promtool check metrics accepts :$port/metrics"
    else not_ok "promtool check metrics accepts :$port/metrics" "$out"; fi
    check "/healthz on :$port answers 200 ok" "$(wait_health "$port" "ok 200" 10)" "ok 200"
    check "other paths on :$port are 404" "$(http_status "$port" /) $(http_status "$port" /config) $(http_status "$port" /metrics/x)" "404 404 404"
done
check "the endpoint names no login, address or socket" \
    "$(grep -c -E 'alice|example\.com|127\.0\.0\.1|mysqld|\.sock' "$WORK/metrics-$M_POLICY.txt")" 0
check "build_info names the daemon and version" \
    "$(grep -c '^relay_authority_build_info{daemon="relay-milter",version="' "$WORK/metrics-$M_MILTER.txt")" 1

# ---- a port in use stops the start, naming the key
write_config "$WORK/clash.conf" "127.0.0.1:$M_MILTER" ""
sed -i "s/^listen = inet:127.0.0.1:$P_POLICY/listen = inet:127.0.0.1:12445/" "$WORK/clash.conf"
timeout 20 "$POLICYD" --config "$WORK/clash.conf" --foreground </dev/null >"$WORK/clash.log" 2>&1
check "metrics port in use: relay-policyd exits 1" "$?" 1
check "metrics port in use: the message names the address and the key" \
    "$(grep -c "cannot listen on 127.0.0.1:$M_MILTER (\[metrics\] policyd_listen): address in use" "$WORK/clash.log")" 1
sed -i "s/^policyd_listen = .*/policyd_listen = localhost:9464/" "$WORK/clash.conf"
timeout 20 "$POLICYD" --config "$WORK/clash.conf" --check-config >"$WORK/bad.log" 2>&1
check "malformed policyd_listen: configuration error exit 2" "$?" 2
check "malformed policyd_listen: the error names the key" "$(grep -c '\[metrics\] policyd_listen' "$WORK/bad.log")" 1

# ---- Prometheus: exact increase after known traffic
prometheus_start "$WORK/prometheus" "$P_PROM" "127.0.0.1:$M_POLICY" "127.0.0.1:$M_MILTER" || { not_ok "Prometheus starts"; finish; }
ok "a private Prometheus scrapes both daemons every second"
prometheus_wait_scrapes 2 || not_ok "Prometheus scrapes" "$(prometheus_targets_up)"
check "both targets are up" "$(prometheus_targets_up | awk '{print $2}' | sort | uniq -c | tr -s ' ')" " 2 up"
before=$(refused_total)
answers=$(timeout 30 python3 "$CLIENT" --timeout 5 "inet:127.0.0.1:$P_POLICY" \
    $(for i in 1 2 3 4 5; do echo "sasl_username=alice@example.com;sender=ceo$i@bakery.example"; done) | cut -c1-9 | sort | uniq -c | tr -s ' ')
check "five refusals for a foreign sender" "$answers" " 5 550 5.7.1"
prometheus_wait_scrapes 2 || not_ok "Prometheus scrapes after the traffic"
after=$(refused_total)
check "Prometheus shows exactly 5 more sender_not_owned decisions" "$(python3 -c "print(int(float('$after') - float('${before:-0}')))")" 5
check "rules generation is exported by both" \
    "$(prometheus_query 'count(relay_authority_rules_generation > 0)')" 2

# ---- relayctl status: both daemons, then one stopped
sleep 0.5
"$RELAYCTL" --config "$WORK/relay.conf" status >"$WORK/status.txt" 2>&1
check "relayctl status: exit 0 while both serve" "$?" 0
check "relayctl status lists both daemons as ok" \
    "$(grep -c -E '^e2e-metrics +relay-(policyd|milter) .* serving .* ok$' "$WORK/status.txt")" 2
stop_pid "$MILTER_PID"
"$RELAYCTL" --config "$WORK/relay.conf" --json status >"$WORK/status.json" 2>"$WORK/status.err"
check "relayctl status: exit 2 once one is stopped" "$?" 2
check "relayctl status --json flags the stopped relay-milter only" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(sorted(n["daemon"] + "=" + ",".join(n["problems"] or ["ok"]) for n in d["nodes"])), d["ok"])' "$WORK/status.json")" \
    "relay-milter=stopped relay-policyd=ok False"

# ---- /healthz follows the database
t0=$(date +%s%N)
mariadb_stop
got=$(wait_health "$M_POLICY" "database unreachable 503" 2)
check "/healthz: 503 database unreachable within 2 s of stopping MariaDB" "$got" "database unreachable 503"
echo "# 503 after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
prometheus_wait_scrapes 2
check "Prometheus sees database_up 0" \
    "$(prometheus_query 'relay_authority_database_up{daemon="relay-policyd"}')" 0
mariadb_start "$WORK/db" >/dev/null || not_ok "MariaDB restarts"
check "/healthz: 200 ok again once MariaDB is back" "$(wait_health "$M_POLICY" "ok 200" 15)" "ok 200"
check "relay-policyd still runs" "$(alive "$POLICYD_PID" && echo yes)" yes

finish
