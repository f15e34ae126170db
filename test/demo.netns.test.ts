/**
 * `pnpm demo` as a user runs it: three nodes, a short iperf3, and a clean exit; then Ctrl-C in the
 * middle of a run, which must leave no namespace and no process behind. Uses its own prefix so it
 * never touches a demo a person has left up.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '@weft/netlab';

const DEMO = fileURLToPath(new URL('../packages/demo/bin/weft-demo', import.meta.url));
const PREFIX = 'wtdemo-';

async function leftovers(): Promise<{ ns: string[]; procs: string[] }> {
  const ns = (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(PREFIX));
  const ps = (await run('ps', ['-eo', 'args'])).stdout
    .split('\n')
    .filter((l) => l.includes(`weft-demo-${PREFIX.slice(0, -1)}`) && !l.includes('vitest'));
  return { ns, procs: ps };
}

function demo(args: string[]): { done: Promise<number | null>; output: () => string; kill: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [DEMO, '--prefix', PREFIX, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  return {
    done: new Promise((r) => child.on('exit', (code) => r(code))),
    output: () => out,
    kill: (s) => child.kill(s),
  };
}

describe('pnpm demo', () => {
  afterAll(async () => {
    await run(process.execPath, [DEMO, '--prefix', PREFIX, '--down']).catch(() => undefined);
  });

  it('builds 3 nodes with pods, proves connectivity and throughput, and tears down', async () => {
    const d = demo(['--nodes', '3', '--seconds', '2']);
    const code = await d.done;
    const out = d.output();
    expect(code, out).toBe(0);
    expect(out).toContain('30/30 answered');
    expect(out).toMatch(/weft \(userspace VTEP, weft\.1\)\s+[\d.]+ Gbit\/s\s+\d+ retr\s+[\d.]+ Gbit\/s\s+\d+ retr/);
    expect(out).toMatch(/kernel vxlan \(kvx\.2\)\s+[\d.]+ Gbit\/s\s+\d+ retr\s+[\d.]+ Gbit\/s\s+\d+ retr/);
    expect(out).toMatch(/weft \/ kernel\s+[\d.]+×\s+[\d.]+×/);
    expect(await leftovers()).toEqual({ ns: [], procs: [] });
  });

  it('Ctrl-C in the middle tears everything down', async () => {
    const t0 = Date.now();
    const d = demo(['--nodes', '2', '--seconds', '30']);
    for (let i = 0; i < 600 && !d.output().includes('iperf3'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(d.output()).toContain('iperf3');
    d.kill('SIGINT');
    d.kill('SIGINT'); // a terminal's Ctrl-C often arrives twice (pnpm forwards it)
    expect(await d.done).toBe(130);
    expect(d.output()).toContain('cluster removed.');
    expect(await leftovers()).toEqual({ ns: [], procs: [] });
    // The iperf3 client was mid-run when the signal came: it must not outlive the demo as an orphan
    // (re-parented to init) started during this test.
    const ps = (await run('ps', ['-eo', 'ppid=,etimes=,comm='])).stdout.split('\n');
    const ageLimit = (Date.now() - t0) / 1000;
    const orphans = ps
      .map((l) => l.trim().split(/\s+/))
      .filter(([ppid, age, comm]) => comm === 'iperf3' && ppid === '1' && Number(age) <= ageLimit);
    expect(orphans).toEqual([]);
  });

  it('--keep leaves the cluster up; the --down hint it prints names the prefix, and removes everything', async () => {
    const d = demo(['--nodes', '2', '--seconds', '1', '--keep']);
    const code = await d.done;
    const out = d.output();
    expect(code, out).toBe(0);
    const hint = /remove it:\s+pnpm demo (.+)$/m.exec(out)?.[1];
    expect(hint).toBe(`--down --prefix ${PREFIX}`);
    expect((await leftovers()).ns.length).toBeGreaterThan(0);
    await run(process.execPath, [DEMO, ...hint!.split(' ')]);
    expect(await leftovers()).toEqual({ ns: [], procs: [] });
  });

  it('refuses to start without what it needs, naming it', async () => {
    const r = await run(process.execPath, [DEMO, '--nodes', 'many']).catch((e: Error) => e);
    expect(String(r)).toMatch(/--nodes many: want a whole number/);
  });
});
