/**
 * `weft-bundle-cni --entry packages/cni-shim/bin/weft --out /opt/weft/cni/weft.cjs`: the image build's bundling
 * step (build stage only, where esbuild is installed). Prints one line saying what it wrote.
 */
import { parseArgs } from 'node:util';
import { bundleCniPlugin } from './plugin-bundle.js';

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { entry: { type: 'string' }, out: { type: 'string' } },
  });
  if (values.entry === undefined || values.out === undefined) {
    throw new Error('usage: weft-bundle-cni --entry <plugin bin script> --out <bundle.cjs>');
  }
  const result = await bundleCniPlugin({ entry: values.entry, outfile: values.out });
  process.stdout.write(`bundled ${result.inputs} files from ${values.entry} into ${result.outfile} (${result.bytes} bytes)\n`);
}

export function run(argv: readonly string[]): void {
  main(argv).catch((error: unknown) => {
    process.stderr.write(`weft-bundle-cni: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
