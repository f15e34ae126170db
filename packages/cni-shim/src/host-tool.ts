/**
 * Running the host tools the plugin drives (`ip`, `nsenter`, `flock`): argv only, never a shell, so
 * nothing a runtime passes (container ids, names, CNI_ARGS) can become a command.
 *
 * A runtime's PATH may not include sbin, so each tool is looked up in PATH and then in the usual
 * system directories; a missing tool is an error naming it and its package. Children are spawned
 * asynchronously so independent steps (the IPAM lock and the host-side link changes) overlap.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { CNI_ERR, CniError } from './cni-error.js';

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
  throw new CniError(CNI_ERR.internal, `${name} not found in PATH or ${SYSTEM_DIRS.join(':')}`, `weft needs ${name} from ${PACKAGES[name] ?? 'the host'}`);
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ToolOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** Extra descriptors handed to the child as fd 3, 4, ... */
  fds?: number[];
}

/** Runs `tool args...`; resolves with its exit code and output (a non-zero exit is not a rejection). */
export function runTool(tool: string, args: readonly string[], opts: ToolOptions = {}): Promise<ToolResult> {
  const file = toolPath(tool);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe', ...(opts.fds ?? [])] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => reject(new CniError(CNI_ERR.internal, `cannot run ${file}: ${e.message}`)));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
  });
}
