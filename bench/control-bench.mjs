// weftd control-plane numbers (for the design note; no assertions):
//   - lease written in etcd → route + neighbour + FDB entry on a peer: p50/p99 over 100 leases, one at a time
//   - 1000 leases arriving at a running node (incremental), and 1000 leases synced by a fresh weftd
//   - restart of a weftd that already has its 1000 routes (re-attach, reconcile finds nothing to do)
//   - weftd RSS with 1000 peers
//   - ip -batch vs one `ip` process per change, for the same 2000 changes
// Needs root and a build (`pnpm exec tsc -b`). Everything runs in lab namespaces; the lab is destroyed at
// the end, also on failure. Run: node bench/control-bench.mjs
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, startEtcd, run, ipBatch } from '@weft/netlab';
import { machineInfo, percentile, writeResult } from './lib.mjs';

const WEFTD = fileURLToPath(new URL('../packages/control/bin/weftd', import.meta.url));
const PROBE = fileURLToPath(new URL('./control-probe.mjs', import.meta.url));
const ETCD_IP = '192.168.50.100';
const ETCD = `http://${ETCD_IP}:2379`;
const PREFIX = '/coreos.com/network';
const N = 1000;

const lab = Lab.create('cbn');
const dir = mkdtempSync(join(tmpdir(), 'weft-control-bench-'));
let etcd;

async function plug(u, ns, port, ip) {
  await lab.addVeth(ns, 'eth0', u, port);
  await lab.ipBatch(u, [`link set ${port} master br0`]);
  await lab.addAddress(ns, 'eth0', `${ip}/24`);
}

async function startWeftd(ns, name) {
  const p = lab.spawn(ns, name, process.execPath, [
    WEFTD,
    `--etcd-endpoints=${ETCD}`,
    `--subnet-file=${join(dir, name, 'subnet.env')}`,
    '--iface=eth0',
    '--healthz-ip=127.0.0.1',
    '--healthz-port=8081',
  ]);
  await p.waitFor(/"msg":"weftd is up"/, 60_000);
  return p;
}

async function probe(ns, args) {
  const { stdout } = await lab.exec(ns, process.execPath, [PROBE, args[0], ETCD, PREFIX, ...args.slice(1).map(String)], 300_000);
  return JSON.parse(stdout);
}

async function routeCount(ns) {
  const { stdout } = await run('ip', ['-n', ns, '-4', 'route', 'show', 'dev', 'weft.1']);
  return stdout.split('\n').filter((l) => l.includes('onlink')).length;
}

