/**
 * The datapath on real devices: two node namespaces over a veth underlay, weft-vtep on TAPs, and a
 * Linux vxlan device configured as flannel configures it for the interop cases. Every suite runs in
 * both modes: per-packet (--offload off) and offload (--offload on: virtio_net_hdr + TSO on the TAP,
 * UDP GSO/GRO), the latter with >= 300 MB transfers both ways whose SHA-256 must match.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, TCP_HASH, addEndpoint, buildPair, connectBoth, type LabProcess, type OverlayEndpoint, type PairNode } from '@weft/netlab';

const MAC_A = '02:aa:00:00:00:01';
const MAC_B = '02:bb:00:00:00:01';

async function ping(lab: Lab, node: PairNode, from: string, to: string, count = 3): Promise<void> {
  // The first echo may race the FDB command on stdin; allow a few retries before asserting.
  for (let attempt = 0; ; attempt++) {
    try {
      await lab.exec(node.ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '1', '-I', from, to], 20_000);
      return;
    } catch (e) {
      if (attempt >= 4) throw e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

async function tcpTransfer(
  lab: Lab,
  srv: PairNode,
  srvIp: string,
  cli: PairNode,
  bytes: number,
  port = 5201,
  seed = 7,
): Promise<{ sent: string; received: string }> {
  const server = lab.spawn(srv.ns, 'tcp-hash server', process.execPath, [TCP_HASH, 'server', srvIp, String(port)]);
  await server.waitFor(/listening/);
  const out = await lab.exec(cli.ns, process.execPath, [TCP_HASH, 'client', srvIp, String(port), String(bytes), String(seed)], 120_000);
  const received = await server.waitFor(/received (\d+) ([0-9a-f]+)/, 60_000);
  const sent = /sent (\d+) ([0-9a-f]+)/.exec(out.stdout);
  expect(sent?.[1]).toBe(String(bytes));
  expect(received[1]).toBe(String(bytes));
  return { sent: sent![2]!, received: received[2]! };
}

async function counters(p: LabProcess): Promise<{ counters: Record<string, number>; drops: Record<string, number> }> {
  const before = p.stdout.length;
  p.child.stdin!.write('counters\n');
  for (let i = 0; i < 50; i++) {
    const line = p.stdout
      .slice(before)
      .split('\n')
      .find((l) => l.startsWith('{"counters"'));
    if (line) return JSON.parse(line);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('weft-vtep did not print counters');
}

const MODES = [
  { name: 'per-packet', offload: 'off', ready: /offload=off/, bigTransfer: 128 * 1024 * 1024, interopTransfer: 32 * 1024 * 1024 },
  { name: 'offload', offload: 'on', ready: /offload=tso,gso,gro/, bigTransfer: 320 * 1024 * 1024, interopTransfer: 320 * 1024 * 1024 },
] as const;

/** The offload counters moved (or stayed at zero in per-packet mode). */
async function expectOffloadsUsed(p: LabProcess, offload: boolean, gro: boolean): Promise<void> {
  const c = await counters(p);
  if (!offload) {
    expect(c.counters.tx_gso_frames! + c.counters.rx_coalesced_frames!).toBe(0);
    return;
  }
  expect(c.counters.tx_gso_frames).toBeGreaterThan(100);
  expect(c.counters.rx_coalesced_frames).toBeGreaterThan(100);
  if (gro) expect(c.counters.rx_gro_messages).toBeGreaterThan(100);
  expect(c.drops.tx_bad_offload).toBe(0);
}

