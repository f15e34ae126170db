/**
 * Receive offload: VXLAN datagrams (one GRO message or many single ones) whose inner TCP segments
 * coalesce into one super-frame behind a virtio_net_hdr, checked against a reference re-segmentation
 * written in the test; every GRO rule that must keep segments apart (per flow and consecutive-only);
 * interleaved flows coalescing per flow, each flow's order kept, a full flow table.
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '@weft/netbase';
import { ChannelNetwork, channelNode, pin } from './channel-node.js';
import {
  MAC_A,
  MAC_B,
  concat,
  countingPayload,
  ipv4ChecksumOk,
  parseTcpFrame,
  readVnet,
  refSum,
  resegment,
  segmentsOf,
  tcpFrame,
  udpFrame,
  type TcpSpec,
} from './packets.js';

const IP_A = parseIpv4('192.168.77.1');
const IP_B = parseIpv4('192.168.77.2');
const TS_OPTS = [1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78];
const FIN = 0x01,
  SYN = 0x02,
  PSH = 0x08,
  ACK = 0x10,
  URG = 0x20,
  CWR = 0x80;

function vx(inner: Uint8Array): Uint8Array {
  return concat(new Uint8Array([8, 0, 0, 0, 0, 0, 1, 0]), inner);
}

function receiver(groFlows?: number, slots = 64) {
  const net = new ChannelNetwork();
  const b = channelNode(net, IP_B, MAC_B, { mode: 'offload', slots, ...(groFlows === undefined ? {} : { groFlows }) });
  pin(b, MAC_A, IP_A);
  /** Delivers frames as one GRO message (all equal but the last) or as single datagrams. */
  const deliver = (frames: Uint8Array[], gro: boolean) => {
    if (gro) net.deliver({ src: IP_A, dst: IP_B, data: concat(...frames.map(vx)), seg: frames[0]!.length + 8 });
    else for (const f of frames) net.deliver({ src: IP_A, dst: IP_B, data: vx(f) });
    while (b.decap.run() > 0);
  };
  return { net, b, deliver };
}

