#!/usr/bin/env bash
# Builds the arm64 (aarch64) sysroot the cross build links against
# (bazel/toolchains/aarch64, `bazel build --config=arm64`): Debian 12 arm64
# packages of the libraries the gateway uses, unpacked into
# .deps/sysroot-arm64. Called by `scripts/install_deps.sh --arm64`, which
# installs the cross compiler first. Idempotent: when the sysroot matches
# the request it returns at once, without the network.
#
#   scripts/install_arm64_sysroot.sh
#
# apt runs with a private configuration and state under .deps/apt-arm64
# (architecture arm64 only, an empty dpkg status, Debian's own sources), so
# the machine's apt setup is not touched: no `dpkg --add-architecture`, no
# arm64 package installed, nothing that could conflict with the amd64 -dev
# packages. Each package is taken at the version this machine has for amd64
# where the Debian archive still serves it; where it does not (the archive
# keeps only the current stable and security versions), the served version
# is taken and listed in .deps/sysroot-arm64/VERSION-DIFFERENCES.
#
# The sysroot:
#   usr/{include,lib/aarch64-linux-gnu}, lib/aarch64-linux-gnu
#                           the packages' files (`dpkg -x`), absolute
#                           symlinks made relative so they stay inside
#   usr/include/boost       -> the host's /usr/include/boost (Boost is
#                           header-only here and the same for every arch)
#   PACKAGES                package<TAB>version of every .deb unpacked
#   packages/<pkg>.list     the files each package brought (for the
#                           layer's MANIFEST: which package a library is from)
#   VERSION-DIFFERENCES     package, arm64 version, amd64 version on this host
set -euo pipefail

cd "$(dirname "$0")/.."

# What //gateway:otlp_gateway links (bazel/third_party/*.BUILD), headers
# included; apt adds the dependency closure.
REQUEST=(
  libgrpc++-dev libprotobuf-dev libabsl-dev libc-ares-dev libre2-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libyaml-cpp-dev libisal-dev
  libdeflate-dev libhiredis-dev libconcurrentqueue-dev libc6-dev
)
SYSROOT=.deps/sysroot-arm64
APT_DIR=.deps/apt-arm64

for tool in apt-get apt-cache dpkg-deb dpkg-query sha256sum; do
  command -v "$tool" >/dev/null || { echo "install_arm64_sysroot: $tool not found (Debian's apt and dpkg)" >&2; exit 1; }
done
if [[ ! -d /usr/include/boost ]]; then
  echo "install_arm64_sysroot: /usr/include/boost missing (scripts/install_deps.sh installs libboost1.81-dev)" >&2
  exit 1
fi

# The request and the host's amd64 versions name the sysroot: when neither
# changed, it is up to date.
host_version() {
  dpkg-query -W -f='${Version}' "$1:amd64" 2>/dev/null || dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true
}
want="$(for p in "${REQUEST[@]}"; do echo "$p=$(host_version "$p")"; done | sha256sum | cut -d' ' -f1)"
if [[ -f "$SYSROOT/PACKAGES" && "$(cat "$SYSROOT/.install-stamp" 2>/dev/null)" == "$want" ]]; then
  exit 0
fi

echo "install_arm64_sysroot: building $SYSROOT from Debian's arm64 packages" >&2
mkdir -p "$APT_DIR"/{state/lists/partial,cache/archives/partial,parts,preferences.d,debs}
: > "$APT_DIR/status"
# The machine's Debian sources (deb.debian.org), for arm64.
cat > "$APT_DIR/sources.list" <<'EOF'
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
apt_dir="$PWD/$APT_DIR"
APT_OPTS=(
  -o "Dir::State=$apt_dir/state" -o "Dir::State::status=$apt_dir/status"
  -o "Dir::Cache=$apt_dir/cache" -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/parts" -o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d"
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o APT::Install-Recommends=false -o APT::Install-Suggests=false
  -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
  -o Debug::NoLocking=1
  # The files are ours (under .deps), not the _apt user's.
  -o APT::Sandbox::User=root
)
apt-get "${APT_OPTS[@]}" -qq update >&2 || {
  echo "install_arm64_sysroot: apt-get update failed for arm64 (is deb.debian.org reachable?)" >&2
  exit 1
}

