#!/usr/bin/env bash
# The arm64 (Graviton) Lambda layer, end to end on this x86_64 machine:
# installs what is missing (scripts/install_deps.sh --arm64: Debian's aarch64
# cross compiler, qemu-user-static, the arm64 sysroot under .deps), cross-builds
# //deploy/lambda:layer_arm64 with -c opt (the layer build_layer.sh ships) and
# runs //tests/deploy:lambda_layer_arm64_test: the layer's layout, then a whole
# extension lifecycle of its binary under qemu-aarch64-static, chrooted into
# the unpacked layer, against the Lambda API and Dynatrace stand-ins.
#
#   scripts/test_arm64.sh [BAZEL_TEST_ARGS...]
#
# Not part of scripts/test_all.sh (CI): it is a second full build of the
# gateway. Ends with the line "N passed, N failed" (one per test target; a
# target that did not build counts as failed).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --arm64 || { echo "0 passed, 1 failed"; exit 1; }

TARGETS=(//tests/deploy:lambda_layer_arm64_test)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel test -c opt "$@" "${TARGETS[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$((${#TARGETS[@]} - passed))
if ((rc != 0 && failed == 0)); then failed=1; fi
echo "$passed passed, $failed failed"
((failed == 0))
