/**
 * The CNI plugin skeleton: everything between a runtime's exec and a verb's code.
 *
 * Like containernetworking/cni's pkg/skel, it owns the protocol and nothing else: it reads the
 * CNI_* environment and the stdin config, checks what each verb requires, negotiates the version
 * (config `cniVersion` must be one weft supports; CHECK needs >= 0.4.0, GC and STATUS >= 1.1.0), calls
 * the verb, prints the ADD result converted to the negotiated version, and turns every failure into the
 * spec's error JSON on stdout with exit code 1. Environment and stdio are injected (`PluginIO`) so unit
 * tests drive it with a plain object and strings; `main.ts` wires in the real process.
 */
import {
  CNI_ERR,
  CniError,
  asCniError,
  CURRENT_VERSION,
  IMPLICIT_VERSION,
  SUPPORTED_VERSIONS,
  isSupportedVersion,
  versionAtLeast,
} from './cni-spec.js';
import { formatResult, type CniResult } from './result.js';

export interface PluginIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The whole of stdin (the network config). */
  readStdin(): string | Promise<string>;
  writeStdout(text: string): void;
  writeStderr(text: string): void;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';

/** One invocation, decoded: what a verb gets. Empty strings stand for variables that were not set. */
export interface CmdArgs {
  readonly command: CniCommand;
  readonly containerId: string;
  readonly netns: string;
  readonly ifName: string;
  readonly args: string;
  readonly path: string;
  /** The negotiated version: the config's `cniVersion`. */
  readonly cniVersion: string;
  /** The parsed stdin config (an object with at least a valid `name`). */
  readonly config: Record<string, unknown>;
}

export interface PluginFuncs {
  add(a: CmdArgs): Promise<CniResult>;
  del(a: CmdArgs): Promise<void>;
  check(a: CmdArgs): Promise<void>;
  gc(a: CmdArgs): Promise<void>;
  status(a: CmdArgs): Promise<void>;
}

const COMMANDS: readonly string[] = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'];

/** Which variables each verb needs (the spec's "required environment parameters"). */
const REQUIRED: Record<string, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: [],
  STATUS: [],
};

/** The minimum config version for verbs newer than 0.3.0. */
const MIN_VERSION: Record<string, string> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Runs one invocation; resolves with the process exit code. Never throws. */
export async function pluginMain(funcs: PluginFuncs, io: PluginIO, about: string): Promise<number> {
  let version = CURRENT_VERSION;
  try {
    const command = io.env.CNI_COMMAND ?? '';
    if (command === '') {
      io.writeStderr(`${about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`);
      return 0;
    }
    if (!COMMANDS.includes(command)) {
      throw new CniError(
        CNI_ERR.invalidEnvironment,
        `unknown CNI_COMMAND ${JSON.stringify(command)}`,
        `expected one of ${COMMANDS.join(', ')}`,
      );
    }
    if (command === 'VERSION') {
      io.writeStdout(JSON.stringify(versionReply(await io.readStdin())) + '\n');
      return 0;
    }
    const a = await decodeInvocation(command as CniCommand, io);
    version = a.cniVersion;
    await dispatch(funcs, a, io);
    return 0;
  } catch (e) {
    const err = asCniError(e);
    if (!(e instanceof CniError) && e instanceof Error && e.stack) io.writeStderr(`${e.stack}\n`);
    io.writeStdout(JSON.stringify(err.toJSON(isSupportedVersion(version) ? version : CURRENT_VERSION)) + '\n');
    return 1;
  }
}

async function dispatch(funcs: PluginFuncs, a: CmdArgs, io: PluginIO): Promise<void> {
  switch (a.command) {
    case 'ADD': {
      const result = await funcs.add(a);
      io.writeStdout(JSON.stringify(formatResult(result, a.cniVersion)) + '\n');
      return;
    }
    case 'DEL':
      return funcs.del(a);
    case 'CHECK':
      return funcs.check(a);
    case 'GC':
      return funcs.gc(a);
    case 'STATUS':
      return funcs.status(a);
  }
}

