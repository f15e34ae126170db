/**
 * Kernel drop counters around the VTEP: packets lost outside weft's own code, where weft's counters
 * cannot see them. Read on demand (metrics scrape, `counters` command), never on the hot path.
 *
 * - tap_tx_dropped: frames the host stack sent into the TAP that the TAP's queue could not hold (weft
 *   read too slowly): /sys/class/net/<tap>/statistics/tx_dropped.
 * - tap_rx_dropped: frames weft wrote into the TAP that the kernel then dropped: …/rx_dropped.
 * - udp_rx_drops: datagrams for the VXLAN port that its socket(s) could not queue (receive buffer
 *   full): the `drops` column of /proc/net/udp, summed over every socket bound to the port (several
 *   with SO_REUSEPORT). Read in the VTEP's own network namespace, as the process runs there.
 * With weft's drop reasons these account for every frame that entered the VTEP and did not leave it.
 */
import { readFileSync } from 'node:fs';

export const KERNEL_DROPS = ['tap_tx_dropped', 'tap_rx_dropped', 'udp_rx_drops'] as const;
export type KernelDropName = (typeof KERNEL_DROPS)[number];
export type KernelDrops = Record<KernelDropName, number>;

/** Sum of the `drops` column of /proc/net/udp lines whose local port is `port`. */
export function parseUdpDrops(procNetUdp: string, port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let drops = 0;
  for (const line of procNetUdp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13 || f[1]?.split(':')[1] !== hexPort) continue;
    const d = Number(f[12]);
    if (Number.isFinite(d)) drops += d;
  }
  return drops;
}

export interface KernelDropSource {
  read(path: string): string;
}

const fsSource: KernelDropSource = { read: (p) => readFileSync(p, 'utf8') };

/** The kernel's drop counters for TAP `dev` and UDP `port`; a counter that cannot be read is NaN. */
export function readKernelDrops(dev: string, port: number, src: KernelDropSource = fsSource): KernelDrops {
  const num = (path: string): number => {
    try {
      return Number(src.read(path).trim());
    } catch {
      return NaN;
    }
  };
  let udp = NaN;
  try {
    udp = parseUdpDrops(src.read('/proc/net/udp'), port);
  } catch {
    // not Linux, or /proc not mounted: unknown
  }
  return {
    tap_tx_dropped: num(`/sys/class/net/${dev}/statistics/tx_dropped`),
    tap_rx_dropped: num(`/sys/class/net/${dev}/statistics/rx_dropped`),
    udp_rx_drops: udp,
  };
}
