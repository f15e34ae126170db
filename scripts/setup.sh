#!/usr/bin/env bash
# weft set-up for a fresh Debian machine (run as root): the host tools weft and its tests use,
# pnpm, the workspace's dependencies (from pnpm-lock.yaml), then the build.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(iproute2 etcd-server etcd-client iperf3 iputils-ping ethtool tcpdump iptables nftables
      containernetworking-plugins procps psmisc kmod python3 make g++
      # the image (pnpm image, test/image.image.test.ts) and the container runtimes the deploy tests run
      buildah podman runc conmon mmdebstrap containerd busybox-static openssl ca-certificates)
missing=()
for p in "${DEBS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "setup: need root to install: ${missing[*]}" >&2; exit 1; fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION"
fi

pnpm install --frozen-lockfile
make -s -C bench/floor   # the C floor contender of bench/datapath-bench.mjs
pnpm build
echo "setup: done. Run the tests with: pnpm test"
