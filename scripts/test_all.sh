#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, then `bazel test //...`
# (unit, differential, property, third-party client and end-to-end tests).
# Ends with the line "N passed, N failed", counting test cases from the
# JUnit XML each test writes; a target that failed to build or timed out
# counts as one failure. Extra arguments go to bazel test.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --test || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
bazel test //... \
  --test_env=GATEWAY_NODE_MODULES="$PWD/tests/js/node_modules" \
  --test_env=PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
  "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Prints "cases failures" from a target's JUnit XML, or "0 0" without one.
testlogs=$(bazel info bazel-testlogs 2>/dev/null)
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

passed=0
failed=0
while IFS= read -r target; do
  read -r t f < <(count_cases "$target")
  passed=$((passed + t - f))
  failed=$((failed + f))
done < <(grep -E '^//[^ ]+ +(\(cached\) )?PASSED' "$log" | awk '{print $1}')
# A failed target counts its failed cases, or one failure when it left no
# case counts (did not build, timed out, crashed).
while IFS= read -r target; do
  read -r t f < <(count_cases "$target")
  if ((f == 0)); then f=1; t=$((t > 0 ? t : 1)); fi
  passed=$((passed + t - f))
  failed=$((failed + f))
done < <(grep -E '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$log" | awk '{print $1}')
rm -f "$log"

if ((status != 0 && failed == 0)); then failed=1; fi
echo "${passed} passed, ${failed} failed"
exit "$status"
