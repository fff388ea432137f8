#!/usr/bin/env bash
# Builds and runs the gateway with its embedded default configuration
# (OTLP gRPC on :4317, HTTP on :4318, admin on 127.0.0.1:13133; with no
# Dynatrace target set, a debug exporter prints one line per span).
# Any arguments are passed to the gateway: scripts/run_gateway.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
bazel build -c opt //gateway:otlp_gateway >&2
exec "$(bazel info -c opt bazel-bin 2>/dev/null)/gateway/otlp_gateway" "$@"
