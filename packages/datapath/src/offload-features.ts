/**
 * Which offloads a VTEP runs with, decided once at start-up from what was asked and what the kernel
 * accepted when the TAP and the socket were set up (vtep.ts probes; this decides, without syscalls).
 *
 *   'off'  -> the per-packet loop (plain TAP, one datagram per frame): the comparison baseline, and
 *             the mode for kernels without IFF_VNET_HDR.
 *   'auto' -> offload mode with whatever the kernel supports; each missing piece is a warning.
 *             Without IFF_VNET_HDR nothing else helps: per-packet mode, with a warning.
 *   'on'   -> offload mode with everything (virtio header, TSO on the TAP, UDP GSO, UDP GRO), or an
 *             error that names what is missing: for tests and benchmarks that must not silently
 *             measure something else.
 *
 * In offload mode each piece works on its own: without TSO the TAP hands over plain frames (the
 * segmenter is idle); without UDP GSO every segment is its own message; without UDP GRO datagrams
 * arrive one by one and still coalesce into super-frames on the TAP.
 */

export type OffloadSetting = boolean | 'auto' | 'on' | 'off';

export interface VtepFeatures {
  /** 'offload': virtio headers on the TAP and the offload routines; 'per-packet': the plain loop. */
  mode: 'offload' | 'per-packet';
  /** The TAP hands over TSO super-frames and partial checksums (TUNSETOFFLOAD CSUM|TSO4). */
  tso: boolean;
  /** Sends pack segments into UDP GSO messages (UDP_SEGMENT). */
  udpGso: boolean;
  /** The socket receives coalesced datagrams (UDP_GRO). */
  udpGro: boolean;
}

/** What the kernel accepted while the TAP and the socket were set up. */
export interface OffloadSupport {
  vnetHdr: boolean;
  tso: boolean;
  udpGso: boolean;
  udpGro: boolean;
}

export const PER_PACKET: VtepFeatures = Object.freeze({ mode: 'per-packet', tso: false, udpGso: false, udpGro: false });

export function parseOffloadSetting(v: OffloadSetting | (string & {}) | undefined): 'on' | 'off' | 'auto' {
  if (v === undefined || v === 'auto') return 'auto';
  if (v === true || v === 'on') return 'on';
  if (v === false || v === 'off') return 'off';
  throw new Error(`offload ${JSON.stringify(v)}: want on, off or auto`);
}

const WHAT: Record<keyof OffloadSupport, string> = {
  vnetHdr: 'IFF_VNET_HDR on the TAP',
  tso: 'TSO on the TAP (TUNSETOFFLOAD)',
  udpGso: 'UDP GSO (UDP_SEGMENT)',
  udpGro: 'UDP GRO (UDP_GRO)',
};

/** The features to run with, plus a warning per offload that was wanted but is not there. */
export function decideFeatures(setting: 'on' | 'off' | 'auto', s: OffloadSupport): { features: VtepFeatures; warnings: string[] } {
  if (setting === 'off') return { features: PER_PACKET, warnings: [] };
  const missing = (Object.keys(WHAT) as Array<keyof OffloadSupport>).filter((k) => !s[k]).map((k) => WHAT[k]);
  if (setting === 'on' && missing.length > 0) {
    throw new Error(`offload on: this kernel does not support ${missing.join(', ')} (use offload auto or off)`);
  }
  if (!s.vnetHdr) return { features: PER_PACKET, warnings: [`offloads off: no ${WHAT.vnetHdr}; running the per-packet loop`] };
  const features: VtepFeatures = { mode: 'offload', tso: s.tso, udpGso: s.udpGso, udpGro: s.udpGro };
  return { features, warnings: missing.map((m) => `offload: ${m} not supported by this kernel; running without it`) };
}

/** One word per active offload, for log lines: "tso gso gro", or "off". */
export function describeFeatures(f: VtepFeatures): string {
  if (f.mode === 'per-packet') return 'off';
  const on = [f.tso && 'tso', f.udpGso && 'gso', f.udpGro && 'gro'].filter(Boolean);
  return on.length > 0 ? on.join(',') : 'vnet-hdr';
}
