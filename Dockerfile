# syntax=docker/dockerfile:1
#
# The weft image: weftd, weftctl, the weft CNI plugin and weft-install-cni, which the DaemonSet's init containers
# run to put the plugin and its conflist on the node (deploy/weft.yml).
#
# build    Node 20 on Debian slim, with the tools node-gyp needs for raw-socket, as the unprivileged `node` user.
#          pnpm fills its store from the lockfile alone (a layer cached until pnpm-lock.yaml changes), installs
#          offline with the frozen lockfile, compiles (tsc -b), strips node's debug symbols (99 -> 86 MB), then
#          deploy/build-image-tree.sh assembles what ships: `pnpm deploy --prod` per package (production files
#          and dependencies only, pinned by the lockfile) and the CNI plugin as one executable (esbuild bundle in a
#          Node.js single-executable application made from the stripped node; packages/installer/README.md says
#          why). test/deploy-image.test.ts runs that same script, and test/image.image.test.ts builds this file.
# runtime  Debian slim (the base the node image is made from) plus iproute2, iptables (nft and legacy back ends)
#          and nftables, and the one file of Node weft runs: the node binary (no npm, corepack or headers).
#          Everything copied in is owned by root. It runs as root: weftd programs the host's network and the init
#          containers write host paths. The DaemonSet adds only NET_ADMIN and NET_RAW for weftd and runs the init
#          containers with no capabilities.
#
# Without a registry: `pnpm image` builds local stand-ins for both base images and passes them as build args.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION=10.34.9
# Unset by default. Behind a TLS-intercepting proxy, the builder mounts the proxy's CA bundle and names it here
# (scripts/image.sh does), so npm and pnpm trust it; nothing of it stays in an image layer.
ARG NODE_EXTRA_CA_CERTS
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
RUN npm install --global --no-fund --no-audit "pnpm@${PNPM_VERSION}" \
 && install -d -o node -g node /home/node/weft
USER node
WORKDIR /home/node/weft
# node-gyp builds raw-socket against this image's own Node headers instead of downloading them; CI=true makes
# pnpm non-interactive with a frozen lockfile.
ENV npm_config_nodedir=/usr/local CI=true
COPY --chown=node:node pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY --chown=node:node . .
RUN pnpm install --offline --frozen-lockfile
RUN pnpm exec tsc -b
RUN mkdir /home/node/node && strip --strip-all -o /home/node/node/node /usr/local/bin/node
RUN PATH=/home/node/node:$PATH sh deploy/build-image-tree.sh /home/node/image

FROM ${DEBIAN_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iptables nftables \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log
COPY --from=build --chown=0:0 /home/node/node/node /usr/local/bin/node
COPY --from=build --chown=0:0 /home/node/image /opt/weft
ENV PATH=/opt/weft/bin:$PATH NODE_ENV=production
CMD ["weftd", "--help"]
