#!/usr/bin/env bash
# Runs lambda_template_test.py with the venv's Python (cfn-lint), from
# $GATEWAY_PY_VENV or .deps/venv at the root of the source tree
# (scripts/install_deps.sh --test).
set -euo pipefail
template="$(readlink -f "$1")"
script="$(readlink -f "$2")"
root="$(cd "$(dirname "$script")/../.." && pwd)"
venv="${GATEWAY_PY_VENV:-$root/.deps/venv}"
[[ -x "$venv/bin/python" ]] || { echo "missing $venv: run scripts/install_deps.sh --test" >&2; exit 1; }
PYTHONDONTWRITEBYTECODE=1 exec "$venv/bin/python" "$script" "$template"
