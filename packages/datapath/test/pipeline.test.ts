/**
 * The encap/decap pipeline end to end over in-memory ports: two VTEPs on a channel "underlay",
 * every drop reason provoked once and checked against its counter. Every case runs in both datapath
 * modes (per-packet, and offload with virtio headers and UDP GSO/GRO on the channel ports).
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '@weft/netbase';
import { ChannelNetwork, channelNode, pin, type ChannelNode, type Mode, type NodeOptions } from './channel-node.js';
import { MAC_A, MAC_B, macBytes } from './packets.js';

const IP_A = parseIpv4('192.168.77.1');
const IP_B = parseIpv4('192.168.77.2');
const IP_STRANGER = parseIpv4('192.168.77.99');

function frame(dst: string, src: string, etherType = 0x0800, payloadLen = 64, fill = 0x5a): Uint8Array {
  const f = new Uint8Array(14 + payloadLen).fill(fill);
  f.set(macBytes(dst), 0);
  f.set(macBytes(src), 6);
  f[12] = etherType >> 8;
  f[13] = etherType & 0xff;
  return f;
}

function vxlan(vni: number, inner: Uint8Array, flags = 0x08): Uint8Array {
  const d = new Uint8Array(8 + inner.length);
  d[0] = flags;
  d[4] = (vni >> 16) & 0xff;
  d[5] = (vni >> 8) & 0xff;
  d[6] = vni & 0xff;
  d.set(inner, 8);
  return d;
}

for (const mode of ['per-packet', 'offload'] as Mode[]) {
  describe(`pipeline (${mode} mode)`, () => {
    const node = (net: ChannelNetwork, ip: number, mac: string, opts: NodeOptions = {}): ChannelNode =>
      channelNode(net, ip, mac, { ...opts, mode });

    function pair(opts: NodeOptions = {}) {
      const net = new ChannelNetwork();
      const a = node(net, IP_A, MAC_A, opts);
      const b = node(net, IP_B, MAC_B, opts);
      pin(a, MAC_B, IP_B);
      pin(b, MAC_A, IP_A);
      return { net, a, b };
    }

    describe('encap -> underlay -> decap', () => {
      it('carries a frame from A to B with the RFC 7348 header on the wire', () => {
        const { net, a, b } = pair();
        const f = frame(MAC_B, MAC_A);
        a.inject(f);
        expect(a.encap.run()).toBe(1);
        expect(net.wire).toHaveLength(1);
        const w = net.wire[0]!;
        expect(w.src).toBe(IP_A);
        expect(w.dst).toBe(IP_B);
        expect([...w.data.subarray(0, 8)]).toEqual([0x08, 0, 0, 0, 0, 0, 1, 0]);
        expect(w.data.subarray(8)).toEqual(f);
        expect(b.decap.run()).toBe(1);
        expect(b.delivered()).toEqual([f]);
        expect(a.count('tx_packets')).toBe(1);
        expect(a.count('tx_bytes')).toBe(f.length);
        expect(b.count('rx_packets')).toBe(1);
        expect(b.count('rx_bytes')).toBe(f.length);
      });

      it('moves a full batch and more, in order, byte for byte', () => {
        const { a, b } = pair();
        const sent: Uint8Array[] = [];
        for (let i = 0; i < 20; i++) {
          const f = frame(MAC_B, MAC_A, 0x0800, 100 + i * 50, i);
          sent.push(f);
          a.inject(f);
        }
        while (a.encap.run() > 0);
        while (b.decap.run() > 0);
        expect(b.delivered()).toEqual(sent);
      });

      it('writes the configured VNI and rejects other VNIs', () => {
        const net = new ChannelNetwork();
        const a = node(net, IP_A, MAC_A, { vni: 4096 });
        const b = node(net, IP_B, MAC_B, { vni: 1 });
        pin(a, MAC_B, IP_B);
        pin(b, MAC_A, IP_A);
        a.inject(frame(MAC_B, MAC_A));
        a.encap.run();
        expect([...net.wire[0]!.data.subarray(4, 8)]).toEqual([0, 0x10, 0, 0]);
        b.decap.run();
        expect(b.drops('rx_bad_vni')).toBe(1);
        expect(b.delivered()).toHaveLength(0);
      });
    });

    describe('encap drops, each counted by reason', () => {
      it('runt frame, unknown unicast, group address without flooding', () => {
        const { net, a } = pair();
        a.inject(new Uint8Array(10));
        a.inject(frame('02:cc:00:00:00:01', MAC_A));
        a.inject(frame('ff:ff:ff:ff:ff:ff', MAC_A, 0x0806));
        a.inject(frame('33:33:00:00:00:01', MAC_A, 0x86dd));
        a.encap.run();
        expect(a.drops('tx_runt')).toBe(1);
        expect(a.drops('tx_no_fdb')).toBe(1);
        expect(a.drops('tx_group_no_flood')).toBe(2);
        expect(net.wire).toHaveLength(0);
        expect(a.count('tx_frames')).toBe(4);
      });

      it('floods broadcast to every peer when flooding is on, and counts when there is no peer', () => {
        const net = new ChannelNetwork();
        const a = node(net, IP_A, MAC_A, { flood: true });
        a.inject(frame('ff:ff:ff:ff:ff:ff', MAC_A, 0x0806));
        a.encap.run();
        expect(a.drops('tx_no_peers')).toBe(1);
        for (let i = 2; i <= 12; i++) pin(a, `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`, parseIpv4(`192.168.77.${i}`));
        a.inject(frame('ff:ff:ff:ff:ff:ff', MAC_A, 0x0806));
        a.inject(frame(MAC_B, MAC_A)); // unknown here: only the flood goes out
        a.encap.run();
        expect(a.count('tx_flooded')).toBe(1);
        expect(net.wire.map((w) => w.dst).sort()).toEqual(Array.from({ length: 11 }, (_, i) => parseIpv4(`192.168.77.${i + 2}`)).sort());
        expect(a.count('tx_packets')).toBe(11);
      });
    });

    describe('decap drops, each counted by reason; the VTEP keeps forwarding', () => {
      it('rejects every malformed or unwanted datagram, then still forwards a good one', () => {
        const { net, b } = pair();
        const good = frame(MAC_B, MAC_A);
        const inject = (src: number, data: Uint8Array) => net.deliver({ src, dst: IP_B, data });
        inject(IP_A, new Uint8Array(5)); // shorter than the VXLAN header
        inject(IP_A, vxlan(1, new Uint8Array(13))); // inner frame shorter than 14 bytes
        inject(IP_A, vxlan(1, good, 0x00)); // I flag clear
        inject(IP_A, vxlan(2, good)); // wrong VNI
        inject(IP_STRANGER, vxlan(1, good)); // not a known peer
        inject(IP_A, vxlan(1, frame(MAC_B, MAC_A, 0x8100))); // inner 802.1Q
        inject(IP_A, vxlan(1, frame(MAC_B, MAC_A, 0x88a8))); // inner 802.1ad
        inject(IP_A, vxlan(1, frame(MAC_A, MAC_B))); // our own MAC as source: a loop
        inject(IP_A, new Uint8Array(70_000)); // larger than a slot (and than any UDP datagram)
        const junk = new Uint8Array(300);
        let s = 1;
        for (let i = 0; i < junk.length; i++) junk[i] = s = (s * 1103515245 + 12345) & 0xff;
        junk[0] = 0; // random bytes without the I flag
        inject(IP_A, junk);
        inject(IP_A, vxlan(1, good));
        while (b.decap.run() > 0);
        expect(b.drops('rx_runt')).toBe(2);
        expect(b.drops('rx_bad_flags')).toBe(2);
        expect(b.drops('rx_bad_vni')).toBe(1);
        expect(b.drops('rx_unknown_peer')).toBe(1);
        expect(b.drops('rx_inner_vlan')).toBe(2);
        expect(b.drops('rx_own_mac')).toBe(1);
        expect(b.drops('rx_truncated')).toBe(1);
        expect(b.count('rx_datagrams')).toBe(11);
        expect(b.delivered()).toEqual([good]);
      });

      it('accepts unknown peers when the peer check is off (kernel vxlan behaviour)', () => {
        const { net, b } = pair({ peerCheck: false });
        net.deliver({ src: IP_STRANGER, dst: IP_B, data: vxlan(1, frame(MAC_B, '02:cc:00:00:00:01')) });
        b.decap.run();
        expect(b.drops('rx_unknown_peer')).toBe(0);
        expect(b.delivered()).toHaveLength(1);
      });

      it('counts TAP write failures', () => {
        const { net, b } = pair();
        b.tap.failWrites = true;
        net.deliver({ src: IP_A, dst: IP_B, data: vxlan(1, frame(MAC_B, MAC_A)) });
        b.decap.run();
        expect(b.drops('rx_tap_error')).toBe(1);
      });
    });

    describe('learning', () => {
      it('learns source MACs only from known peers, and uses them for the return path', () => {
        const { net, a, b } = pair({ learning: true });
        const podMac = '0a:58:0a:f4:01:05';
        net.deliver({ src: IP_A, dst: IP_B, data: vxlan(1, frame(MAC_B, podMac)) });
        net.deliver({ src: IP_STRANGER, dst: IP_B, data: vxlan(1, frame(MAC_B, '0a:58:00:00:00:66')) });
        b.st.setOptions({ peerCheck: false });
        b.decap.run();
        expect(b.count('fdb_learned_events')).toBe(1);
        expect(b.st.fdb.entries().find((e) => e.mac === podMac)?.remote).toBe('192.168.77.1');
        expect(b.st.fdb.entries().some((e) => e.mac === '0a:58:00:00:00:66')).toBe(false);
        b.inject(frame(podMac, MAC_B));
        b.encap.run();
        expect(net.wire.at(-1)!.dst).toBe(IP_A);
        expect(a.drops('tx_no_fdb')).toBe(0);
      });

      it('does not learn group source MACs', () => {
        const { net, b } = pair({ learning: true });
        net.deliver({ src: IP_A, dst: IP_B, data: vxlan(1, frame(MAC_B, '01:00:5e:00:00:01')) });
        b.decap.run();
        expect(b.st.fdb.learnedCount).toBe(0);
      });
    });
  });
}
