#!/bin/bash
# The benchmark suite (issue 7): relay-policyd against a null policy server and two Debian peers, in one
# run on this machine, interleaved (A B A B ...), medians of several rounds; Postfix end to end with and
# without relay-policyd; resident memory with 100k accounts and 5,000 idle connections.
#
#   tests/bench/run.sh BUILD_DIR            (run on demand; not part of ctest's pass/fail)
#
# Needs root (private MariaDB and Postfix, apt-get for the peers). Brings relay-policyd and policy-bench
# in BUILD_DIR up to date first (cmake --build). Work dir: BUILD_DIR/e2e-bench (raw figures in results/);
# the Markdown tables are written to BUILD_DIR/e2e-bench/results.md (and printed). One full run takes
# about 12 minutes on 2 cores. tests/bench/profile.sh profiles relay-policyd on the database it leaves.
#
# Knobs (environment):
#   BENCH_ROUNDS=5          rounds of the interleaved throughput runs (medians over them)
#   BENCH_SECONDS=6         measured seconds per throughput run (plus 1 s warm-up)
#   BENCH_CONNECTIONS=50    policy connections (Postfix keeps one per smtpd process)
#   BENCH_RATE=5000         offered requests/s of the latency runs (*-paced)
#   BENCH_ACCOUNTS=1000     accounts loaded for the throughput runs
#   BENCH_BIG_ACCOUNTS=100000  accounts loaded for the memory figure
#   BENCH_IDLE=5000         idle connections held
#   BENCH_POSTFIX_MESSAGES=600   messages per Postfix run
#   BENCH_POSTFIX_SESSIONS=20    parallel smtp-source sessions
#   BENCH_PARTS="throughput enforce postfix memory"   which parts to run
#   BENCH_RELAY_EXTRA=       lines appended to relay-policyd's configuration (tests/bench/servers.sh)
#   BENCH_POLICY_SOCKET=inet how Postfix reaches relay-policyd in part postfix: inet (127.0.0.1) or unix
#
# Ports (127.0.0.1, issue range 12300-12349): relay-policyd 12300, null server 12301, postfwd 12302,
# policyd-rate-limit 12303, relay-policyd with workers = pool_size = 16 on 12304, relay-policyd with 100k
# accounts 12305, Postfix 12310 (with relay-policyd) and 12311 (without), smtp-sink 12312, Postfix asking the
# null server 12313.
# Everything started is stopped by PID at exit.
#
# The rule every server enforces: each SASL user at most 100 messages per hour.
#   relay-policyd       rate_limits row: global, each_account, messages, 100 per 3600 s, defer
#   postfwd             rate(sasl_username/100/3600/450 4.7.1 ...) at END-OF-MESSAGE
#   policyd-rate-limit  limits [[100, 3600]], limit_by_sasl, MySQL backend on the same MariaDB

# shellcheck source-path=SCRIPTDIR
set -u
BUILD_DIR=${1:-}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for lib in e2e tls mariadb sink postfix; do
    # shellcheck source=/dev/null
    . "$SRC_DIR/tests/lib/$lib.sh"
done

# Packages the benchmark needs beyond scripts/install-deps.sh (the peers and the MySQL module of one).
BENCH_PACKAGES=(postfwd policyd-rate-limit python3-mysqldb)

ROUNDS=${BENCH_ROUNDS:-5}
RUN_SECONDS=${BENCH_SECONDS:-6}
CONNECTIONS=${BENCH_CONNECTIONS:-50}
RATE=${BENCH_RATE:-5000}
ACCOUNTS=${BENCH_ACCOUNTS:-1000}
BIG_ACCOUNTS=${BENCH_BIG_ACCOUNTS:-100000}
IDLE=${BENCH_IDLE:-5000}
POSTFIX_MESSAGES=${BENCH_POSTFIX_MESSAGES:-600}
POSTFIX_SESSIONS=${BENCH_POSTFIX_SESSIONS:-20}
PARTS=${BENCH_PARTS:-throughput enforce postfix memory}

