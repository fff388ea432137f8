#!/bin/bash
# CI smoke run of the libFuzzer targets: scripts/fuzz.sh builds the targets
# named as arguments with clang (libFuzzer + ASan + UBSan) from the sources in
# the runfiles and runs each for a few seconds over its seed corpus. Crash
# inputs are copied to the test's undeclared outputs.
set -euo pipefail
seconds="${FUZZ_SMOKE_SECONDS:-5}"
root="$PWD"  # the runfiles tree mirrors the repository
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz_smoke_test: clang++ not found. Install clang and libclang-rt-14-dev" \
    "(scripts/install_deps.sh --test)." >&2
  exit 1
fi
out="${TEST_TMPDIR:-/tmp}/fuzz"
start=$(date +%s)
status=0
"$root/scripts/fuzz.sh" -t "$seconds" -o "$out" -p "$root/proto" -s "$root" "$@" || status=$?
echo "fuzz_smoke_test: $* in $(($(date +%s) - start))s, exit $status" >&2
if [ "$status" -ne 0 ] && [ -d "$out/crashes" ] && [ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ]; then
  cp -r "$out/crashes" "$TEST_UNDECLARED_OUTPUTS_DIR/" || true
fi
[ "$status" -eq 2 ] && echo "fuzz_smoke_test: toolchain missing or unusable (see above)" >&2
exit "$status"
