/**
 * Link, address and route changes as `ip -json -batch -`: one process for a whole step, which is the
 * plugin's main cost after Node's own start-up.
 *
 * - Node side: `ip` runs in the plugin's own network namespace (the node's; the runtime executes
 *   plugins there).
 * - Pod side: `nsenter --net=<CNI_NETNS> ip ...`. CNI_NETNS is a path (/var/run/netns/x or
 *   /proc/PID/ns/net); the plugin never switches its own namespace.
 * - `ip` stops at the first failing line and reports "Command failed -:N"; the failure carries N so
 *   the caller knows which changes were made (rollback) and which not.
 * - `show` lines in a batch print one JSON array each; they come back parsed, in order.
 */
import { runTool, toolPath } from './host-tool.js';

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

/** Runs the lines; resolves with the JSON output of the `show` lines, in order. */
export async function ipBatch(lines: readonly string[], opts: BatchOptions = {}): Promise<unknown[]> {
  const ipArgs = [...(opts.details ? ['-details'] : []), '-json', '-batch', '-'];
  const r = opts.netns
    ? await runTool('nsenter', [`--net=${opts.netns}`, '--', toolPath('ip'), ...ipArgs], { input: lines.join('\n') + '\n', fds: opts.fds ?? [] })
    : await runTool('ip', ipArgs, { input: lines.join('\n') + '\n', fds: opts.fds ?? [] });
  const where = opts.netns ? `in netns ${opts.netns}` : 'on the node';
  if (r.code !== 0) throw failure(lines, r.stderr, where);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('['))
    .map((l) => JSON.parse(l) as unknown);
}

function failure(lines: readonly string[], stderr: string, where: string): IpBatchError {
  const m = /Command failed -:(\d+)/.exec(stderr);
  const n = m ? Number(m[1]) : undefined;
  const reason =
    stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('Command failed'))
      .join('; ') || 'no message';
  return new IpBatchError(n, n !== undefined ? lines[n - 1] : undefined, reason, where);
}

/** True when ip's message says the device is not there. */
export function isNoSuchDevice(e: unknown): boolean {
  return e instanceof IpBatchError && /Cannot find device|does not exist|No such device/.test(e.reason);
}

export function isExists(e: unknown): boolean {
  return e instanceof IpBatchError && /File exists/.test(e.reason);
}