describe('GRO: coalescing TCP segments into one TAP write', () => {
  for (const gro of [true, false]) {
    it(`merges one flow's run into a super-frame (${gro ? 'one GRO message' : 'single datagrams'})`, () => {
      const { b, deliver } = receiver();
      const spec: TcpSpec = { payload: countingPayload(40 * 1398 - 500), options: TS_OPTS, flags: ACK | PSH, seq: 0xffff_0000, id: 0xfff0 };
      const segs = segmentsOf(spec, 1398);
      deliver(segs, gro);
      expect(b.tap.fromVtep).toHaveLength(1);
      const w = b.tap.fromVtep[0]!;
      expect(readVnet(w)).toEqual({ flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1398, csumStart: 34, csumOffset: 16 });
      const f = w.subarray(10);
      const t = parseTcpFrame(f);
      expect(t.totLen).toBe(20 + 32 + spec.payload.length);
      expect(ipv4ChecksumOk(f)).toBe(true);
      const l4 = t.totLen - 20;
      expect(t.check).toBe(refSum([10, 244, 1, 2, 10, 244, 2, 3, 0, 6, l4 >> 8, l4 & 0xff])); // partial: pseudo-header only
      expect(t.flags).toBe(ACK | PSH);
      expect(t.payload).toEqual(spec.payload);
      expect(resegment(w)).toEqual(segs);
      expect(b.count('rx_coalesced_frames')).toBe(1);
      expect(b.count('rx_coalesced_segments')).toBe(40);
      expect(b.count('rx_packets')).toBe(40);
      expect(b.count('rx_datagrams')).toBe(40);
      expect(b.count('rx_gro_messages')).toBe(gro ? 1 : 0);
      expect(b.count('rx_bytes')).toBe(segs.reduce((s, x) => s + x.length, 0));
    });
  }

  it('keeps the CWR of the first segment (and says ECN in the virtio header)', () => {
    const { b, deliver } = receiver();
    const segs = segmentsOf({ payload: countingPayload(5000), flags: ACK | CWR }, 1000);
    deliver(segs, true);
    expect(b.tap.fromVtep).toHaveLength(1);
    expect(readVnet(b.tap.fromVtep[0]!).gsoType).toBe(0x81);
    expect(resegment(b.tap.fromVtep[0]!)).toEqual(segs);
  });

  it('writes 64 segments at most per super-frame', () => {
    const { b, deliver } = receiver();
    const segs = segmentsOf({ payload: countingPayload(100 * 536) }, 536);
    deliver(segs, false);
    expect(b.tap.fromVtep.map((w) => readVnet(w).gsoType)).toEqual([1, 1]);
    expect(b.tap.fromVtep.flatMap(resegment)).toEqual(segs);
  });

  it('passes a segment with a bad TCP or IP checksum through alone, untouched, and counts it', () => {
    const { b, deliver } = receiver();
    const segs = segmentsOf({ payload: countingPayload(10 * 1000) }, 1000);
    const badTcp = segs[3]!.slice();
    badTcp[badTcp.length - 1] ^= 0x40;
    const badIp = segs[7]!.slice();
    badIp[25] ^= 1; // the header checksum itself: every field still matches the flow
    const sent = [...segs.slice(0, 3), badTcp, ...segs.slice(4, 7), badIp, ...segs.slice(8)];
    deliver(sent, false);
    const out = b.tap.fromVtep;
    expect(out.map((w) => readVnet(w).gsoType)).toEqual([1, 0, 1, 0, 1]);
    expect(out[1]!.subarray(10)).toEqual(badTcp);
    expect(out[3]!.subarray(10)).toEqual(badIp);
    expect([...resegment(out[0]!), ...resegment(out[2]!), ...resegment(out[4]!)]).toEqual([
      ...segs.slice(0, 3),
      ...segs.slice(4, 7),
      ...segs.slice(8),
    ]);
    expect(b.count('rx_csum_bad')).toBe(2);
    expect(b.count('rx_packets')).toBe(10);
  });

  it('does not verify checksums of frames it writes alone (the kernel does)', () => {
    const { b, deliver } = receiver();
    const lone = segmentsOf({ payload: countingPayload(100), flags: ACK | PSH }, 1000)[0]!.slice();
    lone[lone.length - 1] ^= 1;
    deliver([lone], false);
    expect(b.tap.fromVtep[0]!.subarray(10)).toEqual(lone);
    expect(b.count('rx_csum_bad')).toBe(0);
  });

  const breakers: Array<[string, (s: Uint8Array[]) => Uint8Array[]]> = [
    ['a sequence gap', (s) => [s[0]!, s[2]!]],
    ['a different ACK', (s) => [s[0]!, tweakTcp(s[1]!, 8, 1)]],
    ['a different window', (s) => [s[0]!, tweakTcp(s[1]!, 14, 1)]],
    ['different TCP options (timestamp)', (s) => [s[0]!, tweakTcp(s[1]!, 26, 1)]],
    ['another flow (port)', (s) => [s[0]!, tweakTcp(s[1]!, 0, 1)]],
    ['an IP id that does not follow', (s) => [s[0]!, tweakIp(s[1]!, 4, 5)]],
    ['a different TTL', (s) => [s[0]!, tweakIp(s[1]!, 8, 1)]],
    ['a different TOS (ECN CE)', (s) => [s[0]!, tweakIp(s[1]!, 1, 3)]],
    ['a different source MAC', (s) => [s[0]!, tweakAt(s[1]!, 11, 1)]],
    ['CWR after the first segment', (s) => [s[0]!, setFlags(s[1]!, ACK | CWR)]],
    ['a SYN', (s) => [setFlags(s[0]!, ACK | SYN), setFlags(s[1]!, ACK | SYN)]],
    ['URG', (s) => [s[0]!, setFlags(s[1]!, ACK | URG)]],
    [
      'a second segment longer than the first',
      () => {
        const p = countingPayload(1500);
        return [
          segmentsOf({ payload: p.subarray(0, 500) }, 500)[0]!,
          segmentsOf({ payload: p.subarray(500), seq: 1500, id: 0x1235 }, 1000)[0]!,
        ];
      },
    ],
    ['a pure ACK', () => [tcpFrame({ payload: new Uint8Array(0) }), tcpFrame({ payload: new Uint8Array(0), id: 0x1235 })]],
  ];
  for (const [what, make] of breakers) {
    for (const groFlows of [64, 0]) {
      it(`keeps segments apart on ${what} (${groFlows === 0 ? 'consecutive-only' : 'per flow'})`, () => {
        const { b, deliver } = receiver(groFlows);
        const frames = make(segmentsOf({ payload: countingPayload(3000), options: TS_OPTS }, 1000));
        deliver(frames, false);
        expect(b.tap.fromVtep.map((w) => w.subarray(10))).toEqual(frames);
        expect(b.tap.fromVtep.every((w) => readVnet(w).gsoType === 0)).toBe(true);
        expect(b.count('rx_coalesced_frames')).toBe(0);
      });
    }
    it(`keeps segments apart on ${what} with another flow's segments between them`, () => {
      const { b, deliver } = receiver();
      const frames = make(segmentsOf({ payload: countingPayload(3000), options: TS_OPTS }, 1000));
      const other = segmentsOf({ payload: countingPayload(2000, 9), sport: 41000, flags: ACK | PSH }, 1000);
      deliver([other[0]!, frames[0]!, other[1]!, ...frames.slice(1)], false);
      const out = b.tap.fromVtep;
      const writes = out.filter((w) => flowOf(w.subarray(10)) !== 41000);
      expect(writes.map((w) => w.subarray(10))).toEqual(frames);
      expect(writes.every((w) => readVnet(w).gsoType === 0)).toBe(true);
      expect(out.filter((w) => flowOf(w.subarray(10)) === 41000).flatMap(resegment)).toEqual(other);
    });
  }

  it('ends a group at PSH/FIN and at a shorter segment, then starts the next', () => {
    const { b, deliver } = receiver();
    const one = segmentsOf({ payload: countingPayload(3500), flags: ACK | PSH }, 1000);
    const two = segmentsOf({ payload: countingPayload(4000, 3), seq: 1000 + 3500, id: 0x1234 + 4, flags: ACK | FIN }, 1000);
    deliver([...one, ...two], false);
    expect(b.tap.fromVtep.map((w) => readVnet(w).gsoType)).toEqual([1, 1]);
    expect(resegment(b.tap.fromVtep[0]!)).toEqual(one);
    expect(resegment(b.tap.fromVtep[1]!)).toEqual(two);
  });
});

