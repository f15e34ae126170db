/**
 * `weft-build-cni --entry packages/cni-shim/bin/weft --out <dir>/weft`: the image build's step that makes the
 * CNI plugin one executable (build stage only, where esbuild and postject are installed; not a package bin,
 * so the runtime image does not offer it). Prints one line saying what it wrote.
 */
import { parseArgs } from 'node:util';
import { buildCniPlugin } from './plugin-build.js';

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: { entry: { type: 'string' }, out: { type: 'string' } } });
  if (values.entry === undefined || values.out === undefined) {
    throw new Error('usage: weft-build-cni --entry <plugin bin script> --out <executable>');
  }
  const result = await buildCniPlugin({ entry: values.entry, outfile: values.out });
  process.stdout.write(
    `built ${result.outfile}: ${result.inputs} files bundled (${result.bundleBytes} bytes of script) into a single executable\n`,
  );
}

export function run(argv: readonly string[]): void {
  main(argv).catch((error: unknown) => {
    process.stderr.write(`weft-build-cni: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
