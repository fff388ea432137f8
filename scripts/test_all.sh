#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, then
#   1. `bazel test //...`: unit, differential, property, fuzz-regression and
#      short fuzz runs, third-party client and end-to-end tests;
#   2. the pipeline, gateway, fuzz-regression and reliability tests again,
#      built with AddressSanitizer and UndefinedBehaviorSanitizer together
#      (in their own Bazel output base);
#   3. the pipeline's concurrent tests built with ThreadSanitizer (own output
#      base; the full TSan set is `scripts/sanitizers.sh tsan`).
#   GATEWAY_SANITIZE=0 skips phases 2 and 3.
# Ends with the line "N passed, N failed", counting test cases from the
# JUnit XML each test writes; a target that failed to build or timed out
# counts as one failure. Extra arguments go to the first bazel test.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --test || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
status=0

# Prints "cases failures" from a target's JUnit XML under $testlogs, or "0 0".
count_cases() {
  local xml="${testlogs}/${1#//}"
  xml="${xml/://}/test.xml"
  [[ -f "$xml" ]] || { echo "0 0"; return; }
  grep -o '<testsuite [^>]*' "$xml" | awk '
    { for (i = 1; i <= NF; i++) {
        if ($i ~ /^tests=/) { gsub(/[^0-9]/, "", $i); t += $i }
        if ($i ~ /^failures=/ || $i ~ /^errors=/) { gsub(/[^0-9]/, "", $i); f += $i } } }
    END { print t + 0, f + 0 }'
}

# run_phase STARTUP_FLAGS -- BAZEL_TEST_ARGS...: runs bazel test, adds its
# case counts to the totals.
run_phase() {
  local startup=()
  while [[ "$1" != "--" ]]; do startup+=("$1"); shift; done
  shift
  local log rc
  log=$(mktemp)
  bazel "${startup[@]}" test "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  testlogs=$(bazel "${startup[@]}" info bazel-testlogs 2>/dev/null)
  local phase_failed=0 target t f
  while IFS= read -r target; do
    read -r t f < <(count_cases "$target")
    passed=$((passed + t - f))
    phase_failed=$((phase_failed + f))
  done < <(grep -E '^//[^ ]+ +(\(cached\) )?PASSED' "$log" | awk '{print $1}')
  # A failed target counts its failed cases, or one failure when it left no
  # case counts (did not build, timed out, crashed).
  while IFS= read -r target; do
    read -r t f < <(count_cases "$target")
    if ((f == 0)); then f=1; t=$((t > 0 ? t : 1)); fi
    passed=$((passed + t - f))
    phase_failed=$((phase_failed + f))
  done < <(grep -E '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$log" | awk '{print $1}')
  rm -f "$log"
  if ((rc != 0 && phase_failed == 0)); then phase_failed=1; fi
  failed=$((failed + phase_failed))
  if ((rc != 0)); then status=$rc; fi
}

run_phase -- //... \
  --test_env=GATEWAY_NODE_MODULES="$PWD/tests/js/node_modules" \
  --test_env=PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
  "$@"

if [[ "${GATEWAY_SANITIZE:-1}" != "0" ]]; then
  # Not memory_bound_test nor slow_connections_test: they bound the gateway's
  # resident memory, which ASan's shadow memory and quarantine multiply.
  echo "test_all: the same tests under ASan + UBSan" >&2
  run_phase --output_base="${HOME}/.cache/bazel-ob/asan-ubsan-$(pwd | md5sum | cut -c1-8)" -- \
    --config=asan --config=ubsan --copt=-O1 --keep_going \
    --test_env=ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    --test_env=UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    -- //tests/pipeline/... //tests/gateway/... //tests/fuzz/... //tests/reliability/... \
    -//tests/fuzz:fuzz_smoke_test -//tests/reliability:memory_bound_test \
    -//tests/reliability:slow_connections_test

  # The engine, exporter, persistent queue and lock tests, and the receivers
  # and app that drive them from many threads. Any TSan report fails its test
  # (halt_on_error=1); scripts/tsan_suppressions.txt names only Debian's
  # uninstrumented gRPC and Abseil. -Wno-tsan: see scripts/sanitizers.sh.
  echo "test_all: the pipeline's concurrent tests under TSan" >&2
  run_phase --output_base="${HOME}/.cache/bazel-ob/tsan-$(pwd | md5sum | cut -c1-8)" -- \
    --config=tsan --copt=-O1 --copt=-Wno-tsan --keep_going \
    --test_env=TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan_suppressions.txt" \
    -- //tests/pipeline/base:sync_test //tests/pipeline/reparent:sharded_trace_engine_test \
    //tests/pipeline/reparent:moved_filter_test //tests/pipeline/reparent:sharded_engine_property_test \
    //tests/pipeline/export:otlp_http_exporter_test //tests/pipeline/export:persistent_queue_test \
    //tests/pipeline/export:debug_exporter_test //tests/pipeline/ingest:memory_guard_test \
    //tests/pipeline/export:persistent_queue_faults_test //tests/pipeline/reparent:engine_flush_test \
    //tests/pipeline/metrics:series_table_test \
    //tests/pipeline/ingest:heap_trimmer_test //tests/gateway/receivers:http_server_test \
    //tests/gateway/receivers:grpc_receiver_test //tests/gateway/receivers:tcp_listener_test \
    //tests/gateway/receivers:admission_waitlist_test \
    //tests/gateway:gateway_app_test
fi

echo "${passed} passed, ${failed} failed"
exit "$status"
