/**
 * Test-side packet builders and an independent checksum, written as plainly as possible (byte
 * pairs, no typed-array tricks) so the datapath's fast paths are checked against something else.
 */

export const MAC_A = '02:aa:00:00:00:01';
export const MAC_B = '02:bb:00:00:00:01';

export function macBytes(s: string): number[] {
  return s.split(':').map((h) => parseInt(h, 16));
}

function ipBytes(s: string): number[] {
  return s.split('.').map(Number);
}

/** RFC 1071 sum of bytes (odd length padded with zero), folded, not inverted. */
export function refSum(bytes: ArrayLike<number>, init = 0): number {
  let s = init;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

function be16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, (v >>> 16) & 0xffff);
  put16(b, o + 2, v & 0xffff);
}

/** Pseudo-header + L4 sum of an IPv4 frame (Ethernet at 0, IHL honoured), folded. */
export function l4Sum(frame: Uint8Array): number {
  const ihl = (frame[14]! & 15) * 4;
  const l4len = be16(frame, 16) - ihl;
  const pseudo = [...frame.subarray(26, 34), 0, frame[23]!, (l4len >> 8) & 0xff, l4len & 0xff];
  return refSum(frame.subarray(14 + ihl, 14 + ihl + l4len), refSum(pseudo));
}

export function ipv4ChecksumOk(frame: Uint8Array): boolean {
  return refSum(frame.subarray(14, 14 + (frame[14]! & 15) * 4)) === 0xffff;
}

export function l4ChecksumOk(frame: Uint8Array): boolean {
  return l4Sum(frame) === 0xffff;
}

export interface TcpSpec {
  dstMac?: string;
  srcMac?: string;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  id?: number;
  ttl?: number;
  tos?: number;
  df?: boolean;
  options?: number[];
  ipOptions?: number[];
  payload: Uint8Array;
}

/** A TCP/IPv4 Ethernet frame; `csum`: 'full' (correct), 'partial' (pseudo-header sum, as TSO leaves it) or a fixed value. */
export function tcpFrame(s: TcpSpec, csum: 'full' | 'partial' | number = 'full'): Uint8Array {
  const opts = s.options ?? [];
  const ipo = s.ipOptions ?? [];
  const thl = 20 + opts.length;
  const ihl = 20 + ipo.length;
  const f = new Uint8Array(14 + ihl + thl + s.payload.length);
  f.set(macBytes(s.dstMac ?? MAC_B), 0);
  f.set(macBytes(s.srcMac ?? MAC_A), 6);
  put16(f, 12, 0x0800);
  f[14] = 0x40 | (ihl / 4);
  f[15] = s.tos ?? 0;
  put16(f, 16, ihl + thl + s.payload.length);
  put16(f, 18, s.id ?? 0x1234);
  put16(f, 20, s.df === false ? 0 : 0x4000);
  f[22] = s.ttl ?? 64;
  f[23] = 6;
  f.set(ipBytes(s.src ?? '10.244.1.2'), 26);
  f.set(ipBytes(s.dst ?? '10.244.2.3'), 30);
  f.set(ipo, 34);
  put16(f, 24, ~refSum(f.subarray(14, 14 + ihl)) & 0xffff);
  const t = 14 + ihl;
  put16(f, t, s.sport ?? 40000);
  put16(f, t + 2, s.dport ?? 5201);
  put32(f, t + 4, s.seq ?? 1000);
  put32(f, t + 8, s.ack ?? 777);
  f[t + 12] = (thl / 4) << 4;
  f[t + 13] = s.flags ?? 0x10;
  put16(f, t + 14, s.window ?? 512);
  f.set(opts, t + 20);
  f.set(s.payload, t + thl);
  if (csum === 'full') put16(f, t + 16, ~l4Sum(f) & 0xffff);
  else if (csum === 'partial') {
    const l4len = thl + s.payload.length;
    put16(f, t + 16, refSum([...f.subarray(26, 34), 0, 6, l4len >> 8, l4len & 0xff]));
  } else put16(f, t + 16, csum);
  return f;
}

/** A UDP/IPv4 frame with its checksum partial (pseudo-header sum), as the TAP hands it with NEEDS_CSUM. */
export function udpFrame(payload: Uint8Array, opts: { dstMac?: string; srcMac?: string } = {}): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + payload.length);
  f.set(macBytes(opts.dstMac ?? MAC_B), 0);
  f.set(macBytes(opts.srcMac ?? MAC_A), 6);
  put16(f, 12, 0x0800);
  f[14] = 0x45;
  put16(f, 16, 28 + payload.length);
  put16(f, 20, 0x4000);
  f[22] = 64;
  f[23] = 17;
  f.set([10, 244, 1, 2, 10, 244, 2, 3], 26);
  put16(f, 24, ~refSum(f.subarray(14, 34)) & 0xffff);
  put16(f, 34, 5000);
  put16(f, 36, 5201);
  put16(f, 38, 8 + payload.length);
  f.set(payload, 42);
  const l4len = 8 + payload.length;
  put16(f, 40, refSum([10, 244, 1, 2, 10, 244, 2, 3, 0, 17, l4len >> 8, l4len & 0xff]));
  return f;
}

