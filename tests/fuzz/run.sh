#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD_DIR: build the libFuzzer targets in tests/fuzz/ with clang (ASan + UBSan) and run
# each for a bounded time (ctest `fuzz`). The parsers of attacker-controlled input are what they cover:
# Postfix policy requests (relay-policyd), envelope addresses and networks, From:/Sender: header values.
#
# Knobs (environment):
#   RELAY_FUZZ_SECONDS=20   seconds per target (libFuzzer -max_total_time)
#   RELAY_FUZZ_ONLY=NAME    run one target (policy_protocol, address, header_address)
# The corpus grows in BUILD_DIR/fuzz/corpus-NAME, so later runs start where earlier ones stopped; a crash
# leaves its input in BUILD_DIR/fuzz/crash-* (replay: BUILD_DIR/fuzz/NAME FILE).
# Exit 0 when every target ran clean, 77 when clang++ is missing, 1 otherwise.
set -u
BUILD_DIR=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_EACH=${RELAY_FUZZ_SECONDS:-20}
OUT=$BUILD_DIR/fuzz

command -v clang++ >/dev/null || { echo "# skip: clang++ not installed"; exit 77; }

# NAME MAX_LEN SOURCES... (the target file is tests/fuzz/fuzz_NAME.cpp)
TARGETS=(
    "policy_protocol 2048 policyd/protocol.cpp policyd/action.cpp core/rules/decision.cpp core/rules/request.cpp core/base/text.cpp"
    "address 600 core/mail/address.cpp core/mail/cidr.cpp core/base/text.cpp"
    "header_address 2048 core/mail/header_address.cpp core/mail/address.cpp core/base/text.cpp"
)

passed=0 failed=0
mkdir -p "$OUT"
for entry in "${TARGETS[@]}"; do
    read -r name max_len sources <<<"$entry"
    [ -n "${RELAY_FUZZ_ONLY:-}" ] && [ "$RELAY_FUZZ_ONLY" != "$name" ] && continue
    bin=$OUT/$name
    # shellcheck disable=SC2086  # the source list is split on purpose
    if ! (cd "$SRC_DIR" && clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
        "tests/fuzz/fuzz_$name.cpp" $sources -lidn2 -o "$bin") >"$OUT/$name.build.log" 2>&1; then
        echo "not ok - fuzz $name: does not build"
        sed 's/^/#   /' "$OUT/$name.build.log" | tail -n 10
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$OUT/corpus-$name"
    if (cd "$OUT" && timeout $((SECONDS_EACH + 60)) "$bin" -max_total_time="$SECONDS_EACH" -max_len="$max_len" \
        -print_final_stats=1 "corpus-$name") >"$OUT/$name.log" 2>&1; then
        echo "ok - fuzz $name: $(grep -o 'Done [0-9]* runs' "$OUT/$name.log" | tail -n 1) in ${SECONDS_EACH} s, no finding"
        passed=$((passed + 1))
    else
        echo "not ok - fuzz $name: finding (log $OUT/$name.log)"
        grep -E 'ERROR|SUMMARY|Test unit written' "$OUT/$name.log" | head -n 5 | sed 's/^/#   /'
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
