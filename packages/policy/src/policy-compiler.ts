/**
 * NetworkPolicy → one nftables table (`inet weft`), computed whole from the cluster and this node.
 * Pure: same input, same text; no I/O (nft-applier.ts loads it, policy-controller.ts feeds it).
 *
 *   forward hook, priority -5  egress_hook:  established/related accept; saddr → vmap @egress_pods  → eg_<k>
 *   forward hook, priority +5  ingress_hook: established/related accept; saddr @node_addrs accept;
 *                                            daddr → vmap @ingress_pods → in_<k>
 *   in_<ip> / eg_<ip> (one per local pod selected by ≥1 policy of that type): jump p_<hash>_in|eg for each
 *                    such policy, then `counter drop_<chain>; drop` (the default deny of an isolated pod)
 *   p_<hash>_in|eg   (one per policy that selects a local pod; hash of namespace/name, so names are stable
 *                    between generations and a change rewrites only what changed): one rule per (rule,
 *                    protocol) of the policy, ending in `accept`; peers are interval sets (pod IPs and ipBlock
 *                    ranges with `except` cut out), numeric ports an inline set, named ports a
 *                    `l4proto . addr . port` set resolved against the destination pods' container ports.
 *                    Sets with equal contents are shared (many policies name the same namespaces).
 *
 * Two base chains because an `accept` ends only its own base chain: a packet allowed out of pod A by
 * A's egress policies still meets B's ingress policies on the same hook (same node: cni0 with
 * br_netfilter; across nodes: routed between cni0 and the VTEP). Pods not selected by any policy of a
 * type are not in that map and pass (upstream's "non-isolated"). Sizes grow with pods + policies + peers,
 * never with pod pairs. Names in the text are indices, never API strings, so nothing from the API is
 * parsed by nft except validated addresses and port numbers.
 */
import { createHash } from 'node:crypto';
import { selects, type Labels } from './label-selector.js';
import { cidrRange, parseIpv4, rangeElement, subtract, union, type Range } from './ipv4-ranges.js';
import {
  PROTOCOLS,
  type Direction,
  type NetworkPolicy,
  type Pod,
  type PolicyInput,
  type PolicyPeer,
  type PolicyPort,
  type Protocol,
} from './policy-types.js';

export const TABLE = 'weft';
export const NS_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface DropCounter {
  pod: string; // "namespace/name"
  direction: Direction;
}

/** The size of a compiled table: what /metrics and `weftctl status` report. */
export interface PolicyTableStats {
  policies: number;
  chains: number;
  rules: number;
  sets: number;
  elements: number;
  /** Pods with a default deny in that direction (selected by a policy of that type). */
  isolatedIngress: number;
  isolatedEgress: number;
}

export interface CompiledRuleset {
  /** The table as `nft -f` text: `table inet weft { ... }`. */
  text: string;
  /** The same, object by object (for the applier's diff). */
  objects: NftObject[];
  /** Named counter → the pod and direction whose default-deny drops it counts. */
  dropCounters: Map<string, DropCounter>;
  stats: PolicyTableStats;
  /** Fields skipped as invalid (each named), so the operator can see why a rule is narrower than written. */
  warnings: string[];
}

/** A pod with a usable IPv4 address: the unit every selector resolves to. */
export interface LivePod {
  key: string;
  namespace: string;
  labels: Labels;
  ip: string;
  ipNum: number;
  pod: Pod;
}

