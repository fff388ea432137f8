#!/usr/bin/env bash
# Installs what the gateway needs to build and test, from Debian's apt
# repository, the npm registry and the Go module proxy only. Idempotent: when everything is
# present it returns in about a second without touching the network.
#
#   scripts/install_deps.sh            build dependencies only
#   scripts/install_deps.sh --test     plus what the test suite uses
set -euo pipefail

cd "$(dirname "$0")/.."

BUILD_PACKAGES=(
  bazel-bootstrap g++ pkg-config
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libabsl-dev libconcurrentqueue-dev libbenchmark-dev libgtest-dev libgmock-dev
  libboost1.81-dev libcurl4-openssl-dev libyaml-cpp-dev zlib1g-dev libisal-dev libdeflate-dev
)
TEST_PACKAGES=(
  python3 curl ca-certificates
  clang libclang-rt-14-dev
  rabbitmq-server
  chromium  # tests/e2e/status_page_test.sh renders /status headless
)

packages=("${BUILD_PACKAGES[@]}")
with_tests=0
if [[ "${1:-}" == "--test" ]]; then
  with_tests=1
  packages+=("${TEST_PACKAGES[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js: the machine image ships Node 20 with its own npm (Debian's
# nodejs package would conflict with it); install Debian's only when absent.
if ((with_tests)) && ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  # rabbitmq-server's package starts the service; tests start their own
  # broker on a private port, so keep the packaged one from auto-starting.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ((with_tests)) && [[ -f tests/js/package.json ]]; then
  # Node packages for the third-party client tests, pinned by package-lock.json.
  stamp=tests/js/node_modules/.install-stamp
  if [[ ! -f "$stamp" || tests/js/package-lock.json -nt "$stamp" || tests/js/package.json -nt "$stamp" ]]; then
    echo "install_deps: npm install in tests/js" >&2
    (cd tests/js && npm install --no-audit --no-fund --loglevel=error >&2)
    touch "$stamp"
  fi
fi

if ((with_tests)); then
  # The OpenTelemetry Collector for the tests that run the real thing
  # (//tests/pipeline/metrics:collector_differential_test): built from the
  # Go module proxy at the versions pinned in tests/go/collector/go.sum, into
  # .deps/bin (gitignored). Rebuilt only when go.mod, go.sum or main.go
  # change; about 4-5 CPU-minutes from a cold module cache.
  go_bin="$(command -v go || true)"
  if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then go_bin=/usr/local/go/bin/go; fi
  if [[ -z "$go_bin" ]]; then
    echo "install_deps: missing Go (>= 1.25, on PATH or in /usr/local/go/bin): needed to build the OpenTelemetry Collector for the tests" >&2
    exit 1
  fi
  collector=.deps/bin/otelcol-gateway-test
  collector_stamp=.deps/otelcol-gateway-test.stamp
  want="$(cat tests/go/collector/go.mod tests/go/collector/go.sum tests/go/collector/main.go | sha256sum | cut -d' ' -f1)"
  if [[ ! -x "$collector" || ! -f "$collector_stamp" || "$(cat "$collector_stamp")" != "$want" ]]; then
    echo "install_deps: building $collector (OpenTelemetry Collector, tests/go/collector)" >&2
    mkdir -p .deps/bin
    (cd tests/go/collector &&
      GOFLAGS=-mod=readonly GOPROXY="${GOPROXY:-https://proxy.golang.org}" \
        "$go_bin" build -trimpath -ldflags=-s -o "../../../$collector.tmp" .)
    mv "$collector.tmp" "$collector"
    echo "$want" > "$collector_stamp"
  fi
fi
