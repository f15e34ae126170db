/**
 * Build-time only: bundles the CNI plugin into one CommonJS file with esbuild.
 *
 * The plugin starts once per pod ADD/DEL, so its start-up is on the pod's critical path. One file means no module
 * resolution and no reads of dozens of files at start (Node's bootstrap, ~60 ms here, stays the floor); it also
 * means the node host gets a single self-contained script next to the node binary. CommonJS rather than ESM:
 * Node 20 loads one CJS file without starting its ESM loader (a few ms less per start, measured), and the `.cjs`
 * name makes Node look up no package.json "type" on the host. The entry is the package's `bin/weft` script
 * itself, so whatever that script starts is what gets bundled.
 * esbuild is a devDependency: this module is exported as `@weft/installer/bundle` and never loaded at run time.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { build, type Message } from 'esbuild';

export interface BundleOptions {
  /** The plugin's bin script, e.g. packages/cni-shim/bin/weft. */
  entry: string;
  /** Where the bundle goes, e.g. /opt/weft/cni/weft.cjs. */
  outfile: string;
}

export interface BundleResult {
  outfile: string;
  bytes: number;
  /** Source files that went into the bundle. */
  inputs: number;
}

export async function bundleCniPlugin(options: BundleOptions): Promise<BundleResult> {
  const script = await readFile(options.entry, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read plugin entry ${options.entry} (${error.code ?? 'error'}): build the CNI plugin first`);
  });
  try {
    const result = await build({
      stdin: { contents: script.replace(/^#!.*\n/, ''), resolveDir: dirname(options.entry), sourcefile: options.entry, loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile: options.outfile,
      legalComments: 'none',
      metafile: true,
      logLevel: 'silent',
    });
    const output = Object.values(result.metafile.outputs)[0];
    return { outfile: options.outfile, bytes: output?.bytes ?? 0, inputs: Object.keys(result.metafile.inputs).length };
  } catch (error) {
    const messages = (error as { errors?: Message[] }).errors;
    if (messages === undefined) throw error;
    const text = messages.map((m) => `${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`).join('; ');
    throw new Error(`cannot bundle the CNI plugin from ${options.entry}: ${text}`);
  }
}