/** VERSION echoes the `cniVersion` it was given (when it looks like one) and lists ours. */
function versionReply(stdin: string): { cniVersion: string; supportedVersions: string[] } {
  let cniVersion = CURRENT_VERSION;
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v)) cniVersion = v;
  } catch {
    // VERSION must answer whatever stdin holds.
  }
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** Environment + stdin → CmdArgs, or the CniError the spec prescribes for what is wrong. */
export async function decodeInvocation(command: CniCommand, io: PluginIO): Promise<CmdArgs> {
  const env = (name: string): string => io.env[name] ?? '';
  const missing = REQUIRED[command].filter((n) => env(n) === '');
  if (missing.length > 0) {
    throw new CniError(CNI_ERR.invalidEnvironment, `required environment variables [${missing.join(',')}] missing for ${command}`);
  }
  if (REQUIRED[command].includes('CNI_CONTAINERID')) checkContainerId(env('CNI_CONTAINERID'));
  if (REQUIRED[command].includes('CNI_IFNAME')) checkInterfaceName(env('CNI_IFNAME'), 'CNI_IFNAME', CNI_ERR.invalidEnvironment);
  const netns = env('CNI_NETNS');
  if (netns !== '' && !netns.startsWith('/')) {
    throw new CniError(
      CNI_ERR.invalidEnvironment,
      `CNI_NETNS must be an absolute path to a network namespace, got ${JSON.stringify(netns)}`,
    );
  }

  const config = decodeConfig(await io.readStdin());
  const cniVersion = negotiateVersion(command, config);
  return {
    command,
    containerId: env('CNI_CONTAINERID'),
    netns,
    ifName: env('CNI_IFNAME'),
    args: env('CNI_ARGS'),
    path: env('CNI_PATH'),
    cniVersion,
    config,
  };
}

function decodeConfig(stdin: string): Record<string, unknown> {
  let config: unknown;
  try {
    config = JSON.parse(stdin);
  } catch (e) {
    const what = stdin.trim() === '' ? 'stdin is empty' : (e as Error).message;
    throw new CniError(CNI_ERR.decodingFailure, `cannot decode the network config on stdin: ${what}`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new CniError(CNI_ERR.decodingFailure, 'cannot decode the network config on stdin: it is not a JSON object');
  }
  const conf = config as Record<string, unknown>;
  if (conf.name === undefined || conf.name === '') throw new CniError(CNI_ERR.invalidConfig, 'network config has no "name"');
  if (typeof conf.name !== 'string' || !NAME_RE.test(conf.name)) {
    throw new CniError(
      CNI_ERR.invalidConfig,
      `network config "name" ${JSON.stringify(conf.name)} is invalid`,
      'a name starts with a letter or digit, then letters, digits, "_", "." or "-"',
    );
  }
  return conf;
}

function negotiateVersion(command: CniCommand, config: Record<string, unknown>): string {
  const raw = config.cniVersion;
  if (raw !== undefined && typeof raw !== 'string') {
    throw new CniError(CNI_ERR.decodingFailure, `network config "cniVersion" must be a string, got ${JSON.stringify(raw)}`);
  }
  const version = raw === undefined || raw === '' ? IMPLICIT_VERSION : raw;
  if (!isSupportedVersion(version)) {
    const given = raw ? `cniVersion ${JSON.stringify(version)}` : `no cniVersion (which means ${IMPLICIT_VERSION})`;
    throw new CniError(
      CNI_ERR.incompatibleVersion,
      `incompatible CNI versions: the network config has ${given}`,
      `weft supports ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  const min = MIN_VERSION[command];
  if (min !== undefined && !versionAtLeast(version, min)) {
    throw new CniError(
      CNI_ERR.incompatibleVersion,
      `config version ${version} does not allow ${command}`,
      `${command} needs cniVersion ${min} or later`,
    );
  }
  return version;
}

function checkContainerId(id: string): void {
  if (!NAME_RE.test(id)) {
    throw new CniError(
      CNI_ERR.invalidEnvironment,
      `CNI_CONTAINERID ${JSON.stringify(id)} has invalid characters`,
      'it starts with a letter or digit, then letters, digits, "_", "." or "-"',
    );
  }
}

/**
 * Interface names as the kernel and the reference skel accept them (1-15 bytes, not "." or "..", no
 * "/", ":" or whitespace), and additionally without the characters `ip -batch` treats specially
 * (quotes, "#", "\"), because names end up in batch lines.
 */
export function checkInterfaceName(name: string, field: string, code: number): void {
  let cause = '';
  if (name.length === 0) cause = 'it is empty';
  else if (Buffer.byteLength(name) > 15) cause = 'it is longer than 15 bytes';
  else if (name === '.' || name === '..') cause = 'it is "." or ".."';
  else if (/[/:\s"'#\\]/.test(name)) cause = 'it contains "/", ":", whitespace, a quote, "#" or "\\"';
  if (cause) throw new CniError(code, `${field} ${JSON.stringify(name)} is not a valid interface name: ${cause}`);
}