export function livePods(pods: readonly Pod[]): LivePod[] {
  const out: LivePod[] = [];
  for (const pod of pods) {
    const ip = pod.status?.podIP;
    const ipNum = ip ? parseIpv4(ip) : undefined;
    const phase = pod.status?.phase;
    if (!ip || ipNum === undefined || pod.spec?.hostNetwork || phase === 'Succeeded' || phase === 'Failed') continue;
    const namespace = pod.metadata?.namespace ?? 'default';
    out.push({ key: `${namespace}/${pod.metadata?.name ?? ''}`, namespace, labels: pod.metadata?.labels, ip, ipNum, pod });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Which types a policy has: explicit policyTypes, else Ingress always and Egress when it has egress rules. */
export function policyTypes(p: NetworkPolicy): Record<Direction, boolean> {
  const t = p.spec?.policyTypes;
  if (Array.isArray(t)) return { ingress: t.includes('Ingress'), egress: t.includes('Egress') };
  return { ingress: true, egress: (p.spec?.egress?.length ?? 0) > 0 };
}

export function policyKey(p: NetworkPolicy): string {
  return `${p.metadata?.namespace ?? 'default'}/${p.metadata?.name ?? ''}`;
}

/** The resolution context shared by the compiler and `weftctl policy`. */
export class PolicyWorld {
  readonly pods: LivePod[];
  readonly nsLabels = new Map<string, Record<string, string>>();
  readonly warnings: string[] = [];

  constructor(input: Pick<PolicyInput, 'pods' | 'namespaces'>) {
    this.pods = livePods(input.pods);
    for (const ns of input.namespaces) {
      const name = ns.metadata?.name;
      if (name) this.nsLabels.set(name, { ...(ns.metadata?.labels ?? {}), [NS_NAME_LABEL]: name });
    }
  }

  /** Pods the policy applies to (its namespace, its podSelector). */
  selected(p: NetworkPolicy): LivePod[] {
    const ns = p.metadata?.namespace ?? 'default';
    const sel = p.spec?.podSelector ?? {};
    return this.pods.filter((x) => x.namespace === ns && selects(sel, x.labels));
  }

  /** Pods one peer names (empty for an ipBlock peer). */
  peerPods(peer: PolicyPeer, policyNs: string): LivePod[] {
    if (!peer.podSelector && !peer.namespaceSelector) return [];
    const nsSel = peer.namespaceSelector;
    const podSel = peer.podSelector ?? {};
    return this.pods.filter(
      (x) =>
        (nsSel ? selects(nsSel, this.nsLabels.get(x.namespace) ?? { [NS_NAME_LABEL]: x.namespace }) : x.namespace === policyNs) &&
        selects(podSel, x.labels),
    );
  }

  /** An ipBlock as ranges: cidr minus except (invalid → none, warned). */
  blockRanges(peer: PolicyPeer, where: string): Range[] {
    const b = peer.ipBlock!;
    const r = typeof b.cidr === 'string' ? cidrRange(b.cidr) : undefined;
    if (!r) {
      this.warnings.push(`${where}: ipBlock cidr ${JSON.stringify(b.cidr)} is not an IPv4 CIDR; peer skipped`);
      return [];
    }
    const holes: Range[] = [];
    for (const e of Array.isArray(b.except) ? b.except : []) {
      const h = typeof e === 'string' ? cidrRange(e) : undefined;
      if (h) holes.push(h);
      else this.warnings.push(`${where}: ipBlock except ${JSON.stringify(e)} is not an IPv4 CIDR; ignored`);
    }
    return subtract(r, holes);
  }

  /** All addresses the peers of one rule allow, or undefined for "any" (no peers listed). */
  peerRanges(peers: PolicyPeer[] | undefined, policyNs: string, where: string): Range[] | undefined {
    if (!Array.isArray(peers) || peers.length === 0) return undefined;
    const ranges: Range[] = [];
    for (const peer of peers) {
      if (peer.ipBlock) ranges.push(...this.blockRanges(peer, where));
      else for (const x of this.peerPods(peer, policyNs)) ranges.push([x.ipNum, x.ipNum]);
    }
    return union(ranges);
  }
}

interface PortMatch {
  proto: Protocol;
  range?: Range; // numeric port or port..endPort; absent = any port of proto
  name?: string; // named port
}

export function parsePorts(ports: PolicyPort[] | undefined, where: string, warnings: string[]): PortMatch[] | undefined {
  if (!Array.isArray(ports) || ports.length === 0) return undefined;
  const out: PortMatch[] = [];
  for (const p of ports) {
    const proto = String(p.protocol ?? 'TCP').toLowerCase() as Protocol;
    if (!PROTOCOLS.includes(proto)) {
      warnings.push(`${where}: protocol ${JSON.stringify(p.protocol)} unsupported; port skipped`);
      continue;
    }
    if (p.port === undefined || p.port === null) out.push({ proto });
    else if (typeof p.port === 'string' && !/^\d+$/.test(p.port)) out.push({ proto, name: p.port });
    else {
      const a = Number(p.port);
      const b = p.endPort === undefined || p.endPort === null ? a : Number(p.endPort);
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1 || b > 65535 || b < a) {
        warnings.push(`${where}: port ${JSON.stringify(p.port)}..${JSON.stringify(p.endPort)} invalid; skipped`);
        continue;
      }
      out.push({ proto, range: [a, b] });
    }
  }
  return out;
}

/** The container port a pod names `name` for `proto`, if any. */
export function namedPort(pod: Pod, name: string, proto: Protocol): number | undefined {
  const containers = pod.spec?.containers;
  for (const c of Array.isArray(containers) ? containers : []) {
    for (const cp of Array.isArray(c?.ports) ? c.ports : []) {
      const port = cp.containerPort;
      const valid = Number.isInteger(port) && port! >= 1 && port! <= 65535;
      if (valid && cp.name === name && String(cp.protocol ?? 'TCP').toLowerCase() === proto) return port;
    }
  }
  return undefined;
}

/** One named object of the table: what the applier diffs between generations. */
export interface NftObject {
  kind: 'set' | 'map' | 'counter' | 'chain';
  name: string;
  /** set/map: "type ...; flags ...;"; base chain: its hook line; else "". */
  header: string;
  /** set/map elements or chain rules, in order. */
  items: string[];
}

class TableWriter {
  readonly objects: NftObject[] = [];
  readonly stats = { policies: 0, chains: 0, rules: 0, sets: 0, elements: 0, isolatedIngress: 0, isolatedEgress: 0 };
  private readonly byContent = new Map<string, string>();

  set(name: string, type: string, elements: string[], interval = false, kind: 'set' | 'map' = 'set'): void {
    this.stats.sets++;
    this.stats.elements += elements.length;
    this.objects.push({ kind, name, header: `type ${type};${interval ? ' flags interval;' : ''}`, items: elements });
  }

  /** A set with these elements: an existing one when another rule already needs the same (shared selectors). */
  sharedSet(name: string, type: string, elements: string[], interval = false): string {
    const key = `${type}|${interval}|${elements.join(',')}`;
    const have = this.byContent.get(key);
    if (have) return have;
    this.byContent.set(key, name);
    this.set(name, type, elements, interval);
    return name;
  }

  chain(name: string, rules: string[], hook = ''): void {
    this.stats.chains++;
    this.stats.rules += rules.length;
    this.objects.push({ kind: 'chain', name, header: hook, items: rules });
  }

  counter(name: string): void {
    this.objects.push({ kind: 'counter', name, header: '', items: [] });
  }
}

/** `nft -f` text of a whole table. */
export function renderTable(objects: readonly NftObject[]): string {
  const lines = [`table inet ${TABLE} {`];
  for (const o of objects) {
    if (o.kind === 'counter') lines.push(`  counter ${o.name} { }`);
    else if (o.kind === 'chain')
      lines.push(`  chain ${o.name} {${o.header ? `\n    ${o.header}` : ''}\n${o.items.map((r) => `    ${r}`).join('\n')}\n  }`);
    else lines.push(`  ${o.kind} ${o.name} { ${o.header}${o.items.length > 0 ? ` elements = { ${o.items.join(', ')} }` : ''} }`);
  }
  lines.push('}', '');
  return lines.join('\n');
}

const DIR_TAG: Record<Direction, string> = { ingress: 'in', egress: 'eg' };

/** A stable nft name for a policy ("p_" + 10 hex of its namespace/name), so a change rewrites only its own chains. */
export function policyTag(p: NetworkPolicy): string {
  return `p_${createHash('sha1').update(policyKey(p)).digest('hex').slice(0, 10)}`;
}

/** A stable nft name for a pod's chain/counter: its IP ("10_244_1_2"). */
const ipTag = (ip: string): string => ip.replace(/\./g, '_');

export function compile(input: PolicyInput): CompiledRuleset {
  const world = new PolicyWorld(input);
  const w = new TableWriter();
  const podChains: Record<Direction, Map<string, string[]>> = { ingress: new Map(), egress: new Map() }; // pod IP → jumps
  const keyOf = new Map(world.pods.map((x) => [x.ip, x.key]));
  const policies = [...input.policies].sort((a, b) => (policyKey(a) < policyKey(b) ? -1 : 1));
  const tags = new Set<string>();
  for (const p of policies) {
    const local = world.selected(p).filter((x) => input.isLocal(x.ip));
    const tag = policyTag(p);
    if (local.length === 0 || tags.has(tag)) continue;
    tags.add(tag);
    w.stats.policies++;
    const types = policyTypes(p);
    for (const dir of ['ingress', 'egress'] as const) {
      if (!types[dir]) continue;
      const chain = `${tag}_${DIR_TAG[dir]}`;
      w.chain(chain, policyRules(world, w, p, tag, dir, local));
      for (const x of local) podChains[dir].set(x.ip, [...(podChains[dir].get(x.ip) ?? []), `jump ${chain}`]);
    }
  }
  const dropCounters = new Map<string, DropCounter>();
  const maps: Record<Direction, string[]> = { ingress: [], egress: [] };
  for (const dir of ['ingress', 'egress'] as const) {
    for (const [ip, jumps] of podChains[dir]) {
      const chain = `${DIR_TAG[dir]}_${ipTag(ip)}`;
      const counter = `drop_${chain}`;
      dropCounters.set(counter, { pod: keyOf.get(ip)!, direction: dir });
      w.counter(counter);
      w.chain(chain, [...jumps, `counter name "${counter}" drop`]);
      maps[dir].push(`${ip} : jump ${chain}`);
    }
  }
  w.stats.isolatedIngress = maps.ingress.length;
  w.stats.isolatedEgress = maps.egress.length;
  w.set(
    'node_addrs',
    'ipv4_addr',
    input.nodeAddrs.filter((a) => parseIpv4(a) !== undefined),
  );
  w.set('ingress_pods', 'ipv4_addr : verdict', maps.ingress, false, 'map');
  w.set('egress_pods', 'ipv4_addr : verdict', maps.egress, false, 'map');
  w.stats.sets -= 2;
  w.chain(
    'egress_hook',
    ['ct state established,related accept', 'ip saddr vmap @egress_pods'],
    'type filter hook forward priority -5; policy accept;',
  );
  w.chain(
    'ingress_hook',
    ['ct state established,related accept', 'ip saddr @node_addrs accept', 'ip daddr vmap @ingress_pods'],
    'type filter hook forward priority 5; policy accept;',
  );
  // nft resolves names in file order: sets, maps and counters before the chains that use them; chains jumped to
  // before the vmaps are filled only matters in the diff, which orders its own steps.
  const order = { set: 0, counter: 1, chain: 2, map: 3 } as const;
  const objects = [...w.objects].sort((a, b) => order[a.kind] - order[b.kind]);
  return { text: renderTable(objects), objects, dropCounters, stats: w.stats, warnings: world.warnings };
}

/** The accept rules of one policy in one direction (none: it isolates its pods and allows nothing). */
function policyRules(world: PolicyWorld, w: TableWriter, p: NetworkPolicy, tag: string, dir: Direction, local: LivePod[]): string[] {
  const ns = p.metadata?.namespace ?? 'default';
  const list = (dir === 'ingress' ? p.spec?.ingress : p.spec?.egress) ?? [];
  const peerField = dir === 'ingress' ? 'saddr' : 'daddr';
  const rules: string[] = [];
  (Array.isArray(list) ? list : []).forEach((rule, j) => {
    const where = `${policyKey(p)} ${dir}[${j}]`;
    const peers = dir === 'ingress' ? (rule as { from?: PolicyPeer[] }).from : (rule as { to?: PolicyPeer[] }).to;
    const ranges = world.peerRanges(peers, ns, where);
    if (ranges && ranges.length === 0) return; // peers listed, none exist: the rule allows nothing now
    let peerMatch = '';
    if (ranges) {
      const set = w.sharedSet(`${tag}_${DIR_TAG[dir]}${j}_peers`, 'ipv4_addr', ranges.map(rangeElement), true);
      peerMatch = `ip ${peerField} @${set} `;
    }
    const ports = parsePorts(rule.ports, where, world.warnings);
    if (!ports) return void rules.push(`${peerMatch}accept`);
    for (const proto of PROTOCOLS) {
      const mine = ports.filter((x) => x.proto === proto);
      if (mine.some((x) => !x.range && !x.name)) {
        rules.push(`${peerMatch}meta l4proto ${proto} accept`);
        continue;
      }
      const numeric = union(mine.filter((x) => x.range).map((x) => x.range!));
      if (numeric.length > 0)
        rules.push(
          `${peerMatch}meta l4proto ${proto} th dport { ${numeric.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')} } accept`,
        );
    }
    const named = ports.filter((x) => x.name);
    if (named.length > 0) {
      // Named ports resolve on the destination: our selected pods for ingress, the peer pods for egress.
      const dests = dir === 'ingress' ? local : egressDestinations(world, ranges);
      const elements = new Set<string>();
      for (const np of named) {
        for (const d of dests) {
          const port = namedPort(d.pod, np.name!, np.proto);
          if (port !== undefined) elements.add(`${np.proto} . ${d.ip} . ${port}`);
        }
      }
      if (elements.size > 0) {
        const set = w.sharedSet(`${tag}_${DIR_TAG[dir]}${j}_named`, 'inet_proto . ipv4_addr . inet_service', [...elements]);
        rules.push(`${peerMatch}meta l4proto . ip daddr . th dport @${set} accept`);
      }
    }
  });
  return rules;
}

function egressDestinations(world: PolicyWorld, ranges: Range[] | undefined): LivePod[] {
  if (!ranges) return world.pods;
  return world.pods.filter((x) => ranges.some(([a, b]) => x.ipNum >= a && x.ipNum <= b));
}
