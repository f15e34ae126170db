# syntax=docker/dockerfile:1
#
# The weft image: weftd, weftctl, the weft CNI plugin and weft-install-cni, which the DaemonSet's init containers
# run to put the plugin and its conflist on the node (deploy/weft.yml).
#
# build    Node 20 on Debian slim, with the tools node-gyp needs for raw-socket, as the unprivileged `node` user.
#          pnpm fills its store from the lockfile alone (a layer cached until pnpm-lock.yaml changes), installs
#          offline with the frozen lockfile, compiles (tsc -b), then deploy/build-image-tree.sh assembles what
#          ships: `pnpm deploy --prod` per package (production dependencies only) and the CNI plugin as one
#          executable (esbuild bundle in a Node.js single-executable application; packages/installer/README.md
#          says why). test/deploy-image.test.ts runs that same script, so what ships is tested without a Docker
#          engine.
# runtime  The same Node 20 Debian slim image plus iproute2, iptables (nft and legacy back ends) and nftables.
#          It runs as root: weftd programs the host's network and the init containers write host paths. The
#          DaemonSet adds only NET_ADMIN and NET_RAW for weftd and runs the init containers with no capabilities.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION=10.34.9
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
RUN sh deploy/build-image-tree.sh /home/node/image

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iptables nftables \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /home/node/image /opt/weft
ENV PATH=/opt/weft/bin:$PATH NODE_ENV=production
CMD ["weftd", "--help"]
