/**
 * The worker's loop (vtep-loop.ts) over in-memory ports: the commands the control plane sends (fdb-set, fdb-del,
 * fdb-replace, options, fdb-dump, stop) change what the routines do, a bad command is a warning and not the end
 * of the loop, and the heartbeat moves every turn. Production wires the same loop to the Linux ports (vtep-worker.ts).
 */
import { describe, expect, it } from 'vitest';
import { CTRL_PENDING, toWireEntry, type VtepCommand, type VtepEvent } from '../src/commands.js';
import { COUNTER_INDEX } from '../src/counters.js';
import { formatIpv4, parseIpv4 } from '@weft/netbase';
import { VtepLoop } from '../src/vtep-loop.js';
import { ChannelNetwork, channelNode, type ChannelNode } from './channel-node.js';
import { MAC_A, MAC_B, macBytes } from './packets.js';

const IP_A = parseIpv4('192.168.77.1');
const IP_B = parseIpv4('192.168.77.2');

function frame(dst: string, src: string): Uint8Array {
  const f = new Uint8Array(14 + 64).fill(0x5a);
  f.set(macBytes(dst), 0);
  f.set(macBytes(src), 6);
  f[12] = 0x08;
  f[13] = 0x00;
  return f;
}

/** Node A with a loop whose commands come from a queue, as the worker's MessagePort delivers them. */
function loopNode(): {
  net: ChannelNetwork;
  a: ChannelNode;
  loop: VtepLoop;
  send(cmd: VtepCommand): void;
  events: VtepEvent[];
  idles: number;
} {
  const net = new ChannelNetwork();
  const a = channelNode(net, IP_A, MAC_A);
  channelNode(net, IP_B, MAC_B);
  const queue: VtepCommand[] = [];
  const ctrl = new Int32Array(new SharedArrayBuffer(16));
  const events: VtepEvent[] = [];
  const io = { nextCommand: () => queue.shift(), post: (e: VtepEvent) => void events.push(e), idle: () => void t.idles++ };
  const loop = new VtepLoop(a.st, a, ctrl, io, () => 0);
  const t = {
    net,
    a,
    loop,
    events,
    idles: 0,
    send(cmd: VtepCommand) {
      queue.push(cmd);
      Atomics.store(ctrl, CTRL_PENDING, 1);
    },
  };
  return t;
}

describe('the worker loop', () => {
  it('forwards only once an fdb-set names the peer, and stops forwarding after fdb-del', () => {
    const t = loopNode();
    t.a.inject(frame(MAC_B, MAC_A));
    expect(t.loop.turn()).toBe(true);
    expect(t.net.wire).toHaveLength(0);
    expect(t.a.drops('tx_no_fdb')).toBe(1);

    t.send({ op: 'fdb-set', entry: toWireEntry(MAC_B, '192.168.77.2') });
    t.a.inject(frame(MAC_B, MAC_A));
    t.loop.turn();
    expect(t.net.wire.map((w) => formatIpv4(w.dst))).toEqual(['192.168.77.2']);

    const m = toWireEntry(MAC_B, '0.0.0.0');
    t.send({ op: 'fdb-del', hi: m.hi, lo: m.lo });
    t.a.inject(frame(MAC_B, MAC_A));
    t.loop.turn();
    expect(t.net.wire).toHaveLength(1);
  });

  it('fdb-replace swaps the whole table; fdb-dump answers with it; the gauges follow', () => {
    const t = loopNode();
    t.send({ op: 'fdb-set', entry: toWireEntry('02:00:00:00:00:99', '10.9.9.9') });
    t.send({ op: 'fdb-replace', entries: [toWireEntry(MAC_B, '192.168.77.2')] });
    t.send({ op: 'fdb-dump', id: 7 });
    t.loop.turn();
    const dump = t.events.find((e) => e.op === 'fdb');
    expect(dump).toMatchObject({ op: 'fdb', id: 7, entries: [{ mac: MAC_B, remote: '192.168.77.2', kind: 'pinned' }] });
    expect(t.a.st.c[COUNTER_INDEX.fdb_entries]).toBe(1);
  });

  it('a command it cannot apply is a warning, and the loop goes on', () => {
    const t = loopNode();
    t.send({ op: 'options', options: { flood: true } });
    t.send({ op: 'no-such-op' } as unknown as VtepCommand);
    t.send({ op: 'fdb-set', entry: toWireEntry(MAC_B, '192.168.77.2') });
    expect(t.loop.turn()).toBe(true);
    expect(t.a.st.c[COUNTER_INDEX.fdb_entries]).toBe(1);
  });

  it('idles when nothing moved, counts a heartbeat every turn, and ends at stop', () => {
    const t = loopNode();
    const beat = (): number => t.a.st.c[COUNTER_INDEX.loop_heartbeat]!;
    t.loop.turn();
    t.loop.turn();
    expect(beat()).toBe(2);
    expect(t.idles).toBe(2);
    t.send({ op: 'stop' });
    t.loop.run();
    expect(t.loop.stopped).toBe(true);
    expect(t.events.at(-1)).toEqual({ op: 'stopped' });
    expect(beat()).toBe(2);
  });

  it('toWireEntry refuses what the worker could not apply, on the control side', () => {
    expect(() => toWireEntry('02:00:00:00:00', '10.0.0.1')).toThrow(/invalid MAC address/);
    expect(() => toWireEntry(MAC_B, '10.0.0.300')).toThrow(/invalid IPv4 address/);
  });
});
