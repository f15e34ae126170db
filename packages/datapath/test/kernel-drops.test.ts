import { describe, expect, it } from 'vitest';
import { parseUdpDrops, readKernelDrops } from '../src/kernel-drops.js';

const PROC_NET_UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  112: 00000000:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41234 2 0000000000000000 120
  113: 00000000:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41235 2 0000000000000000 3
  200: 0100007F:12B5 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41236 2 0000000000000000 999
garbage line
`;

describe('kernel drop counters', () => {
  it('sums the drops column of every socket bound to the VXLAN port (SO_REUSEPORT groups too)', () => {
    expect(parseUdpDrops(PROC_NET_UDP, 8472)).toBe(123);
    expect(parseUdpDrops(PROC_NET_UDP, 4789)).toBe(999);
    expect(parseUdpDrops(PROC_NET_UDP, 1)).toBe(0);
  });

  it('reads the TAP statistics; what cannot be read is NaN, never a throw', () => {
    const files: Record<string, string> = {
      '/sys/class/net/weft.1/statistics/tx_dropped': '42\n',
      '/sys/class/net/weft.1/statistics/rx_dropped': '0\n',
      '/proc/net/udp': PROC_NET_UDP,
    };
    const src = {
      read: (p: string) => {
        if (!(p in files)) throw new Error('ENOENT');
        return files[p]!;
      },
    };
    expect(readKernelDrops('weft.1', 8472, src)).toEqual({ tap_tx_dropped: 42, tap_rx_dropped: 0, udp_rx_drops: 123 });
    const none = readKernelDrops('gone.9', 8472, {
      read: () => {
        throw new Error('ENOENT');
      },
    });
    expect(Object.values(none).every(Number.isNaN)).toBe(true);
  });
});
