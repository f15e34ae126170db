/**
 * Flow entropy (RFC 7348 §5) on the wire: weft sends each inner flow from one outer UDP source port,
 * distinct flows from distinct ports (a hash into a few sockets on ephemeral ports), and a Linux vxlan
 * peer configured as flannel configures it accepts them. tcpdump on the receiving node's underlay
 * decodes VXLAN (-T vxlan) and shows outer source port next to the inner flow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, addEndpoint, buildPair, connectBoth, type OverlayEndpoint, type PairNode } from '@weft/netlab';

const FLOWS = 12;

/** Sends 20 datagrams on each of FLOWS inner UDP flows (distinct source ports) to `dst`:9. */
const SEND_FLOWS = (src: string, dst: string): string[] => [
  '-c',
  `import socket, time\nfor i in range(${FLOWS}):\n  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n  s.bind(('${src}',41000+i))\n  for _ in range(20):\n    s.sendto(b'y'*64,('${dst}',9)); time.sleep(0.001)\n  s.close()`,
];

/** Outer source port per inner UDP source port, from `tcpdump -nn -T vxlan` lines (outer line, then inner line). */
function portsByFlow(out: string, underlaySrc: string): Map<number, Set<number>> {
  const m = new Map<number, Set<number>>();
  const lines = out.split('\n');
  for (let i = 0; i < lines.length - 1; i++) {
    const outer = new RegExp(`IP ${underlaySrc.replaceAll('.', '\\.')}\\.(\\d+) > [\\d.]+\\.\\d+: VXLAN`).exec(lines[i]!);
    if (!outer) continue;
    // -T vxlan decodes the inner UDP datagram as VXLAN too: only its addresses and ports matter here
    const inner = /^IP [\d.]+\.(41\d\d\d) > [\d.]+\.9: /.exec(lines[i + 1]!);
    if (!inner) continue;
    const flow = Number(inner[1]);
    if (!m.has(flow)) m.set(flow, new Set());
    m.get(flow)!.add(Number(outer[1]));
  }
  return m;
}

async function capture(lab: Lab, node: PairNode, port: number, send: () => Promise<unknown>): Promise<string> {
  const dump = lab.spawn(node.ns, 'tcpdump', 'tcpdump', ['-l', '-nn', '-i', 'u0', '-T', 'vxlan', `udp dst port ${port}`]);
  await dump.waitFor(/listening on/, 15_000);
  await send();
  await new Promise((r) => setTimeout(r, 1000));
  await dump.stop();
  return dump.stdout;
}

for (const offload of ['off', 'on'] as const) {
  describe(`flow entropy, weft -> weft (offload ${offload})`, () => {
    const lab = Lab.create('fe');
    let a: PairNode, b: PairNode, ea: OverlayEndpoint, eb: OverlayEndpoint;
    beforeAll(async () => {
      [a, b] = await buildPair(lab);
      ea = await addEndpoint(lab, a, {
        kind: 'weft',
        dev: 'weft.1',
        mac: '02:aa:00:00:00:01',
        net: 244,
        index: 1,
        weftArgs: ['--offload', offload, '--source-ports', '8'],
      });
      eb = await addEndpoint(lab, b, {
        kind: 'weft',
        dev: 'weft.1',
        mac: '02:bb:00:00:00:01',
        net: 244,
        index: 2,
        weftArgs: ['--offload', offload, '--source-ports', '8'],
      });
      await connectBoth(lab, a, b, ea, eb);
      await lab.exec(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '-I', ea.ip, eb.ip], 20_000);
    });
    afterAll(() => lab.destroy());

    it('one flow leaves from one source port; distinct flows from distinct ports in the ephemeral range', async () => {
      const out = await capture(lab, b, 8472, () => lab.exec(a.ns, 'python3', SEND_FLOWS(ea.ip, eb.ip), 60_000));
      const flows = portsByFlow(out, a.underlayIp);
      expect(flows.size).toBe(FLOWS);
      for (const ports of flows.values()) expect(ports.size).toBe(1);
      const all = new Set([...flows.values()].map((p) => [...p][0]!));
      expect(all.size).toBeGreaterThanOrEqual(3); // 12 flows over 8 sockets: P(< 3 ports) is ~1e-6
      const [lo, hi] = (await lab.exec(a.ns, 'cat', ['/proc/sys/net/ipv4/ip_local_port_range'])).stdout.trim().split(/\s+/).map(Number);
      for (const p of all) {
        expect(p).toBeGreaterThanOrEqual(lo!);
        expect(p).toBeLessThanOrEqual(hi!);
      }
    });

    it('--source-ports 0: every datagram leaves from the VXLAN port', async () => {
      const c = await addEndpoint(lab, a, {
        kind: 'weft',
        dev: 'weft.2',
        mac: '02:ac:00:00:00:01',
        net: 245,
        index: 1,
        vni: 2,
        port: 8473,
        weftArgs: ['--offload', offload, '--source-ports', '0'],
      });
      const d = await addEndpoint(lab, b, {
        kind: 'weft',
        dev: 'weft.2',
        mac: '02:bc:00:00:00:01',
        net: 245,
        index: 2,
        vni: 2,
        port: 8473,
        weftArgs: ['--offload', offload],
      });
      await connectBoth(lab, a, b, c, d);
      const out = await capture(lab, b, 8473, () => lab.exec(a.ns, 'python3', SEND_FLOWS(c.ip, d.ip), 60_000));
      const flows = portsByFlow(out, a.underlayIp);
      expect(flows.size).toBe(FLOWS);
      expect(new Set([...flows.values()].flatMap((p) => [...p]))).toEqual(new Set([8473]));
    });
  });
}

describe('flow entropy, weft -> kernel vxlan (flannel-style peer)', () => {
  const lab = Lab.create('fk');
  let a: PairNode, b: PairNode, ea: OverlayEndpoint, kb: OverlayEndpoint;
  beforeAll(async () => {
    [a, b] = await buildPair(lab);
    ea = await addEndpoint(lab, a, {
      kind: 'weft',
      dev: 'weft.1',
      mac: '02:aa:00:00:00:01',
      net: 244,
      index: 1,
      weftArgs: ['--source-ports', '8'],
    });
    kb = await addEndpoint(lab, b, { kind: 'kernel', dev: 'flannel.1', mac: '02:bb:00:00:00:01', net: 244, index: 2 });
    await connectBoth(lab, a, b, ea, kb);
  });
  afterAll(() => lab.destroy());

  it('the kernel accepts datagrams from every source port: all flows arrive, pings answer', async () => {
    await lab.exec(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '-I', ea.ip, kb.ip], 20_000);
    const rx = lab.spawn(b.ns, 'udp sink', 'python3', [
      '-u',
      '-c',
      `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${kb.ip}',9))\nprint('ready')\nseen=set()\nn=0\nwhile n < ${FLOWS * 20}:\n  d,a=s.recvfrom(100); n+=1; seen.add(a[1])\nprint('got', n, len(seen))`,
    ]);
    await rx.waitFor(/ready/);
    const out = await capture(lab, b, 8472, () => lab.exec(a.ns, 'python3', SEND_FLOWS(ea.ip, kb.ip), 60_000));
    const got = await rx.waitFor(/got (\d+) (\d+)/, 30_000);
    expect(Number(got[1])).toBe(FLOWS * 20);
    expect(Number(got[2])).toBe(FLOWS);
    const flows = portsByFlow(out, a.underlayIp);
    expect(new Set([...flows.values()].flatMap((p) => [...p])).size).toBeGreaterThanOrEqual(3);
  });
});
