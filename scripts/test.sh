#!/usr/bin/env bash
# The README's test command, and exactly what CI runs (.ci/run):
#   1. installs missing Debian packages (scripts/install-deps.sh; needs root only when something is missing)
#   2. builds build/ (RelWithDebInfo) and runs every ctest test there: unit, integration_*, e2e_*, fuzz
#   3. builds build-asan/ (-DRELAY_SANITIZE=ON: ASan + UBSan) and runs the tests again except e2e_*, fuzz and
#      bench* (so: unit and integration_*; the end-to-end runs are slow and test the MTAs' side)
#   4. prints a summary and, last, "N passed, N failed" (ctest tests of both passes, plus any failed
#      configure/build step); exits 0 only if nothing failed.
# Tests that report themselves skipped (exit 77) are listed, and count neither as passed nor as failed.
#
# Environment:
#   RELAY_TEST_SKIP_ASAN=1   skip step 3 (quick local runs; CI runs everything)
#   RELAY_TEST_ONLY=REGEX    run only the ctest tests matching REGEX (both passes)
#   RELAY_BUILD_JOBS=N       parallel build jobs (default 2: the CI machines have 2 cores)
#   RELAY_TEST_JOBS=N        ctest tests run at once (default 1: timing checks stay reliable on a busy box;
#                            e2e tests always run alone)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
JOBS=${RELAY_BUILD_JOBS:-2}
# ccache keyed on paths relative to the checkout, so a fresh clone reuses what an earlier one compiled.
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
START=$SECONDS

PASSED=0
FAILED=0
FAILED_NAMES=()
SKIPPED_NAMES=()

say() { printf '==> %s\n' "$*"; }

finish() {
    echo
    echo "==================== summary ($((SECONDS - START)) s) ===================="
    local name
    for name in "${SKIPPED_NAMES[@]}"; do echo "skipped: $name"; done
    for name in "${FAILED_NAMES[@]}"; do echo "FAILED:  $name"; done
    [ "${#SKIPPED_NAMES[@]}" -gt 0 ] && echo "${#SKIPPED_NAMES[@]} skipped (a test exits 77 when something it needs is absent)"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit
}

step_failed() {
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
}

# Make keeps going after an error (-k), so one broken target does not hide the results of the others.
build_dir() {
    local dir=$1 label=$2
    shift 2
    say "$label: configure $dir"
    if ! cmake -S "$ROOT" -B "$dir" "$@" >"$dir.configure.log" 2>&1; then
        cat "$dir.configure.log"
        step_failed "$label: cmake configure (log: $dir.configure.log)"
        return 1
    fi
    local keep_going=(-k)
    grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt" 2>/dev/null && keep_going=(-k 0)
    say "$label: build $dir (-j$JOBS)"
    # BUILD_TARGETS: build only these, of those that exist in this tree (some appear only once their
    # sources do, e.g. integration_tests).
    local targets=() known target
    if [ -n "${BUILD_TARGETS:-}" ]; then
        known=$(cmake --build "$dir" --target help 2>/dev/null | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p')
        for target in $BUILD_TARGETS; do
            grep -qx -- "$target" <<<"$known" && targets+=(--target "$target")
        done
    fi
    if ! cmake --build "$dir" -j"$JOBS" "${targets[@]}" -- "${keep_going[@]}"; then
        step_failed "$label: build (see the compiler errors above)"
        return 1
    fi
}

# Reads ctest's progress lines ("3/9 Test #3: integration_store ....   Passed   2.10 sec") from the log and
# counts them. Anything but Passed and Skipped (Failed, Not Run, Timeout, Exception...) is a failure.
count_results() {
    local label=$1 log=$2 name status seen=0
    while read -r name status; do
        seen=$((seen + 1))
        case $status in
            Passed) PASSED=$((PASSED + 1)) ;;
            Skipped) SKIPPED_NAMES+=("$label: $name") ;;
            *) FAILED=$((FAILED + 1)); FAILED_NAMES+=("$label: $name ($status)") ;;
        esac
    done < <(sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: ([^ ]+) [ .]*(\*\*\*)?([A-Za-z][A-Za-z ]*[A-Za-z]) .*[0-9.]+ sec.*$/\1 \3/p' "$log")
    if [ "$seen" -eq 0 ]; then
        step_failed "$label: ctest ran no test"
    fi
}

run_ctest() {
    local dir=$1 label=$2
    shift 2
    local filter=()
    [ -n "${RELAY_TEST_ONLY:-}" ] && filter=(-R "$RELAY_TEST_ONLY")
    say "$label: ctest --test-dir $dir $* ${filter[*]}"
    # Tests bring their own bounded waits; the timeout only stops a test that hangs regardless.
    ctest --test-dir "$dir" --output-on-failure --timeout 1500 -j"${RELAY_TEST_JOBS:-1}" "$@" "${filter[@]}" 2>&1 |
        tee "$dir/ctest.log"
    count_results "$label" "$dir/ctest.log"
}

say "install-deps"
if ! bash "$ROOT/scripts/install-deps.sh"; then
    step_failed "install-deps (run as root on Debian 12)"
    finish
fi

if build_dir "$ROOT/build" "build" -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
    run_ctest "$ROOT/build" "build"
else
    # Whatever did build still gets tested: the build failure is already counted.
    [ -f "$ROOT/build/CTestTestfile.cmake" ] && run_ctest "$ROOT/build" "build"
fi

if [ "${RELAY_TEST_SKIP_ASAN:-0}" = "1" ]; then
    say "sanitizer pass skipped (RELAY_TEST_SKIP_ASAN=1)"
else
    # Leaks count as failures; a suppression file (one `leak:FUNCTION` a line) lists the known ones of
    # libraries we do not own.
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:check_initialization_order=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0"
    # -O1: what the sanitizers recommend (readable stacks, tolerable speed), and quicker to compile than -O2.
    # Only what the unit and integration tests run: the milter and policy-bench are exercised by the e2e
    # and bench tests, which this pass leaves out.
    if BUILD_TARGETS="unit_tests integration_tests relay-policyd relayctl" build_dir "$ROOT/build-asan" "asan" -DRELAY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" ||
        [ -f "$ROOT/build-asan/CTestTestfile.cmake" ]; then
        run_ctest "$ROOT/build-asan" "asan" -E '^(e2e|bench|fuzz)'
    fi
fi

finish
