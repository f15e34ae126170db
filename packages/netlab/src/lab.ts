/**
 * A Lab is one run's private network: the namespaces, links and processes a test, benchmark or demo
 * builds, and takes down again.
 *
 * - Every namespace is named `<prefix><name>`; the prefix is unique per run (`wt` + 6 random hex chars by
 *   default), so parallel runs never collide and a run deletes only what it made.
 * - Nothing is configured in the root namespace: links are created with `ip -n <ns>` directly inside a
 *   namespace (a veth's peer is born in the other namespace), processes run under `ip netns exec`.
 * - Each lab records itself in /run/weft-lab/<prefix>.json (owner pid, child pids with their start times).
 *   A sweep signals a recorded pid only while its start time still matches (process-identity.ts). `Lab.sweep()` removes
 *   labs whose owner died without cleaning up (a SIGKILLed test run), and only those; a lab left up on
 *   purpose (`detach()`, the demo's --keep) goes only when a sweep names its prefix.
 * - `destroy()` is idempotent and runs every step even when one fails: commands still running under
 *   `exec` are killed, long-running processes stopped (by pid, TERM then KILL), then namespaces deleted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processStartTime, signalIfSame } from './process-identity.js';
import { run, ipBatch, type RunResult } from './run.js';

const REGISTRY = '/run/weft-lab';

export interface LabRecord {
  prefix: string;
  ownerPid: number;
  namespaces: string[];
  pids: number[];
  /** Start time of each of `pids` (/proc/<pid>/stat), same order: a sweep kills a pid only if it still matches. */
  pidStarts?: Array<string | null>;
  /** Left up on purpose (`detach()`): only a sweep naming its prefix removes it. */
  kept?: boolean;
}

