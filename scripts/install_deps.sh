#!/usr/bin/env bash
# Installs what the gateway needs to build and test, from Debian's apt
# repository, the npm registry and the Go module proxy only. Idempotent: when everything is
# present it returns in about a second without touching the network.
#
#   scripts/install_deps.sh            build dependencies only
#   scripts/install_deps.sh --test     plus what the test suite uses
#   scripts/install_deps.sh --arm64    plus the arm64 cross build of the Lambda
#                                      layer: Debian's aarch64 cross compiler,
#                                      qemu-user-static to run the result, and
#                                      .deps/sysroot-arm64 (install_arm64_sysroot.sh)
#
# Test tools from registries other than apt live under the gitignored .deps/
# at the root of the tree (stable paths; other tests may rely on them):
#   .deps/venv/                 Python virtual environment from the pinned
#                               tests/python/requirements.txt (OpenTelemetry
#                               Python SDK and instrumentations, boto3, moto,
#                               awslambdaric, pytest); .deps/venv/bin/python
#   .deps/venv-otel-1.24/       the same for tests/python/requirements-otel-1.24.txt
#                               (an OpenTelemetry Python SDK that sends no span
#                               flags, for one delay measurement)
#   .deps/bin/aws-lambda-rie    AWS Lambda Runtime Interface Emulator, built
#                               with Go from the pinned tests/go/rie/go.mod
#   .deps/bin/otelcol-gateway-test
#                               the OpenTelemetry Collector (core and contrib at
#                               one release), from tests/go/collector
# Each is rebuilt only when its pin file changes (a stamp beside it holds the
# pin files' sha256). tests/js/node_modules holds the pinned npm packages.
set -euo pipefail

cd "$(dirname "$0")/.."

BUILD_PACKAGES=(
  bazel-bootstrap g++ pkg-config
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libabsl-dev libconcurrentqueue-dev libbenchmark-dev libgtest-dev libgmock-dev
  libboost1.81-dev libcurl4-openssl-dev libyaml-cpp-dev zlib1g-dev libisal-dev libdeflate-dev
  libhiredis-dev libssl-dev  # the fate store's Redis client (reparent.fate_store)
)
TEST_PACKAGES=(
  python3 curl ca-certificates
  clang libclang-rt-14-dev
  rabbitmq-server
  redis-server  # tests/reliability/fate_store_chain_test starts its own on a free port
  chromium  # tests/e2e/status_page_test.sh renders /status headless
  patchelf zip unzip  # deploy/lambda/build_layer.sh and the Lambda layer tests
)
ARM64_PACKAGES=(
  g++-aarch64-linux-gnu  # gcc 12 for aarch64 with libstdc++ and glibc (*-arm64-cross packages)
  qemu-user-static  # tests/deploy:lambda_layer_arm64_test runs the layer's binary
  patchelf zip unzip  # deploy/lambda/build_layer.sh
)

packages=("${BUILD_PACKAGES[@]}")
with_tests=0
with_arm64=0
for arg in "$@"; do
  case "$arg" in
    --test) with_tests=1; packages+=("${TEST_PACKAGES[@]}") ;;
    --arm64) with_arm64=1; packages+=("${ARM64_PACKAGES[@]}") ;;
    *) echo "usage: $0 [--test] [--arm64]" >&2; exit 2 ;;
  esac
done

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
  # rabbitmq-server's and redis-server's packages start the service; tests
  # start their own on a private port, so keep the packaged ones from
  # auto-starting.
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

# require_tool NAME HINT: fails with a clear message when NAME is not on PATH.
require_tool() {
  if ! command -v "$1" >/dev/null; then
    echo "install_deps: '$1' not found on PATH: $2" >&2
    exit 1
  fi
}

# stamp_of FILE...: one line naming the content of the pin files.
stamp_of() {
  sha256sum "$@" | sha256sum | cut -d' ' -f1
}

if ((with_tests)); then
  # The machine brings Go, Python and Node; say clearly which one is missing.
  if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then export PATH="$PATH:/usr/local/go/bin"; fi
  require_tool go "install Go 1.26 (Debian's is too old for the OpenTelemetry Collector)"
  require_tool node "install Node.js 20 (apt-get install nodejs npm)"
  require_tool python3 "install Python 3.11 (apt-get install python3 python3-venv)"

  # install_venv DIR REQUIREMENTS: (re)creates DIR when REQUIREMENTS changed.
  install_venv() {
    local venv=$1 requirements=$2 want
    want=$(stamp_of "$requirements")
    if [[ -x "$venv/bin/python" && "$(cat "$venv/.install-stamp" 2>/dev/null)" == "$want" ]]; then
      return
    fi
    echo "install_deps: Python virtual environment in $venv" >&2
    rm -rf "$venv"
    mkdir -p .deps
    python3 -m venv "$venv" || {
      echo "install_deps: 'python3 -m venv' failed (Debian: apt-get install python3-venv)" >&2
      exit 1
    }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      --no-input -r "$requirements" >&2
    echo "$want" > "$venv/.install-stamp"
  }
  install_venv .deps/venv tests/python/requirements.txt
  install_venv .deps/venv-otel-1.24 tests/python/requirements-otel-1.24.txt

  # go_build MODULE_DIR OUT PACKAGE: builds PACKAGE of the pinned module in
  # MODULE_DIR (go.mod, go.sum, *.go) into OUT when the pins changed.
  go_build() {
    local dir=$1 out=$2 package=$3 want
    want=$(stamp_of "$dir"/go.mod "$dir"/go.sum "$dir"/*.go)
    if [[ -x "$out" && "$(cat "$out.install-stamp" 2>/dev/null)" == "$want" ]]; then
      return
    fi
    echo "install_deps: building $out from the Go module proxy ($dir)" >&2
    mkdir -p "$(dirname "$out")"
    (cd "$dir" && GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" \
      go build -trimpath -ldflags=-s -o "$OLDPWD/$out.tmp" "$package") >&2
    mv "$out.tmp" "$out"
    echo "$want" > "$out.install-stamp"
  }
  # AWS Lambda Runtime Interface Emulator (Lambda tests).
  go_build tests/go/rie .deps/bin/aws-lambda-rie \
    github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
  # The OpenTelemetry Collector (differential metrics test, load-balancing
  # tier): about 4-5 CPU-minutes from a cold module cache.
  go_build tests/go/collector .deps/bin/otelcol-gateway-test .
fi

if ((with_arm64)); then
  # The arm64 libraries, unpacked beside the tree (no arm64 package is
  # installed on this machine).
  scripts/install_arm64_sysroot.sh
  require_tool aarch64-linux-gnu-g++ "apt-get install g++-aarch64-linux-gnu"
  require_tool qemu-aarch64-static "apt-get install qemu-user-static"
fi
