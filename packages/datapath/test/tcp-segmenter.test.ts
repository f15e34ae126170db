/**
 * Transmit offload: TSO super-frames from the TAP cut into MSS segments, each checked field by field
 * against the super-frame and with checksums verified by the test's own (byte-pair) implementation;
 * partial checksums completed; UDP GSO packing rules (segments per message, bytes, equal sizes).
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '@weft/netbase';
import { GsoBatch } from '../src/gso-batch.js';
import { PacketArena } from '../src/packet-arena.js';
import { TcpSegmenter } from '../src/tcp-segmenter.js';
import { ChannelNetwork, channelNode, pin, type NodeOptions } from './channel-node.js';
import {
  MAC_A,
  MAC_B,
  concat,
  countingPayload,
  ipv4ChecksumOk,
  l4ChecksumOk,
  parseTcpFrame,
  tcpFrame,
  tsoFrame,
  udpFrame,
  vnetHdr,
  type TcpSpec,
} from './packets.js';

const IP_A = parseIpv4('192.168.77.1');
const IP_B = parseIpv4('192.168.77.2');
const TS_OPTS = [1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78]; // NOP NOP timestamps
const FIN = 0x01,
  PSH = 0x08,
  ACK = 0x10,
  CWR = 0x80;

function sender(opts: NodeOptions = {}) {
  const net = new ChannelNetwork();
  const a = channelNode(net, IP_A, MAC_A, { mode: 'offload', ...opts });
  channelNode(net, IP_B, MAC_B, { mode: 'offload' });
  pin(a, MAC_B, IP_B);
  return { net, a };
}

/** Sends one TSO frame and returns the inner frames that went on the wire. */
function segment(spec: TcpSpec, mss: number, opts: NodeOptions = {}) {
  const { net, a } = sender(opts);
  a.tap.toVtep.push(tsoFrame(spec, mss));
  a.encap.run();
  expect(net.violations).toEqual([]);
  for (const w of net.wire) expect([...w.data.subarray(0, 8)]).toEqual([8, 0, 0, 0, 0, 0, 1, 0]);
  return { net, a, frames: net.wire.map((w) => w.data.subarray(8)) };
}

