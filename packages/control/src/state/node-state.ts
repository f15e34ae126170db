/**
 * The node state file `<run dir>/weftd-state.json`: what weftd needs to forward before it has talked
 * to etcd or the API server. On start weftd opens the VTEP and programs the FDB from it (a restart,
 * a crash, an etcd outage no longer keep pods dark), then reconciles with the subnet manager.
 *
 *   { version: 1, vtep: {name, mac, mtu, vni, port, bind, offload}, publicIp, network (net-conf),
 *     ownLease: {subnet, attrs}, peers: [{subnet, attrs}] in the order the watch first saw them }
 *
 * The file is input like any other: `parseNodeState` checks every field and drops what is wrong
 * (a bad peer is skipped, a bad header makes the whole file unusable → an ordinary cold start). Peer
 * leases keep their flannel attrs so they go through the same lease decoding as etcd's records.
 * `NodeStateFile` writes atomically (temp file, fsync, rename, fsync of the directory) and only when
 * the content changed.
 */
import { mkdirSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Lease, LeaseAttrs, LeaseEvent, NetworkConfig } from '../subnet/types.js';

export const STATE_VERSION = 1;

export interface StateLease {
  subnet: string;
  attrs: LeaseAttrs;
  /** Lease order as the subnet manager gave it (etcd create revision, Node creation time): lower wins. */
  order?: number;
}

export interface StateVtep {
  name: string;
  mac: string;
  mtu: number;
  vni: number;
  port: number;
  /** Local underlay address the socket binds. */
  bind: string;
  offload: 'auto' | 'on' | 'off';
}

export interface NodeState {
  version: typeof STATE_VERSION;
  vtep: StateVtep;
  publicIp: string;
  network: NetworkConfig;
  ownLease?: StateLease;
  peers: StateLease[];
}

export class NodeStateError extends Error {
  override name = 'NodeStateError';
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function intIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkVtep(v: unknown): StateVtep {
  if (!isObject(v)) throw new NodeStateError('vtep is not an object');
  if (typeof v.name !== 'string' || !IFNAME.test(v.name)) throw new NodeStateError('vtep.name is not an interface name');
  if (typeof v.mac !== 'string' || !MAC.test(v.mac)) throw new NodeStateError('vtep.mac is not a MAC address');
  if (!intIn(v.mtu, 576, 9000)) throw new NodeStateError('vtep.mtu is outside 576..9000');
  if (!intIn(v.vni, 0, 0xffffff)) throw new NodeStateError('vtep.vni is not a VNI');
  if (!intIn(v.port, 1, 65535)) throw new NodeStateError('vtep.port is not a port');
  if (typeof v.bind !== 'string' || !IPV4.test(v.bind)) throw new NodeStateError('vtep.bind is not an IPv4 address');
  if (v.offload !== 'auto' && v.offload !== 'on' && v.offload !== 'off') throw new NodeStateError('vtep.offload is not auto, on or off');
  return { name: v.name, mac: v.mac, mtu: v.mtu, vni: v.vni, port: v.port, bind: v.bind, offload: v.offload };
}

function checkNetwork(v: unknown): NetworkConfig {
  if (!isObject(v) || !isObject(v.backend)) throw new NodeStateError('network is not a network config');
  const b = v.backend;
  if (typeof v.network !== 'string' || !CIDR.test(v.network)) throw new NodeStateError('network.network is not a CIDR');
  if (!intIn(v.subnetLen, 1, 32)) throw new NodeStateError('network.subnetLen is not a prefix length');
  if (typeof v.subnetMin !== 'string' || !IPV4.test(v.subnetMin) || typeof v.subnetMax !== 'string' || !IPV4.test(v.subnetMax)) {
    throw new NodeStateError('network.subnetMin/subnetMax are not IPv4 addresses');
  }
  if (b.type !== 'vxlan' || !intIn(b.vni, 0, 0xffffff) || !intIn(b.port, 1, 65535))
    throw new NodeStateError('network.backend is not a vxlan backend');
  if (b.mtu !== undefined && !intIn(b.mtu, 576, 9000)) throw new NodeStateError('network.backend.mtu is outside 576..9000');
  return {
    network: v.network,
    subnetLen: v.subnetLen,
    subnetMin: v.subnetMin,
    subnetMax: v.subnetMax,
    backend: { type: 'vxlan', vni: b.vni, port: b.port, ...(b.mtu !== undefined ? { mtu: b.mtu } : {}) },
  };
}

/** A lease as stored; its attrs are decoded again by the vxlan backend like any etcd record. */
function checkLease(v: unknown): StateLease | undefined {
  if (!isObject(v) || typeof v.subnet !== 'string' || !CIDR.test(v.subnet) || !isObject(v.attrs)) return undefined;
  const a = v.attrs;
  if (typeof a.PublicIP !== 'string' || typeof a.BackendType !== 'string') return undefined;
  const order = typeof v.order === 'number' && Number.isSafeInteger(v.order) && v.order >= 0 ? { order: v.order } : {};
  return {
    subnet: v.subnet,
    attrs: {
      PublicIP: a.PublicIP,
      PublicIPv6: typeof a.PublicIPv6 === 'string' ? a.PublicIPv6 : null,
      BackendType: a.BackendType,
      BackendData: a.BackendData,
    },
    ...order,
  };
}

/** Parses and checks a state file's text. Throws NodeStateError when it is unusable; counts dropped peers. */
export function parseNodeState(text: string): { state: NodeState; droppedPeers: number } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new NodeStateError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new NodeStateError('not an object');
  if (raw.version !== STATE_VERSION) throw new NodeStateError(`version ${JSON.stringify(raw.version)} is not ${STATE_VERSION}`);
  const vtep = checkVtep(raw.vtep);
  if (typeof raw.publicIp !== 'string' || !IPV4.test(raw.publicIp)) throw new NodeStateError('publicIp is not an IPv4 address');
  const network = checkNetwork(raw.network);
  const ownLease = raw.ownLease === undefined ? undefined : checkLease(raw.ownLease);
  if (raw.ownLease !== undefined && !ownLease) throw new NodeStateError('ownLease is not a lease');
  const list = Array.isArray(raw.peers) ? raw.peers : [];
  const peers = list.map(checkLease).filter((l): l is StateLease => l !== undefined);
  const state: NodeState = { version: STATE_VERSION, vtep, publicIp: raw.publicIp, network, ...(ownLease ? { ownLease } : {}), peers };
  return { state, droppedPeers: list.length - peers.length };
}

