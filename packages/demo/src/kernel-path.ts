/**
 * The same pods' traffic over Linux kernel vxlan, for the demo's side-by-side numbers.
 *
 * Between two nodes, a kernel vxlan device `kvx.2` (VNI 2, UDP 4789, `nolearning`) is programmed the
 * way flannel programs `flannel.1` (FDB entry, permanent neighbour), and the route to the other node's
 * pod subnet is switched from weft's TAP to it; `restore()` switches it back and removes the devices.
 * The pods, their addresses and the underlay stay exactly the same: only the VTEP changes.
 * weftd only rewrites its routes on lease events, which the demo does not cause while measuring.
 */
import type { ClusterNode, Lab } from '@weft/netlab';
import { neighPermanentLine, routeOnlinkLine } from '@weft/netbase';

interface Side {
  node: ClusterNode;
  subnet: string; // 10.244.3.0/24
  gw: string; // 10.244.3.0
  mac: string;
}

export class KernelPath {
  private readonly sides: [Side, Side];

  constructor(
    private readonly lab: Lab,
    a: { node: ClusterNode; subnet: string },
    b: { node: ClusterNode; subnet: string },
  ) {
    const side = (x: { node: ClusterNode; subnet: string }): Side => ({
      ...x,
      gw: x.subnet.split('/')[0],
      mac: `02:4b:00:00:00:${x.node.index.toString(16).padStart(2, '0')}`,
    });
    this.sides = [side(a), side(b)];
  }

  /** Creates kvx.2 on both nodes and routes each node's traffic for the other's subnet through it. */
  async enable(): Promise<void> {
    for (const s of this.sides) {
      await this.lab.ipBatch(s.node.ns, [
        `link add kvx.2 type vxlan id 2 local ${s.node.ip} dev eth0 dstport 4789 nolearning`,
        `link set kvx.2 address ${s.mac} mtu 1450 up`,
        `addr add ${s.gw}/32 dev kvx.2`,
      ]);
    }
    const [a, b] = this.sides;
    await this.point(a, b, 'kvx.2');
    await this.point(b, a, 'kvx.2');
  }

  /** Turns tx checksum offload on or off on both nodes' underlay veth (see bench/datapath-bench.mjs). */
  async txOffload(on: boolean): Promise<void> {
    for (const s of this.sides) await this.lab.exec(s.node.ns, 'ethtool', ['-K', 'eth0', 'tx', on ? 'on' : 'off']);
  }

  /** Routes back through weft's TAP and removes the kernel devices; the underlay's tx offload is left as
   * it is (the caller sets it per measurement). Safe to call twice. */
  async restore(weftDev: string): Promise<void> {
    const [a, b] = this.sides;
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      await this.lab.ipBatch(from.node.ns, [`route replace ${to.subnet} via ${to.gw} dev ${weftDev} onlink`]).catch(() => undefined);
    }
    for (const s of this.sides) await this.lab.ipBatch(s.node.ns, ['link del kvx.2']).catch(() => undefined);
  }

  private async point(from: Side, to: Side, dev: string): Promise<void> {
    await this.lab.exec(from.node.ns, 'bridge', ['fdb', 'append', to.mac, 'dev', dev, 'dst', to.node.ip, 'self', 'permanent']);
    await this.lab.ipBatch(from.node.ns, [neighPermanentLine(to.gw, to.mac, dev), routeOnlinkLine(to.subnet, to.gw, dev)]);
  }
}