describe('TCP segmentation of TSO super-frames', () => {
  it('cuts 64 KB into MSS segments: lengths, ids, seqs, flags, checksums, payload', () => {
    const payload = countingPayload(65535 - 20 - 32);
    const spec: TcpSpec = { payload, options: TS_OPTS, seq: 4000, id: 100, flags: ACK | PSH | FIN | CWR };
    const mss = 1398;
    const { a, frames, net } = segment(spec, mss);
    const n = Math.ceil(payload.length / mss);
    expect(frames).toHaveLength(n);
    const first = parseTcpFrame(tcpFrame(spec));
    frames.forEach((f, k) => {
      const t = parseTcpFrame(f);
      const chunk = Math.min(mss, payload.length - k * mss);
      expect(f.subarray(0, 14)).toEqual(tcpFrame(spec).subarray(0, 14));
      expect(t.totLen).toBe(20 + 32 + chunk);
      expect(f.length).toBe(14 + t.totLen);
      expect(t.id).toBe(100 + k);
      expect(t.seq).toBe(4000 + k * mss);
      expect(t.ack).toBe(first.ack);
      expect(t.window).toBe(first.window);
      expect(f.subarray(54, 66)).toEqual(new Uint8Array(TS_OPTS));
      expect(t.flags).toBe(ACK | (k === n - 1 ? PSH | FIN : 0) | (k === 0 ? CWR : 0));
      expect(ipv4ChecksumOk(f)).toBe(true);
      expect(l4ChecksumOk(f)).toBe(true);
      expect(t.payload).toEqual(payload.subarray(k * mss, k * mss + chunk));
    });
    // 47 segments of 1474 bytes do not fit one 65507-byte message: two GSO messages.
    expect(a.count('tx_gso_messages')).toBe(2);
    expect(a.count('tx_gso_frames')).toBe(1);
    expect(a.count('tx_gso_segments')).toBe(n);
    expect(a.count('tx_packets')).toBe(n);
    expect(a.count('tx_bytes')).toBe(frames.reduce((s, f) => s + f.length, 0));
    expect(net.wire.every((w) => w.dst === IP_B)).toBe(true);
  });

  it('wraps the IP id and the TCP sequence number', () => {
    const payload = countingPayload(5000);
    const { frames } = segment({ payload, seq: 0xffff_fc00, id: 0xfffe }, 1000);
    expect(frames.map((f) => parseTcpFrame(f).id)).toEqual([0xfffe, 0xffff, 0, 1, 2]);
    expect(frames.map((f) => parseTcpFrame(f).seq)).toEqual([0xffff_fc00, 0xffff_ffe8, 0x3d0, 0x7b8, 0xba0]);
    expect(frames.every(l4ChecksumOk)).toBe(true);
  });

  it('copies IP options into every segment; a payload that fits one MSS makes one segment', () => {
    const { frames } = segment({ payload: countingPayload(3001), ipOptions: [1, 1, 1, 0] }, 1000);
    expect(frames).toHaveLength(4);
    for (const f of frames) {
      expect(parseTcpFrame(f).ihl).toBe(24);
      expect(ipv4ChecksumOk(f) && l4ChecksumOk(f)).toBe(true);
    }
    expect(segment({ payload: countingPayload(999) }, 1000).frames).toHaveLength(1);
  });

  it('without UDP GSO sends every segment as its own message', () => {
    const { frames, a } = segment({ payload: countingPayload(20000) }, 1400, { gso: false });
    expect(frames).toHaveLength(15);
    expect(a.count('tx_gso_messages')).toBe(0);
    expect(frames.every(l4ChecksumOk)).toBe(true);
  });

  it('drops and counts super-frames it cannot segment', () => {
    const { a, net } = sender();
    const good = tcpFrame({ payload: countingPayload(3000) }, 'partial');
    const v6 = good.slice();
    v6[12] = 0x86;
    v6[13] = 0xdd;
    const frag = good.slice();
    frag[20] |= 0x20; // more fragments
    const udp = udpFrame(countingPayload(3000));
    const tso = (f: Uint8Array, gsoType = 1, gsoSize = 1000) =>
      concat(vnetHdr({ flags: 1, gsoType, gsoSize, csumStart: 34, csumOffset: 16 }), f);
    a.tap.toVtep.push(tso(v6), tso(frag), tso(udp), tso(good.subarray(0, 2000)), tso(good, 4), tso(good, 5), tso(good, 1, 20));
    a.encap.run();
    expect(a.drops('tx_bad_offload')).toBe(7);
    expect(net.wire).toHaveLength(0);
  });

  it('packs runs of equal-sized small frames to one peer into GSO messages, completing UDP checksums', () => {
    const { a, net } = sender({ slots: 64 });
    const frames = Array.from({ length: 100 }, (_, i) => udpFrame(countingPayload(64, i)));
    for (const f of frames) a.tap.toVtep.push(concat(vnetHdr({ flags: 1, csumStart: 34, csumOffset: 6 }), f));
    while (a.encap.run() > 0);
    expect(net.violations).toEqual([]);
    expect(net.wire).toHaveLength(100);
    net.wire.forEach((w, i) => {
      const inner = w.data.subarray(8);
      expect(l4ChecksumOk(inner)).toBe(true);
      expect(inner.subarray(42)).toEqual(frames[i]!.subarray(42));
    });
    expect(a.count('tx_csum_completed')).toBe(100);
    expect(a.count('tx_gso_messages')).toBe(2); // 64 + 36: two sendmmsg messages carried 100 datagrams
  });

  it('drops a frame whose checksum offsets point outside it', () => {
    const { a, net } = sender();
    a.tap.toVtep.push(concat(vnetHdr({ flags: 1, csumStart: 40, csumOffset: 60 }), udpFrame(countingPayload(10))));
    a.encap.run();
    expect(a.drops('tx_bad_offload')).toBe(1);
    expect(net.wire).toHaveLength(0);
  });
});

describe('GsoBatch packing rules', () => {
  it('closes a message on a shorter segment, at 64 segments and at 65507 bytes', () => {
    const b = new GsoBatch(256, 256, 0, 0);
    for (let i = 0; i < 70; i++) b.addDatagram(0, 100, 1);
    b.addDatagram(0, 50, 1); // shorter: joins and closes
    b.addDatagram(0, 50, 1);
    b.addDatagram(0, 100, 2);
    b.addDatagram(0, 200, 2); // larger than the message's segments: new message
    expect(Array.from(b.segs.subarray(0, b.count))).toEqual([64, 7, 1, 1, 1]);
    const big = new GsoBatch(256, 256, 0, 0);
    for (let i = 0; i < 50; i++) big.addDatagram(0, 1474, 1);
    expect(Array.from(big.segs.subarray(0, big.count))).toEqual([44, 6]);
    expect(big.bytes[0]).toBeLessThanOrEqual(65507);
  });
});

describe('TcpSegmenter.parse', () => {
  it('accepts a well-formed frame and counts its segments', () => {
    const a = new PacketArena(1, PacketArena.offloadSlotSize());
    const f = tcpFrame({ payload: countingPayload(10000) }, 'partial');
    a.u8.set(f, 64);
    const s = new TcpSegmenter(a);
    expect(s.parse(64, f.length, 1448)).toBe(7);
    expect(s.parse(64, f.length, 47)).toBe(0); // MSS below Linux's minimum
    expect(s.parse(64, f.length - 1, 1448)).toBe(0); // length disagrees with the IP header
  });
});