# resolve PIN...: the packages apt would install into an empty arm64 system
# for the request, one "package version" a line.
resolve() {
  apt-get "${APT_OPTS[@]}" install -s -y "${REQUEST[@]}" "$@" 2>&1 |
    awk '$1 == "Inst" { v = $3; gsub(/[()]/, "", v); print $2, v }'
}
closure="$(resolve)"
if [[ -z "$closure" ]]; then
  echo "install_arm64_sysroot: apt could not resolve ${REQUEST[*]} for arm64:" >&2
  apt-get "${APT_OPTS[@]}" install -s -y "${REQUEST[@]}" >&2 || true
  exit 1
fi
# Pin every package of the closure to this host's amd64 version where the
# archive serves it for arm64, then resolve again with the pins.
pins=()
while read -r pkg version; do
  host="$(host_version "$pkg")"
  [[ -z "$host" || "$host" == "$version" ]] && continue
  if apt-cache "${APT_OPTS[@]}" madison "$pkg" | awk -F' [|] ' '{print $2}' | grep -qxF "$host"; then
    pins+=("$pkg=$host")
  fi
done <<< "$closure"
if ((${#pins[@]})); then
  closure="$(resolve "${pins[@]}")"
fi

rm -f "$APT_DIR"/debs/*.deb
(cd "$APT_DIR/debs" && apt-get "${APT_OPTS[@]}" -qq download $(awk '{print $1 "=" $2}' <<< "$closure") >&2) || {
  echo "install_arm64_sysroot: downloading the arm64 packages failed" >&2
  exit 1
}

# Unpack into a fresh directory, then swap it in: an interrupted run leaves
# no half-made sysroot behind a valid stamp.
tmp="$SYSROOT.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/packages"
differences=()
while read -r pkg version; do
  debs=("$APT_DIR"/debs/"${pkg}"_*_arm64.deb "$APT_DIR"/debs/"${pkg}"_*_all.deb)
  deb=""
  for candidate in "${debs[@]}"; do [[ -f "$candidate" ]] && deb="$candidate" && break; done
  [[ -n "$deb" ]] || { echo "install_arm64_sysroot: no .deb for $pkg $version" >&2; exit 1; }
  [[ "$(dpkg-deb -f "$deb" Version)" == "$version" ]] || {
    echo "install_arm64_sysroot: $deb is not version $version" >&2
    exit 1
  }
  dpkg-deb -x "$deb" "$tmp"
  dpkg-deb -c "$deb" | awk '{ $1=$2=$3=$4=$5=""; sub(/^ +/, ""); sub(/ -> .*/, ""); sub(/^\./, ""); print }' |
    grep -v '/$' > "$tmp/packages/$pkg.list" || true
  printf '%s\t%s\n' "$pkg" "$version" >> "$tmp/PACKAGES"
  host="$(host_version "$pkg")"
  if [[ -n "$host" && "$host" != "$version" ]]; then
    differences+=("$(printf '%s\tarm64 %s\tamd64 %s' "$pkg" "$version" "$host")")
  fi
done <<< "$closure"

# Absolute symlinks (e.g. usr/lib/aarch64-linux-gnu/libz.so -> /lib/...)
# would point at the host's files: make them relative to the sysroot.
while IFS= read -r link; do
  target="$(readlink "$link")"
  [[ "$target" == /* ]] || continue
  rel="$(realpath -m --relative-to="$(dirname "$link")" "$tmp$target")"
  ln -sfn "$rel" "$link"
done < <(find "$tmp" -type l)
ln -sfn /usr/include/boost "$tmp/usr/include/boost"

{
  echo "# arm64 packages whose version differs from this host's amd64 one (the host's is not served any more)"
  if ((${#differences[@]})); then printf '%s\n' "${differences[@]}"; fi
} > "$tmp/VERSION-DIFFERENCES"
echo "$want" > "$tmp/.install-stamp"
rm -rf "$SYSROOT"
mv "$tmp" "$SYSROOT"
echo "install_arm64_sysroot: $SYSROOT: $(wc -l < "$SYSROOT/PACKAGES") packages," \
  "${#differences[@]} at a different version than this host's amd64 ones ($SYSROOT/VERSION-DIFFERENCES)" >&2
