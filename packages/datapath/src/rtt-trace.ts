/**
 * RTT trace: where a ping's round trip goes inside the VTEP (bench:rtt, WEFT_RTT_TRACE=<file>).
 *
 * Off by default and then absent: the worker hands the routines the plain ports. With the variable set,
 * the TAP and UDP ports are wrapped by the tracing ports below, which look for ICMP echo frames (IPv4,
 * type 8 or 0) in what passes and stamp them with CLOCK_REALTIME, relative to the send time ping
 * wrote into the echo's payload (iputils: a struct timeval first). Both nodes of a bench share one
 * clock, so the stamps of both ends line up on one time axis per echo:
 *
 *   tap_read   frame read from the TAP          udp_sent     its datagram handed to sendmmsg (returned)
 *   udp_recv   datagram returned by recvmmsg    tap_written  inner frame written to the TAP (returned)
 *
 * and `wake`: when the poll() that preceded the batch returned (absent if the loop did not sleep).
 * Records are kept in memory and appended to the file as JSON lines while the worker is idle, after
 * the echo has left, so writing them does not delay it.
 */
import { appendFileSync } from 'node:fs';
import koffi from 'koffi';
import type { IoVecList } from './iovec-list.js';
import type { PacketArena, SendList } from './packet-arena.js';
import type { GsoBatch } from './gso-batch.js';
import type { OffloadTapPort, OffloadUdpPort, SendTally } from './ports.js';
import { VXLAN_HEADER_LEN } from './vxlan-header.js';

interface Stamp {
  stage: string;
  type: number;
  id: number;
  seq: number;
  us: number;
  wake: number | null;
}

export class RttTracer {
  private readonly ts = new BigInt64Array(2);
  private readonly clock = koffi.load('libc.so.6').func('int clock_gettime(int clk, void *ts)') as (c: number, t: BigInt64Array) => number;
  private readonly records: Stamp[] = [];
  /** Echoes read from the TAP and not yet sent: their identity and ping's send time. */
  private readonly pending: Array<{ type: number; id: number; seq: number; sent: number }> = [];
  /** Realtime µs when the last poll() returned; 0 once a batch has used it. */
  private wokeAt = 0;
  private batchWake = 0;

  constructor(private readonly file: string) {}

  /** Realtime in µs (CLOCK_REALTIME, as ping's gettimeofday). */
  now(): number {
    this.clock(0, this.ts);
    return Number(this.ts[0]) * 1e6 + Number(this.ts[1]) / 1e3;
  }

  woke(): void {
    this.wokeAt = this.now();
  }

  /** Called at the start of each batch that found work: the wake that led to it, if any. */
  private takeWake(): number {
    if (this.wokeAt !== 0) {
      this.batchWake = this.wokeAt;
      this.wokeAt = 0;
    }
    return this.batchWake;
  }

  /** Looks for an ICMP echo in the frame at `f`; records `stage` for it (and keeps it pending for the send). */
  frame(stage: string, dv: DataView, f: number, len: number, keep: boolean, t: number, wake: number): void {
    if (len < 14 + 20 + 8 + 16 || dv.getUint16(f + 12) !== 0x0800) return;
    const ihl = (dv.getUint8(f + 14) & 0xf) * 4;
    if (dv.getUint8(f + 14 + 9) !== 1) return;
    const icmp = f + 14 + ihl;
    const type = dv.getUint8(icmp);
    if (type !== 8 && type !== 0) return;
    const sent = Number(dv.getBigInt64(icmp + 8, true)) * 1e6 + Number(dv.getBigInt64(icmp + 16, true));
    const rec = { type, id: dv.getUint16(icmp + 4), seq: dv.getUint16(icmp + 6), wake: wake ? wake - sent : null };
    this.records.push({ stage, ...rec, us: t - sent });
    if (keep) this.pending.push({ type, id: rec.id, seq: rec.seq, sent });
  }

  tapRead(arena: PacketArena, n: number): void {
    if (n === 0) return;
    const t = this.now();
    const w = this.takeWake();
    for (let i = 0; i < n; i++) this.frame('tap_read', arena.dv, arena.frameOffset(i), arena.len[i], true, t, w);
  }

  udpReceived(arena: PacketArena, n: number): void {
    if (n === 0) return;
    const t = this.now();
    const w = this.takeWake();
    for (let i = 0; i < n; i++) {
      const len = arena.len[i];
      if (len > VXLAN_HEADER_LEN)
        this.frame('udp_recv', arena.dv, arena.datagramOffset(i) + VXLAN_HEADER_LEN, len - VXLAN_HEADER_LEN, false, t, w);
    }
  }

  tapWritten(arena: PacketArena, off: number, len: number): void {
    this.frame('tap_written', arena.dv, off, len, false, this.now(), 0);
  }

  /** Every echo read from the TAP since the last send has now been handed to sendmmsg. */
  sent(): void {
    if (this.pending.length === 0) return;
    const t = this.now();
    for (const p of this.pending) this.records.push({ stage: 'udp_sent', type: p.type, id: p.id, seq: p.seq, us: t - p.sent, wake: null });
    this.pending.length = 0;
  }

  /** Appends what was recorded (the worker calls this before it sleeps). */
  flush(): void {
    if (this.records.length === 0) return;
    appendFileSync(this.file, this.records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    this.records.length = 0;
  }
}

export class TracingTap implements OffloadTapPort {
  constructor(
    private readonly inner: OffloadTapPort,
    private readonly tr: RttTracer,
  ) {}

  readFrames(arena: PacketArena, max: number): number {
    const n = this.inner.readFrames(arena, max);
    this.tr.tapRead(arena, n);
    return n;
  }

  writeFrame(arena: PacketArena, off: number, len: number, spareHead?: boolean): boolean {
    const ok = this.inner.writeFrame(arena, off, len, spareHead);
    if (ok) this.tr.tapWritten(arena, off, len);
    return ok;
  }

  writeVectored(arena: PacketArena, iov: IoVecList): boolean {
    return this.inner.writeVectored(arena, iov);
  }
}

export class TracingUdp implements OffloadUdpPort {
  constructor(
    private readonly inner: OffloadUdpPort,
    private readonly tr: RttTracer,
  ) {}

  receive(arena: PacketArena, max: number): number {
    const n = this.inner.receive(arena, max);
    this.tr.udpReceived(arena, n);
    return n;
  }

  send(arena: PacketArena, list: SendList): SendTally {
    const t = this.inner.send(arena, list);
    this.tr.sent();
    return t;
  }

  sendBatch(arena: PacketArena, batch: GsoBatch): SendTally {
    const t = this.inner.sendBatch(arena, batch);
    this.tr.sent();
    return t;
  }
}
