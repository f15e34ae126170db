/**
 * What the encap and decap routines share inside one worker: the FDB, the counters, and the options
 * the control plane may change at run time. Plain fields, read per packet.
 */
import { Fdb, type FdbOptions } from './fdb.js';
import { newCounterArray } from './counters.js';
import { parseMac } from '@weft/netbase';
import { VXLAN_DEFAULT_VNI, assertVni } from './vxlan-header.js';

export interface VtepRuntimeOptions {
  /** Accept VXLAN only from underlay addresses in the FDB (default true; kernel vxlan accepts anyone). */
  peerCheck?: boolean;
  /** Learn source MAC -> outer source IP from known peers (default false, like flannel's `nolearning`). */
  learning?: boolean;
  /** Flood broadcast/multicast frames to every peer (default false: dropped and counted, as flannel's
   *  kernel device with no all-zeros FDB entry does; ARP is answered by permanent neighbours). */
  flood?: boolean;
}

export class VtepState {
  readonly fdb: Fdb;
  readonly c: Float64Array;
  vni: number;
  peerCheck = true;
  learning = false;
  flood = false;
  ownMacHi = -1;
  ownMacLo = 0;
  /** Coarse clock (ms), set once per batch by the loop. */
  now = 0;

  constructor(opts: { vni?: number; counters?: Float64Array; fdb?: FdbOptions; ownMac?: string } & VtepRuntimeOptions = {}) {
    this.vni = assertVni(opts.vni ?? VXLAN_DEFAULT_VNI);
    this.c = opts.counters ?? newCounterArray(false);
    this.fdb = new Fdb(opts.fdb);
    if (opts.ownMac) this.setOwnMac(opts.ownMac);
    this.setOptions(opts);
  }

  setOwnMac(mac: string): void {
    const m = parseMac(mac);
    this.ownMacHi = m.hi;
    this.ownMacLo = m.lo;
  }

  setOptions(o: VtepRuntimeOptions): void {
    if (o.peerCheck !== undefined) this.peerCheck = o.peerCheck;
    if (o.learning !== undefined) this.learning = o.learning;
    if (o.flood !== undefined) this.flood = o.flood;
  }
}
