/**
 * Fuzz-style (seeded, bounded) tests of both offload paths with random, truncated and corrupted input.
 *
 * Encap: one frame per batch, so each output is traced to its input: a frame is either dropped with
 * exactly one drop counted, or sent unchanged (but for a completed partial checksum), or — a TSO
 * frame — cut into segments whose every checksum is right and whose payloads are the frame's.
 * Decap: the TAP must see exactly the inner frames a VXLAN receiver should accept, each TCP flow's in
 * order (and, with the consecutive-only coalescer, all of them in order); a coalesced super-frame counts
 * only when re-segmenting it (the test's own code) gives back exactly the frames it replaced, each of
 * which had valid checksums. Every datagram is delivered or counted.
 */
import { describe, expect, it } from 'vitest';
import { DROP_REASONS } from '../src/counters.js';
import { parseIpv4 } from '@weft/netbase';
import { ChannelNetwork, channelNode, pin, type ChannelNode } from './channel-node.js';
import {
  MAC_A,
  MAC_B,
  bytesEqual,
  concat,
  ipv4ChecksumOk,
  l4ChecksumOk,
  parseTcpFrame,
  prng,
  randomBytes,
  readVnet,
  refSum,
  resegment,
  segmentsOf,
  tcpFrame,
  tsoFrame,
  udpFrame,
  vnetHdr,
  type TcpSpec,
} from './packets.js';

const IP_A = parseIpv4('192.168.77.1');
const IP_B = parseIpv4('192.168.77.2');
type Rand = () => number;

const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function drops(n: ChannelNode): number {
  return DROP_REASONS.reduce((s, d) => s + n.drops(d), 0);
}

function randomSpec(r: Rand): TcpSpec {
  const flags = 0x10 | (r() < 0.3 ? 0x08 : 0) | (r() < 0.1 ? 0x01 : 0) | (r() < 0.1 ? 0x80 : 0) | (r() < 0.1 ? 0x40 : 0);
  return {
    payload: randomBytes(r, int(r, 0, r() < 0.2 ? 65000 : 12000)),
    options: r() < 0.5 ? [1, 1, 8, 10, ...randomBytes(r, 8)] : [],
    ipOptions: r() < 0.1 ? [1, 1, 1, 0] : [],
    seq: int(r, 0, 0xffffffff),
    id: int(r, 0, 0xffff),
    flags,
  };
}

/** A frame for the TAP side: valid TSO, damaged TSO, partial checksum, or noise. */
function randomTapInput(r: Rand): Uint8Array {
  const kind = pick(r, ['tso', 'tso', 'damaged', 'csum', 'noise'] as const);
  if (kind === 'tso' || kind === 'damaged') {
    const spec = randomSpec(r);
    const hdrMax = 14 + 24 + 32;
    const t = tsoFrame({ ...spec, payload: spec.payload.subarray(0, 65535 - hdrMax) }, int(r, 40, 9000));
    if (kind === 'tso') return t;
    const d = r() < 0.5 ? t.slice(0, int(r, 0, t.length)) : t.slice();
    for (let i = int(r, 1, 3); i > 0; i--) d[int(r, 0, Math.min(d.length, 90) - 1)] = int(r, 0, 255);
    return d;
  }
  if (kind === 'csum') {
    const f = r() < 0.5 ? udpFrame(randomBytes(r, int(r, 0, 1400))) : tcpFrame(randomSpec(r), 'partial').subarray(0, 1500);
    const good = r() < 0.8;
    return concat(
      vnetHdr({ flags: 1, csumStart: good ? 34 : int(r, 0, 2000), csumOffset: good ? (f[23] === 17 ? 6 : 16) : int(r, 0, 2000) }),
      f,
    );
  }
  const f = randomBytes(r, int(r, 0, 2000));
  if (f.length >= 6 && r() < 0.7) f.set([2, 0xbb, 0, 0, 0, 1]);
  return concat(
    vnetHdr({
      flags: int(r, 0, 3),
      gsoType: pick(r, [0, 0, 1, 3, 4, 5, 0x81, 255]),
      gsoSize: int(r, 0, 3000),
      csumStart: int(r, 0, 100),
      csumOffset: int(r, 0, 40),
    }),
    f,
  );
}

