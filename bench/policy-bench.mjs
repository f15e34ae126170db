// NetworkPolicy numbers (weftd --network-policy; for the README, no assertions):
//   1. change → enforced: a policy update written to the API until weftd's nft transaction for it has
//      committed (weftd logs the resourceVersion it applied), p50/p99 over 60 changes, with 1000 pods and
//      200 policies in the cluster, all 1000 pods on the measured node (the worst case: every pod local)
//   2. nft table size (rules, set/map elements) as pods (250..1000) and policies (50..200) grow
//   3. pod-to-pod TCP throughput (iperf3) and RTT (ping) between two real pods, across the two weft nodes
//      and on the same node (cni0 + br_netfilter), with 100 policies selecting them vs none, same run
//   4. weftd RSS and CPU with the three informers (idle and during the changes) vs a weftd without policy
// Needs root and a build. Everything runs in lab namespaces (destroyed at the end, also on failure); the
// API is the in-test fake (packages/control/test/kube-api-server.ts, transpiled with esbuild).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { Lab, LoopbackBridge, WeftCluster } from '@weft/netlab';
import { machineInfo, percentile, procTicks, writeResult } from './lib.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CHANGES = Number(process.env.POLICY_BENCH_CHANGES ?? 60);

async function loadFakeApi() {
  const src = readFileSync(join(ROOT, 'packages/control/test/kube-api-server.ts'), 'utf8');
  const { code } = transformSync(src, { loader: 'ts', format: 'esm', target: 'node20' });
  const out = join(ROOT, 'packages/control/node_modules/.cache/weft-bench');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'kube-api-server.mjs'), code);
  return (await import(join(out, 'kube-api-server.mjs'))).FakeKubeApiServer;
}

const ipAt = (base, i) => {
  const [a, b, c, d] = base.split('.').map(Number);
  const n = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d + i;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
};

function podObject(ns, name, ip, labels) {
  const ports = [80, 81].map((p) => ({ name: `serve-${p}-tcp`, containerPort: p, protocol: 'TCP' }));
  return {
    metadata: { name, namespace: ns, labels },
    spec: { containers: [{ name: 'c', ports }] },
    status: { phase: 'Running', podIP: ip },
  };
}

/** Policy i of a realistic mix: selectors, namespace selectors, named and numeric ports, ipBlocks, egress. */
function policyObject(i, variant = 0) {
  const ns = `ns${i % 10}`;
  const kind = i % 5;
  const podSelector = { matchLabels: { app: `a${i % 20}` } };
  const spec =
    kind === 0
      ? {
          podSelector,
          ingress: [{ from: [{ podSelector: { matchLabels: { app: `a${(i + 1 + variant) % 20}` } } }], ports: [{ port: 80 }] }],
        }
      : kind === 1
        ? {
            podSelector,
            ingress: [
              { from: [{ namespaceSelector: { matchLabels: { team: `t${(i + variant) % 3}` } } }], ports: [{ port: 'serve-81-tcp' }] },
            ],
          }
        : kind === 2
          ? {
              podSelector,
              ingress: [
                {
                  from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] } }],
                },
              ],
            }
          : kind === 3
            ? {
                podSelector,
                ingress: [
                  { from: [{ ipBlock: { cidr: '10.0.0.0/8', except: [`10.${variant}.0.0/16`] } }], ports: [{ port: 8000, endPort: 8100 }] },
                ],
              }
            : {
                podSelector,
                policyTypes: ['Egress'],
                egress: [
                  {
                    to: [{ namespaceSelector: { matchLabels: { team: `t${(i + variant) % 3}` } } }],
                    ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }],
                  },
                ],
              };
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `pol${i}`, namespace: ns }, spec };
}

const lab = Lab.create('pbn');
const dir = mkdtempSync(join(tmpdir(), 'weft-policy-bench-'));
let api;
let bridge;
let c;
const results = { machine: machineInfo(), date: new Date().toISOString(), loadavgStart: loadavg()[0] };

/** weftd's "policy table applied" lines → waiters for a resourceVersion. */
function appliedTracker(proc) {
  let buf = '';
  let applied = 0;
  const waiters = [];
  proc.child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.includes('"policy table applied"')) continue;
      const m = JSON.parse(line);
      applied = Math.max(applied, m.resourceVersion);
      for (const w of [...waiters]) if (applied >= w.rv) (waiters.splice(waiters.indexOf(w), 1), w.resolve(performance.now()));
    }
  });
  return {
    until(rv, timeoutMs = 60_000) {
      if (applied >= rv) return Promise.resolve(performance.now());
      return new Promise((resolve, reject) => {
        const w = { rv, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`weftd did not apply resourceVersion ${rv} within ${timeoutMs} ms`)), timeoutMs).unref();
      });
    },
  };
}

