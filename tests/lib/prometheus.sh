# shellcheck shell=bash
# A private Prometheus server for tests: loopback only, own storage directory, a short scrape interval,
# started and stopped by PID. Source it:
#
#   . "$SRC/tests/lib/prometheus.sh"
#   prometheus_available               true when prometheus, promtool, curl and python3 are installed
#   prometheus_start DIR PORT TARGET...
#                                      write DIR/prometheus.yml (job relay-authority, scrape every 1 s,
#                                      the TARGETs HOST:PORT), start prometheus on 127.0.0.1:PORT with
#                                      storage in DIR/data, wait up to 30 s until it is ready. Sets
#                                      PROMETHEUS_PID, PROMETHEUS_URL, PROMETHEUS_LOG.
#   prometheus_stop                    SIGTERM, wait up to 30 s, then SIGKILL; never by name
#   prometheus_query EXPR              instant query; prints the first sample's value ("" for no result)
#   prometheus_wait_scrapes N [SECS]   wait until every target was scraped N more times (bounded, 60 s
#                                      default): a sample taken after what the caller just did is in
#   prometheus_targets_up              prints "up" values of every target, one a line
#
# The caller installs the EXIT trap that calls prometheus_stop. All waits are bounded.

# shellcheck source=harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

PROMETHEUS_PID=
PROMETHEUS_URL=
PROMETHEUS_LOG=

prometheus_available() {
    command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 &&
        command -v curl >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1
}

prometheus_start() {
    local dir=$1 port=$2 target targets=""
    shift 2
    for target in "$@"; do targets="$targets'$target', "; done
    mkdir -p "$dir/data" || return 1
    cat >"$dir/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: relay-authority
    static_configs:
      - targets: [${targets%, }]
CONF
    PROMETHEUS_LOG=$dir/prometheus.log
    PROMETHEUS_URL=http://127.0.0.1:$port
    prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=1h \
        --log.level=warn >"$PROMETHEUS_LOG" 2>&1 &
    PROMETHEUS_PID=$!
    local i
    for ((i = 0; i < 300; i++)); do
        if curl -fsS "$PROMETHEUS_URL/-/ready" >/dev/null 2>&1; then return 0; fi
        kill -0 "$PROMETHEUS_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "# prometheus did not become ready; last lines of $PROMETHEUS_LOG:" >&2
    tail -n 20 "$PROMETHEUS_LOG" | sed 's/^/#   /' >&2
    return 1
}

prometheus_stop() {
    [ -n "$PROMETHEUS_PID" ] || return 0
    if kill -0 "$PROMETHEUS_PID" 2>/dev/null; then
        kill -TERM "$PROMETHEUS_PID" 2>/dev/null
        local i
        for ((i = 0; i < 300; i++)); do
            kill -0 "$PROMETHEUS_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$PROMETHEUS_PID" 2>/dev/null && kill -KILL "$PROMETHEUS_PID" 2>/dev/null
    fi
    wait "$PROMETHEUS_PID" 2>/dev/null
    PROMETHEUS_PID=
}

# Prints the JSON of GET /api/v1/query?query=EXPR.
_prometheus_api_query() {
    curl -fsS --max-time 5 "$PROMETHEUS_URL/api/v1/query" --data-urlencode "query=$1"
}

prometheus_query() {
    _prometheus_api_query "$1" | python3 -c '
import json, sys
data = json.load(sys.stdin)
result = data["data"]["result"] if data.get("status") == "success" else []
print(result[0]["value"][1] if result else "")'
}

prometheus_targets_up() {
    curl -fsS --max-time 5 "$PROMETHEUS_URL/api/v1/targets" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print(t["scrapeUrl"], t["health"])'
}

# The scrapes so far of the least-scraped target (one `up` sample per scrape).
_prometheus_scrapes() {
    prometheus_query 'min(count_over_time(up{job="relay-authority"}[1h]))'
}

prometheus_wait_scrapes() {
    local n=$1 limit=${2:-60} start now
    start=$(_prometheus_scrapes)
    start=${start:-0}
    local i
    for ((i = 0; i < limit * 10; i++)); do
        now=$(_prometheus_scrapes)
        if [ -n "$now" ] && [ "$now" -ge $((start + n)) ]; then return 0; fi
        sleep 0.1
    done
    return 1
}
