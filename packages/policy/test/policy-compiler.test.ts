import { describe, expect, it } from 'vitest';
import { compile, policyTypes } from '../src/policy-compiler.js';
import { selects } from '../src/label-selector.js';
import { cidrRange, rangeElement, subtract, union } from '../src/ipv4-ranges.js';
import type { NetworkPolicy, Pod } from '../src/policy-types.js';

function pod(ns: string, name: string, ip: string, labels: Record<string, string> = { pod: name }): Pod {
  return {
    metadata: { name, namespace: ns, labels },
    spec: {
      containers: [
        {
          ports: [
            { name: 'serve-80-tcp', containerPort: 80 },
            { name: 'serve-81-udp', containerPort: 81, protocol: 'UDP' },
          ],
        },
      ],
    },
    status: { podIP: ip, phase: 'Running' },
  };
}
const pods = [pod('x', 'a', '10.244.1.2'), pod('x', 'b', '10.244.2.2'), pod('y', 'a', '10.244.1.3'), pod('y', 'b', '10.244.2.3')];
const namespaces = ['x', 'y'].map((n) => ({ metadata: { name: n, labels: { ns: n } } }));
const node1 = { isLocal: (ip: string) => ip.startsWith('10.244.1.'), nodeAddrs: ['192.168.60.1', '10.244.1.1'] };
const run = (policies: NetworkPolicy[]) => compile({ policies, pods, namespaces, ...node1 });

describe('label selectors', () => {
  it('matchLabels AND matchExpressions; In, NotIn, Exists, DoesNotExist', () => {
    const l = { pod: 'a', tier: 'web' };
    expect(selects({}, l)).toBe(true);
    expect(selects({ matchLabels: { pod: 'a' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'db'] }] }, l)).toBe(
      true,
    );
    expect(selects({ matchLabels: { pod: 'b' } }, l)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] }, l)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['a'] }] }, l)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, l)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, l)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'Bogus' }] }, l)).toBe(false);
  });
});

describe('IPv4 ranges', () => {
  it('cidr minus except, union merges adjacent ranges', () => {
    expect(subtract(cidrRange('10.0.0.0/24')!, [cidrRange('10.0.0.128/25')!]).map(rangeElement)).toEqual(['10.0.0.0-10.0.0.127']);
    expect(subtract(cidrRange('10.0.0.0/24')!, [cidrRange('10.0.0.5/32')!]).map(rangeElement)).toEqual([
      '10.0.0.0-10.0.0.4',
      '10.0.0.6-10.0.0.255',
    ]);
    expect(union([cidrRange('10.0.0.2/32')!, cidrRange('10.0.0.0/31')!, cidrRange('10.0.1.0/24')!]).map(rangeElement)).toEqual([
      '10.0.0.0-10.0.0.2',
      '10.0.1.0-10.0.1.255',
    ]);
    expect(cidrRange('fd00::/8')).toBeUndefined();
    expect(cidrRange('10.0.0.1/40')).toBeUndefined();
  });
});

