import { describe, expect, it } from 'vitest';
import { formatIpv4, isIpv4, parseIpv4, tryParseIpv4 } from '../dist/index.js';

describe('IPv4 addresses', () => {
  it('parse to unsigned host-order numbers and format back', () => {
    expect(parseIpv4('10.244.1.5')).toBe(0x0af40105);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(formatIpv4(0xffffffff)).toBe('255.255.255.255');
    for (const text of ['0.0.0.0', '192.168.60.100', '128.0.0.1']) expect(formatIpv4(parseIpv4(text))).toBe(text);
  });

  it('accept dotted quads only: one grammar, a throwing and a quiet parser', () => {
    for (const bad of ['256.0.0.1', '10.0.0', '10.0.0.1.2', ' 10.0.0.1', '10.0.0.1/24', '0x0a.0.0.1', '1e1.0.0.1', '', '10..0.1']) {
      expect(tryParseIpv4(bad), bad).toBeUndefined();
      expect(isIpv4(bad)).toBe(false);
      expect(() => parseIpv4(bad)).toThrow(`invalid IPv4 address ${JSON.stringify(bad)}`);
    }
  });
});
