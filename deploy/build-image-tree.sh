#!/bin/sh
# Assembles what the weft image ships, from a workspace that is installed and built (pnpm install, tsc -b).
# The Dockerfile's build stage runs it; test/deploy-image.test.ts runs it against the checkout, so the image's
# contents are tested on machines without a Docker engine.
#
#   usage: deploy/build-image-tree.sh OUT        (OUT must not exist yet)
#
#   OUT/control       weftd and weftctl with production dependencies only (pnpm deploy --prod)
#   OUT/installer     weft-install-cni with production dependencies only
#   OUT/cni/weft      the CNI plugin as one executable (Node.js SEA); weft-install-cni copies it onto the node
#   OUT/bin/          a symlink for every bin the deployed packages declare (the image puts it on PATH)
set -eu

out=${1:?usage: deploy/build-image-tree.sh OUT}
if [ -e "$out" ]; then
  echo "build-image-tree: $out already exists; give a new directory" >&2
  exit 2
fi
case $out in
  /*) ;;
  *) out=$(pwd)/$out ;;
esac
cd "$(dirname "$0")/.."

for package in control installer; do
  # --legacy: deploy without inject-workspace-packages; --offline: everything is in the store after pnpm install.
  pnpm --filter "@weft/$package" deploy --prod --legacy --offline "$out/$package"
done

mkdir -p "$out/cni" "$out/bin"
node packages/installer/bin/weft-build-cni --entry packages/cni-shim/bin/weft --out "$out/cni/weft"

for package in control installer; do
  bins=$(node -e '
    const bin = require(process.argv[1] + "/package.json").bin ?? {};
    for (const [name, path] of Object.entries(bin)) console.log(name + " " + path.replace(/^[.][/]/, ""));
  ' "$out/$package")
  printf '%s\n' "$bins" | while read -r name path; do
    [ -n "$name" ] || continue
    if [ ! -x "$out/$package/$path" ]; then
      echo "build-image-tree: @weft/$package declares bin $name -> $path, which is not an executable file" >&2
      exit 1
    fi
    ln -s "../$package/$path" "$out/bin/$name"
  done
done
echo "build-image-tree: assembled $out ($(ls "$out/bin" | tr '\n' ' '))"
