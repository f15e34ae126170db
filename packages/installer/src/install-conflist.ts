/**
 * Installs the CNI network configuration list (the ConfigMap's cni-conf.json) into the host's /etc/cni/net.d.
 *
 * The runtime treats the node's network as ready as soon as a config file appears there, so the file is checked
 * before it is placed (a broken conflist would break every pod on the node) and placed atomically. It runs after
 * the plugin install, so a conflist never names a plugin that is not there yet. It also tells the operator about
 * the two ways a correct install still does not take effect: a plugin of the chain missing from the bin dir
 * (portmap comes from the distribution's CNI plugins), and another config that sorts first (the runtime uses the
 * first file in lexical order: a leftover 10-flannel.conflist wins over 10-weft.conflist).
 */
import { access, constants, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@weft/netbase';

export const CNI_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const CONFIG_FILE = /\.(conf|conflist|json)$/;

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<{ type: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

/** Parses and checks a conflist as CNI spec 1.1 section 1 defines it; errors name `source` and the field. */
export function parseConflist(text: string, source: string): Conflist {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not JSON: ${(error as Error).message}`);
  }
  if (!isObject(value)) throw new Error(`${source}: a network configuration list must be a JSON object`);
  const { cniVersion, name, plugins } = value;
  if (typeof cniVersion !== 'string' || !(CNI_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new Error(`${source}: cniVersion ${JSON.stringify(cniVersion)} is not one of ${CNI_VERSIONS.join(', ')}`);
  }
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) {
    throw new Error(`${source}: name ${JSON.stringify(name)} must match ${NETWORK_NAME.source}`);
  }
  if (!Array.isArray(plugins) || plugins.length === 0) throw new Error(`${source}: plugins must be a non-empty list`);
  plugins.forEach((plugin: unknown, index) => {
    if (!isObject(plugin) || typeof plugin.type !== 'string' || plugin.type === '') {
      throw new Error(`${source}: plugins[${index}] needs a string "type" (the plugin binary's name)`);
    }
  });
  for (const flag of ['disableCheck', 'disableGC'] as const) {
    if (flag in value && typeof value[flag] !== 'boolean') throw new Error(`${source}: ${flag} must be true or false`);
  }
  return value as Conflist;
}

export interface ConflistInstallOptions {
  /** The conflist to install (the mounted ConfigMap key). */
  source: string;
  /** The CNI conf dir as this process sees it, e.g. /host/etc/cni/net.d. */
  confDir: string;
  /** File name in confDir. */
  fileName: string;
  /** When given, plugins of the chain missing from this dir are reported. */
  cniBinDir?: string;
}

export interface ConflistInstallResult {
  path: string;
  written: boolean;
  network: string;
  missingPlugins: string[];
  /** Config files that sort before ours: the runtime would use the first of them instead. */
  shadowedBy: string[];
}

export async function installConflist(options: ConflistInstallOptions): Promise<ConflistInstallResult> {
  if (!CONFIG_FILE.test(options.fileName)) {
    throw new Error(`conflist file name ${options.fileName} must end in .conflist (the runtime ignores other names)`);
  }
  const text = await readSource(options.source);
  const conflist = parseConflist(text, options.source);
  await mkdir(options.confDir, { recursive: true, mode: 0o755 });
  const path = join(options.confDir, options.fileName);
  const written = await writeFileAtomic(path, text, 0o644);
  const missingPlugins = options.cniBinDir === undefined ? [] : await missingBinaries(options.cniBinDir, conflist);
  const shadowedBy = (await readdir(options.confDir)).filter((name) => CONFIG_FILE.test(name) && name < options.fileName).sort();
  return { path, written, network: conflist.name, missingPlugins, shadowedBy };
}

async function readSource(source: string): Promise<string> {
  try {
    return await readFile(source, 'utf8');
  } catch (error) {
    throw new Error(`cannot read conflist ${source} (${(error as NodeJS.ErrnoException).code ?? 'error'}): is the ConfigMap mounted?`);
  }
}

async function missingBinaries(binDir: string, conflist: Conflist): Promise<string[]> {
  const missing: string[] = [];
  for (const { type } of conflist.plugins) {
    try {
      await access(join(binDir, type), constants.X_OK);
    } catch {
      missing.push(type);
    }
  }
  return missing;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