const rvOf = (o) => Number(o.metadata.resourceVersion);

async function tableStats(node) {
  return JSON.parse(await c.http(node, '/v1/status')).policy?.table;
}

async function iperf(from, to) {
  const { stdout } = await lab.exec(from.ns, 'iperf3', ['-c', to.ip, '-t', '4', '-J'], 60_000);
  return JSON.parse(stdout).end.sum_received.bits_per_second / 1e9;
}

/** Median of 200 echo RTTs (the median, not ping's mean: on a loaded machine a few scheduling stalls dominate the mean). */
async function rtt(from, to) {
  const { stdout } = await lab.exec(from.ns, 'ping', ['-c', '200', '-i', '0.005', to.ip], 60_000);
  return percentile(
    [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])),
    50,
  );
}

try {
  const FakeKubeApiServer = await loadFakeApi();
  api = new FakeKubeApiServer();
  await api.start();
  bridge = await LoopbackBridge.open(dir, Number(new URL(api.url).port));
  c = new WeftCluster(lab, dir, { underlay: '192.168.62' });
  await c.buildUnderlay();
  await c.etcdctl([
    'put',
    '/coreos.com/network/config',
    JSON.stringify({ Network: '10.244.0.0/16', SubnetLen: 20, Backend: { Type: 'vxlan' } }),
  ]);
  const n1 = await c.addNode(1);
  const n2 = await c.addNode(2);
  for (const n of [n1, n2]) await bridge.into(lab, n.ns);
  for (let t = 0; t < 10; t++)
    api.put('namespaces', { metadata: { name: `ns${t}`, labels: { team: `t${t % 3}`, 'kubernetes.io/metadata.name': `ns${t}` } } });
  const policyArgs = ['--iface=eth0', '--network-policy', '--kube-api-url=http://127.0.0.1:6443'];
  const w1 = await c.startWeftd(n1, policyArgs);
  await c.startWeftd(n2, policyArgs);
  const applied = appliedTracker(w1);
  const base1 = c.subnetOf(n1).split('/')[0];

  // 2. growth: pods first (with 200 policies), then policies (with 1000 pods).
  const growth = [];
  const addPods = (from, to) => {
    let last;
    for (let i = from; i < to; i++)
      last = api.put('pods', podObject(`ns${i % 10}`, `p${i}`, ipAt(base1, 100 + i), { app: `a${i % 20}`, tier: i % 2 ? 'web' : 'db' }));
    return last;
  };
  let last;
  for (let i = 0; i < 200; i++) last = api.put('networkpolicies', policyObject(i));
  let havePods = 0;
  for (const pods of [0, 250, 500, 1000]) {
    if (pods > havePods) last = addPods(havePods, pods);
    havePods = pods;
    await applied.until(rvOf(last));
    growth.push({ ...(await tableStats(n1)), pods, policies: 200 });
  }
  for (let i = 200; i > 0; i -= 50) {
    for (let j = i - 1; j >= i - 50; j--) api.remove('networkpolicies', `ns${j % 10}`, `pol${j}`);
    await applied.until(api.resourceVersion);
    growth.push({ ...(await tableStats(n1)), pods: 1000, policies: i - 50 });
  }
  for (let i = 0; i < 200; i++) last = api.put('networkpolicies', policyObject(i));
  await applied.until(rvOf(last));
  results.growth = growth;

  // 1 + 4. change → enforced, CPU during the changes.
  const latencies = [];
  const t0 = procTicks(w1.pid);
  const w0 = performance.now();
  for (let k = 0; k < CHANGES; k++) {
    const start = performance.now();
    const o = api.put('networkpolicies', policyObject((k * 7) % 200, 1 + (k % 5)));
    const done = await applied.until(rvOf(o));
    latencies.push(done - start);
    await new Promise((r) => setTimeout(r, 50));
  }
  const busyCores = (procTicks(w1.pid) - t0) / 100 / ((performance.now() - w0) / 1000);
  const st = JSON.parse(await c.http(n1, '/v1/status')).policy;
  results.changeToEnforced = {
    pods: 1000,
    policies: 200,
    changes: CHANGES,
    p50Ms: +percentile(latencies, 50).toFixed(1),
    p99Ms: +percentile(latencies, 99).toFixed(1),
    maxMs: +Math.max(...latencies).toFixed(1),
    lastCompileMs: +st.lastCompileMs.toFixed(1),
    lastApplyMs: +st.lastApplyMs.toFixed(1),
    table: st.table,
    loadavg: loadavg()[0],
  };
  console.log('change → enforced', results.changeToEnforced);
  const i0 = procTicks(w1.pid);
  await new Promise((r) => setTimeout(r, 10_000));
  const idleCores = (procTicks(w1.pid) - i0) / 100 / 10;
  const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

  // 3. throughput and RTT with 100 policies selecting the pods vs none.
  const pA = await c.addPod(n1, 1);
  const pB = await c.addPod(n2, 2);
  const pC = await c.addPod(n1, 3);
  for (const [p, name] of [
    [pA, 'pa'],
    [pB, 'pb'],
    [pC, 'pc'],
  ])
    api.put('pods', podObject('perf', name, p.ip, { app: name }));
  api.put('namespaces', { metadata: { name: 'perf', labels: { 'kubernetes.io/metadata.name': 'perf' } } });
  for (const p of [pB, pC]) lab.spawn(p.ns, `iperf3 ${p.name}`, 'iperf3', ['-s']);
  await new Promise((r) => setTimeout(r, 500));
  const perfPolicies = (on) => {
    let o;
    for (let i = 0; i < 100; i++) {
      if (!on) {
        api.remove('networkpolicies', 'perf', `perf${i}`);
        continue;
      }
      const target = i % 2 ? 'pb' : 'pc';
      // 98 of the 100 on each side allow something else; the last ones let pa reach pb/pc (any protocol: ping too).
      const last = i >= 98;
      const allowFrom = last ? { podSelector: { matchLabels: { app: 'pa' } } } : { podSelector: { matchLabels: { app: `nobody${i}` } } };
      const ports = last ? {} : { ports: [{ port: 5201 }, { port: 1000 + i }] };
      o = api.put('networkpolicies', {
        metadata: { name: `perf${i}`, namespace: 'perf' },
        spec: {
          podSelector: { matchLabels: { app: target } },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [{ from: [allowFrom], ...ports }],
          egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
        },
      });
      api.put('networkpolicies', {
        metadata: { name: `perfa${i}`, namespace: 'perf' },
        spec: {
          podSelector: { matchLabels: { app: 'pa' } },
          policyTypes: ['Egress'],
          egress: [
            {
              to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': i === 0 ? 'perf' : `other${i}` } } }],
              ...(i === 0 ? {} : ports),
            },
          ],
        },
      });
    }
    if (!on) for (let i = 0; i < 100; i++) api.remove('networkpolicies', 'perf', `perfa${i}`);
    return o;
  };
  const perf = { across: { none: [], policies: [] }, sameNode: { none: [], policies: [] } };
  for (let round = 0; round < 5; round++) {
    for (const on of [false, true]) {
      perfPolicies(on);
      await applied.until(api.resourceVersion);
      await new Promise((r) => setTimeout(r, 1000)); // n2 too
      const key = on ? 'policies' : 'none';
      perf.across[key].push({ gbps: await iperf(pA, pB), rttMs: await rtt(pA, pB) });
      perf.sameNode[key].push({ gbps: await iperf(pA, pC), rttMs: await rtt(pA, pC) });
    }
  }
  const summarize = (runs) => ({
    gbps: +percentile(
      runs.map((r) => r.gbps),
      50,
    ).toFixed(2),
    rttMs: +percentile(
      runs.map((r) => r.rttMs),
      50,
    ).toFixed(3),
    runs,
  }); // medians
  results.datapath = {
    policiesSelectingThePods: '100 on the sender (egress), 100 on each receiver (ingress + egress)',
    rounds: 5,
    note: 'ping is an ICMP flow: after the first echo it is established; new TCP connections walk the chains',
    across: { none: summarize(perf.across.none), policies: summarize(perf.across.policies) },
    sameNode: { none: summarize(perf.sameNode.none), policies: summarize(perf.sameNode.policies) },
    loadavg: loadavg()[0],
  };
  console.log('datapath', JSON.stringify(results.datapath));

  // 4. memory: weftd with policy (1000 pods, 300 policies) vs a third node without it.
  const n3 = await c.addNode(3);
  const w3 = await c.startWeftd(n3, ['--iface=eth0']);
  await new Promise((r) => setTimeout(r, 2000));
  results.weftd = {
    rssMiBWithPolicy: +(rssKiB(w1.pid) / 1024).toFixed(1),
    rssMiBWithoutPolicy: +(rssKiB(w3.pid) / 1024).toFixed(1),
    cpuCoresDuringChanges: +busyCores.toFixed(3),
    cpuCoresIdle: +idleCores.toFixed(4),
  };
  console.log('weftd', results.weftd);
  results.growthTable = growth;
  console.table(
    growth.map((g) => ({ pods: g.pods, policies: g.policies, rules: g.rules, elements: g.elements, sets: g.sets, chains: g.chains })),
  );
  results.loadavgEnd = loadavg()[0];
  console.log('written', writeResult('policy', results));
} finally {
  await lab.destroy();
  bridge?.close();
  await api?.stop();
  await c?.etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
}
