#!/bin/sh
# Assembles what the weft image ships, from a workspace that is installed and built (pnpm install, tsc -b).
# The Dockerfile's build stage runs it; test/deploy-image.test.ts runs it against the checkout, so the image's
# contents are tested without building an image too.
#
#   usage: deploy/build-image-tree.sh OUT        (OUT must not exist yet)
#
#   OUT/control       weftd and weftctl with production dependencies only (pnpm deploy --prod)
#   OUT/installer     weft-install-cni with production dependencies only
#   OUT/cni/weft.gz   the CNI plugin as one executable (Node.js SEA), gzip-compressed: nothing runs it in the image,
#                     weft-install-cni unpacks it onto the node (packages/installer/src/plugin-unpack.ts says why)
#   OUT/bin/          a symlink for every bin the deployed packages declare (the image puts it on PATH)
#
# The deploy is pinned by pnpm-lock.yaml and never resolves anything: a non-legacy `pnpm deploy` with
# inject-workspace-packages takes the versions from the workspace lockfile, and --offline takes the files from the
# store that `pnpm install`/`pnpm fetch` filled. (The legacy deploy re-resolved version ranges from pnpm's metadata
# cache, which a fresh machine or an image build does not have.) Only the files a package declares (`files` in its
# package.json) are copied; then what no program loads at run time goes: type declarations, source maps, TypeScript
# sources, @types packages, node-gyp's intermediate objects.
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
  pnpm --filter "@weft/$package" deploy --prod --offline --config.inject-workspace-packages=true "$out/$package"
  # the deploy leaves a lockfile of its own: nothing in the image installs again
  rm -f "$out/$package/pnpm-lock.yaml"
done

find "$out" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' \) \
  -type f -delete
find "$out" -path '*/node_modules/.pnpm/@types+*' -prune -exec rm -rf {} +
find "$out" -path '*/raw-socket/build/Release/obj.target' -prune -exec rm -rf {} +
find "$out" -path '*/node_modules/@types' -prune -exec rm -rf {} +
# links left pointing at what was removed
find "$out" -type l ! -exec test -e {} \; -delete

mkdir -p "$out/cni" "$out/bin"
node packages/installer/bin/weft-build-cni --entry packages/cni-shim/bin/weft --out "$out/cni/weft"
gzip -9 --no-name "$out/cni/weft"

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
