/**
 * Build-time only: bundles the CNI plugin into one ES module with esbuild.
 *
 * The plugin starts once per pod ADD/DEL, so its start-up is on the pod's critical path. One file means no module
 * resolution and no reads of dozens of files at start (Node's bootstrap, ~60 ms here, stays the floor); it also
 * means the node host gets a single self-contained script next to the node binary. The entry is the package's
 * `bin/weft` script itself, so whatever that script starts is what gets bundled.
 * esbuild is a devDependency: this module is exported as `@weft/installer/bundle` and never loaded at run time.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { build, type Message } from 'esbuild';

/** esbuild's ESM output cannot `require` Node built-ins that CommonJS dependencies ask for; give it a real one. */
const REQUIRE_SHIM =
  "import { createRequire as __weftCreateRequire } from 'node:module';\n" +
  'const require = __weftCreateRequire(import.meta.url);';

export interface BundleOptions {
  /** The plugin's bin script, e.g. packages/cni-shim/bin/weft. */
  entry: string;
  /** Where the bundle goes, e.g. /opt/weft/cni/weft.mjs. */
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
      format: 'esm',
      target: 'node20',
      outfile: options.outfile,
      banner: { js: REQUIRE_SHIM },
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
