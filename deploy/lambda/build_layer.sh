#!/usr/bin/env bash
# Builds the AWS Lambda layer: a zip that Lambda unpacks under /opt.
#
#   deploy/lambda/build_layer.sh [--arch x86_64|arm64] [--binary PATH] [--out ZIP]
#                                [--static-archives "grpc++ protobuf ..."] [--sysroot DIR]
#
# Without --binary: builds //deploy/lambda:layer with -c opt (which runs this
# script on the gateway linked for the layer) and copies the zip to
# deploy/lambda/out/otlp-reparent-gateway-layer-x86_64.zip; with --arch arm64,
# //deploy/lambda:layer_arm64 (cross-built, bazel/toolchains/aarch64) to
# ...-layer-arm64.zip.
#
# The binary is built on Debian 12 (glibc 2.36); the Lambda runtimes run
# Amazon Linux 2023 (glibc 2.34) or Amazon Linux 2 (2.26), and a binary
# linked against a newer glibc does not load there. So the layer carries the
# binary's whole userland with it:
#
#   extensions/otlp-reparent-gateway      the gateway; its ELF interpreter is
#                                         /opt/otlp-reparent-gateway/lib/ld-linux-x86-64.so.2
#                                         (arm64: ld-linux-aarch64.so.1)
#                                         and its DT_RPATH /opt/otlp-reparent-gateway/lib,
#                                         so it loads nothing from the host
#   otlp-reparent-gateway/lib/            every shared library it needs
#                                         (glibc and its loader included), each
#                                         with DT_RPATH $ORIGIN
#   otlp-reparent-gateway/MANIFEST        library -> Debian package and version,
#                                         also for the archives linked into the
#                                         binary (--static-archives)
#   otlp-reparent-gateway/licenses/       those packages' copyright files
#
# x86_64 takes the libraries ldd finds on this (x86_64) machine and their
# packages from dpkg. arm64 is cross-built: the libraries are found by
# following DT_NEEDED in the sysroot of Debian arm64 packages
# (scripts/install_arm64_sysroot.sh, --sysroot, default .deps/sysroot-arm64),
# and their packages, versions and copyright files are the sysroot's.
#
# Nothing else on the host is used but the kernel, /proc, and, for HTTPS to
# Dynatrace, the CA bundle (found at run time; docs/lambda.md).
# Needs: patchelf, zip, strip, ldd, dpkg-query (scripts/install_deps.sh --test);
# for arm64 also the aarch64 binutils and gcc (scripts/install_deps.sh --arm64).
set -euo pipefail

NAME=otlp-reparent-gateway
PREFIX=/opt/$NAME

root="$(cd "$(dirname "$0")/../.." && pwd)"
arch=x86_64
binary=""
static_archives=""
sysroot=""
out=""
while (($#)); do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --static-archives) static_archives="$2"; shift 2 ;;
    --sysroot) sysroot="$2"; shift 2 ;;
    *) echo "usage: $0 [--arch x86_64|arm64] [--binary PATH] [--out ZIP] [--static-archives NAMES] [--sysroot DIR]" >&2; exit 2 ;;
  esac
done
case "$arch" in
  x86_64)
    LOADER=ld-linux-x86-64.so.2
    SYSTEM_LOADER=/lib64/$LOADER
    STRIP=strip
    GCC=(gcc)
    tools=(patchelf zip strip ldd dpkg-query)
    target=//deploy/lambda:layer
    ;;
  arm64)
    LOADER=ld-linux-aarch64.so.1
    SYSTEM_LOADER=/lib/$LOADER
    STRIP=aarch64-linux-gnu-strip
    tools=(patchelf zip aarch64-linux-gnu-strip aarch64-linux-gnu-gcc dpkg-query)
    target=//deploy/lambda:layer_arm64
    ;;
  *) echo "build_layer: --arch is x86_64 or arm64, not $arch" >&2; exit 2 ;;
esac
[[ -n "$out" ]] || out="$root/deploy/lambda/out/$NAME-layer-$arch.zip"
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || {
    echo "build_layer: $tool not found (scripts/install_deps.sh $([[ $arch == arm64 ]] && echo --arm64 || echo --test))" >&2
    exit 1
  }
done
if [[ "$(uname -m)" != x86_64 ]]; then
  echo "build_layer: builds x86_64 and (cross-built) arm64 layers on x86_64 only" >&2
  exit 1
fi
if [[ -z "$binary" ]]; then
  # Bazel links the binary for the layer (C++ libraries static,
  # bazel/static_link.bzl) and runs this script on it.
  (cd "$root" && bazel build -c opt "$target" >&2)
  mkdir -p "$(dirname "$out")"
  cp -f "$root/bazel-bin/deploy/lambda/$NAME-layer-$arch.zip" "$out"
  chmod 644 "$out"
  echo "build_layer: $out" >&2
  exit 0
fi
binary="$(readlink -f "$binary")"
if [[ "$(patchelf --print-interpreter "$binary")" != "$SYSTEM_LOADER" ]]; then
  echo "build_layer: $binary is not a dynamically linked $arch glibc program (interpreter $SYSTEM_LOADER)" >&2
  exit 1
fi
if [[ "$arch" == arm64 ]]; then
  sysroot="$(readlink -f "${sysroot:-$root/.deps/sysroot-arm64}")"
  [[ -f "$sysroot/PACKAGES" ]] || {
    echo "build_layer: no arm64 sysroot at $sysroot (scripts/install_deps.sh --arm64)" >&2
    exit 1
  }
  GCC=(aarch64-linux-gnu-gcc "--sysroot=$sysroot")
  SYSTEM_LOADER="$sysroot/lib/$LOADER"