/** Reads the state file: undefined when absent; throws NodeStateError when unusable. */
export async function readNodeState(path: string): Promise<{ state: NodeState; droppedPeers: number } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new NodeStateError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parseNodeState(text);
}

/** The peers' leases, kept in the order they first arrived, updated from the watch's events. */
export class PeerLeaseMirror {
  private readonly leases = new Map<string, StateLease>();

  constructor(initial: readonly StateLease[] = []) {
    for (const l of initial) this.leases.set(l.subnet, l);
  }

  apply(events: readonly LeaseEvent[]): void {
    for (const e of events) {
      if (e.type === 'snapshot') {
        const now = new Set(e.leases.map((l) => l.subnet));
        for (const s of [...this.leases.keys()]) if (!now.has(s)) this.leases.delete(s);
        for (const l of e.leases) this.set(l);
      } else if (e.type === 'added') this.set(e.lease);
      else if (e.type === 'removed') this.leases.delete(e.lease.subnet);
    }
  }

  list(): StateLease[] {
    return [...this.leases.values()];
  }

  private set(l: Lease): void {
    const prev = this.leases.get(l.subnet);
    const order = l.order !== undefined ? { order: l.order } : {};
    if (prev)
      Object.assign(prev, { attrs: l.attrs }, order); // keeps its place: without an order, the order first seen here
    else this.leases.set(l.subnet, { subnet: l.subnet, attrs: l.attrs, ...order });
  }
}

/** Atomic, change-only writer of the state file. Writes are serialized; the last one wins. */
export class NodeStateFile {
  private last = '';
  private chain: Promise<void> = Promise.resolve();
  writes = 0;

  constructor(readonly path: string) {}

  static inRunDir(runDir: string): NodeStateFile {
    return new NodeStateFile(join(runDir, 'weftd-state.json'));
  }

  /** Queues a write of `state` if it differs from the last one written; resolves when on disk. */
  save(state: NodeState): Promise<void> {
    const text = JSON.stringify(state, null, 1) + '\n';
    if (text === this.last) return this.chain;
    this.last = text;
    const written = this.chain.then(() => this.write(text));
    this.chain = written.catch(() => {
      this.last = ''; // the next save tries again
    });
    return written;
  }

  private async write(text: string): Promise<void> {
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const f = await open(tmp, 'w', 0o600);
    try {
      await f.writeFile(text);
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, this.path);
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    this.writes++;
  }
}
