#!/bin/bash
# Runs the whole test suite under asan and ubsan (end-to-end tests included:
# the gateway binary they start is built in the same config) and the
# pipeline, gateway and reliability tests under tsan, with gcc's sanitizers (.bazelrc: --config=asan, --config=ubsan, --config=tsan),
# each config in its own Bazel output base so switching configs does not
# throw away the other builds. Prints the wall time of each config.
#
#   scripts/sanitizers.sh                  # asan, ubsan, tsan
#   scripts/sanitizers.sh asan             # one config
#   SANITIZER_OUTPUT_BASE_PREFIX=/root/.cache/bazel-ob/ci scripts/sanitizers.sh
#
# tsan runs the pipeline, gateway and reliability tests (not the fuzz
# regressions: single-threaded, covered by asan/ubsan). Our locks are
# gateway::Mutex (pipeline/base/sync.h, pthreads), which TSan sees; what stays
# suppressed is inside Debian's uninstrumented gRPC and Abseil, listed with
# reasons in scripts/tsan_suppressions.txt. TSAN_HALT_ON_ERROR=0 shows every
# report instead of failing at the first.
# Exit status: non-zero if any config had a failing test.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

prefix="${SANITIZER_OUTPUT_BASE_PREFIX:-/root/.cache/bazel-ob/sanitizers}"
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(asan ubsan tsan)

ALL_TARGETS=(//...)
# memory_bound_test and slow_connections_test bound the gateway's resident
# memory, which the sanitizers' shadow memory multiplies (as in test_all.sh).
RSS_BOUND_TESTS=(-//tests/reliability:memory_bound_test -//tests/reliability:slow_connections_test)
TSAN_TARGETS=(//tests/pipeline/... //tests/gateway/... //tests/reliability/... "${RSS_BOUND_TESTS[@]}")

# The end-to-end and cross-check tests run the JS SDK from tests/js.
scripts/install_deps.sh --test >&2 || exit 1
NODE_FLAGS=(--test_env=GATEWAY_NODE_MODULES="$PWD/tests/js/node_modules"
            --test_env=PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin)

failed=0
for config in "${configs[@]}"; do
  case "$config" in
    # The fuzz smoke test builds with clang itself; no bazel config applies.
    asan | ubsan) targets=("${ALL_TARGETS[@]}" -//tests/fuzz:fuzz_smoke_test "${RSS_BOUND_TESTS[@]}") ;;
    tsan) targets=("${TSAN_TARGETS[@]}") ;;
    *) echo "sanitizers.sh: unknown config $config" >&2; exit 2 ;;
  esac
  env_flags=()
  case "$config" in
    asan) env_flags=(--test_env=ASAN_OPTIONS=detect_leaks=1:abort_on_error=1) ;;
    ubsan) env_flags=(--test_env=UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1) ;;
    # -Wno-tsan: GCC 12 warns that atomic_thread_fence (used by Asio and
    # moodycamel::ConcurrentQueue) is not modelled by TSan, and -Werror makes
    # that an error. Fences are not seen as synchronization, so a report
    # through one of them needs a second look.
    tsan) env_flags=(--copt=-Wno-tsan
                     "--test_env=TSAN_OPTIONS=halt_on_error=${TSAN_HALT_ON_ERROR:-1}:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan_suppressions.txt") ;;
  esac
  start=$(date +%s)
  bazel --output_base="$prefix-$config" test --config="$config" --copt=-O1 --keep_going \
    --test_output=errors --test_timeout=300,900,1800,3600 "${NODE_FLAGS[@]}" "${env_flags[@]}" -- "${targets[@]}"
  rc=$?
  echo "sanitizers.sh: $config exit=$rc in $(( $(date +%s) - start ))s" >&2
  [ $rc -ne 0 ] && failed=1
done
exit $failed
