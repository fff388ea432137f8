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
#   lambda_layer_test.sh LAYER_ZIP LAMBDA_EXTENSION_BENCH [x86_64|arm64]
#
# arm64 (the cross-built layer) runs on this x86_64 machine under qemu-user:
# qemu-aarch64-static, statically linked, is copied into the root (the only
# file there besides the layer) and the bench starts the extension through
# it (--emulator), as binfmt_misc may not be available to register it.
set -euo pipefail

zip="$(readlink -f "$1")"
bench="$(readlink -f "$2")"
arch="${3:-x86_64}"
name=otlp-reparent-gateway
case "$arch" in
  x86_64) loader=ld-linux-x86-64.so.2 machine="Advanced Micro Devices X86-64" emulator="" ;;
  arm64) loader=ld-linux-aarch64.so.1 machine=AArch64 emulator=/qemu-aarch64-static ;;
  *) echo "usage: $0 LAYER_ZIP LAMBDA_EXTENSION_BENCH [x86_64|arm64]" >&2; exit 2 ;;
esac
root="$(mktemp -d "${TEST_TMPDIR:-/tmp}/layer-root.XXXXXX")"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/opt" "$root/tmp" "$root/proc" "$root/dev"
unzip -q "$zip" -d "$root/opt"
lib="$root/opt/$name/lib"
ext="$root/opt/extensions/$name"

fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -x "$ext" ]] || fail "extensions/$name is missing or not executable"
[[ "$(readelf -h "$ext" | sed -n 's/^ *Machine: *//p')" == "$machine" ]] ||
  fail "extensions/$name is not built for $arch: $(readelf -h "$ext" | sed -n 's/^ *Machine: *//p')"
[[ "$(patchelf --print-interpreter "$ext")" == "/opt/$name/lib/$loader" ]] ||
  fail "interpreter is $(patchelf --print-interpreter "$ext")"
[[ "$(patchelf --print-rpath "$ext")" == "/opt/$name/lib" ]] || fail "rpath is $(patchelf --print-rpath "$ext")"
[[ -x "$lib/$loader" ]] || fail "no bundled loader"
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
if [[ -n "$emulator" ]]; then
  qemu="$(command -v qemu-aarch64-static)" || fail "qemu-aarch64-static not found (scripts/install_deps.sh --arm64)"
  [[ "$(readelf -l "$qemu" | grep -c INTERP || true)" == 0 ]] || fail "$qemu is not statically linked"
  cp "$qemu" "$root$emulator"
fi

# Prefix the stand-ins' output so the log reads.
export LAYER_ROOT="$root" LAYER_BENCH="$bench" LAYER_EMULATOR="$emulator"
timeout --kill-after=10 300 unshare --user --map-root-user --mount --net bash -c '
  set -euo pipefail
  PATH="$PATH:/usr/sbin:/sbin" ip link set lo up
  mount --rbind /proc "$LAYER_ROOT/proc"
  mount --rbind /dev "$LAYER_ROOT/dev"
  # Nothing from the build machine is reachable at the paths the loader uses.
  /usr/sbin/chroot "$LAYER_ROOT" $LAYER_EMULATOR /opt/extensions/otlp-reparent-gateway --help > /dev/null
  exec "$LAYER_BENCH" --root="$LAYER_ROOT" --emulator="$LAYER_EMULATOR" \
    --extension=/opt/extensions/otlp-reparent-gateway --starts=2 --invokes=5 --spans=100 --check
'