export class LabProcess {
  private out = '';
  private err = '';
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    /** When set, the process writes stdout and stderr to this file (it may outlive us). */
    readonly logFile?: string,
  ) {
    this.startTime = child.pid === undefined ? undefined : processStartTime(child.pid);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(this.exitCode);
      });
      child.on('error', () => {
        this.exitCode = -1;
        resolve(-1);
      });
    });
  }

  /** When the process started (/proc/<pid>/stat), read right after spawn: with the pid, its identity. */
  readonly startTime: string | undefined;

  get pid(): number {
    return this.child.pid ?? -1;
  }
  get stdout(): string {
    return this.logFile ? readLog(this.logFile) : this.out;
  }
  get stderr(): string {
    return this.logFile ? '' : this.err;
  }
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Resolves with the first stdout/stderr line matching `re`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = (this.stdout + '\n' + this.stderr).match(re);
        if (m) {
          cleanup();
          resolve(m);
          return true;
        }
        return false;
      };
      const onData = (): void => void check();
      const onExit = (): void => {
        if (!check()) {
          cleanup();
          reject(new Error(`${this.name} exited (${this.exitCode}) before ${re}: ${(this.stdout + this.stderr).slice(-2000)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no ${re} within ${timeoutMs} ms; output: ${(this.stdout + this.stderr).slice(-2000)}`));
      }, timeoutMs);
      const poll = this.logFile ? setInterval(onData, 100) : undefined;
      const cleanup = (): void => {
        clearTimeout(timer);
        if (poll) clearInterval(poll);
        this.child.stdout?.off('data', onData);
        this.child.stderr?.off('data', onData);
        this.child.off('exit', onExit);
      };
      this.child.stdout?.on('data', onData);
      this.child.stderr?.on('data', onData);
      this.child.on('exit', onExit);
      if (!this.running) onExit();
      else check();
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  async stop(graceMs = 3000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export class Lab {
  private readonly namespaces: string[] = [];
  private readonly processes: LabProcess[] = [];
  /** Temp directories the lab's processes use (etcd's data): removed by destroy(), after the processes stop. */
  private readonly tempDirs: string[] = [];
  private destroyed = false;
  private kept = false;
  /** Aborted by destroy(): kills every `exec` still running (an iperf3 client mid-run, a ping). */
  private readonly execs = new AbortController();

  private constructor(readonly prefix: string) {}

  /** A new lab. `tag` (a few letters) goes into the prefix so `ip netns` shows who made a namespace. */
  static create(tag = 't', prefix?: string): Lab {
    const p = prefix ?? `w${tag.slice(0, 4)}${randomBytes(3).toString('hex')}-`;
    const lab = new Lab(p);
    lab.record();
    return lab;
  }

  /** The full namespace name for a lab-local name. */
  ns(name: string): string {
    return this.prefix + name;
  }

  async addNetns(name: string): Promise<string> {
    const full = this.ns(name);
    await run('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    this.record();
    await run('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  /** A veth pair: `aIf` in namespace `a`, `bIf` in namespace `b` (full names), both up. */
  async addVeth(a: string, aIf: string, b: string, bIf: string, mtu?: number): Promise<void> {
    const mtuArgs = mtu ? ['mtu', String(mtu)] : [];
    await run('ip', ['-n', a, 'link', 'add', aIf, ...mtuArgs, 'type', 'veth', 'peer', 'name', bIf, 'netns', b, ...mtuArgs]);
    await run('ip', ['-n', a, 'link', 'set', aIf, 'up']);
    await run('ip', ['-n', b, 'link', 'set', bIf, 'up']);
  }

  async addBridge(ns: string, name: string): Promise<void> {
    await run('ip', ['-n', ns, 'link', 'add', name, 'type', 'bridge']);
    await run('ip', ['-n', ns, 'link', 'set', name, 'up']);
  }

  async addAddress(ns: string, dev: string, cidr: string): Promise<void> {
    await run('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', dev]);
  }

  /** `ip -n ns -batch`: many changes, one process. */
  ipBatch(ns: string, lines: readonly string[]): Promise<void> {
    return ipBatch(lines, ns);
  }

  /** Runs a command to completion inside a namespace. */
  exec(ns: string, cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: timeoutMs, signal: this.execs.signal, killSignal: 'SIGKILL' });
  }

  /**
   * Starts a long-running process inside a namespace; `destroy()` stops it. With `logFile`, its output
   * goes to that file and it runs detached, so it can outlive this process (the demo's `--keep`);
   * `Lab.sweep([prefix])` stops it later by pid.
   */
  spawn(
    ns: string,
    name: string,
    cmd: string,
    args: readonly string[],
    env?: NodeJS.ProcessEnv,
    opts: { logFile?: string } = {},
  ): LabProcess {
    let logFd: number | undefined;
    if (opts.logFile) logFd = openSync(opts.logFile, 'a');
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: logFd === undefined ? ['pipe', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
      env: env ?? process.env,
      detached: logFd !== undefined,
    });
    if (logFd !== undefined) {
      closeSync(logFd);
      child.unref();
    }
    const proc = new LabProcess(name, child, opts.logFile);
    this.processes.push(proc);
    this.record();
    return proc;
  }

  /**
   * Records a process started some other way (e.g. under `nsenter`, which keeps /sys as runc needs it) so
   * that destroy() stops it and a sweep after a killed run finds it.
   */
  adopt(proc: LabProcess): LabProcess {
    this.processes.push(proc);
    this.record();
    return proc;
  }

  /** Hands a temp directory to the lab: destroy() removes it once the processes using it have stopped. */
  ownTempDir(dir: string): void {
    this.tempDirs.push(dir);
  }

  /** Forgets this lab without tearing it down: its processes and namespaces stay for `Lab.sweep`. */
  detach(): void {
    this.kept = true;
    this.record();
    this.destroyed = true;
  }

  /** Stops every process, deletes every namespace. Safe to call twice; never throws. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.execs.abort();
    await Promise.all(this.processes.map((p) => p.stop(2000).catch(() => null)));
    for (const ns of this.namespaces.reverse()) {
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
    for (const dir of this.tempDirs) rmSync(dir, { recursive: true, force: true });
    rmSync(join(REGISTRY, `${this.prefix}.json`), { force: true });
  }

  private record(): void {
    const rec: LabRecord = {
      prefix: this.prefix,
      ownerPid: process.pid,
      namespaces: this.namespaces,
      pids: this.processes.filter((p) => p.pid > 0).map((p) => p.pid),
      pidStarts: this.processes.filter((p) => p.pid > 0).map((p) => p.startTime ?? null),
      ...(this.kept ? { kept: true } : {}),
    };
    try {
      mkdirSync(REGISTRY, { recursive: true });
      writeFileSync(join(REGISTRY, `${this.prefix}.json`), JSON.stringify(rec));
    } catch {
      // Not root or no /run: the lab still works, only sweep() cannot find it later.
    }
  }

  /**
   * Removes labs whose owner process is gone (killed before it could clean up), or, with `prefixes`,
   * the labs with those prefixes whatever their owner (the demo's fixed prefix after a killed run).
   * Returns the prefixes removed.
   */
  static async sweep(prefixes: readonly string[] = []): Promise<string[]> {
    let files: string[] = [];
    try {
      files = readdirSync(REGISTRY).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const f of files) {
      let rec: LabRecord;
      try {
        rec = JSON.parse(readFileSync(join(REGISTRY, f), 'utf8')) as LabRecord;
      } catch {
        continue;
      }
      const named = prefixes.includes(rec.prefix);
      if (!named && (rec.kept || rec.ownerPid === process.pid || alive(rec.ownerPid))) continue;
      // Only processes that are still the ones recorded: a pid reused since then belongs to someone else.
      rec.pids.forEach((pid, i) => signalIfSame(pid, rec.pidStarts?.[i] ?? undefined, 'SIGKILL'));
      for (const ns of rec.namespaces) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
      rmSync(join(REGISTRY, f), { force: true });
      removed.push(rec.prefix);
    }
    return removed;
  }
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
