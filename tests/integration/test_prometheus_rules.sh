#!/usr/bin/env bash
# contrib/prometheus/: the scrape configuration and the alert rules are valid (promtool check config /
# check rules) and the alerts fire as their unit tests say (promtool test rules), and a real Prometheus
# (tests/lib/prometheus.sh) starts with the rules and evaluates them.
#
# Usage: test_prometheus_rules.sh BUILD_DIR      (ctest: integration_prometheus_rules)
# Prints "ok - ..." / "not ok - ..." and "N passed, N failed"; exit 77 when promtool is not installed.
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/prometheus.sh
. "$SRC/tests/lib/prometheus.sh"

BUILD=$(build_dir "${1:-}") || exit 2
prometheus_available || skip "prometheus, promtool, curl or python3 not installed (scripts/install-deps.sh)"

work_dir prometheus-rules
at_exit prometheus_stop

RULES=$SRC/contrib/prometheus
check_cmd "promtool check rules accepts the alert rules" promtool check rules "$RULES/relay-authority.rules.yml"
check_cmd "promtool test rules: every alert fires and stays quiet as specified" \
    bash -c "cd '$RULES' && promtool test rules relay-authority.rules.test.yml"
check_cmd "promtool check config accepts the example scrape configuration" \
    bash -c "cd '$RULES' && promtool check config prometheus.yml"

want_alerts="RelayAuthorityAuditEventsDropped RelayAuthorityDaemonDown RelayAuthorityDatabaseUnreachable RelayAuthorityDeferralRatioHigh RelayAuthorityHeartbeatMissing RelayAuthorityRulesStale"
have_alerts=$(sed -n 's/^ *- alert: *//p' "$RULES/relay-authority.rules.yml" | sort | tr '\n' ' ')
tested=$(sed -n 's/^ *alertname: *//p' "$RULES/relay-authority.rules.test.yml" | sort -u | tr '\n' ' ')
if [ "${have_alerts% }" = "$want_alerts" ] && [ "${tested% }" = "$want_alerts" ]; then
    ok "the six alerts of docs/monitoring.md exist and each has a unit test"
else
    not_ok "the six alerts of docs/monitoring.md exist and each has a unit test" \
        "want: $want_alerts"$'\n'"rules: $have_alerts"$'\n'"tested: $tested"
fi

# A real server loads the rules (a target that is not there: up = 0, RelayAuthorityDaemonDown pending).
PORT=19090
cp "$RULES/relay-authority.rules.yml" "$WORK/"
if prometheus_start "$WORK" "$PORT" 127.0.0.1:9; then
    ok "a private Prometheus starts on 127.0.0.1:$PORT"
    printf 'rule_files: [relay-authority.rules.yml]\n' >>"$WORK/prometheus.yml"
    curl -fsS -X POST "$PROMETHEUS_URL/-/reload" >/dev/null 2>&1 || kill -HUP "$PROMETHEUS_PID"
    rules=""
    for ((i = 0; i < 100; i++)); do
        rules=$(curl -fsS --max-time 5 "$PROMETHEUS_URL/api/v1/rules" | python3 -c '
import json, sys
print(sum(len(g["rules"]) for g in json.load(sys.stdin)["data"]["groups"]))' 2>/dev/null)
        [ "$rules" = 6 ] && break
        sleep 0.1
    done
    if [ "$rules" = 6 ]; then ok "Prometheus loads the six rules"; else not_ok "Prometheus loads the six rules" "got: $rules"; fi
    up=""
    for ((i = 0; i < 100; i++)); do
        up=$(prometheus_query 'up{job="relay-authority"}')
        [ -n "$up" ] && break
        sleep 0.1
    done
    if [ "$up" = 0 ]; then ok "a target that does not answer is up = 0"; else not_ok "a target that does not answer is up = 0" "got: '$up'"; fi
else
    not_ok "a private Prometheus starts on 127.0.0.1:$PORT"
fi

finish
