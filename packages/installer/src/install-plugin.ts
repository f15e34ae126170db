/**
 * Installs the weft CNI plugin into a CNI bin dir (the init container's view of the host's /opt/cni/bin).
 *
 * Order matters for a runtime that may exec `weft` at any time: (1) the immutable payload directory appears by
 * rename, (2) the launcher is replaced by rename and from then on runs the new payload, (3) payloads older than
 * the previous one are pruned. Running it again with the same image changes nothing: same payload id, same
 * launcher bytes. Leftover temp files of a crashed run are removed first. The image ships the plugin gzip-compressed
 * (plugin-unpack.ts says why); it is unpacked beside the payloads first.
 */
import { access, constants, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeStaleTemps, writeFileAtomic } from '@weft/netbase';
import { launcherPayloadId, renderLauncher } from './launcher.js';
import { PAYLOAD_DIR, placePayload, planPayload, prunePayloads } from './plugin-payload.js';
import { unpackPlugin } from './plugin-unpack.js';
import { programRuntime } from './shared-libraries.js';

export const PLUGIN_NAME = 'weft';

export interface PluginInstallOptions {
  /** The CNI bin dir as this process sees it, e.g. /host/opt/cni/bin. */
  cniBinDir: string;
  /** The plugin executable built by weft-build-cni, or it gzip-compressed (as the image ships it). */
  plugin: string;
}

export interface PluginInstallResult {
  launcher: string;
  payloadId: string;
  payload: 'created' | 'present';
  launcherWritten: boolean;
  pruned: string[];
  staleTemps: string[];
}

export async function installPlugin(options: PluginInstallOptions): Promise<PluginInstallResult> {
  await requireReadable(options.plugin, 'plugin executable', 'build the image with weft-build-cni (see Dockerfile)');
  await requireDirectory(options.cniBinDir);
  const payloadRoot = join(options.cniBinDir, PAYLOAD_DIR);
  await mkdir(payloadRoot, { recursive: true, mode: 0o755 });
  const staleTemps = [...(await removeStaleTemps(options.cniBinDir)), ...(await removeStaleTemps(payloadRoot))];

  const executable = await unpackPlugin(options.plugin, payloadRoot);
  let plan;
  let payload;
  try {
    plan = await planPayload(await programRuntime(executable.path));
    payload = await placePayload(payloadRoot, plan);
  } finally {
    await executable.release();
  }
  const { runtime } = plan;

  const launcher = join(options.cniBinDir, PLUGIN_NAME);
  const previousId = await installedPayloadId(launcher);
  const launcherWritten = await writeFileAtomic(launcher, renderLauncher({ id: plan.id, loaderName: runtime.loader.name }), 0o755);

  const keep = new Set([plan.id, ...(previousId === undefined ? [] : [previousId])]);
  const pruned = await prunePayloads(payloadRoot, keep);
  return { launcher, payloadId: plan.id, payload, launcherWritten, pruned, staleTemps };
}

/** The payload id the launcher at `path` runs, if it is one of ours. */
export async function installedPayloadId(path: string): Promise<string | undefined> {
  try {
    return launcherPayloadId(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

async function requireReadable(path: string, what: string, hint: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
  } catch (error) {
    throw new Error(`${what} ${path} is not readable (${(error as NodeJS.ErrnoException).code ?? 'error'}): ${hint}`);
  }
}

async function requireDirectory(dir: string): Promise<void> {
  try {
    await access(dir, constants.W_OK);
  } catch (error) {
    throw new Error(
      `CNI bin dir ${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? 'error'}): ` +
        "is the host's /opt/cni/bin mounted there?",
    );
  }
}
