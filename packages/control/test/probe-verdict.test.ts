import { describe, expect, it } from 'vitest';
import type { EchoResult } from '../src/cli/icmp-echo.js';
import { findPeer, probeVerdict } from '../src/cli/probe-verdict.js';

const peer = { subnet: '10.244.2.0/24', gateway: '10.244.2.0', vtepMac: '02:00:00:00:00:02', publicIp: '192.168.1.2' };
const echo = (target: string, received: number, error?: string): EchoResult => ({
  target,
  sent: error ? 0 : 3,
  received,
  rttMs: Array(received).fill(0.5),
  ...(error ? { error } : {}),
});

describe('weftctl probe verdict', () => {
  it('tells an unreachable underlay from a blocked VXLAN port', () => {
    const p = { ...peer, port: 8472 };
    expect(probeVerdict(p, echo(peer.publicIp, 0), echo(peer.gateway, 0)).state).toBe('underlay-unreachable');
    const blocked = probeVerdict(p, echo(peer.publicIp, 3), echo(peer.gateway, 0));
    expect(blocked.state).toBe('vxlan-blocked-or-vtep-down');
    expect(blocked.hint).toContain('UDP 8472');
    expect(probeVerdict(p, echo(peer.publicIp, 3), echo(peer.gateway, 2)).state).toBe('healthy');
    expect(probeVerdict(p, echo(peer.publicIp, 0, 'EPERM'), echo(peer.gateway, 0, 'EPERM')).state).toBe('probe-error');
  });

  it('finds a peer by PublicIP, subnet, VTEP address or an address inside its /24', () => {
    const peers = [peer, { ...peer, subnet: '10.244.3.0/24', gateway: '10.244.3.0', publicIp: '192.168.1.3' }];
    expect(findPeer(peers, '192.168.1.3')?.subnet).toBe('10.244.3.0/24');
    expect(findPeer(peers, '10.244.2.0/24')?.publicIp).toBe('192.168.1.2');
    expect(findPeer(peers, '10.244.3.0')?.publicIp).toBe('192.168.1.3');
    expect(findPeer(peers, '10.244.3.17')?.publicIp).toBe('192.168.1.3');
    expect(findPeer(peers, '10.9.9.9')).toBeUndefined();
  });
});
