/**
 * Two-node VXLAN topologies for the datapath's tests and benchmark.
 *
 *   node a (ns)  u0 192.168.77.1/24 ==veth== u0 192.168.77.2/24  node b (ns)
 *
 * On top, an overlay endpoint per node, programmed the way flannel's vxlan backend programs a node
 * (address <subnet>.0/32 on the device; for the peer: permanent neighbour, FDB entry, onlink route):
 * - `weft`: weft-vtep (the userspace VTEP) on a TAP;
 * - `kernel`: a Linux vxlan device (`nolearning`), flannel's configuration;
 * - `floor`: bench/floor's minimal C relay (one static peer, no FDB): the userspace floor in benchmarks.
 * Either kind can sit on either node, so weft<->weft, weft<->kernel and kernel<->kernel all use
 * the same code, in the same namespaces, in the same run.
 */
import { fileURLToPath } from 'node:url';
import type { Lab, LabProcess } from './lab.js';
import { neighPermanentLine, routeOnlinkLine } from '@weft/netbase';

export interface OverlayEndpoint {
  kind: 'weft' | 'kernel' | 'floor';
  dev: string;
  mac: string;
  /** Overlay address of the node (the network address of its subnet, flannel-style): 10.X.N.0 */
  ip: string;
  /** The node's subnet, e.g. 10.244.1.0/24 */
  subnet: string;
  vni: number;
  port: number;
  proc?: LabProcess;
}

export interface PairNode {
  ns: string;
  underlayIp: string;
}

const WEFT_VTEP = fileURLToPath(new URL('../../datapath/bin/weft-vtep', import.meta.url));
export const FLOOR_RELAY = fileURLToPath(new URL('../../../bench/floor/floor-relay', import.meta.url));
export const FLOOR_RELAY_JS = fileURLToPath(new URL('../../../bench/floor/relay.mjs', import.meta.url));
export const TCP_HASH = fileURLToPath(new URL('./tcp-hash.js', import.meta.url));

/** Two namespaces joined by a veth underlay (MTU 1500). */
export async function buildPair(lab: Lab): Promise<[PairNode, PairNode]> {
  const a = await lab.addNetns('a');
  const b = await lab.addNetns('b');
  await lab.addVeth(a, 'u0', b, 'u0');
  await lab.addAddress(a, 'u0', '192.168.77.1/24');
  await lab.addAddress(b, 'u0', '192.168.77.2/24');
  return [
    { ns: a, underlayIp: '192.168.77.1' },
    { ns: b, underlayIp: '192.168.77.2' },
  ];
}

export interface EndpointSpec {
  kind: 'weft' | 'kernel' | 'floor';
  dev: string;
  mac: string;
  /** Third octet of the node subnet: 10.<net>.<index>.0/24 */
  net: number;
  index: number;
  vni?: number;
  port?: number;
  mtu?: number;
  /** Extra weft-vtep flags */
  weftArgs?: string[];
  /** Kernel endpoints: turn tx checksum offload off on the underlay veth (needed when a userspace
   *  VTEP receives from it; default true). Benchmarks of kernel<->kernel leave it on. */
  txOff?: boolean;
  /** Floor endpoints: the peer's underlay address (the relay sends every frame there) and extra flags. */
  floorPeer?: string;
  floorArgs?: string[];
  /** Floor endpoints: run relay.c's loop written in JavaScript (bench/floor/relay.mjs) instead. */
  floorJs?: boolean;
  /** Environment of the weft-vtep process (default: this process's), e.g. WEFT_RTT_TRACE. */
  env?: NodeJS.ProcessEnv;
}

/** Brings up one overlay endpoint (device + own address). Peers are added with `connect`. */
export async function addEndpoint(lab: Lab, node: PairNode, s: EndpointSpec): Promise<OverlayEndpoint> {
  const vni = s.vni ?? 1;
  const port = s.port ?? 8472;
  const mtu = s.mtu ?? 1450;
  const ip = `10.${s.net}.${s.index}.0`;
  const ep: OverlayEndpoint = { kind: s.kind, dev: s.dev, mac: s.mac, ip, subnet: `${ip}/24`, vni, port };
  if (s.kind === 'weft') {
    const args = [
      '--dev',
      s.dev,
      '--mtu',
      String(mtu),
      '--mac',
      s.mac,
      '--vni',
      String(vni),
      '--port',
      String(port),
      ...(s.weftArgs ?? []),
    ];
    ep.proc = lab.spawn(node.ns, `weft-vtep ${s.dev}@${node.ns}`, process.execPath, [WEFT_VTEP, ...args], s.env);
    await ep.proc.waitFor(/^ready /m, 15_000);
  } else if (s.kind === 'floor') {
    if (!s.floorPeer) throw new Error('a floor endpoint needs floorPeer');
    const args = ['-d', s.dev, '-p', s.floorPeer, '-P', String(port), '-n', String(vni), ...(s.floorArgs ?? [])];
    ep.proc = s.floorJs
      ? lab.spawn(node.ns, `floor-relay.mjs ${s.dev}@${node.ns}`, process.execPath, [FLOOR_RELAY_JS, ...args])
      : lab.spawn(node.ns, `floor-relay ${s.dev}@${node.ns}`, FLOOR_RELAY, args);
    await ep.proc.waitFor(/^ready /m, 15_000);
    await lab.exec(node.ns, 'ip', ['link', 'set', s.dev, 'address', s.mac, 'mtu', String(mtu), 'up']);
  } else {
    await lab.exec(node.ns, 'ip', [
      'link',
      'add',
      s.dev,
      'type',
      'vxlan',
      'id',
      String(vni),
      'local',
      node.underlayIp,
      'dev',
      'u0',
      'dstport',
      String(port),
      'nolearning',
    ]);
    await lab.exec(node.ns, 'ip', ['link', 'set', s.dev, 'address', s.mac, 'mtu', String(mtu), 'up']);
    // A veth leaves inner checksums partial and a userspace peer would see them unfinished; a real NIC
    // completes them. Turn tx offload off on the kernel side's underlay (REFERENCE.md).
    if (s.txOff ?? true) await lab.exec(node.ns, 'ethtool', ['-K', 'u0', 'tx', 'off']);
  }
  await lab.exec(node.ns, 'ip', ['addr', 'add', `${ip}/32`, 'dev', s.dev]);
  return ep;
}

/** Programs `local` to reach `remote` the way flannel does: FDB entry, permanent neighbour, onlink route. */
async function connect(lab: Lab, node: PairNode, local: OverlayEndpoint, remote: OverlayEndpoint, remoteUnderlay: string): Promise<void> {
  if (local.kind === 'weft') {
    local.proc!.child.stdin?.write(`fdb ${remote.mac} ${remoteUnderlay}\n`);
  } else if (local.kind === 'floor') {
    // no FDB: the relay sends every frame to the peer it was started with
  } else {
    await lab.exec(node.ns, 'bridge', ['fdb', 'append', remote.mac, 'dev', local.dev, 'dst', remoteUnderlay, 'self', 'permanent']);
  }
  await lab.ipBatch(node.ns, [neighPermanentLine(remote.ip, remote.mac, local.dev), routeOnlinkLine(remote.subnet, remote.ip, local.dev)]);
}

/** Programs the two ends of one overlay to reach each other: `x` on node `a`, `y` on node `b`. */
export async function connectBoth(lab: Lab, a: PairNode, b: PairNode, x: OverlayEndpoint, y: OverlayEndpoint): Promise<void> {
  await connect(lab, a, x, y, b.underlayIp);
  await connect(lab, b, y, x, a.underlayIp);
}
