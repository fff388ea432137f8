#!/usr/bin/env bash
# Runs the Lambda extension end-to-end test (test_lambda_extension.py) in a
# private user, mount and network namespace, so that the emulator finds the
# extension in /opt/extensions, sandbox.localdomain resolves to the loopback,
# and the extension's default ports (4317, 4318, 13133) cannot collide with
# anything else on the machine.
#
#   run_lambda_e2e.sh FAKE_DYNATRACE_BIN GATEWAY_BIN ORACLE_BIN TEST_MODULE [LAYER_ZIP] [PYTEST_ARGS...]
#
# /opt inside the namespace holds:
#   extensions/otlp-reparent-gateway   a wrapper that points AWS_LAMBDA_RUNTIME_API
#                                      at the Telemetry API stand-in (which
#                                      forwards everything else to the emulator)
#                                      and execs the extension under its own name
#   otlp-reparent-gateway/...          the extension: GATEWAY_BIN, or with
#                                      LAYER_ZIP the layer's contents, its
#                                      extension binary moved to bin/
# Python: $GATEWAY_PY_VENV, else .deps/venv at the root of the source tree;
# the emulator: $GATEWAY_RIE, else .deps/bin/aws-lambda-rie there
# (scripts/install_deps.sh --test makes both).
set -euo pipefail

if (($# < 4)); then
  echo "usage: $0 FAKE_DYNATRACE_BIN GATEWAY_BIN ORACLE_BIN TEST_MODULE [LAYER_ZIP] [PYTEST_ARGS...]" >&2
  exit 2
fi
export E2E_FAKE_DYNATRACE="$(readlink -f "$1")"
gateway="$(readlink -f "$2")"
export E2E_ORACLE="$(readlink -f "$3")"
module="$4"
shift 4
layer=""
if (($#)) && [[ "$1" == *.zip ]]; then
  layer="$(readlink -f "$1")"
  shift
fi

src_dir="$(dirname "$(readlink -f "$module")")"
root="$(cd "$src_dir/../../.." && pwd)"
venv="${GATEWAY_PY_VENV:-$root/.deps/venv}"
export E2E_RIE="${GATEWAY_RIE:-$root/.deps/bin/aws-lambda-rie}"
for f in "$venv/bin/python" "$E2E_RIE"; do
  if [[ ! -x "$f" ]]; then
    echo "missing $f: run scripts/install_deps.sh --test" >&2
    exit 1
  fi
done
export E2E_PYTHON="$venv/bin/python"
export E2E_FUNCTION_DIR="$src_dir/function"

work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/lambda-e2e.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/opt/extensions" "$work/opt/otlp-reparent-gateway/bin"
if [[ -n "$layer" ]]; then
  unzip -q "$layer" -d "$work/opt"
  mv "$work/opt/extensions/otlp-reparent-gateway" "$work/opt/otlp-reparent-gateway/bin/otlp-reparent-gateway"
else
  cp "$gateway" "$work/opt/otlp-reparent-gateway/bin/otlp-reparent-gateway"
fi
cat > "$work/opt/extensions/otlp-reparent-gateway" <<'EOF'
#!/bin/bash
# Test only: the Lambda API the extension sees is the Telemetry API stand-in.
export AWS_LAMBDA_RUNTIME_API="$E2E_PROXY_API"
exec -a "$0" /opt/otlp-reparent-gateway/bin/otlp-reparent-gateway "$@"
EOF
chmod +x "$work/opt/extensions/otlp-reparent-gateway"
cp /etc/hosts "$work/hosts"
echo "127.0.0.1 sandbox.localdomain" >> "$work/hosts"
export E2E_WORK="$work"
export E2E_LAYER="$layer"

args=(-p no:cacheprovider -v -rA "$src_dir/$(basename "$module")")
if [[ -n "${XML_OUTPUT_FILE:-}" ]]; then
  args+=("--junitxml=$XML_OUTPUT_FILE")
fi
export PYTHONDONTWRITEBYTECODE=1
# Not exec: the trap removes $work afterwards. The run is bounded.
timeout --kill-after=10 600 unshare --user --map-root-user --mount --net bash -c '
  set -euo pipefail
  PATH="$PATH:/usr/sbin:/sbin" ip link set lo up
  mount --bind "$E2E_WORK/opt" /opt
  mount --bind "$E2E_WORK/hosts" /etc/hosts
  exec "$E2E_PYTHON" -m pytest "$@"
' lambda-e2e "${args[@]}" "$@"
