/**
 * Build-time only: makes the CNI plugin one executable, a Node.js single-executable application (SEA).
 *
 * The plugin starts once per pod ADD/DEL, so its start-up is on the pod's critical path. Measured here with
 * CNI_COMMAND=VERSION (start-up only), p50: `node -e 0` 53 ms (the floor), the plugin unbundled 86 ms, bundled
 * into one file 64 ms, as an SEA 56 ms, as an SEA with V8's code cache 54 ms. An SEA starts no module loader
 * and reads no script file; the code cache spares compiling the bundle. So:
 *   1. esbuild bundles the plugin's `bin/weft` (whatever it starts) into one CommonJS script;
 *   2. `node --experimental-sea-config` turns it into a blob, with the code cache, without the
 *      experimental-feature warning (Node 20's SEA);
 *   3. postject injects the blob into a copy of this very node binary, which is the image's.
 * The code cache belongs to that node binary and V8 version; should V8 ever reject it, it compiles as usual.
 * esbuild and postject are devDependencies: this module is `@weft/installer/build`, never loaded at run time.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { build, type Message } from 'esbuild';
import { inject } from 'postject';

/** The fuse Node looks for to know it carries a blob (Node's documentation of single executable applications). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface PluginBuildOptions {
  /** The plugin's bin script, e.g. packages/cni-shim/bin/weft. */
  entry: string;
  /** Where the executable goes, e.g. /home/node/image/cni/weft. */
  outfile: string;
}

export interface PluginBuildResult {
  outfile: string;
  /** Source files that went into the bundle. */
  inputs: number;
  bundleBytes: number;
}

export async function buildCniPlugin(options: PluginBuildOptions): Promise<PluginBuildResult> {
  const scratch = await mkdtemp(join(tmpdir(), 'weft-plugin-build-'));
  try {
    const script = join(scratch, 'weft.cjs');
    const inputs = await bundlePluginScript(options.entry, script);
    const blob = join(scratch, 'weft.blob');
    await writeFile(
      join(scratch, 'sea-config.json'),
      JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
    );
    await promisify(execFile)(process.execPath, ['--experimental-sea-config', join(scratch, 'sea-config.json')]).catch((error: Error) => {
      throw new Error(`node --experimental-sea-config failed for ${options.entry}: ${error.message}`);
    });
    await copyFile(process.execPath, options.outfile);
    await chmod(options.outfile, 0o755);
    await inject(options.outfile, 'NODE_SEA_BLOB', await readFile(blob), { sentinelFuse: SEA_FUSE });
    return { outfile: options.outfile, inputs, bundleBytes: (await readFile(script)).length };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** esbuild: `entry` and all it requires into one CommonJS file; returns the number of inputs. */
export async function bundlePluginScript(entry: string, outfile: string): Promise<number> {
  const script = await readFile(entry, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read plugin entry ${entry} (${error.code ?? 'error'}): build the CNI plugin first`);
  });
  try {
    const result = await build({
      stdin: { contents: script.replace(/^#!.*\n/, ''), resolveDir: dirname(entry), sourcefile: entry, loader: 'js' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile,
      legalComments: 'none',
      metafile: true,
      logLevel: 'silent',
    });
    return Object.keys(result.metafile.inputs).length;
  } catch (error) {
    const messages = (error as { errors?: Message[] }).errors;
    if (messages === undefined) throw error;
    const text = messages.map((m) => `${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`).join('; ');
    throw new Error(`cannot bundle the CNI plugin from ${entry}: ${text}`);
  }
}
