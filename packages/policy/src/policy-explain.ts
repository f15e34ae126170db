/**
 * `weftctl policy <pod>`: which policies select a pod and, in words, what each lets in and out. Built
 * from the same selector resolution the compiler uses (PolicyWorld), so it shows what is enforced.
 */
import { PolicyWorld, parsePorts, policyKey, policyTypes } from './policy-compiler.js';
import type { ClusterSnapshot } from './kube-policy-source.js';
import type { LabelSelector, PolicyPeer, PolicyPort } from './policy-types.js';

export interface PodPolicyReport {
  pod: string;
  ip: string;
  isolated: { ingress: boolean; egress: boolean };
  policies: Array<{ policy: string; types: string[]; ingress: string[]; egress: string[] }>;
}

export function explainPod(snap: ClusterSnapshot, which: string): PodPolicyReport | undefined {
  const world = new PolicyWorld(snap);
  const pod = world.pods.find((x) => x.key === which || x.ip === which) ?? world.pods.find((x) => x.key.endsWith(`/${which}`));
  if (!pod) return undefined;
  const report: PodPolicyReport = { pod: pod.key, ip: pod.ip, isolated: { ingress: false, egress: false }, policies: [] };
  for (const p of snap.policies) {
    if (!world.selected(p).some((x) => x.key === pod.key)) continue;
    const t = policyTypes(p);
    report.isolated.ingress ||= t.ingress;
    report.isolated.egress ||= t.egress;
    const ns = p.metadata?.namespace ?? 'default';
    const rules = (
      list: Array<{ from?: PolicyPeer[]; to?: PolicyPeer[]; ports?: PolicyPort[] }> | undefined,
      dir: 'from' | 'to',
    ): string[] => (list ?? []).map((r) => `${dir} ${describePeers(world, r[dir], ns)} on ${describePorts(r.ports)}`);
    report.policies.push({
      policy: policyKey(p),
      types: [...(t.ingress ? ['Ingress'] : []), ...(t.egress ? ['Egress'] : [])],
      ingress: t.ingress ? (p.spec?.ingress?.length ? rules(p.spec.ingress, 'from') : ['(nothing: deny all ingress)']) : [],
      egress: t.egress ? (p.spec?.egress?.length ? rules(p.spec.egress, 'to') : ['(nothing: deny all egress)']) : [],
    });
  }
  return report;
}

function describeSelector(s: LabelSelector | undefined): string {
  if (!s) return '';
  const parts = [
    ...Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(s.matchExpressions ?? []).map((e) => `${e.key} ${e.operator}${e.values ? ` (${e.values.join(',')})` : ''}`),
  ];
  return parts.length > 0 ? `{${parts.join(', ')}}` : '{all}';
}

function describePeers(world: PolicyWorld, peers: PolicyPeer[] | undefined, ns: string): string {
  if (!peers || peers.length === 0) return 'anywhere';
  return peers
    .map((p) => {
      if (p.ipBlock) return `ipBlock ${p.ipBlock.cidr}${p.ipBlock.except?.length ? ` except ${p.ipBlock.except.join(',')}` : ''}`;
      const n = world.peerPods(p, ns).length;
      const nsPart = p.namespaceSelector ? `namespaces ${describeSelector(p.namespaceSelector)}` : `namespace ${ns}`;
      return `pods ${describeSelector(p.podSelector ?? {})} in ${nsPart} (${n} now)`;
    })
    .join(' OR ');
}

function describePorts(ports: PolicyPort[] | undefined): string {
  const parsed = parsePorts(ports, '', []);
  if (!parsed) return 'any port';
  return parsed.map((p) => `${p.proto.toUpperCase()}/${p.name ?? (p.range ? portRange(p.range) : 'any')}`).join(', ');
}

function portRange([from, to]: readonly [number, number]): string {
  return from === to ? String(from) : `${from}-${to}`;
}
