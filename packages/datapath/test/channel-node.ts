/**
 * One VTEP on the in-memory channel ports, in either datapath mode, for the pipeline tests:
 * - 'per-packet': EncapRoutine/DecapRoutine, plain TAP frames, one datagram per frame;
 * - 'offload': EncapOffloadRoutine/DecapOffloadRoutine, virtio_net_hdr on the TAP, UDP GSO/GRO.
 * `inject` and `delivered` hide the virtio header so a test can run unchanged in both modes.
 */
import { ChannelNetwork, ChannelTap, ChannelUdp } from '../src/channel.js';
import { COUNTER_INDEX, DROP_INDEX, type CounterName, type DropReason } from '../src/counters.js';
import { DecapOffloadRoutine } from '../src/decap-offload.js';
import { DecapRoutine } from '../src/decap.js';
import { EncapOffloadRoutine, OFFLOAD_TX_SCRATCH } from '../src/encap-offload.js';
import { EncapRoutine } from '../src/encap.js';
import { parseMac } from '@weft/netbase';
import { PacketArena } from '../src/packet-arena.js';
import { VtepState, type VtepRuntimeOptions } from '../src/vtep-state.js';
import { concat, vnetHdr } from './packets.js';

export type Mode = 'per-packet' | 'offload';

export interface NodeOptions extends VtepRuntimeOptions {
  vni?: number;
  mode?: Mode;
  gso?: boolean;
  gro?: boolean;
  slots?: number;
  /** Offload mode: receive coalescing's flow table size (0: consecutive-only). */
  groFlows?: number;
}

export interface ChannelNode {
  mode: Mode;
  st: VtepState;
  tap: ChannelTap;
  udp: ChannelUdp;
  encap: { run(): number };
  decap: { run(): number };
  /** Puts a frame into the TAP (behind a zero virtio header in offload mode). */
  inject(frame: Uint8Array): void;
  /** Frames written to the TAP, virtio headers stripped (asserted all-zero). */
  delivered(): Uint8Array[];
  drops(r: DropReason): number;
  count(n: CounterName): number;
}

export function channelNode(net: ChannelNetwork, ip: number, mac: string, o: NodeOptions = {}): ChannelNode {
  const mode = o.mode ?? 'per-packet';
  const st = new VtepState({ vni: o.vni ?? 1, ownMac: mac, ...o });
  const offload = mode === 'offload';
  const tap = new ChannelTap({ vnetHdr: offload });
  const udp = new ChannelUdp(ip, net, { gso: offload && (o.gso ?? true), gro: offload && (o.gro ?? true) });
  const slots = o.slots ?? 8;
  const size = offload ? PacketArena.offloadSlotSize() : PacketArena.slotSizeFor(1450);
  const encap = offload
    ? new EncapOffloadRoutine(st, tap, udp, new PacketArena(slots, size, OFFLOAD_TX_SCRATCH), o.gso ?? true)
    : new EncapRoutine(st, tap, udp, new PacketArena(slots, size));
  const decap = offload
    ? new DecapOffloadRoutine(st, tap, udp, new PacketArena(slots, size, 64), o.groFlows)
    : new DecapRoutine(st, tap, udp, new PacketArena(slots, size));
  return {
    mode,
    st,
    tap,
    udp,
    encap,
    decap,
    inject: (f) => void tap.toVtep.push(offload ? concat(vnetHdr(), f) : f),
    delivered: () =>
      tap.fromVtep.map((w) => {
        if (!offload) return w;
        if (w.subarray(0, 10).some((b) => b !== 0)) throw new Error('frame written with a non-zero virtio header');
        return w.subarray(10);
      }),
    drops: (r) => st.c[DROP_INDEX[r]]!,
    count: (n) => st.c[COUNTER_INDEX[n]]!,
  };
}

export function pin(n: ChannelNode, mac: string, ip: number): void {
  const m = parseMac(mac);
  n.st.fdb.setPinned(m.hi, m.lo, ip);
}

export { ChannelNetwork };