for (const mode of MODES) {
  describe(`weft <-> weft over a veth underlay (${mode.name})`, () => {
    const lab = Lab.create('dp');
    let a: PairNode, b: PairNode, ea: OverlayEndpoint, eb: OverlayEndpoint;

    beforeAll(async () => {
      await Lab.sweep();
      [a, b] = await buildPair(lab);
      const weftArgs = ['--offload', mode.offload];
      ea = await addEndpoint(lab, a, { kind: 'weft', dev: 'weft.1', mac: MAC_A, net: 244, index: 1, weftArgs });
      eb = await addEndpoint(lab, b, { kind: 'weft', dev: 'weft.1', mac: MAC_B, net: 244, index: 2, weftArgs });
      expect(ea.proc!.stdout).toMatch(mode.ready);
      await connectBoth(lab, a, b, ea, eb);
    });
    afterAll(() => lab.destroy());

    it('creates the TAP with the requested name, MAC and MTU (underlay 1500 - 50)', async () => {
      const { stdout } = await lab.exec(a.ns, 'ip', ['-j', 'link', 'show', 'dev', 'weft.1']);
      const [link] = JSON.parse(stdout) as Array<{ address: string; mtu: number; operstate: string; flags: string[] }>;
      expect(link!.address).toBe(MAC_A);
      expect(link!.mtu).toBe(1450);
      expect(link!.flags).toContain('UP');
    });

    it('pings across, both ways', async () => {
      await ping(lab, a, ea.ip, eb.ip);
      await ping(lab, b, eb.ip, ea.ip);
    });

    it(`carries ${mode.bigTransfer >> 20} MiB of TCP each way byte for byte (SHA-256 end to end)`, async () => {
      const one = await tcpTransfer(lab, b, eb.ip, a, mode.bigTransfer);
      expect(one.received).toBe(one.sent);
      const c = await counters(ea.proc!);
      expect(c.counters.tx_packets).toBeGreaterThan(mode.bigTransfer / 1500);
      const two = await tcpTransfer(lab, a, ea.ip, b, mode.bigTransfer);
      expect(two.received).toBe(two.sent);
      await expectOffloadsUsed(ea.proc!, mode.offload === 'on', true);
    });

    it('drops malformed datagrams by reason and keeps forwarding', async () => {
      // A second underlay address on b plays a stranger; the datagrams come from b's namespace.
      await lab.exec(b.ns, 'ip', ['addr', 'add', '192.168.77.3/24', 'dev', 'u0']);
      const before = await counters(ea.proc!);
      const script = `
        const s = require('node:dgram').createSocket('udp4');
        const inner = Buffer.alloc(64, 0x5a); Buffer.from('${MAC_A.replaceAll(':', '')}', 'hex').copy(inner, 0);
        Buffer.from('02cc00000001', 'hex').copy(inner, 6); inner.writeUInt16BE(0x0800, 12);
        const vx = (flags, vni, body) => { const h = Buffer.alloc(8); h[0] = flags; h.writeUIntBE(vni, 4, 3); return Buffer.concat([h, body]); };
        const vlan = Buffer.from(inner); vlan.writeUInt16BE(0x8100, 12);
        const rnd = Buffer.alloc(200); for (let i = 0; i < rnd.length; i++) rnd[i] = (i * 37 + 11) & 0xff; rnd[0] = 0x00;
        const src = process.argv[1];
        const msgs = src === 'peer'
          ? [Buffer.alloc(3), vx(8, 1, Buffer.alloc(10)), vx(0, 1, inner), vx(8, 9, inner), vx(8, 1, vlan), rnd]
          : [vx(8, 1, inner)];
        s.bind({ address: src === 'peer' ? '192.168.77.2' : '192.168.77.3' }, async () => {
          for (const m of msgs) await new Promise((r) => s.send(m, 8472, '192.168.77.1', r));
          s.close();
        });`;
      await lab.exec(b.ns, process.execPath, ['-e', script, 'peer']);
      await lab.exec(b.ns, process.execPath, ['-e', script, 'stranger']);
      await ping(lab, a, ea.ip, eb.ip, 2);
      const after = await counters(ea.proc!);
      const d = (r: string) => after.drops[r]! - before.drops[r]!;
      expect(d('rx_runt')).toBe(2);
      expect(d('rx_bad_flags')).toBe(2);
      expect(d('rx_bad_vni')).toBe(1);
      expect(d('rx_inner_vlan')).toBe(1);
      expect(d('rx_unknown_peer')).toBe(1);
      expect(ea.proc!.running).toBe(true);
    });
  });

  describe(`weft <-> kernel vxlan (flannel's device: id 1 dstport 8472 nolearning) (${mode.name})`, () => {
    const lab = Lab.create('dpk');
    let a: PairNode, b: PairNode, ea: OverlayEndpoint, eb: OverlayEndpoint;

    beforeAll(async () => {
      [a, b] = await buildPair(lab);
      ea = await addEndpoint(lab, a, {
        kind: 'weft',
        dev: 'weft.1',
        mac: MAC_A,
        net: 244,
        index: 1,
        weftArgs: ['--offload', mode.offload],
      });
      expect(ea.proc!.stdout).toMatch(mode.ready);
      eb = await addEndpoint(lab, b, { kind: 'kernel', dev: 'flannel.1', mac: MAC_B, net: 244, index: 2 });
      await connectBoth(lab, a, b, ea, eb);
    });
    afterAll(() => lab.destroy());

    it('pings both ways', async () => {
      await ping(lab, a, ea.ip, eb.ip);
      await ping(lab, b, eb.ip, ea.ip);
    });

    it(`carries ${mode.interopTransfer >> 20} MiB of TCP weft -> kernel and kernel -> weft byte for byte`, async () => {
      const one = await tcpTransfer(lab, b, eb.ip, a, mode.interopTransfer);
      expect(one.received).toBe(one.sent);
      const two = await tcpTransfer(lab, a, ea.ip, b, mode.interopTransfer);
      expect(two.received).toBe(two.sent);
      await expectOffloadsUsed(ea.proc!, mode.offload === 'on', false);
    });

    it('carries 4 concurrent TCP streams kernel -> weft byte for byte (interleaved flows through the coalescer)', async () => {
      const before = await counters(ea.proc!);
      const streams = await Promise.all([0, 1, 2, 3].map((k) => tcpTransfer(lab, a, ea.ip, b, 32 * 1024 * 1024, 5211 + k, 11 + k)));
      for (const s of streams) expect(s.received).toBe(s.sent);
      const after = await counters(ea.proc!);
      const d = (k: string) => after.counters[k]! - before.counters[k]!;
      if (mode.offload === 'on') expect(d('rx_coalesced_segments')).toBeGreaterThan(4 * d('rx_coalesced_frames'));
      expect(ea.proc!.running).toBe(true);
    });
  });
}

