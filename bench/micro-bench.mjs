#!/usr/bin/env node
// pnpm bench:micro — the datapath's per-packet building blocks raced against the obvious alternatives
// (undici's habit: a benchmark keeps the shipped function honest). benny reports ops/s per case.
import b from 'benny';
import { Fdb, parseMac, writeVxlanHeader } from '@weft/datapath';

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
if (sink === 42) console.log('');
