/**
 * NetworkPolicy against the upstream sig-network truth tables (test/e2e/network/netpol): namespaces x, y,
 * z; pods a, b, c in each, spread over two weft nodes (etcd mode, weftd --network-policy reading the
 * in-test API server through a per-node forwarder, as kube-mode.netns.test.ts does); every pod serves
 * TCP and UDP on 80 and 81 and watches for SCTP INITs on both (test/lib/netpol-agent.py: no SCTP
 * sockets on this kernel). Each case writes policies (and labels) to the API, then probes every ordered
 * pod pair on every protocol and port in parallel (1 s timeouts) until the matrix equals the case's
 * truth table, or reports the differing cells. Self-probes are skipped: they never leave the pod.
 *
 * One `it` per case family; results go to $TMPDIR/weft-netpol-results.json for `pnpm test:netpol`'s
 * summary (test/lib/netpol-summary.mjs). The last test measures how long a pod created after a policy
 * is unprotected: from its Pod (with IP) reaching the API to its IP being in the node's nft table.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, LoopbackBridge, WeftCluster, type ClusterNode, type LabProcess } from '@weft/netlab';
import { FakeKubeApiServer } from '../packages/control/test/kube-api-server.js';

type Proto = 'tcp' | 'udp' | 'sctp';
type Json = Record<string, unknown>;
const COMBOS: Array<[Proto, number]> = [
  ['tcp', 80],
  ['tcp', 81],
  ['udp', 80],
  ['udp', 81],
  ['sctp', 80],
  ['sctp', 81],
];
const NAMESPACES = ['x', 'y', 'z'] as const;
const NAMES = ['a', 'b', 'c'] as const;
const AGENT = join(import.meta.dirname, 'lib/netpol-agent.py');
const RESULTS = join(tmpdir(), 'weft-netpol-results.json');

class Agent {
  private buf = '';
  private next = 1;
  private readonly waiting = new Map<number, (v: Json) => void>();
  constructor(readonly proc: LabProcess) {
    proc.child.stdout!.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const m = JSON.parse(line) as Json;
        this.waiting.get(m.id as number)?.(m);
      }
    });
  }
  ask(cmd: Json): Promise<Json> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`agent ${this.proc.name} did not answer ${JSON.stringify(cmd).slice(0, 80)}`)), 20_000);
      this.waiting.set(id, (v) => (clearTimeout(t), this.waiting.delete(id), resolve(v)));
      this.proc.child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }
}

interface NetpolPod {
  ns: string;
  name: string;
  key: string; // x/a
  ip: string;
  node: ClusterNode;
  agent: Agent;
}

type Truth = (from: NetpolPod, to: NetpolPod, proto: Proto, port: number) => boolean;
const all: Truth = () => true;

interface CaseResult {
  name: string;
  pass: boolean;
  rounds: number;
  seconds: number;
  detail?: string;
}

describe('NetworkPolicy: upstream netpol truth tables on two weft nodes', () => {
  let lab: Lab;
  let c: WeftCluster;
  let dir: string;
  let api: FakeKubeApiServer;
  let bridge: LoopbackBridge;
  const pods: NetpolPod[] = [];
  const results: CaseResult[] = [];
  let tag = 1;

  const pod = (key: string): NetpolPod => pods.find((p) => p.key === key)!;

  beforeAll(async () => {
    await Lab.sweep();
    lab = Lab.create('wnp');
    dir = mkdtempSync(join(tmpdir(), 'weft-netpol-'));
    c = new WeftCluster(lab, dir, { underlay: '192.168.61' });
    api = new FakeKubeApiServer();
    await api.start();
    bridge = await LoopbackBridge.open(dir, Number(new URL(api.url).port));
    await c.buildUnderlay();
    for (const ns of NAMESPACES) api.put('namespaces', { metadata: { name: ns, labels: { ns, 'kubernetes.io/metadata.name': ns } } });
    for (const i of [1, 2]) {
      const n = await c.addNode(i);
      await bridge.into(lab, n.ns);
      await c.startWeftd(n, ['--iface=eth0', '--network-policy', '--kube-api-url=http://127.0.0.1:6443']);
    }
    let k = 0;
    for (const ns of NAMESPACES) {
      for (const name of NAMES) {
        const node = c.node((k % 2) + 1);
        const p = await c.addPod(node, ++k);
        const proc = lab.spawn(p.ns, `agent ${ns}/${name}`, 'python3', ['-u', AGENT]);
        await proc.waitFor(/"ready"/, 15_000);
        pods.push({ ns, name, key: `${ns}/${name}`, ip: p.ip, node, agent: new Agent(proc) });
        api.put('pods', podObject(ns, name, p.ip, node.name));
      }
    }
  });

  afterAll(async () => {
    writeFileSync(RESULTS, JSON.stringify(results, null, 1));
    if (process.env.WEFT_TEST_LOGS)
      for (const n of c?.nodes ?? []) console.log(`--- weftd ${n.name}\n${n.weftd?.stdout}${n.weftd?.stderr}`);
    await lab?.destroy();
    bridge?.close();
    await api?.stop();
    await c?.etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function podObject(ns: string, name: string, ip: string, nodeName: string, labels: Record<string, string> = { pod: name }): Json {
    const ports = COMBOS.map(([proto, port]) => ({ name: `serve-${port}-${proto}`, containerPort: port, protocol: proto.toUpperCase() }));
    return {
      metadata: { name, namespace: ns, labels },
      spec: { nodeName, containers: [{ name: 'agent', ports }] },
      status: { phase: 'Running', podIP: ip },
    };
  }

  /** Every ordered pair × protocol × port once, in parallel: key "x/a>y/b tcp/80" → reachable. */
  async function probeAll(): Promise<Map<string, boolean>> {
    const got = new Map<string, boolean>();
    const sctpKey = new Map<string, string>(); // "srcIp port tag" → key
    const started = Date.now();
    await Promise.all(
      pods.map(async (from) => {
        const probes: Array<[string, Proto, string, number, number]> = [];
        for (const to of pods) {
          if (to === from) continue;
          for (const [proto, port] of COMBOS) {
            const key = `${from.key}>${to.key} ${proto}/${port}`;
            const t = tag++;
            probes.push([key, proto, to.ip, port, t]);
            if (proto === 'sctp') (sctpKey.set(`${from.ip} ${port} ${t}`, key), got.set(key, false));
          }
        }
        const r = (await from.agent.ask({ probe: probes })).results as Record<string, boolean>;
        for (const [key, ok] of Object.entries(r)) if (!key.includes(' sctp/')) got.set(key, ok);
      }),
    );
    await new Promise((r) => setTimeout(r, Math.max(0, 400 - (Date.now() - started))));
    for (const to of pods)
      for (const s of (await to.agent.ask({ sctpSeen: true })).seen as string[]) if (sctpKey.has(s)) got.set(sctpKey.get(s)!, true);
    return got;
  }

  function diff(got: Map<string, boolean>, truth: Truth): string[] {
    const wrong: string[] = [];
    for (const from of pods)
      for (const to of pods) {
        if (from === to) continue;
        for (const [proto, port] of COMBOS) {
          const key = `${from.key}>${to.key} ${proto}/${port}`;
          const want = truth(from, to, proto, port);
          if (got.get(key) !== want) wrong.push(`${key}: want ${want ? 'allow' : 'deny'}, got ${got.get(key) ? 'allow' : 'deny'}`);
        }
      }
    return wrong;
  }

  /** Probes until the matrix equals `truth` (policy takes effect asynchronously) or 30 s pass. */
  async function expectMatrix(truth: Truth, what: string): Promise<{ rounds: number }> {
    const deadline = Date.now() + 30_000;
    let rounds = 0;
    let wrong: string[] = [];
    do {
      rounds++;
      wrong = diff(await probeAll(), truth);
      if (wrong.length === 0) return { rounds };
    } while (Date.now() < deadline);
    throw new Error(
      `${what}: ${wrong.length} cells differ from the truth table after ${rounds} rounds:\n  ${wrong.slice(0, 40).join('\n  ')}`,
    );
  }

  const created: Array<[string, string]> = [];
  function policy(ns: string, name: string, spec: Json): void {
    api.put('networkpolicies', { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec });
    created.push([ns, name]);
  }

  async function netpolCase(name: string, body: () => Promise<void>): Promise<void> {
    const t0 = Date.now();
    const before = results.length;
    let rounds = 0;
    try {
      await body();
      rounds = 1;
      results.push({ name, pass: true, rounds, seconds: (Date.now() - t0) / 1000 });
      console.log(`netpol case ${name}: PASS (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      if (results.length === before)
        results.push({ name, pass: false, rounds, seconds: (Date.now() - t0) / 1000, detail: (e as Error).message });
      console.log(`netpol case ${name}: FAIL\n${(e as Error).message}`);
      throw e;
    } finally {
      for (const [ns, n] of created.splice(0)) api.remove('networkpolicies', ns, n);
    }
  }

  /** One case: write `setup`'s policies, then compare with `truth`. */
  function tc(name: string, setup: () => void, truth: Truth): void {
    it(name, () =>
      netpolCase(name, async () => {
        setup();
        await expectMatrix(truth, name);
      }),
    );
  }

  const to =
    (key: string) =>
    (t: NetpolPod): boolean =>
      t.key === key;
  const xa = to('x/a');

  it('with no policy every pod reaches every pod on TCP, UDP and SCTP, across and within nodes', () =>
    netpolCase('baseline: no policies, all allowed', async () => {
      await expectMatrix(all, 'baseline');
    }));

  // --- default deny ---
  tc(
    'default deny ingress',
    () => policy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
    (f, t) => t.ns !== 'x',
  );
  tc(
    'default deny egress',
    () => policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] }),
    (f) => f.ns !== 'x',
  );
  tc(
    'default deny all (ingress and egress)',
    () => policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    (f, t) => f.ns !== 'x' && t.ns !== 'x',
  );

  // --- selectors ---
  tc(
    'podSelector: allow x/a from x/b only',
    () =>
      policy('x', 'a-from-b', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    (f, t) => !xa(t) || f.key === 'x/b',
  );
  tc(
    'namespaceSelector: allow x/a from namespace y',
    () =>
      policy('x', 'a-from-y', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    (f, t) => !xa(t) || f.ns === 'y',
  );
  tc(
    'namespace AND pod selector in one peer: x/a from y/b',
    () =>
      policy('x', 'a-from-yb', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    (f, t) => !xa(t) || f.key === 'y/b',
  );
  tc(
    'namespace OR pod selector as two peers: x/a from namespace y or x/b',
    () =>
      policy('x', 'a-from-y-or-b', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    (f, t) => !xa(t) || f.ns === 'y' || f.key === 'x/b',
  );
  tc(
    'matchExpressions on namespaces: x/a from namespaces ns NotIn (y)',
    () =>
      policy('x', 'a-not-y', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['y'] }] } }] }],
      }),
    (f, t) => !xa(t) || f.ns !== 'y',
  );
  tc(
    'matchExpressions on pods: x/a from pods pod In (b) in namespaces where ns Exists',
    () =>
      policy('x', 'a-in-b', {
        podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a'] }] },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'Exists' }] },
                podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] },
              },
            ],
          },
        ],
      }),
    (f, t) => !xa(t) || f.name === 'b',
  );
  tc(
    'matchExpressions DoesNotExist: pods without label "pod" (none) are the only peers of x/a',
    () =>
      policy('x', 'a-dne', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'pod', operator: 'DoesNotExist' }] } }] }],
      }),
    (f, t) => !xa(t),
  );
  tc(
    'kubernetes.io/metadata.name: x/a from namespace z by name',
    () =>
      policy('x', 'a-from-z', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }] }],
      }),
    (f, t) => !xa(t) || f.ns === 'z',
  );
  tc(
    'same-namespace only, in all three namespaces',
    () => {
      for (const ns of NAMESPACES) policy(ns, 'same-ns', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] });
    },
    (f, t) => f.ns === t.ns,
  );

  // --- ports ---
  tc(
    'numeric port: x/a takes TCP 81 only',
    () => policy('x', 'a-81', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 81, protocol: 'TCP' }] }] }),
    (f, t, pr, po) => !xa(t) || (pr === 'tcp' && po === 81),
  );
  tc(
    'named port ingress: x/a takes serve-80-tcp only',
    () =>
      policy('x', 'a-named', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ ports: [{ port: 'serve-80-tcp', protocol: 'TCP' }] }],
      }),
    (f, t, pr, po) => !xa(t) || (pr === 'tcp' && po === 80),
  );
  tc(
    'named port egress: x/a sends to serve-81-udp only',
    () =>
      policy('x', 'a-eg-named', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Egress'],
        egress: [{ ports: [{ port: 'serve-81-udp', protocol: 'UDP' }] }],
      }),
    (f, t, pr, po) => !xa(f) || (pr === 'udp' && po === 81),
  );
  tc(
    'named port egress to namespace y: x/a sends serve-80-tcp to y only',
    () =>
      policy('x', 'a-eg-y-named', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 'serve-80-tcp' }] }],
      }),
    (f, t, pr, po) => !xa(f) || (t.ns === 'y' && pr === 'tcp' && po === 80),
  );
  tc(
    'endPort: x/a takes TCP 79-80 (80 in, 81 out)',
    () =>
      policy('x', 'a-range', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ ports: [{ port: 79, endPort: 80, protocol: 'TCP' }] }],
      }),
    (f, t, pr, po) => !xa(t) || (pr === 'tcp' && po === 80),
  );
  tc(
    'endPort covering both: x/a takes TCP 80-81 from namespace z',
    () =>
      policy('x', 'a-range2', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }], ports: [{ port: 80, endPort: 81 }] }],
      }),
    (f, t, pr) => !xa(t) || (f.ns === 'z' && pr === 'tcp'),
  );

  // --- stacking and precedence ---
  tc(
    'stacked policies add up: x/a from x/b on TCP 80, and from y/c on TCP 81',
    () => {
      policy('x', 'a-b-80', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }],
      });
      policy('x', 'a-yc-81', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'c' } } }],
            ports: [{ port: 81 }],
          },
        ],
      });
    },
    (f, t, pr, po) => !xa(t) || (pr === 'tcp' && ((f.key === 'x/b' && po === 80) || (f.key === 'y/c' && po === 81))),
  );
  tc(
    'allow-all ingress wins over default deny ingress',
    () => {
      policy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
      policy('x', 'allow-all-ingress', { podSelector: {}, ingress: [{}] });
    },
    all,
  );
  tc(
    'allow-all egress wins over default deny egress',
    () => {
      policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] });
      policy('x', 'allow-all-egress', { podSelector: {}, policyTypes: ['Egress'], egress: [{}] });
    },
    all,
  );

  // --- changes at runtime ---
  it('updating a policy: x/a from x/b, then from x/c', () =>
    netpolCase('update a policy', async () => {
      policy('x', 'a-from', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
      });
      await expectMatrix((f, t) => !xa(t) || f.key === 'x/b', 'before the update');
      policy('x', 'a-from', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }] }],
      });
      await expectMatrix((f, t) => !xa(t) || f.key === 'x/c', 'after the update');
    }));
  it('deleting a policy opens the pods again', () =>
    netpolCase('delete a policy', async () => {
      policy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
      await expectMatrix((f, t) => f.ns !== 'x' && t.ns !== 'x', 'with the policy');
      api.remove('networkpolicies', 'x', 'deny-all');
      await expectMatrix(all, 'after deleting it');
    }));
  it('pod label change: x/c gains and loses role=client', () =>
    netpolCase('pod label change', async () => {
      const xc = pod('x/c');
      policy('x', 'a-from-clients', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }],
      });
      await expectMatrix((f, t) => !xa(t), 'nobody is a client');
      api.put('pods', podObject('x', 'c', xc.ip, xc.node.name, { pod: 'c', role: 'client' }));
      await expectMatrix((f, t) => !xa(t) || f.key === 'x/c', 'x/c labelled role=client');
      api.put('pods', podObject('x', 'c', xc.ip, xc.node.name));
      await expectMatrix((f, t) => !xa(t), 'label removed');
    }));
  it('namespace label change: y gains and loses team=blue', () =>
    netpolCase('namespace label change', async () => {
      policy('x', 'a-from-blue', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } } }] }],
      });
      await expectMatrix((f, t) => !xa(t), 'no blue namespace');
      api.put('namespaces', { metadata: { name: 'y', labels: { ns: 'y', team: 'blue', 'kubernetes.io/metadata.name': 'y' } } });
      await expectMatrix((f, t) => !xa(t) || f.ns === 'y', 'y labelled team=blue');
      api.put('namespaces', { metadata: { name: 'y', labels: { ns: 'y', 'kubernetes.io/metadata.name': 'y' } } });
      await expectMatrix((f, t) => !xa(t), 'label removed');
    }));
  it('a selected pod changing labels leaves the policy', () =>
    netpolCase('selected pod label change', async () => {
      const xa0 = pod('x/a');
      policy('x', 'deny-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] });
      await expectMatrix((f, t) => !xa(t), 'x/a isolated');
      api.put('pods', podObject('x', 'a', xa0.ip, xa0.node.name, { pod: 'a-renamed' }));
      await expectMatrix(all, 'x/a no longer selected');
      api.put('pods', podObject('x', 'a', xa0.ip, xa0.node.name));
    }));

  // --- ipBlock ---
  tc(
    'ipBlock with except: x/a from the cluster network except y/b',
    () =>
      policy('x', 'a-block', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: [`${pod('y/b').ip}/32`] } }] }],
      }),
    (f, t) => !xa(t) || f.key !== 'y/b',
  );
  tc(
    'egress ipBlock with except: x/a to the cluster network except z/c',
    () =>
      policy('x', 'a-eg-block', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: [`${pod('z/c').ip}/32`] } }] }],
      }),
    (f, t) => !xa(f) || t.key !== 'z/c',
  );

  // --- both directions ---
  tc(
    'ingress and egress together: x/a from x/b, to x/c',
    () =>
      policy('x', 'a-both', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
        egress: [{ to: [{ podSelector: { matchLabels: { pod: 'c' } } }] }],
      }),
    (f, t) => (!xa(t) || f.key === 'x/b') && (!xa(f) || t.key === 'x/c'),
  );
  tc(
    'default deny egress in x, egress to namespace y allowed',
    () =>
      policy('x', 'eg-to-y', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    (f, t) => f.ns !== 'x' || t.ns === 'y',
  );

  // --- protocols ---
  tc(
    'protocol-only rule: x/a takes any UDP port',
    () => policy('x', 'a-udp', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'UDP' }] }] }),
    (f, t, pr) => !xa(t) || pr === 'udp',
  );
  tc(
    'UDP-only rule does not open TCP: x/a takes UDP 80',
    () => policy('x', 'a-udp80', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'UDP', port: 80 }] }] }),
    (f, t, pr, po) => !xa(t) || (pr === 'udp' && po === 80),
  );
  tc(
    'SCTP-only rule does not open TCP: x/a takes SCTP 81',
    () => policy('x', 'a-sctp81', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'SCTP', port: 81 }] }] }),
    (f, t, pr, po) => !xa(t) || (pr === 'sctp' && po === 81),
  );

  it('weftctl policy explains x/a; drops are counted in /metrics', () =>
    netpolCase('weftctl policy and drop metrics', async () => {
      policy('x', 'a-from-b', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 'serve-80-tcp' }] }],
      });
      await expectMatrix((f, t, pr, po) => !xa(t) || (f.key === 'x/b' && pr === 'tcp' && po === 80), 'x/a from x/b on serve-80-tcp');
      const n = pod('x/a').node;
      const { stdout } = await lab.exec(n.ns, process.execPath, [
        join(import.meta.dirname, '../packages/control/bin/weftctl'),
        'policy',
        'x/a',
      ]);
      expect(stdout).toContain('x/a-from-b [Ingress]');
      expect(stdout).toContain('from pods {pod=b} in namespace x (1 now) on TCP/serve-80-tcp');
      const metrics = await c.http(n, '/metrics');
      const m = /^weft_policy_drops_total\{pod="x\/a",direction="ingress"\} (\d+)$/m.exec(metrics);
      expect(Number(m?.[1])).toBeGreaterThan(0);
    }));

  it('the unprotected gap of a pod created after a policy, measured', async () => {
    policy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
    await expectMatrix((f, t) => t.ns !== 'x', 'deny ingress in x');
    const gaps: number[] = [];
    for (let i = 0; i < 5; i++) {
      const node = c.node((i % 2) + 1);
      const p = await c.addPod(node, 20 + i);
      const t0 = performance.now();
      api.put('pods', podObject('x', `new${i}`, p.ip, node.name));
      for (;;) {
        const { stdout } = await lab.exec(node.ns, 'nft', ['list', 'map', 'inet', 'weft', 'ingress_pods']);
        if (stdout.includes(`${p.ip} : jump`)) break;
        if (performance.now() - t0 > 30_000) throw new Error(`new pod ${p.ip} never isolated`);
      }
      gaps.push(Math.round(performance.now() - t0));
    }
    for (const [ns, n] of created.splice(0)) api.remove('networkpolicies', ns, n);
    const load = (await import('node:os')).loadavg()[0]!.toFixed(1);
    console.log(`netpol new-pod gap (API write of the Pod with its IP → IP in the node's nft map): ${gaps.join(', ')} ms (load ${load})`);
    results.push({ name: `new-pod gap measured: ${gaps.join(', ')} ms (load ${load})`, pass: true, rounds: 0, seconds: 0 });
    expect(gaps.length).toBe(5);
  });

  it('a stopped weftd leaves its table in force; started without --network-policy it deletes it', () =>
    netpolCase('policy across a restart, then turned off', async () => {
      const n1 = c.node(1);
      const tables = async (): Promise<string> => (await lab.exec(n1.ns, 'nft', ['list', 'tables'])).stdout;
      policy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
      await expectMatrix((f, t) => t.ns !== 'x', 'deny ingress in x');
      await n1.weftd!.stop();
      expect(await tables()).toContain('table inet weft');
      // weft's VXLAN datapath runs in weftd: with it stopped n1's pods reach only n1's pods, and those still under policy.
      const viaN1 = (f: NetpolPod, t: NetpolPod): boolean => f.node !== t.node && (f.node === n1 || t.node === n1);
      await expectMatrix((f, t) => !viaN1(f, t) && t.ns !== 'x', 'weftd on n1 stopped: its pods stay protected');
      await c.startWeftd(n1, ['--iface=eth0']);
      expect(await tables()).not.toContain('table inet weft');
      await expectMatrix((f, t) => t.ns !== 'x' || t.node === n1, 'n1 without policy: its x pods are open, n2 still enforces');
    }));
});