describe('weft offload <-> weft per-packet (a rolling upgrade: mixed modes)', () => {
  const lab = Lab.create('dpm');
  let a: PairNode, b: PairNode, ea: OverlayEndpoint, eb: OverlayEndpoint;

  beforeAll(async () => {
    [a, b] = await buildPair(lab);
    ea = await addEndpoint(lab, a, { kind: 'weft', dev: 'weft.1', mac: MAC_A, net: 244, index: 1, weftArgs: ['--offload', 'on'] });
    eb = await addEndpoint(lab, b, { kind: 'weft', dev: 'weft.1', mac: MAC_B, net: 244, index: 2, weftArgs: ['--offload', 'off'] });
    await connectBoth(lab, a, b, ea, eb);
  });
  afterAll(() => lab.destroy());

  it('carries 64 MiB of TCP each way byte for byte', async () => {
    await ping(lab, a, ea.ip, eb.ip);
    const one = await tcpTransfer(lab, b, eb.ip, a, 64 * 1024 * 1024);
    expect(one.received).toBe(one.sent);
    const two = await tcpTransfer(lab, a, ea.ip, b, 64 * 1024 * 1024);
    expect(two.received).toBe(two.sent);
    await expectOffloadsUsed(ea.proc!, true, false);
    await expectOffloadsUsed(eb.proc!, false, false);
  });
});