/** Checks one encap step against its input. */
function checkEncapOutput(input: Uint8Array, out: Uint8Array[], dropped: number): void {
  if (out.length === 0) {
    expect(dropped).toBe(1);
    return;
  }
  expect(dropped).toBe(0);
  const v = readVnet(input);
  const frame = input.subarray(10);
  if (v.gsoType === 0) {
    expect(out).toHaveLength(1);
    const o = out[0]!;
    expect(o.length).toBe(frame.length);
    const at = v.csumStart + v.csumOffset;
    const same = (i: number) => o[i] === frame[i] || ((v.flags & 1) !== 0 && (i === at || i === at + 1));
    for (let i = 0; i < o.length; i++) if (!same(i)) throw new Error(`byte ${i} changed`);
    if ((v.flags & 1) !== 0) {
      const c = ~refSum(frame.subarray(v.csumStart)) & 0xffff; // the field held the pseudo-header sum
      expect((o[at]! << 8) | o[at + 1]!).toBe(c === 0 ? 0xffff : c);
    }
    return;
  }
  const t = parseTcpFrame(frame);
  const mss = v.gsoSize;
  expect(out).toHaveLength(Math.max(1, Math.ceil(t.payload.length / mss)));
  out.forEach((o, k) => {
    const s = parseTcpFrame(o);
    expect(ipv4ChecksumOk(o) && l4ChecksumOk(o)).toBe(true);
    expect(s.seq).toBe((t.seq + k * mss) >>> 0);
    expect(s.id).toBe((t.id + k) & 0xffff);
    expect(bytesEqual(s.payload, t.payload.subarray(k * mss, (k + 1) * mss))).toBe(true);
  });
}

