/**
 * Link, address and route changes as `ip -json -batch -`: one process for a whole step. Spawning is
 * the plugin's main cost after Node's own start-up (~4 ms per child from a Node process here), so
 * every step is one child.
 *
 * - Node side: `ip` runs in the plugin's own network namespace (the node's; the runtime executes
 *   plugins there).
 * - Pod side: CNI_NETNS is a path: `ip -n NAME` for /var/run/netns/NAME, `nsenter --net=PATH ip`
 *   for any other (/proc/PID/ns/net, /run/netns/NAME). The plugin never switches its own
 *   namespace.
 * - argv only, never a shell; names in batch lines are validated by the callers (no whitespace,
 *   quotes or "#", which the batch parser would interpret).
 * - `ip` stops at the first failing line and reports "Command failed -:N"; the failure carries N so
 *   the caller knows which changes were made (rollback) and which not.
 * - `show` lines print one JSON array each; they come back parsed, in order.
 * - A runtime's PATH may lack sbin: tools are looked up in PATH, then the usual system directories.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { batchErrorText, parseBatchFailures } from '@weft/netbase';
import { CNI_ERR, CniError } from './cni-spec.js';

export class IpBatchError extends Error {
  constructor(
    /** 1-based number of the batch line that failed, undefined when ip did not say. */
    readonly failedLine: number | undefined,
    readonly lineText: string | undefined,
    /** ip's own words ("RTNETLINK answers: File exists"). */
    readonly reason: string,
    readonly where: string,
  ) {
    super(`${where}: ${lineText ? `\`ip ${lineText}\` failed: ` : ''}${reason}`);
    this.name = 'IpBatchError';
  }
}

export interface BatchOptions {
  /** Run inside this network namespace (a path); default: the plugin's own. */
  netns?: string;
  /** Descriptors passed to ip as fd 3, 4, ... (so lines may name /proc/self/fd/3). */
  fds?: number[];
  /** `ip -details`: show lines include link kind and bridge-port attributes. */
  details?: boolean;
}

/** Runs the lines; returns the JSON output of the `show` lines, in order. */
export function ipBatch(lines: readonly string[], opts: BatchOptions = {}): unknown[] {
  const ipArgs = [...(opts.details ? ['-details'] : []), '-json', '-batch', '-'];
  const [tool, args] = opts.netns ? inNetns(opts.netns, ipArgs) : ['ip', ipArgs];
  const r = runTool(tool, args, lines.join('\n') + '\n', opts.fds ?? []);
  const where = opts.netns ? `in netns ${opts.netns}` : 'on the node';
  if (r.code !== 0) throw failure(lines, r.stderr, where);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('['))
    .map((l) => JSON.parse(l) as unknown);
}

/** Where `ip netns` keeps names (iproute2's NETNS_RUN_DIR); `ip -n NAME` opens exactly this path. */
const NAMED_NETNS = /^\/var\/run\/netns\/([^/]+)$/;

/** `ip -n NAME` for a named namespace (one exec less than nsenter, ~1 ms), nsenter for any other path. */
function inNetns(netns: string, ipArgs: string[]): [string, string[]] {
  const named = NAMED_NETNS.exec(netns);
  if (named && !named[1].startsWith('-')) return ['ip', ['-n', named[1], ...ipArgs]];
  return ['nsenter', [`--net=${netns}`, '--', toolPath('ip'), ...ipArgs]];
}

function failure(lines: readonly string[], stderr: string, where: string): IpBatchError {
  const n = parseBatchFailures(stderr)[0]?.line;
  return new IpBatchError(n, n !== undefined ? lines[n - 1] : undefined, batchErrorText(stderr), where);
}

/** True when ip's message says the device is not there. */
export function isNoSuchDevice(e: unknown): boolean {
  return e instanceof IpBatchError && /Cannot find device|does not exist|No such device/.test(e.reason);
}

export function isExists(e: unknown): boolean {
  return e instanceof IpBatchError && /File exists/.test(e.reason);
}

const PACKAGES: Record<string, string> = { ip: 'iproute2', nsenter: 'util-linux', flock: 'util-linux' };
const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];
const found = new Map<string, string>();

export function toolPath(name: string): string {
  const known = found.get(name);
  if (known) return known;
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      found.set(name, `${dir}/${name}`);
      return `${dir}/${name}`;
    } catch {
      // not here
    }
  }
  throw new CniError(
    CNI_ERR.internal,
    `${name} not found in PATH or ${SYSTEM_DIRS.join(':')}`,
    `weft needs ${name} from ${PACKAGES[name] ?? 'the host'}`,
  );
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tool args...` with `input` on stdin and waits for it. Synchronous on purpose: the first
 * asynchronous spawn of a Node process costs several ms more than spawnSync (streams, sockets and their
 * cold code; measured in the cni-shim README), and the plugin has nothing else to do meanwhile.
 */
export function runTool(tool: string, args: readonly string[], input: string, fds: number[] = []): ToolResult {
  const file = toolPath(tool);
  const r = spawnSync(file, args, { input, stdio: ['pipe', 'pipe', 'pipe', ...fds], encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new CniError(CNI_ERR.internal, `cannot run ${file}: ${r.error.message}`);
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}