describe('policy compiler', () => {
  it('policyTypes defaults: Ingress always, Egress only with egress rules', () => {
    expect(policyTypes({ spec: {} })).toEqual({ ingress: true, egress: false });
    expect(policyTypes({ spec: { egress: [{}] } })).toEqual({ ingress: true, egress: true });
    expect(policyTypes({ spec: { policyTypes: ['Egress'] } })).toEqual({ ingress: false, egress: true });
  });

  it('no policy → empty maps (every pod open), only table inet weft', () => {
    const r = run([]);
    expect(r.text).toMatch(/^table inet weft \{/);
    expect(r.text).not.toMatch(/table (ip|ip6|bridge|netdev|inet (?!weft))/);
    expect(r.stats.isolatedIngress + r.stats.isolatedEgress).toBe(0);
  });

  it('default deny selects only local pods of the namespace and counts their drops', () => {
    const r = run([{ metadata: { name: 'deny', namespace: 'x' }, spec: { podSelector: {} } }]);
    expect(r.text).toContain('10.244.1.2 : jump in_10_244_1_2');
    expect(r.text).not.toContain('10.244.2.2 :'); // x/b lives on the other node
    expect([...r.dropCounters.values()]).toEqual([{ pod: 'x/a', direction: 'ingress' }]);
    expect(r.text).toMatch(/chain in_10_244_1_2 \{\n\s+jump p_[0-9a-f]{10}_in\n\s+counter name "drop_in_10_244_1_2" drop/);
  });

  it('peers: namespaceSelector AND podSelector in one peer, ipBlock except, ports and endPort, named ports', () => {
    const r = run([
      {
        metadata: { name: 'p', namespace: 'x' },
        spec: {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [
            {
              from: [
                { namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } },
                { ipBlock: { cidr: '172.16.0.0/16', except: ['172.16.1.0/24'] } },
              ],
              ports: [
                { port: 80 },
                { port: 81, endPort: 90, protocol: 'UDP' },
                { port: 'serve-81-udp', protocol: 'UDP' },
                { protocol: 'SCTP' },
              ],
            },
          ],
        },
      },
    ]);
    expect(r.text).toContain('elements = { 10.244.2.3, 172.16.0.0-172.16.0.255, 172.16.2.0-172.16.255.255 }');
    expect(r.text).toContain('meta l4proto tcp th dport { 80 } accept');
    expect(r.text).toContain('meta l4proto udp th dport { 81-90 } accept');
    expect(r.text).toContain('meta l4proto sctp accept');
    expect(r.text).toContain('udp . 10.244.1.2 . 81');
  });

  it('egress named ports resolve on the destination pods; egress to nothing listed is deny', () => {
    const r = run([
      {
        metadata: { name: 'e', namespace: 'x' },
        spec: {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'serve-80-tcp' }] }],
        },
      },
      { metadata: { name: 'n', namespace: 'y' }, spec: { podSelector: {}, policyTypes: ['Egress'] } },
    ]);
    for (const ip of ['10.244.1.2', '10.244.2.2', '10.244.1.3', '10.244.2.3']) expect(r.text).toContain(`tcp . ${ip} . 80`);
    expect(r.stats.isolatedEgress).toBe(2);
    expect(r.text).toMatch(/chain p_[0-9a-f]{10}_eg \{\n\n\s+\}/); // y's policy allows nothing
  });

  it('invalid fields are skipped with a warning, never widened', () => {
    const r = run([
      {
        metadata: { name: 'bad', namespace: 'x' },
        spec: {
          podSelector: {},
          ingress: [{ from: [{ ipBlock: { cidr: 'nonsense' } }] }, { ports: [{ port: 70000 }, { protocol: 'ICMP' }] }],
        },
      },
    ]);
    expect(r.warnings.length).toBe(3);
    expect(r.text).not.toMatch(/chain p_[0-9a-f]{10}_in \{\n\s+accept/);
    expect(r.text).not.toContain('nonsense');
  });

  it('garbage from the API (wrong types everywhere) compiles without throwing and opens nothing', () => {
    const junk = [
      {
        metadata: { name: 'j1', namespace: 'x' },
        spec: { podSelector: { matchLabels: 'pod=a', matchExpressions: [{ key: 'pod', operator: 'In', values: 'abc' }] }, ingress: 'all' },
      },
      {
        metadata: { name: 'j2', namespace: 'x' },
        spec: {
          podSelector: {},
          ingress: [
            {
              from: [{ ipBlock: { cidr: 7, except: 'x' } }, { podSelector: { matchExpressions: 'x' } }],
              ports: [{ port: 'serve-80-tcp' }, { port: {} }],
            },
          ],
        },
      },
    ] as unknown as NetworkPolicy[];
    const weird = [
      ...pods,
      { metadata: { name: 'w', namespace: 'x' }, spec: { containers: { ports: 1 } }, status: { podIP: '10.244.1.9' } },
    ] as unknown as Pod[];
    const r = compile({ policies: junk, pods: weird, namespaces, ...node1 });
    expect(r.text).toContain('10.244.1.2 : jump in_10_244_1_2'); // j2 isolates x/a
    expect(r.text).not.toMatch(/^\s+accept$/m);
    expect(selects({ matchExpressions: [{ key: 'pod', operator: 'In', values: 'abc' as unknown as string[] }] }, { pod: 'b' })).toBe(false);
  });

  it('grows with pods and policies, not with pod pairs', () => {
    const many: Pod[] = [];
    for (let i = 0; i < 400; i++)
      many.push(pod(`ns${i % 10}`, `p${i}`, `10.244.${1 + (i % 2)}.${2 + Math.floor(i / 2)}`, { app: `a${i % 20}` }));
    const policies: NetworkPolicy[] = [];
    for (let i = 0; i < 20; i++)
      policies.push({
        metadata: { name: `p${i}`, namespace: `ns${i % 10}` },
        spec: { podSelector: { matchLabels: { app: `a${i}` } }, ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 80 }] }] },
      });
    const small = compile({ policies, pods: many.slice(0, 200), namespaces: [], ...node1 });
    const big = compile({ policies, pods: many, namespaces: [], ...node1 });
    // Pairs would grow 4×; sets, chains and elements grow ~2× with 2× the pods.
    expect(big.stats.elements / small.stats.elements).toBeLessThan(2.5);
    expect(big.stats.rules / small.stats.rules).toBeLessThan(2.5);
  });
});
