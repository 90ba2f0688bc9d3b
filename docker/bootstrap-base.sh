#!/usr/bin/env bash
# Makes the `debian:bookworm-slim` image from Debian's archive when no registry can be
# reached: debootstrap a minimal bookworm into a folder, then `docker import` it under the
# tag the Dockerfiles use, so they stay ordinary and work the same online.
#
# usage: docker/bootstrap-base.sh [TAG]      (default: debian:bookworm-slim)
# env:   BREAKFIX_DEBIAN_MIRROR  archive to bootstrap from (default http://deb.debian.org/debian)
#        BREAKFIX_BASE_INCLUDE   extra packages for the base, comma-separated (optional)
set -euo pipefail

tag=${1:-debian:bookworm-slim}
mirror=${BREAKFIX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
include=${BREAKFIX_BASE_INCLUDE:-}

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "bootstrap: $tag already present"
  exit 0
fi
if docker pull "$tag" >/dev/null 2>&1; then
  echo "bootstrap: pulled $tag"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "bootstrap: $tag is missing, cannot be pulled, and debootstrap is not installed" >&2
  echo "bootstrap: install it (apt-get install debootstrap) and run this script again" >&2
  exit 1
fi

work=$(mktemp -d /tmp/breakfix-bootstrap.XXXXXX)
trap 'rm -rf "$work"' EXIT
args=(--variant=minbase)
[ -n "$include" ] && args+=("--include=$include")
echo "bootstrap: debootstrap bookworm from $mirror (about two minutes)"
debootstrap "${args[@]}" bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log" >&2
  exit 1
}
# Keep the image close to the official slim one: no apt lists, no caches.
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin
echo "bootstrap: importing as $tag"
tar -C "$work/rootfs" -c . | docker import \
  -c 'CMD ["bash"]' \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -m "debootstrap --variant=minbase bookworm (breakfix bootstrap)" - "$tag" >/dev/null
echo "bootstrap: $tag ready"
