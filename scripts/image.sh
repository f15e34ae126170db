#!/bin/sh
# `pnpm image`: builds the weft image from the Dockerfile with buildah, here, without a container registry, and
# prints its size and what it is made of.
#
# The Dockerfile's base images (node:20-bookworm-slim, debian:bookworm-slim) cannot be pulled here, so local
# stand-ins are built first (deploy/image/base-images.sh; kept once built) and passed as NODE_IMAGE/DEBIAN_IMAGE.
# The Dockerfile itself is the one a Docker user builds with its defaults. buildah runs the build's RUN steps with
# runc and the host's network (`--network host`: no bridge, no firewall rule), and caches layers (`--layers`).
#
#   usage: scripts/image.sh            builds localhost/weft:dev (WEFT_IMAGE=... to name it otherwise)
set -eu
cd "$(dirname "$0")/.."

image=${WEFT_IMAGE:-localhost/weft:dev}
node_image=${NODE_IMAGE:-localhost/node:20-bookworm-slim}
debian_image=${DEBIAN_IMAGE:-localhost/debian:bookworm-slim}
for tool in buildah podman mmdebstrap runc; do
  command -v "$tool" >/dev/null || { echo "image: $tool is missing: run scripts/setup.sh (as root)" >&2; exit 1; }
done

# Where the network to the npm registry goes through a TLS-intercepting proxy, this machine's Node trusts the
# proxy's CA through NODE_EXTRA_CA_CERTS (or npm's cafile): the build's npm and pnpm get the same bundle, mounted
# read-only for the RUN steps only.
set --
ca=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}
if [ -n "$ca" ] && [ "$ca" != null ] && [ -r "$ca" ]; then
  set -- --volume "$ca:/run/weft-build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/weft-build-ca.crt
fi

NODE_IMAGE=$node_image DEBIAN_IMAGE=$debian_image sh deploy/image/base-images.sh
echo "image: building $image (buildah bud, NODE_IMAGE=$node_image DEBIAN_IMAGE=$debian_image${ca:+, CA bundle $ca})"
buildah bud --runtime runc --layers --network host "$@" \
  --build-arg "NODE_IMAGE=$node_image" --build-arg "DEBIAN_IMAGE=$debian_image" \
  -t "$image" -f Dockerfile .

bytes=$(podman image inspect --format '{{.Size}}' "$image")
echo "image: $image layers (newest first):"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$image" | cut -c1-150 | sed 's/^/  /'
echo "image: $image is $(awk -v b="$bytes" 'BEGIN { printf "%.1f MB (%d bytes)", b / 1e6, b }')"