export interface VnetSpec {
  flags?: number;
  gsoType?: number;
  hdrLen?: number;
  gsoSize?: number;
  csumStart?: number;
  csumOffset?: number;
}

export function vnetHdr(v: VnetSpec = {}): Uint8Array {
  const b = new Uint8Array(10);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, v.flags ?? 0);
  dv.setUint8(1, v.gsoType ?? 0);
  dv.setUint16(2, v.hdrLen ?? 0, true);
  dv.setUint16(4, v.gsoSize ?? 0, true);
  dv.setUint16(6, v.csumStart ?? 0, true);
  dv.setUint16(8, v.csumOffset ?? 0, true);
  return b;
}

export function readVnet(b: Uint8Array): Required<VnetSpec> {
  const dv = new DataView(b.buffer, b.byteOffset, 10);
  return {
    flags: dv.getUint8(0),
    gsoType: dv.getUint8(1),
    hdrLen: dv.getUint16(2, true),
    gsoSize: dv.getUint16(4, true),
    csumStart: dv.getUint16(6, true),
    csumOffset: dv.getUint16(8, true),
  };
}

/** Byte equality without the test framework's deep-equal (which is slow on large typed arrays). */
export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A TSO super-frame as the TAP returns it: virtio header (TCPV4, NEEDS_CSUM) + frame with a partial checksum. */
export function tsoFrame(s: TcpSpec, mss: number): Uint8Array {
  const f = tcpFrame(s, 'partial');
  const ihl = (f[14]! & 15) * 4;
  const thl = (f[14 + ihl + 12]! >> 4) * 4;
  return concat(vnetHdr({ flags: 1, gsoType: 1, hdrLen: 14 + ihl + thl, gsoSize: mss, csumStart: 14 + ihl, csumOffset: 16 }), f);
}

export interface TcpView {
  ihl: number;
  thl: number;
  totLen: number;
  id: number;
  df: boolean;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  check: number;
  payload: Uint8Array;
}

export function parseTcpFrame(f: Uint8Array): TcpView {
  const ihl = (f[14]! & 15) * 4;
  const t = 14 + ihl;
  const thl = (f[t + 12]! >> 4) * 4;
  const totLen = be16(f, 16);
  return {
    ihl,
    thl,
    totLen,
    id: be16(f, 18),
    df: (be16(f, 20) & 0x4000) !== 0,
    seq: be32(f, t + 4),
    ack: be32(f, t + 8),
    flags: f[t + 13]!,
    window: be16(f, t + 14),
    check: be16(f, t + 16),
    payload: f.subarray(t + thl, 14 + totLen),
  };
}

/** Deterministic PRNG (mulberry32) for the fuzz tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** A payload whose bytes say where they are (so a misplaced chunk shows). */
export function countingPayload(n: number, salt = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8) + salt) & 0xff;
  return b;
}

/** The segments a sender's TSO would produce for `spec` (independent of the datapath's segmenter). */
export function segmentsOf(spec: TcpSpec, mss: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const n = Math.max(1, Math.ceil(spec.payload.length / mss));
  const flags = spec.flags ?? 0x10;
  for (let k = 0; k < n; k++) {
    let fl = flags;
    if (k < n - 1) fl &= ~0x09; // FIN, PSH
    if (k > 0) fl &= ~0x80; // CWR
    out.push(
      tcpFrame({
        ...spec,
        payload: spec.payload.subarray(k * mss, (k + 1) * mss),
        seq: ((spec.seq ?? 1000) + k * mss) >>> 0,
        id: ((spec.id ?? 0x1234) + k) & 0xffff,
        flags: fl,
      }),
    );
  }
  return out;
}

/** Re-segments a written super-frame the way the kernel would, with the test's own checksums. */
export function resegment(written: Uint8Array): Uint8Array[] {
  const h = readVnet(written);
  const f = written.subarray(10);
  const t = parseTcpFrame(f);
  const hdr = 14 + t.ihl + t.thl;
  const spec: TcpSpec = {
    dstMac: [...f.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    srcMac: [...f.subarray(6, 12)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    seq: t.seq,
    ack: t.ack,
    flags: t.flags,
    window: t.window,
    id: t.id,
    options: [...f.subarray(14 + t.ihl + 20, hdr)],
    payload: f.subarray(hdr),
    tos: f[15]!,
    df: (f[20]! & 0x40) !== 0,
    ttl: f[22]!,
    src: [...f.subarray(26, 30)].join('.'),
    dst: [...f.subarray(30, 34)].join('.'),
    sport: (f[34]! << 8) | f[35]!,
    dport: (f[36]! << 8) | f[37]!,
  };
  return segmentsOf(spec, h.gsoSize);
}
