#!/usr/bin/env bash
# Builds the gateway's container image with podman, from a Debian 12 base
# image made locally with mmdebstrap (no container registry needed).
#
#   deploy/build_image.sh                    # -> localhost/otlp-reparent-gateway:latest
#   IMAGE=registry.example/gw:1.2 deploy/build_image.sh
#
# Environment:
#   IMAGE          tag of the gateway image (localhost/otlp-reparent-gateway:latest)
#   BASE_IMAGE     Debian 12 base (localhost/debian:bookworm; made if missing)
#   DEBIAN_MIRROR  apt mirror for the base (default: the one this machine uses)
#   PODMAN_OPTS    extra global podman options, e.g. --storage-driver=vfs
#   SOURCE         "head" (default): the committed tree (git archive HEAD);
#                  "worktree": the working tree, tracked files only
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/otlp-reparent-gateway:latest}
BASE_IMAGE=${BASE_IMAGE:-localhost/debian:bookworm}
SOURCE=${SOURCE:-head}
read -r -a podman_opts <<<"${PODMAN_OPTS:-}"
podman() { command podman "${podman_opts[@]}" "$@"; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi

missing=()
for p in mmdebstrap podman runc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build_image: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! podman image exists "$BASE_IMAGE"; then
  # The machine's own Debian mirror (deb822 or one-line sources).
  mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
  mirror=${mirror:-$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${mirror%/debian}/debian-security
  echo "build_image: making $BASE_IMAGE from $mirror" >&2
  $SUDO mmdebstrap --variant=apt --include=ca-certificates bookworm "$work/rootfs.tar" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb $security bookworm-security main"
  podman import --change 'CMD ["/bin/bash"]' "$work/rootfs.tar" "$BASE_IMAGE"
  rm -f "$work/rootfs.tar"
fi

# A clean build context: no bazel-* symlinks, node_modules or .git.
mkdir "$work/src"
if [[ "$SOURCE" == "worktree" ]]; then
  git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$work/src"
else
  git archive HEAD | tar -xf - -C "$work/src"
fi

# Docker format keeps HEALTHCHECK (OCI images drop it). Host network: the
# build stage only needs the apt mirror.
podman build --format docker --network host \
  --build-arg BASE_IMAGE="$BASE_IMAGE" \
  -f "$work/src/deploy/Dockerfile" -t "$IMAGE" "$work/src"
echo "build_image: built $IMAGE" >&2
