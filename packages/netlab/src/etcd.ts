/**
 * A real etcd (Debian's etcd-server 3.4) for one lab: temp data dir, started inside a lab namespace
 * (so node namespaces reach it over the lab's underlay) or on loopback, stopped by pid, data dir removed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { type Lab, LabProcess } from './lab.js';
import { run } from './run.js';

export interface EtcdHandle {
  endpoint: string;
  process: LabProcess;
  dataDir: string;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (for an etcd that runs in the root namespace's loopback). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts etcd. With `netns`, it listens on `ip` inside that namespace (client 2379, peer 2380); without,
 * on 127.0.0.1 with free ports. Resolves once etcd serves clients. With `dataDir` (a previous handle's),
 * etcd restarts on that data, which `stop()` then keeps: the caller removes it.
 */
export async function startEtcd(
  lab: Lab,
  opts: { netns?: string; ip?: string; name?: string; dataDir?: string; logFile?: string } = {},
): Promise<EtcdHandle> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'weft-etcd-'));
  // A test that ends without stop() still leaves no data behind: the lab removes it after killing etcd.
  if (!opts.dataDir) lab.ownTempDir(dataDir);
  const ip = opts.ip ?? '127.0.0.1';
  const clientPort = opts.netns ? 2379 : await freePort();
  const peerPort = opts.netns ? 2380 : await freePort();
  const client = `http://${ip}:${clientPort}`;
  const peer = `http://${ip}:${peerPort}`;
  const args = [
    '--name',
    opts.name ?? 'weft-test',
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    client,
    '--advertise-client-urls',
    client,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    '--initial-cluster',
    `${opts.name ?? 'weft-test'}=${peer}`,
    '--initial-cluster-state',
    'new',
    '--log-level',
    'warn',
    '--logger',
    'zap',
  ];
  const env = { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' };
  let proc: LabProcess;
  if (opts.netns) {
    proc = lab.spawn(opts.netns, 'etcd', 'etcd', args, env, opts.logFile ? { logFile: opts.logFile } : {});
  } else {
    proc = new LabProcess('etcd', spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'], env }));
  }
  const stop = async (): Promise<void> => {
    await proc.stop(3000);
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitHealthy(lab, opts.netns, client, proc);
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoint: client, process: proc, dataDir, stop };
}

async function waitHealthy(lab: Lab, netns: string | undefined, endpoint: string, proc: LabProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!proc.running) throw new Error(`etcd exited (${proc.exitCode}): ${proc.stderr.slice(-1500)}`);
    try {
      const args = ['--endpoints', endpoint, 'endpoint', 'health'];
      const env = { ...process.env, ETCDCTL_API: '3' };
      if (netns) await lab.exec(netns, 'env', ['ETCDCTL_API=3', 'etcdctl', ...args], 5000);
      else await run('etcdctl', args, { env, timeout: 5000 });
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`etcd at ${endpoint} not healthy after 20 s: ${String(e)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