async function waitRoutes(ns, want, timeoutMs = 120_000) {
  const t0 = Date.now();
  while ((await routeCount(ns)) < want) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${ns}: fewer than ${want} routes after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function metric(ns, name) {
  const { stdout } = await lab.exec(ns, 'curl', ['-s', 'http://127.0.0.1:8081/metrics']);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(stdout);
  return m ? Number(m[1]) : NaN;
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** From weftd's JSON log: ms between the lease snapshot and the reconcile that followed it (the last pair). */
function reconcileMs(p) {
  const lines = p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  const snap = lines.filter((l) => l.msg === 'lease snapshot').at(-1);
  const rec = lines.filter((l) => l.msg === 'reconciled peers against the host').at(-1);
  return { ms: rec.time - snap.time, log: rec };
}

async function spawnVsBatch(ns) {
  await lab.addVeth(ns, 'sp0', ns, 'sp1');
  await lab.ipBatch(ns, ['addr add 10.255.0.0/32 dev sp0']);
  const lines = (i, dev) => [
    `neigh replace 10.9.${i >> 8}.${i & 255} lladdr 0e:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')} dev ${dev} nud permanent`,
    `route replace 10.${100 + (i >> 8)}.${i & 255}.0/24 via 10.9.${i >> 8}.${i & 255} dev ${dev} onlink`,
  ];
  const all = Array.from({ length: N }, (_, i) => lines(i, 'sp0')).flat();
  let t0 = performance.now();
  await ipBatch(all, ns);
  const batchMs = performance.now() - t0;
  await lab.ipBatch(ns, ['route flush dev sp0', 'neigh flush dev sp0']).catch(() => undefined);
  t0 = performance.now();
  for (const l of all) await run('ip', ['-n', ns, ...l.split(' ')]);
  const spawnMs = performance.now() - t0;
  return { changes: all.length, batchMs, spawnMs };
}

async function main() {
  const u = await lab.addNetns('u');
  await lab.addBridge(u, 'br0');
  const etcdNs = await lab.addNetns('etcd');
  await plug(u, etcdNs, 'etcd0', ETCD_IP);
  etcd = await startEtcd(lab, { netns: etcdNs, ip: ETCD_IP });
  await lab.exec(etcdNs, 'env', [
    'ETCDCTL_API=3',
    'etcdctl',
    `--endpoints=${ETCD}`,
    'put',
    `${PREFIX}/config`,
    JSON.stringify({ Network: '10.0.0.0/8', SubnetLen: 24, Backend: { Type: 'vxlan' } }),
  ]);
  const n1 = await lab.addNetns('n1');
  const n2 = await lab.addNetns('n2');
  await plug(u, n1, 'n1', '192.168.50.1');
  await plug(u, n2, 'n2', '192.168.50.2');
  const w1 = await startWeftd(n1, 'n1');

  console.error('latency: 100 leases, one at a time ...');
  const { samples } = await probe(n1, ['latency', 100, 0]);
  await probe(n1, ['clear', 100, 0]);

  const rss0 = rssMiB(w1.pid);
  console.error(`burst: ${N} leases into a running node ...`);
  const rounds0 = await metric(n1, 'weft_programming_rounds_total');
  const burst = await probe(n1, ['fill', N, 0]);
  const burstRounds = (await metric(n1, 'weft_programming_rounds_total')) - rounds0;
  await new Promise((r) => setTimeout(r, 1000));
  const rss1000 = rssMiB(w1.pid);
  const peers1 = await metric(n1, 'weft_peers');

  console.error(`sync: a fresh weftd with ${N} leases in etcd ...`);
  let t0 = performance.now();
  let w2 = await startWeftd(n2, 'n2');
  await waitRoutes(n2, N + 1);
  const syncMs = performance.now() - t0;
  const syncReconcile = reconcileMs(w2);
  const syncRounds = await metric(n2, 'weft_programming_rounds_total');

  console.error('restart: same weftd, routes already in place ...');
  await w2.stop();
  t0 = performance.now();
  w2 = await startWeftd(n2, 'n2');
  await w2.waitFor(/"msg":"reconciled peers against the host"/, 60_000);
  const restartMs = performance.now() - t0;
  const restartReconcile = reconcileMs(w2);

  console.error('ip -batch vs one process per change ...');
  const spawn = await spawnVsBatch(await lab.addNetns('sp'));

  const result = {
    machine: machineInfo(),
    date: new Date().toISOString(),
    leaseToRouteMs: { n: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), max: Math.max(...samples) },
    burst1000: { ms: burst.ms, programmingRounds: burstRounds, peers: peers1 },
    syncFromScratch1000: {
      processStartToRoutesMs: syncMs,
      snapshotToReconciledMs: syncReconcile.ms,
      reconcile: syncReconcile.log,
      programmingRounds: syncRounds,
    },
    restartWith1000: {
      processStartToReconciledMs: restartMs,
      snapshotToReconciledMs: restartReconcile.ms,
      reconcile: restartReconcile.log,
    },
    rssMiBWith1000Peers: rss1000,
    rssMiBWithNoPeers: rss0,
    ipBatchVsSpawn: spawn,
  };
  const f = (v) => (typeof v === 'number' ? v.toFixed(1) : String(v));
  const rows = [
    ['lease in etcd → route+neigh+FDB on a peer, p50 (ms)', f(result.leaseToRouteMs.p50)],
    ['  p99 / max (ms), n=100', `${f(result.leaseToRouteMs.p99)} / ${f(result.leaseToRouteMs.max)}`],
    [`${N} leases into a running node, until all routes (ms)`, `${f(burst.ms)} in ${burstRounds} rounds`],
    [`fresh weftd, ${N} leases: start → all routes (ms)`, f(syncMs)],
    ['  snapshot → reconciled (ms), programming rounds', `${f(syncReconcile.ms)}, ${syncRounds}`],
    [`restart with ${N} routes in place: start → reconciled (ms)`, f(restartMs)],
    [
      '  snapshot → reconciled (ms), changes made',
      `${f(restartReconcile.ms)}, ${restartReconcile.log.added + restartReconcile.log.removedRoutes + restartReconcile.log.removedNeighbours}`,
    ],
    [`weftd RSS with ${N} peers / with none (MiB)`, `${f(rss1000)} / ${f(rss0)}`],
    [`${spawn.changes} neigh+route changes: one ip -batch (ms)`, f(spawn.batchMs)],
    [`  the same as ${spawn.changes} ip processes (ms)`, f(spawn.spawnMs)],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n'));
  console.log(`results: ${writeResult('control', result)}`);
}

try {
  await main();
} finally {
  await lab.destroy();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
}