fi

# package_of PATH: the Debian package PATH (or the file it links to) is from;
# in the sysroot from its packages/*.list, elsewhere from dpkg.
package_of() {
  local path pkg
  for path in "$1" "$(readlink -f "$1")"; do
    if [[ -n "$sysroot" && "$path" == "$sysroot"/* ]]; then
      pkg="$(grep -lxF "${path#"$sysroot"}" "$sysroot"/packages/*.list 2>/dev/null | head -n1 || true)"
      pkg="$(basename "${pkg:-.list}" .list)"
    else
      pkg="$(dpkg-query -S "$path" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
    fi
    [[ -n "$pkg" ]] && { echo "$pkg"; return; }
  done
  true
}
# version_of PACKAGE: package<TAB>version, as unpacked in the sysroot or
# installed here (the cross compiler's libstdc++ archive).
version_of() {
  if [[ -n "$sysroot" ]] && awk -F'\t' -v p="$1" '$1 == p { print; found = 1 } END { exit !found }' "$sysroot/PACKAGES"; then
    return
  fi
  dpkg-query -W -f='${Package}\t${Version}\n' "$1" 2>/dev/null || echo "$1"
}
# copyright_of PACKAGE: its copyright file.
copyright_of() {
  if [[ -n "$sysroot" && -f "$sysroot/usr/share/doc/$1/copyright" ]]; then
    echo "$sysroot/usr/share/doc/$1/copyright"
  elif [[ -f "/usr/share/doc/$1/copyright" ]]; then
    echo "/usr/share/doc/$1/copyright"
  fi
}
# needed_libraries: "soname path" for each shared library the binary loads,
# the loader left out. x86_64: what ldd resolves on this machine. arm64:
# DT_NEEDED followed breadth-first through the sysroot's library directories
# (the binary cannot run here to ask its loader).
needed_libraries() {
  if [[ -z "$sysroot" ]]; then
    ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }'
    return
  fi
  local -a queue=("$binary")
  local -A seen=()
  local object needed dir found
  while ((${#queue[@]})); do
    object="${queue[0]}"
    queue=("${queue[@]:1}")
    for needed in $(patchelf --print-needed "$object"); do
      [[ "$needed" == "$LOADER" || -n "${seen[$needed]:-}" ]] && continue
      seen[$needed]=1
      found=""
      for dir in "$sysroot/lib/aarch64-linux-gnu" "$sysroot/usr/lib/aarch64-linux-gnu"; do
        [[ -e "$dir/$needed" ]] && found="$dir/$needed" && break
      done
      [[ -n "$found" ]] || { echo "build_layer: $needed (needed by $(basename "$object")) is not in $sysroot" >&2; exit 1; }
      echo "$needed $found"
      queue+=("$(readlink -f "$found")")
    done
  done
}

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
  pkg="$(package_of "$path")"
  [[ -n "$pkg" ]] && packages["$pkg"]=1
  printf '%s\t%s\n' "$soname" "${pkg:-unknown}" >> "$staging/$NAME/MANIFEST.libs"
done < <(needed_libraries)
# Archives linked into the binary: their packages' notices come along too.
for name in $static_archives; do
  archive="$(readlink -f "$("${GCC[@]}" -print-file-name="lib$name.a")")"
  [[ -f "$archive" ]] || { echo "build_layer: lib$name.a not found" >&2; exit 1; }
  pkg="$(package_of "$archive")"
  [[ -n "$pkg" ]] && packages["$pkg"]=1
  printf '%s\t%s\n' "lib$name.a (linked in)" "${pkg:-unknown}" >> "$staging/$NAME/MANIFEST.libs"
done
cp "$(readlink -f "$SYSTEM_LOADER")" "$staging/$NAME/lib/$LOADER"
chmod 755 "$staging/$NAME/lib/$LOADER"
loader_pkg="$(package_of "$SYSTEM_LOADER")"
packages["${loader_pkg:-libc6}"]=1

{
  echo "# $NAME Lambda layer: bundled libraries (soname, Debian package)"
  sort "$staging/$NAME/MANIFEST.libs"
  printf '%s\t%s\n' "$LOADER" "${loader_pkg:-libc6}"
  echo "# packages"
  for pkg in $(printf '%s\n' "${!packages[@]}" | sort); do
    version_of "${pkg%%:*}"
  done
} > "$staging/$NAME/MANIFEST"
rm "$staging/$NAME/MANIFEST.libs"
for pkg in "${!packages[@]}"; do
  base="${pkg%%:*}"
  copyright="$(copyright_of "$base")"
  if [[ -n "$copyright" ]]; then
    cp "$copyright" "$staging/$NAME/licenses/$base.copyright"
  fi
done

# The extension: debug info stripped (symbols kept), then pointed at the
# bundled loader and libraries.
ext="$staging/extensions/$NAME"
cp "$binary" "$ext"
chmod 755 "$ext"
$STRIP --strip-debug "$ext"
patchelf --set-interpreter "$PREFIX/lib/$LOADER" --force-rpath --set-rpath "$PREFIX/lib" "$ext"

# A reproducible zip: sorted entries, fixed times, no extra attributes.
find "$staging" -exec touch -h -d '2020-01-01 00:00:00 UTC' {} +
mkdir -p "$(dirname "$out")"
rm -f "$out"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
(cd "$staging" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./||' | zip -q -X -y -@ "$out")
echo "build_layer: $out ($(du -h "$out" | cut -f1)), $(ls "$staging/$NAME/lib" | wc -l) libraries" >&2
