#!/usr/bin/env bash
# The Lambda layer runs in a root that holds nothing but the layer (unzipped
# under /opt, as Lambda does) and the kernel's /proc and /dev: no libraries
# of the build machine. Checks the layout (the extension's interpreter and
# DT_RPATH point into the layer, every library any bundled object needs is
# bundled), then, chrooted in a private user, mount and network namespace,
# runs the extension through a whole lifecycle against the Lambda API and
# Dynatrace stand-ins (bench/lambda_extension_bench --check): register,
# telemetry subscription, invokes whose spans are delivered before the next
# event is requested, SHUTDOWN and exit 0.
#
#   lambda_layer_test.sh LAYER_ZIP LAMBDA_EXTENSION_BENCH
set -euo pipefail

zip="$(readlink -f "$1")"
bench="$(readlink -f "$2")"
name=otlp-reparent-gateway
root="$(mktemp -d "${TEST_TMPDIR:-/tmp}/layer-root.XXXXXX")"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/opt" "$root/tmp" "$root/proc" "$root/dev"
unzip -q "$zip" -d "$root/opt"
lib="$root/opt/$name/lib"
ext="$root/opt/extensions/$name"

fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -x "$ext" ]] || fail "extensions/$name is missing or not executable"
[[ "$(patchelf --print-interpreter "$ext")" == "/opt/$name/lib/ld-linux-x86-64.so.2" ]] ||
  fail "interpreter is $(patchelf --print-interpreter "$ext")"
[[ "$(patchelf --print-rpath "$ext")" == "/opt/$name/lib" ]] || fail "rpath is $(patchelf --print-rpath "$ext")"
[[ -x "$lib/ld-linux-x86-64.so.2" ]] || fail "no bundled loader"
for object in "$ext" "$lib"/*.so*; do
  for needed in $(patchelf --print-needed "$object"); do
    [[ -f "$lib/$needed" ]] || fail "$(basename "$object") needs $needed, which the layer lacks"
  done
done
[[ -s "$root/opt/$name/MANIFEST" ]] || fail "no MANIFEST"
stray="$(find "$root" -mindepth 1 -not -path "$root/opt*" -not -path "$root/tmp" -not -path "$root/proc" \
  -not -path "$root/dev")"
[[ -z "$stray" ]] || fail "the root holds more than the layer: $stray"
echo "layout: $(ls "$lib" | wc -l) bundled libraries, interpreter and rpath inside the layer"

# Prefix the stand-ins' output so the log reads.
export LAYER_ROOT="$root" LAYER_BENCH="$bench"
timeout --kill-after=10 300 unshare --user --map-root-user --mount --net bash -c '
  set -euo pipefail
  PATH="$PATH:/usr/sbin:/sbin" ip link set lo up
  mount --rbind /proc "$LAYER_ROOT/proc"
  mount --rbind /dev "$LAYER_ROOT/dev"
  # Nothing from the build machine is reachable at the paths the loader uses.
  /usr/sbin/chroot "$LAYER_ROOT" /opt/extensions/otlp-reparent-gateway --help > /dev/null
  exec "$LAYER_BENCH" --root="$LAYER_ROOT" --extension=/opt/extensions/otlp-reparent-gateway \
    --starts=2 --invokes=5 --spans=100 --check
'