describe('offload fuzz: encap (TAP -> VXLAN) never sends a corrupted frame', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: 400 random, truncated and damaged frames`, () => {
      const r = prng(seed);
      const net = new ChannelNetwork();
      const a = channelNode(net, IP_A, MAC_A, { mode: 'offload', gso: seed !== 3 });
      channelNode(net, IP_B, MAC_B, { mode: 'offload' });
      pin(a, MAC_B, IP_B);
      for (let i = 0; i < 400; i++) {
        const input = randomTapInput(r);
        const w0 = net.wire.length;
        const d0 = drops(a);
        a.tap.toVtep.push(input);
        a.encap.run();
        const out = net.wire.slice(w0);
        for (const w of out) expect([...w.data.subarray(0, 8)]).toEqual([8, 0, 0, 0, 0, 0, 1, 0]);
        checkEncapOutput(
          input,
          out.map((w) => w.data.subarray(8)),
          drops(a) - d0,
        );
      }
      expect(net.violations).toEqual([]);
      expect(a.count('tx_frames')).toBe(400);
      // the run covered every branch: segmentation, checksum completion, refusals
      expect(a.count('tx_gso_frames') * a.count('tx_csum_completed') * a.drops('tx_bad_offload')).toBeGreaterThan(0);
    });
  }
});

/** What the wire brings: runs of one flow (maybe damaged), other VXLAN frames, junk. */
function randomDatagrams(r: Rand): { datagrams: Uint8Array[]; gro: boolean } {
  const vx = (inner: Uint8Array, flags = 8, vni = 1) =>
    concat(new Uint8Array([flags, 0, 0, 0, (vni >> 16) & 255, (vni >> 8) & 255, vni & 255, 0]), inner);
  const kind = pick(r, ['flow', 'flow', 'flow', 'interleaved', 'interleaved', 'mixed', 'junk'] as const);
  if (kind === 'interleaved') return { datagrams: interleavedFlows(r).map((s) => vx(s)), gro: false };
  if (kind === 'flow') {
    const spec = { ...randomSpec(r), srcMac: MAC_A, dstMac: MAC_B, ipOptions: [], payload: randomBytes(r, int(r, 1, 30000)) };
    const segs = segmentsOf(spec, int(r, 100, 1400));
    if (r() < 0.4) {
      const s = segs[int(r, 0, segs.length - 1)]!;
      s[int(r, 0, s.length - 1)] ^= 1 << int(r, 0, 7);
    }
    const datagrams = segs.map((s) => vx(s));
    if (r() < 0.15) datagrams.splice(int(r, 0, datagrams.length - 1), 1); // lost on the wire
    const first = datagrams[0]?.length ?? 0;
    const equal = datagrams.slice(0, -1).every((d) => d.length === first) && (datagrams.at(-1)?.length ?? 0) <= first;
    return { datagrams, gro: equal && r() < 0.6 };
  }
  if (kind === 'mixed') {
    const n = int(r, 1, 8);
    const datagrams = Array.from({ length: n }, () => {
      const inner =
        r() < 0.5
          ? tcpFrame({ ...randomSpec(r), srcMac: pick(r, [MAC_A, MAC_B]), payload: randomBytes(r, int(r, 0, 300)) })
          : randomBytes(r, int(r, 0, 200));
      const d = vx(inner, pick(r, [8, 8, 8, 0]), pick(r, [1, 1, 1, 2]));
      return r() < 0.2 ? d.subarray(0, int(r, 0, d.length)) : d;
    });
    return { datagrams, gro: false };
  }
  const blob = randomBytes(r, int(r, 0, 3000));
  const step = int(r, 1, 3000);
  const datagrams = [];
  for (let o = 0; o < blob.length; o += step) datagrams.push(blob.subarray(o, o + step));
  return { datagrams: datagrams.length > 0 ? datagrams : [blob], gro: r() < 0.5 };
}

/** Segments of 2-6 flows (distinct ports or addresses) interleaved at random, some damaged or swapped. */
function interleavedFlows(r: Rand): Uint8Array[] {
  const specs = Array.from({ length: int(r, 2, 6) }, (_, k) => {
    const spec = {
      ...randomSpec(r),
      ipOptions: [],
      sport: 40000 + k,
      src: `10.244.1.${int(r, 2, 3)}`,
      payload: randomBytes(r, int(r, 1, 12000)),
    };
    if (r() < 0.7) spec.flags &= ~0x09; // mostly long runs: no PSH/FIN
    return spec;
  });
  const flows = specs.map((spec) => segmentsOf(spec, int(r, 200, 1400)));
  for (let n = int(r, 0, 3); n > 0; n--) {
    // a frame of one of the flows that never joins (pure ACK, SYN, RST, IP options), or a UDP frame
    const f = pick(r, flows);
    const spec = { ...pick(r, specs), payload: randomBytes(r, int(r, 0, 100)) };
    const odd = pick(r, [
      tcpFrame({ ...spec, payload: new Uint8Array(0) }),
      tcpFrame({ ...spec, flags: 0x12 }),
      tcpFrame({ ...spec, flags: 0x14 }),
      tcpFrame({ ...spec, ipOptions: [1, 1, 1, 0] }),
      udpFrame(spec.payload),
    ]);
    f.splice(int(r, 0, f.length), 0, odd);
  }
  const out: Uint8Array[] = [];
  while (flows.some((f) => f.length > 0)) {
    const f = pick(
      r,
      flows.filter((x) => x.length > 0),
    );
    out.push(f.shift()!);
  }
  for (let n = int(r, 0, 2); n > 0 && out.length > 1; n--) {
    const i = int(r, 0, out.length - 2);
    [out[i], out[i + 1]] = [out[i + 1]!, out[i]!]; // reordered on the wire (maybe within a flow)
  }
  if (r() < 0.3) {
    const s = out[int(r, 0, out.length - 1)]!;
    s[int(r, 0, s.length - 1)] ^= 1 << int(r, 0, 7);
  }
  return out;
}

/**
 * A frame's TCP flow (IPv4 addresses and ports, wherever the IP header ends) or '' for everything else:
 * the coalescer keeps each flow's order, and the order of the rest among themselves.
 */
function flowKey(f: Uint8Array): string {
  if (f.length < 34 || f[12] !== 8 || f[13] !== 0 || f[23] !== 6 || ((f[20]! & 0x3f) | f[21]!) !== 0) return '';
  const ihl = (f[14]! & 15) * 4;
  if (f.length < 14 + ihl + 4) return '';
  return [...f.subarray(26, 34), ...f.subarray(14 + ihl, 14 + ihl + 4)].join('.');
}

/** Frames grouped by flowKey, each group in order. */
function byFlow(frames: Uint8Array[]): Map<string, Uint8Array[]> {
  const m = new Map<string, Uint8Array[]>();
  for (const f of frames) {
    const k = flowKey(f);
    m.set(k, [...(m.get(k) ?? []), f]);
  }
  return m;
}

/** The inner frame a receiver accepts from IP_A, or undefined (mirror of the decap checks). */
function accepted(d: Uint8Array): Uint8Array | undefined {
  if (d.length < 22 || (d[0]! & 8) === 0 || ((d[4]! << 16) | (d[5]! << 8) | d[6]!) !== 1) return undefined;
  const et = (d[20]! << 8) | d[21]!;
  if (et === 0x8100 || et === 0x88a8) return undefined;
  if (d.subarray(14, 20).every((x, i) => x === [2, 0xbb, 0, 0, 0, 1][i])) return undefined;
  return d.subarray(8);
}

/** Expands TAP writes into the frames they stand for, checking each coalesced one. */
function expandTapWrites(writes: Uint8Array[]): Uint8Array[] {
  return writes.flatMap((w) => {
    const v = readVnet(w);
    if (v.gsoType === 0) {
      expect(v).toEqual({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
      return [w.subarray(10)];
    }
    expect(ipv4ChecksumOk(w.subarray(10))).toBe(true);
    const segs = resegment(w);
    for (const s of segs) expect(ipv4ChecksumOk(s) && l4ChecksumOk(s)).toBe(true);
    return segs;
  });
}

describe('offload fuzz: decap (VXLAN -> TAP) delivers exactly what it accepts', () => {
  const cases = [
    { seed: 11, groFlows: 64, what: 'per flow' },
    { seed: 12, groFlows: 64, what: 'per flow' },
    { seed: 13, groFlows: 3, what: 'per flow, a table of 3 flows' },
    { seed: 14, groFlows: 0, what: 'consecutive-only' },
  ];
  for (const { seed, groFlows, what } of cases) {
    it(`seed ${seed}: 250 bursts of flows, interleaved flows, damaged segments and junk (${what})`, () => {
      const r = prng(seed);
      const net = new ChannelNetwork();
      const b = channelNode(net, IP_B, MAC_B, { mode: 'offload', slots: 16, groFlows });
      pin(b, MAC_A, IP_A);
      const want: Uint8Array[] = [];
      let sent = 0;
      for (let i = 0; i < 250; i++) {
        const { datagrams, gro } = randomDatagrams(r);
        sent += datagrams.length;
        if (gro && datagrams.length > 1) net.deliver({ src: IP_A, dst: IP_B, data: concat(...datagrams), seg: datagrams[0]!.length });
        else for (const d of datagrams) net.deliver({ src: IP_A, dst: IP_B, data: d });
        for (const d of datagrams) {
          const f = accepted(d);
          if (f) want.push(f);
        }
        if (r() < 0.3) while (b.decap.run() > 0);
      }
      while (b.decap.run() > 0);
      const got = expandTapWrites(b.tap.fromVtep);
      expect(got.length).toBe(want.length);
      if (groFlows === 0)
        for (let i = 0; i < want.length; i++) if (!bytesEqual(got[i], want[i])) expect(got[i], `frame ${i}`).toEqual(want[i]);
      const gotFlows = byFlow(got);
      for (const [k, frames] of byFlow(want)) {
        const g = gotFlows.get(k) ?? [];
        expect(g.length, `flow ${k}`).toBe(frames.length);
        for (let i = 0; i < frames.length; i++) if (!bytesEqual(g[i], frames[i])) expect(g[i], `flow ${k} frame ${i}`).toEqual(frames[i]);
      }
      expect(b.count('rx_datagrams')).toBe(sent);
      expect(b.count('rx_packets') + drops(b)).toBe(sent);
      for (const c of ['rx_coalesced_frames', 'rx_gro_messages', 'rx_csum_bad'] as const) expect(b.count(c), c).toBeGreaterThan(0);
      for (const d of ['rx_runt', 'rx_bad_flags', 'rx_bad_vni'] as const) expect(b.drops(d), d).toBeGreaterThan(0);
    });
  }
});
