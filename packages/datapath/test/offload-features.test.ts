import { describe, expect, it } from 'vitest';
import { PER_PACKET, decideFeatures, describeFeatures, parseOffloadSetting } from '../src/offload-features.js';

const ALL = { vnetHdr: true, tso: true, udpGso: true, udpGro: true };

describe('offload features decided at start-up', () => {
  it('parses the setting', () => {
    expect([undefined, 'auto', true, 'on', false, 'off'].map((v) => parseOffloadSetting(v))).toEqual([
      'auto',
      'auto',
      'on',
      'on',
      'off',
      'off',
    ]);
    expect(() => parseOffloadSetting('yes')).toThrow(/offload "yes": want on, off or auto/);
  });

  it('off is the per-packet loop, whatever the kernel supports', () => {
    expect(decideFeatures('off', ALL)).toEqual({ features: PER_PACKET, warnings: [] });
  });

  it('auto and on take everything the kernel supports', () => {
    for (const s of ['auto', 'on'] as const) {
      expect(decideFeatures(s, ALL)).toEqual({ features: { mode: 'offload', tso: true, udpGso: true, udpGro: true }, warnings: [] });
    }
    expect(describeFeatures(decideFeatures('auto', ALL).features)).toBe('tso,gso,gro');
    expect(describeFeatures(PER_PACKET)).toBe('off');
  });

  it('auto runs without what is missing and says so; on refuses, naming it', () => {
    const { features, warnings } = decideFeatures('auto', { ...ALL, udpGso: false, udpGro: false });
    expect(features).toEqual({ mode: 'offload', tso: true, udpGso: false, udpGro: false });
    expect(warnings).toEqual([
      'offload: UDP GSO (UDP_SEGMENT) not supported by this kernel; running without it',
      'offload: UDP GRO (UDP_GRO) not supported by this kernel; running without it',
    ]);
    expect(() => decideFeatures('on', { ...ALL, tso: false })).toThrow(/does not support TSO on the TAP \(TUNSETOFFLOAD\)/);
  });

  it('without IFF_VNET_HDR, auto falls back to the per-packet loop with a warning', () => {
    const { features, warnings } = decideFeatures('auto', { vnetHdr: false, tso: false, udpGso: true, udpGro: true });
    expect(features).toEqual(PER_PACKET);
    expect(warnings).toEqual(['offloads off: no IFF_VNET_HDR on the TAP; running the per-packet loop']);
  });
});
