#!/usr/bin/env bash
# Runs one end-to-end test script under Node's test runner.
#
#   run_node_test.sh FAKE_DYNATRACE_BIN GATEWAY_BIN TEST_SCRIPT
#
# Node packages: $GATEWAY_NODE_MODULES (set by scripts/test_all.sh), else the
# tests/js/node_modules beside this script's source. Results go to stdout and,
# as JUnit XML, to $XML_OUTPUT_FILE so that each case is counted.
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 FAKE_DYNATRACE_BIN GATEWAY_BIN TEST_SCRIPT" >&2
  exit 2
fi
export E2E_FAKE_DYNATRACE="$1"
export E2E_GATEWAY="$2"
script="$3"

node_modules="${GATEWAY_NODE_MODULES:-}"
if [[ -z "$node_modules" || ! -d "$node_modules" ]]; then
  # Runfiles are symlinks into the source tree: find tests/js from there.
  src_dir="$(dirname "$(readlink -f "$script")")"
  node_modules="$src_dir/../js/node_modules"
fi
if [[ ! -d "$node_modules/@opentelemetry/sdk-trace-node" ]]; then
  echo "missing Node packages in $node_modules: run scripts/install_deps.sh --test" >&2
  exit 1
fi
export NODE_PATH="$(readlink -f "$node_modules")"
export GATEWAY_NODE_MODULES="$NODE_PATH"
command -v node >/dev/null || { echo "node not on PATH ($PATH)" >&2; exit 1; }

reporters=(--test-reporter=spec --test-reporter-destination=stdout)
if [[ -n "${XML_OUTPUT_FILE:-}" ]]; then
  reporters+=(--test-reporter=junit "--test-reporter-destination=$XML_OUTPUT_FILE")
fi
# The whole run is bounded; the harness kills its children on exit.
exec timeout --kill-after=10 600 node "${reporters[@]}" "$script"
