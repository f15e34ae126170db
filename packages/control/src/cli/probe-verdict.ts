/**
 * `weftctl probe`'s diagnosis: the two classic overlay failures told apart.
 *
 *   underlay echo fails                      -> the nodes cannot reach each other at all (routing,
 *                                               security group, the peer is down): not weft's layer
 *   underlay answers, overlay echo fails     -> the VXLAN port (UDP 8472) is blocked between them, or
 *                                               the peer's VTEP is down
 *   both answer                              -> healthy
 *
 * The overlay echo goes to the peer's VTEP address (its subnet's network address, on its weft.<VNI>),
 * so it crosses exactly one VXLAN hop and no pod. Pure function: unit-tested without sockets.
 */
import type { VxlanPeer } from '../backend/vxlan-peer.js';
import type { EchoResult } from './icmp-echo.js';

export type ProbeState = 'healthy' | 'underlay-unreachable' | 'vxlan-blocked-or-vtep-down' | 'probe-error';

export interface ProbeVerdict {
  state: ProbeState;
  summary: string;
  hint: string;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export function probeVerdict(
  peer: { publicIp: string; gateway: string; port: number },
  underlay: EchoResult,
  overlay: EchoResult,
): ProbeVerdict {
  if (underlay.error && underlay.sent === 0) {
    return {
      state: 'probe-error',
      summary: `could not probe: ${underlay.error}`,
      hint: "run weftctl as root (or with CAP_NET_RAW) in the node's network namespace",
    };
  }
  if (underlay.received === 0) {
    return {
      state: 'underlay-unreachable',
      summary: `underlay: no ICMP echo reply from ${peer.publicIp} (${underlay.sent} sent)`,
      hint:
        `the nodes cannot reach each other at all: check the route to ${peer.publicIp}, security groups/firewalls for ICMP, and ` +
        `that the node is up`,
    };
  }
  if (overlay.received === 0) {
    return {
      state: 'vxlan-blocked-or-vtep-down',
      summary:
        `underlay reaches ${peer.publicIp} (${median(underlay.rttMs).toFixed(2)} ms) but the overlay does not answer at ` +
        `${peer.gateway}`,
      hint:
        `open UDP ${peer.port} between the nodes (both directions), and check that weftd runs on the peer (its VTEP answers at ` +
        `${peer.gateway})`,
    };
  }
  return {
    state: 'healthy',
    summary:
      `underlay ${median(underlay.rttMs).toFixed(2)} ms, overlay ${median(overlay.rttMs).toFixed(2)} ms ` +
      `(${overlay.received}/${overlay.sent} replies)`,
    hint: 'both paths answer',
  };
}

/** Finds the peer a user means by PublicIP, subnet, or an address inside a peer's subnet. */
export function findPeer(peers: readonly VxlanPeer[], want: string): VxlanPeer | undefined {
  const exact = peers.find((p) => p.publicIp === want || p.subnet === want || p.gateway === want);
  if (exact) return exact;
  const [a, b, c] = want.split('.');
  return peers.find((p) => p.subnet.split('.').slice(0, 3).join('.') === [a, b, c].join('.') && p.subnet.endsWith('/24'));
}
