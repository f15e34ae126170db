/**
 * Ethernet MAC addresses. Text form "aa:bb:cc:dd:ee:ff" (lower case when weft writes one); number form two numbers,
 * `hi` (octets 0-1) and `lo` (octets 2-5): the datapath reads a MAC from a frame as (getUint16, getUint32) and never
 * builds a string or a 48-bit number (which V8 would box); its tables key on the pair.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface MacPair {
  hi: number; // octets 0-1, 16 bits
  lo: number; // octets 2-5, 32 bits unsigned
}

const MAC_RE = /^([0-9a-f]{2})(?::([0-9a-f]{2})){5}$/i;

/** The pair, or undefined when `text` is not six colon-separated hex octets. */
export function tryParseMac(text: string): MacPair | undefined {
  if (!MAC_RE.test(text)) return undefined;
  const o = text.split(':').map((h) => parseInt(h, 16));
  return { hi: (o[0] << 8) | o[1], lo: ((o[2] << 24) | (o[3] << 16) | (o[4] << 8) | o[5]) >>> 0 };
}

/** The pair; throws `invalid MAC address "text"`. */
export function parseMac(text: string): MacPair {
  const mac = tryParseMac(text);
  if (!mac) throw new Error(`invalid MAC address ${JSON.stringify(text)} (want aa:bb:cc:dd:ee:ff)`);
  return mac;
}

export function formatMac(hi: number, lo: number): string {
  const o = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  return o.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Group bit (I/G) of the first octet: broadcast and multicast. */
export function isGroupMac(hi: number): boolean {
  return (hi & 0x0100) !== 0;
}

/** A MAC a unicast frame may be sent to: well-formed, not group, not all zeros. */
export function isUnicastMac(text: string): boolean {
  const mac = tryParseMac(text);
  return mac !== undefined && !isGroupMac(mac.hi) && (mac.hi | mac.lo) !== 0;
}

/** A locally administered unicast MAC from arbitrary bytes (for a VTEP MAC derived from a node identity). */
export function macFromBytes(b: Uint8Array): string {
  const o = [(b[0] & 0xfe) | 0x02, b[1], b[2], b[3], b[4], b[5]];
  return o.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Where the kernel shows a link's MAC. `dev` must be a valid interface name (checked by the caller). */
function sysfsAddressPath(dev: string): string {
  return `/sys/class/net/${dev}/address`;
}

/** The link's MAC as the kernel reports it, or undefined when there is no such link. */
export async function readLinkMac(dev: string): Promise<string | undefined> {
  return readFile(sysfsAddressPath(dev), 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
}

/** `readLinkMac`, synchronously (the CNI plugin). */
export function readLinkMacSync(dev: string): string | undefined {
  try {
    return readFileSync(sysfsAddressPath(dev), 'utf8').trim();
  } catch {
    return undefined;
  }
}
