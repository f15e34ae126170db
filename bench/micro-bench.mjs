#!/usr/bin/env node
// pnpm bench:micro — the datapath's per-packet building blocks raced against the obvious alternatives
// (undici's habit: a benchmark keeps the shipped function honest). benny reports ops/s per case.
import b from 'benny';
import { Fdb, PacketArena, parseMac, writeVxlanHeader } from '@weft/datapath';

const N = 1000;
const macs = Array.from({ length: N }, (_, i) =>
  parseMac(`02:${(i >> 8).toString(16).padStart(2, '0')}:00:00:${(i & 0xff).toString(16).padStart(2, '0')}:01`),
);
const fdb = new Fdb();
const map = new Map();
for (let i = 0; i < N; i++) {
  fdb.setPinned(macs[i].hi, macs[i].lo, 0xc0a80000 + i);
  map.set(macs[i].hi * 0x1_0000_0000 + macs[i].lo, 0xc0a80000 + i);
}
const frame = new DataView(new ArrayBuffer(2048));
const bytes = new Uint8Array(frame.buffer);
let sink = 0;

await b.suite(
  "FDB lookup of a frame's destination MAC (1000 entries)",
  b.add('shipped: PairTable on (hi16, lo32), read from the frame', () => {
    for (let i = 0; i < N; i++) {
      frame.setUint16(64, macs[i].hi);
      frame.setUint32(66, macs[i].lo);
      sink += fdb.lookup(frame.getUint16(64), frame.getUint32(66));
    }
  }),
  b.add('alternative: Map keyed by the 48-bit MAC as a number', () => {
    for (let i = 0; i < N; i++) {
      frame.setUint16(64, macs[i].hi);
      frame.setUint32(66, macs[i].lo);
      sink += map.get(frame.getUint16(64) * 0x1_0000_0000 + frame.getUint32(66));
    }
  }),
  b.cycle(),
  b.complete(),
);

await b.suite(
  'VXLAN header written in place',
  b.add('shipped: two DataView setUint32', () => {
    for (let i = 0; i < N; i++) writeVxlanHeader(frame, 56, 1);
  }),
  b.add('alternative: eight byte stores', () => {
    for (let i = 0; i < N; i++) {
      bytes[56] = 8;
      bytes[57] = 0;
      bytes[58] = 0;
      bytes[59] = 0;
      bytes[60] = 0;
      bytes[61] = 0;
      bytes[62] = 1;
      bytes[63] = 0;
    }
  }),
  b.cycle(),
  b.complete(),
);

// The checksum's SIMD bulk over one segment: a 1398-byte sum at offset 74 (what the segmenter sums per
// segment) gives 1392 bytes from offset 76 to the module. The alternative is the module shipped before,
// 16 bytes per step into two 64-bit lanes (its text form is in the git history of wasm-checksum.ts).
const OLD_CHECKSUM_MODULE =
  'AGFzbQEAAAABBwFgAn9/AX8CCAEBZQFtAgABAwIBAAcFAQFzAAAKkAEBjQEDAX8CewF+IAAgAWohAgJAA0AgACACTw0BIAD9AAAAIQQgAyAE/ckB/c4BIAT9ygH9zgEhAyAAQRBqIQAMAAsLIAP9HQAgA/0dAXwhBSAFQv//A4MgBUIQiHwhBSAFQv//A4MgBUIQiHwhBSAFQv//A4MgBUIQiHwhBSAFQv//A4MgBUIQiHwhBSAFpws=';
const arena = new PacketArena(2, PacketArena.offloadSlotSize(), 4096);
const oldMemory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
const oldModule = new WebAssembly.Module(Buffer.from(OLD_CHECKSUM_MODULE, 'base64'));
const oldSum = new WebAssembly.Instance(oldModule, { e: { m: oldMemory } }).exports.s;
const oldBytes = new Uint8Array(oldMemory.buffer);
for (let i = 0; i < 2048; i++) arena.u8[i] = oldBytes[i] = (i * 7 + (i >> 8)) & 0xff;
if (arena.sumWords(76, 1392) % 0xffff !== oldSum(76, 1392) % 0xffff) throw new Error('checksum modules disagree');

await b.suite(
  'Checksum SIMD bulk of a 1398-byte segment (1392 bytes)',
  b.add('shipped: extadd_pairwise_i16x8_u, 64 bytes per turn, four accumulators', () => {
    for (let i = 0; i < N; i++) sink += arena.sumWords(76, 1392);
  }),
  b.add('alternative: previous module, 16 bytes per step into i64x2 lanes', () => {
    for (let i = 0; i < N; i++) sink += oldSum(76, 1392);
  }),
  b.cycle(),
  b.complete(),
);
if (sink === 42) console.log('');