function tweakAt(f: Uint8Array, at: number, x: number): Uint8Array {
  const g = f.slice();
  g[at] ^= x;
  return g;
}
/** Changes a TCP header byte and keeps the checksum right (so only the GRO rule can object). */
function tweakTcp(f: Uint8Array, at: number, x: number): Uint8Array {
  const g = tweakAt(f, 34 + at, x);
  return refix(g);
}
function tweakIp(f: Uint8Array, at: number, x: number): Uint8Array {
  const g = tweakAt(f, 14 + at, x);
  return refix(g);
}
function setFlags(f: Uint8Array, flags: number): Uint8Array {
  const g = f.slice();
  g[34 + 13] = flags;
  return refix(g);
}
function refix(g: Uint8Array): Uint8Array {
  const t = parseTcpFrame(g);
  const spec: TcpSpec = {
    dstMac: MAC_B,
    srcMac: [...g.subarray(6, 12)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    tos: g[15]!,
    ttl: g[22]!,
    id: t.id,
    sport: (g[34]! << 8) | g[35]!,
    dport: (g[36]! << 8) | g[37]!,
    seq: t.seq,
    ack: t.ack,
    flags: t.flags,
    window: t.window,
    options: [...g.subarray(54, 34 + t.thl)],
    payload: t.payload,
  };
  return tcpFrame(spec);
}

/** The inner TCP source port of a frame (the flows of these tests differ in it). */
function flowOf(f: Uint8Array): number {
  const t = 14 + (f[14]! & 15) * 4;
  return (f[t]! << 8) | f[t + 1]!;
}

/** Segments of `n` flows (source ports 40000 + k), each `segs` long, and the same interleaved round-robin. */
function interleaved(n: number, segs: number, mss = 1000): { flows: Uint8Array[][]; wire: Uint8Array[] } {
  const flows = Array.from({ length: n }, (_, k) =>
    segmentsOf({ payload: countingPayload(segs * mss, k), sport: 40000 + k, seq: 1000 * k, options: TS_OPTS }, mss),
  );
  const wire: Uint8Array[] = [];
  for (let i = 0; i < segs; i++) for (const f of flows) wire.push(f[i]!);
  return { flows, wire };
}

/** What the TAP got, as the kernel would see it after segmenting: frames grouped by source port, in order. */
function framesByFlow(writes: Uint8Array[]): Map<number, Uint8Array[]> {
  const m = new Map<number, Uint8Array[]>();
  for (const w of writes) {
    const frames = readVnet(w).gsoType === 0 ? [w.subarray(10)] : resegment(w);
    for (const f of frames) m.set(flowOf(f), [...(m.get(flowOf(f)) ?? []), f]);
  }
  return m;
}

describe('GRO per flow: interleaved flows within one receive batch', () => {
  it('coalesces 4 interleaved flows into one super-frame each, bytes and checksums as sent', () => {
    const { b, deliver } = receiver();
    const { flows, wire } = interleaved(4, 12);
    deliver(wire, false);
    const out = b.tap.fromVtep;
    expect(out).toHaveLength(4);
    for (const w of out) {
      expect(readVnet(w)).toMatchObject({ flags: 1, gsoType: 1, gsoSize: 1000 });
      expect(ipv4ChecksumOk(w.subarray(10))).toBe(true);
    }
    expect(out.map((w) => resegment(w))).toEqual(flows); // first-seen flow first
    expect(b.count('rx_coalesced_frames')).toBe(4);
    expect(b.count('rx_coalesced_segments')).toBe(48);
    expect(b.count('rx_packets')).toBe(48);
  });

  it('coalesces flows that arrive as interleaved UDP GRO messages (one message per flow)', () => {
    const { net, b } = receiver();
    const { flows } = interleaved(3, 8);
    for (let half = 0; half < 2; half++)
      for (const f of flows) {
        const part = f.slice(half * 4, half * 4 + 4);
        net.deliver({ src: IP_A, dst: IP_B, data: concat(...part.map(vx)), seg: part[0]!.length + 8 });
      }
    while (b.decap.run() > 0);
    expect(b.tap.fromVtep.map((w) => resegment(w))).toEqual(flows);
    expect(b.count('rx_gro_messages')).toBe(6);
  });

  it('consecutive-only (groFlows 0) coalesces nothing of the same interleaved flows', () => {
    const { b, deliver } = receiver(0);
    const { wire } = interleaved(4, 12);
    deliver(wire, false);
    expect(b.tap.fromVtep.map((w) => w.subarray(10))).toEqual(wire);
    expect(b.count('rx_coalesced_frames')).toBe(0);
  });

  it('keeps a flow reordered on the wire in its arrival order, joining only what is contiguous', () => {
    const { b, deliver } = receiver();
    const { flows } = interleaved(2, 6);
    const [x, y] = flows as [Uint8Array[], Uint8Array[]];
    const xWire = [x[0]!, x[1]!, x[3]!, x[2]!, x[4]!, x[5]!];
    deliver([xWire[0]!, y[0]!, xWire[1]!, y[1]!, xWire[2]!, xWire[3]!, y[2]!, xWire[4]!, y[3]!, xWire[5]!, y[4]!, y[5]!], false);
    const xWrites = b.tap.fromVtep.filter((w) => flowOf(w.subarray(10)) === 40000);
    expect(xWrites.map((w) => (readVnet(w).gsoType === 0 ? 1 : resegment(w).length))).toEqual([2, 1, 1, 2]);
    const got = framesByFlow(b.tap.fromVtep);
    expect(got.get(40000)).toEqual(xWire);
    expect(got.get(40001)).toEqual(y);
  });

  it("writes a flow's group before a frame of that flow that cannot join (pure ACK, SYN, IP options)", () => {
    const { b, deliver } = receiver();
    const { flows } = interleaved(2, 6);
    const [x, y] = flows as [Uint8Array[], Uint8Array[]];
    const ack = tcpFrame({ payload: new Uint8Array(0), sport: 40000, id: 7 });
    const withOpts = tcpFrame({ payload: countingPayload(100), sport: 40001, ipOptions: [1, 1, 1, 0], id: 8 });
    deliver([x[0]!, y[0]!, x[1]!, ack, y[1]!, x[2]!, x[3]!, withOpts, y[2]!, ...x.slice(4), ...y.slice(3)], false);
    const got = framesByFlow(b.tap.fromVtep);
    expect(got.get(40000)).toEqual([x[0], x[1], ack, ...x.slice(2)]);
    expect(got.get(40001)).toEqual([y[0], y[1], withOpts, ...y.slice(2)]);
    // IP options: every group is written first, oldest flow first (a TCP frame whose ports it does not read)
    const i = b.tap.fromVtep.findIndex(
      (w) => w.subarray(10).length === withOpts.length && readVnet(w).gsoType === 0 && w[10 + 14] === 0x46,
    );
    expect(b.tap.fromVtep.slice(0, i).flatMap((w) => (readVnet(w).gsoType === 0 ? [w.subarray(10)] : resegment(w)))).toEqual([
      x[0],
      x[1],
      ack,
      x[2],
      x[3],
      y[0],
      y[1],
    ]);
  });

  it('lets a non-TCP frame pass a held group (as Linux GRO: held flows wait for the end of the poll)', () => {
    const { b, deliver } = receiver();
    const x = segmentsOf({ payload: countingPayload(3000) }, 1000);
    const udp = udpFrame(countingPayload(64));
    deliver([x[0]!, x[1]!, udp, x[2]!], false);
    expect(b.tap.fromVtep).toHaveLength(2);
    expect(b.tap.fromVtep[0]!.subarray(10)).toEqual(udp);
    expect(resegment(b.tap.fromVtep[1]!)).toEqual(x);
  });

  it("with the flow table full, a new flow's segments go through alone and in order", () => {
    const { b, deliver } = receiver(2);
    const { flows, wire } = interleaved(4, 5);
    deliver(wire, false);
    const out = b.tap.fromVtep;
    const lone = out.filter((w) => readVnet(w).gsoType === 0).map((w) => w.subarray(10));
    expect(lone).toEqual(wire.filter((f) => flowOf(f) >= 40002));
    expect(out.filter((w) => readVnet(w).gsoType !== 0).map((w) => resegment(w))).toEqual(flows.slice(0, 2));
    expect(b.count('rx_coalesced_frames')).toBe(2);
    expect(b.count('rx_packets')).toBe(20);
  });

  it('writes a group whose flow stays idle for 64-127 frames before the batch ends', () => {
    const { b, deliver } = receiver(64, 256);
    const x = segmentsOf({ payload: countingPayload(3000) }, 1000);
    const others = Array.from({ length: 200 }, (_, i) => udpFrame(countingPayload(64, i)));
    deliver([...x, ...others], false);
    const out = b.tap.fromVtep;
    expect(out).toHaveLength(201);
    const at = out.findIndex((w) => readVnet(w).gsoType !== 0);
    expect(at).toBeGreaterThanOrEqual(61); // 64 frames after the group's last segment at the earliest
    expect(at).toBeLessThan(125); // and 127 at the latest: not at the end of the batch
    expect(resegment(out[at]!)).toEqual(x);
    expect(out.filter((_, i) => i !== at).map((w) => w.subarray(10))).toEqual(others);
  });

  it('starts every batch with an empty table (flows of the last batch do not hold slots)', () => {
    const { b, deliver } = receiver(1);
    const x = segmentsOf({ payload: countingPayload(3000) }, 1000);
    const y = segmentsOf({ payload: countingPayload(3000), sport: 41000 }, 1000);
    deliver(x, false);
    deliver(y, false);
    expect(b.tap.fromVtep.map((w) => resegment(w))).toEqual([x, y]);
  });
});
