#!/usr/bin/env bash
# Runs one Python end-to-end test module under pytest.
#
#   run_python_test.sh FAKE_DYNATRACE_BIN GATEWAY_BIN TEST_MODULE [PYTEST_ARGS...]
#
# Python: $GATEWAY_PY_VENV (a venv directory), else .deps/venv at the root of
# the source tree this script's runfile links into (scripts/install_deps.sh
# --test makes it; also .deps/venv-otel-1.24, or $GATEWAY_PY_VENV_OTEL_1_24). The Lambda Runtime Interface Emulator: $GATEWAY_RIE, else
# .deps/bin/aws-lambda-rie there. Results go to stdout and, as JUnit XML, to
# $XML_OUTPUT_FILE so that each case is counted.
set -euo pipefail

if (($# < 3)); then
  echo "usage: $0 FAKE_DYNATRACE_BIN GATEWAY_BIN TEST_MODULE [PYTEST_ARGS...]" >&2
  exit 2
fi
export E2E_FAKE_DYNATRACE="$(readlink -f "$1")"
export E2E_GATEWAY="$(readlink -f "$2")"
module="$3"
shift 3

# Runfiles are symlinks into the source tree: find its root from there.
src_dir="$(dirname "$(readlink -f "$module")")"
root="$(cd "$src_dir/../../.." && pwd)"
venv="${GATEWAY_PY_VENV:-$root/.deps/venv}"
export E2E_RIE="${GATEWAY_RIE:-$root/.deps/bin/aws-lambda-rie}"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "missing Python venv $venv: run scripts/install_deps.sh --test" >&2
  exit 1
fi
if [[ ! -x "$E2E_RIE" ]]; then
  echo "missing $E2E_RIE: run scripts/install_deps.sh --test" >&2
  exit 1
fi
export E2E_PYTHON="$venv/bin/python"
# An older OpenTelemetry SDK (no span flags), for test_remote_parent_delay.py.
export E2E_PYTHON_OTEL_1_24="${GATEWAY_PY_VENV_OTEL_1_24:-$root/.deps/venv-otel-1.24}/bin/python"

args=(-p no:cacheprovider -v -rA "--rootdir=$src_dir" "$src_dir/$(basename "$module")")
if [[ -n "${XML_OUTPUT_FILE:-}" ]]; then
  args+=("--junitxml=$XML_OUTPUT_FILE")
fi
# Nothing is written into the source tree (the modules run from there).
export PYTHONDONTWRITEBYTECODE=1
# The whole run is bounded; the harness kills its children on exit.
exec timeout --kill-after=10 600 "$E2E_PYTHON" -m pytest "${args[@]}" "$@"
