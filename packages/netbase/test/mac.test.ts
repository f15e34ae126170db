import { describe, expect, it } from 'vitest';
import { formatMac, isGroupMac, isUnicastMac, macFromBytes, parseMac, readLinkMac, readLinkMacSync, tryParseMac } from '../dist/index.js';

describe('MAC addresses', () => {
  it('parse to a (hi 16, lo 32) pair and format back in lower case', () => {
    const mac = parseMac('AA:bb:cc:dd:ee:0F');
    expect(mac).toEqual({ hi: 0xaabb, lo: 0xccddee0f });
    expect(formatMac(mac.hi, mac.lo)).toBe('aa:bb:cc:dd:ee:0f');
  });

  it('reject anything but six colon-separated octets', () => {
    for (const bad of ['aa:bb:cc:dd:ee', 'aa-bb-cc-dd-ee-ff', 'aa:bb:cc:dd:ee:fg', 'aabb.ccdd.eeff', '']) {
      expect(tryParseMac(bad)).toBeUndefined();
      expect(() => parseMac(bad)).toThrow(/invalid MAC address/);
    }
  });

  it('tell unicast from group and zero', () => {
    expect(isGroupMac(parseMac('01:00:5e:00:00:01').hi)).toBe(true);
    expect(isUnicastMac('ff:ff:ff:ff:ff:ff')).toBe(false);
    expect(isUnicastMac('00:00:00:00:00:00')).toBe(false);
    expect(isUnicastMac('nonsense')).toBe(false);
    expect(isUnicastMac('02:42:ac:11:00:02')).toBe(true);
  });

  it('derive a locally administered unicast MAC from any bytes', () => {
    const text = macFromBytes(new Uint8Array([0xff, 1, 2, 3, 4, 5]));
    expect(text).toBe('fe:01:02:03:04:05');
    expect(isUnicastMac(text)).toBe(true);
    expect(parseMac(text).hi & 0x0200).toBe(0x0200);
  });

  it("read a link's MAC from sysfs, undefined for a missing link", async () => {
    expect(await readLinkMac('lo')).toBe('00:00:00:00:00:00');
    expect(readLinkMacSync('lo')).toBe('00:00:00:00:00:00');
    expect(await readLinkMac('no-such-link0')).toBeUndefined();
    expect(readLinkMacSync('no-such-link0')).toBeUndefined();
  });
});
