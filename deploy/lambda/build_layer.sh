#!/usr/bin/env bash
# Builds the AWS Lambda layer: a zip that Lambda unpacks under /opt.
#
#   deploy/lambda/build_layer.sh [--binary PATH] [--out ZIP] [--static-archives "grpc++ protobuf ..."]
#
# Without --binary: builds //deploy/lambda:layer with -c opt (which runs this
# script on the gateway linked for the layer) and copies the zip to
# deploy/lambda/out/otlp-reparent-gateway-layer-x86_64.zip.
#
# The binary is built on Debian 12 (glibc 2.36); the Lambda runtimes run
# Amazon Linux 2023 (glibc 2.34) or Amazon Linux 2 (2.26), and a binary
# linked against a newer glibc does not load there. So the layer carries the
# binary's whole userland with it:
#
#   extensions/otlp-reparent-gateway      the gateway; its ELF interpreter is
#                                         /opt/otlp-reparent-gateway/lib/ld-linux-x86-64.so.2
#                                         and its DT_RPATH /opt/otlp-reparent-gateway/lib,
#                                         so it loads nothing from the host
#   otlp-reparent-gateway/lib/            every shared library ldd lists for it
#                                         (glibc and its loader included), each
#                                         with DT_RPATH $ORIGIN
#   otlp-reparent-gateway/MANIFEST        library -> Debian package and version,
#                                         also for the archives linked into the
#                                         binary (--static-archives)
#   otlp-reparent-gateway/licenses/       those packages' copyright files
#
# Nothing else on the host is used but the kernel, /proc, and, for HTTPS to
# Dynatrace, the CA bundle (found at run time; docs/lambda.md). x86_64 only.
# Needs: patchelf, zip, strip, ldd, dpkg-query (scripts/install_deps.sh --test).
set -euo pipefail

NAME=otlp-reparent-gateway
PREFIX=/opt/$NAME
LOADER=ld-linux-x86-64.so.2

root="$(cd "$(dirname "$0")/../.." && pwd)"
binary=""
static_archives=""
out="$root/deploy/lambda/out/$NAME-layer-x86_64.zip"
while (($#)); do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --static-archives) static_archives="$2"; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--out ZIP] [--static-archives NAMES]" >&2; exit 2 ;;
  esac
done
for tool in patchelf zip strip ldd dpkg-query; do
  command -v "$tool" >/dev/null || { echo "build_layer: $tool not found (scripts/install_deps.sh --test)" >&2; exit 1; }
done
if [[ "$(uname -m)" != x86_64 ]]; then
  echo "build_layer: builds x86_64 layers on x86_64 only" >&2
  exit 1
fi
if [[ -z "$binary" ]]; then
  # Bazel's //deploy/lambda:layer links the binary for the layer (C++
  # libraries static, bazel/static_link.bzl) and runs this script on it.
  (cd "$root" && bazel build -c opt //deploy/lambda:layer >&2)
  mkdir -p "$(dirname "$out")"
  cp -f "$root/bazel-bin/deploy/lambda/$NAME-layer-x86_64.zip" "$out"
  chmod 644 "$out"
  echo "build_layer: $out" >&2
  exit 0
fi
binary="$(readlink -f "$binary")"
if [[ "$(patchelf --print-interpreter "$binary")" != "/lib64/$LOADER" ]]; then
  echo "build_layer: $binary is not a dynamically linked x86_64 glibc program" >&2
  exit 1
fi

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/extensions" "$staging/$NAME/lib" "$staging/$NAME/licenses"

# The libraries, under the name the binary asks for (their soname).
declare -A packages=()
while read -r soname path; do
  real="$(readlink -f "$path")"
  cp "$real" "$staging/$NAME/lib/$soname"
  chmod 644 "$staging/$NAME/lib/$soname"
  patchelf --force-rpath --set-rpath '$ORIGIN' "$staging/$NAME/lib/$soname"
  pkg="$(dpkg-query -S "$path" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
  [[ -z "$pkg" ]] && pkg="$(dpkg-query -S "$real" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
  [[ -n "$pkg" ]] && packages["$pkg"]=1
  printf '%s\t%s\n' "$soname" "${pkg:-unknown}" >> "$staging/$NAME/MANIFEST.libs"
done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
# Archives linked into the binary: their packages' notices come along too.
for name in $static_archives; do
  archive="$(readlink -f "$(gcc -print-file-name="lib$name.a")")"
  [[ -f "$archive" ]] || { echo "build_layer: lib$name.a not found" >&2; exit 1; }
  pkg="$(dpkg-query -S "$archive" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
  [[ -n "$pkg" ]] && packages["$pkg"]=1
  printf '%s\t%s\n' "lib$name.a (linked in)" "${pkg:-unknown}" >> "$staging/$NAME/MANIFEST.libs"
done
cp "$(readlink -f "/lib64/$LOADER")" "$staging/$NAME/lib/$LOADER"
chmod 755 "$staging/$NAME/lib/$LOADER"
loader_pkg="$(dpkg-query -S "/lib64/$LOADER" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
packages["${loader_pkg:-libc6}"]=1

{
  echo "# $NAME Lambda layer: bundled libraries (soname, Debian package)"
  sort "$staging/$NAME/MANIFEST.libs"
  printf '%s\t%s\n' "$LOADER" "${loader_pkg:-libc6}"
  echo "# packages"
  for pkg in $(printf '%s\n' "${!packages[@]}" | sort); do
    dpkg-query -W -f='${Package}\t${Version}\n' "${pkg%%:*}" 2>/dev/null || echo "$pkg"
  done
} > "$staging/$NAME/MANIFEST"
rm "$staging/$NAME/MANIFEST.libs"
for pkg in "${!packages[@]}"; do
  base="${pkg%%:*}"
  if [[ -f "/usr/share/doc/$base/copyright" ]]; then
    cp "/usr/share/doc/$base/copyright" "$staging/$NAME/licenses/$base.copyright"
  fi
done

# The extension: debug info stripped (symbols kept), then pointed at the
# bundled loader and libraries.
ext="$staging/extensions/$NAME"
cp "$binary" "$ext"
chmod 755 "$ext"
strip --strip-debug "$ext"
patchelf --set-interpreter "$PREFIX/lib/$LOADER" --force-rpath --set-rpath "$PREFIX/lib" "$ext"

# A reproducible zip: sorted entries, fixed times, no extra attributes.
find "$staging" -exec touch -h -d '2020-01-01 00:00:00 UTC' {} +
mkdir -p "$(dirname "$out")"
rm -f "$out"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
(cd "$staging" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./||' | zip -q -X -y -@ "$out")
echo "build_layer: $out ($(du -h "$out" | cut -f1)), $(ls "$staging/$NAME/lib" | wc -l) libraries" >&2