PORT_RELAY=12300
PORT_NULL=12301
PORT_POSTFWD=12302
PORT_PRL=12303
PORT_BIG=12305
PORT_RELAY16=12304
PORT_PF_WITH=12310
PORT_PF_WITHOUT=12311
PORT_SINK=12312
PORT_PF_NULL=12313
DB=relay_authority
DB_BIG=relay_big
POLICYD_DB_USER=relay_policyd
POLICYD_DB_PASSWORD=bench-policyd-pw
PRL_DB=prl
PRL_DB_PASSWORD=bench-prl-pw
LIMIT=100

[ "$(id -u)" -eq 0 ] || { echo "tests/bench/run.sh: run as root (private MariaDB, Postfix, apt-get)" >&2; exit 77; }
if [ -z "$BUILD_DIR" ] || [ ! -d "$BUILD_DIR" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi

log() { printf '# %s %s\n' "$(date +%H:%M:%S)" "$*"; }
has_part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

install_bench_packages() {
    local missing=() p
    for p in "${BENCH_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends \
        "${missing[@]}" >"$BUILD_DIR/bench-apt.log" 2>&1 || {
        apt-get -q -o DPkg::Lock::Timeout=600 update >>"$BUILD_DIR/bench-apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends \
            "${missing[@]}" >>"$BUILD_DIR/bench-apt.log" 2>&1
    }
}

# Always bring both binaries up to date (incremental); if the tree does not build right now (someone is
# mid-edit), go on with the binaries already there and say so.
build_binaries() {
    log "building relay-policyd and policy-bench in $BUILD_DIR"
    if ! cmake --build "$BUILD_DIR" -j2 --target relay-policyd policy-bench >"$BUILD_DIR/bench-build.log" 2>&1; then
        [ -x "$BUILD_DIR/relay-policyd" ] && [ -x "$BUILD_DIR/policy-bench" ] || return 1
        log "WARNING: build failed (see $BUILD_DIR/bench-build.log); using the binaries already built"
    fi
}

install_bench_packages || { echo "cannot install ${BENCH_PACKAGES[*]} (see $BUILD_DIR/bench-apt.log)" >&2; exit 1; }
build_binaries || { echo "build failed (see $BUILD_DIR/bench-build.log)" >&2; exit 1; }
require postfwd2 policyd-rate-limit postfix postconf smtp-source smtp-sink mariadbd mariadb python3
e2e_init bench "$BUILD_DIR"
BENCH=$E2E_BUILD_DIR/policy-bench
POLICYD=${RELAY_BENCH_POLICYD:-$E2E_BUILD_DIR/relay-policyd}
RES=$E2E_DIR/results
mkdir -p "$RES"
e2e_ports_free $PORT_RELAY $PORT_NULL $PORT_POSTFWD $PORT_PRL $PORT_RELAY16 $PORT_BIG $PORT_PF_WITH $PORT_PF_WITHOUT $PORT_SINK $PORT_PF_NULL ||
    exit 1
# 5,000 idle connections plus everything else: raise the descriptor limit for us and our children.
ulimit -Hn 65536 2>/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# shellcheck source=servers.sh
. "$SRC_DIR/tests/bench/servers.sh"
# shellcheck source=parts.sh
. "$SRC_DIR/tests/bench/parts.sh"

T_START=$(e2e_now_ms)
machine_facts >"$RES/machine.txt"
log "machine: $(tr '\n' ' ' <"$RES/machine.txt")"
setup_database || { log "database set-up failed"; exit 1; }

has_part throughput && part_throughput
has_part enforce && part_enforce
stop_peers
has_part postfix && part_postfix
has_part memory && part_memory

log "total $(( ($(e2e_now_ms) - T_START) / 1000 )) s"
/usr/bin/python3 "$SRC_DIR/tests/bench/summarize.py" "$RES" | tee "$E2E_DIR/results.md"
